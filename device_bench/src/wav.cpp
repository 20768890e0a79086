#include "wav.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace arc {

namespace {
template <typename T>
void put(std::ofstream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(T));  // WAV is little-endian, as are our targets
}
}  // namespace

float write_wav(const std::string& path, const std::vector<float>& interleaved, int channels, int sample_rate,
                bool float32) {
  float peak = 0.0f;
  for (float s : interleaved) peak = std::max(peak, std::fabs(s));
  const bool over = peak > 1.0f;  // turned down as a whole rather than clipped, as Python's writer does
  const std::string tmp = path + ".part";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw std::runtime_error("cannot write " + path + "; check the folder exists and is writable");
    const uint16_t bits = float32 ? 32 : 16;
    const uint32_t data_bytes = static_cast<uint32_t>(interleaved.size() * bits / 8);
    out.write("RIFF", 4);
    put<uint32_t>(out, 36 + data_bytes);
    out.write("WAVEfmt ", 8);
    put<uint32_t>(out, 16);
    put<uint16_t>(out, float32 ? 3 : 1);
    put<uint16_t>(out, static_cast<uint16_t>(channels));
    put<uint32_t>(out, static_cast<uint32_t>(sample_rate));
    put<uint32_t>(out, static_cast<uint32_t>(sample_rate * channels * bits / 8));
    put<uint16_t>(out, static_cast<uint16_t>(channels * bits / 8));
    put<uint16_t>(out, bits);
    out.write("data", 4);
    put<uint32_t>(out, data_bytes);
    for (float s : interleaved) {
      const float c = std::clamp(over ? s / peak : s, -1.0f, 1.0f);
      if (float32) {
        put<float>(out, c);
      } else {
        put<int16_t>(out, static_cast<int16_t>(std::lrint(c * 32767.0f)));
      }
    }
    if (!out) throw std::runtime_error("writing " + path + " failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot move the finished WAV to " + path);
  }
  return over ? 1.0f / peak : 1.0f;
}

}  // namespace arc
