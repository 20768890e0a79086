// SHA-256 (FIPS 180-4), so the runner can check a bundle's files without linking a crypto library
// into the cross build. Tested against Python's hashlib through the bundle checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace arc {

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t size);
  std::string hex_digest();  // finishes the hash

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Hex sha256 of a file; throws std::runtime_error naming the file if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace arc
