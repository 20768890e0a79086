#pragma once
// The ping-pong schedule and the seeded noise: no ExecuTorch here, so tests (and the Android
// app's golden vectors) can compile these alone.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace arc {

// t values [steps + 1]: logSNR evenly spaced in [-6, 2], t = sigmoid(-logSNR), t[0] = 1, t[steps] = 0.
std::vector<float> pingpong_schedule(int steps);

// steps + 1 Gaussian noise tensors from a seeded 64-bit Mersenne Twister (Box-Muller). Not torch's
// generator: for bit-exact parity with Python, pass the noise with --noise-file instead.
std::vector<std::vector<float>> draw_noise(size_t numel, int steps, uint64_t seed);

// Raw little-endian float32, (steps + 1) * numel values, as `arc-edge` writes them.
std::vector<std::vector<float>> read_noise_file(const std::string& path, size_t numel, int steps);

}  // namespace arc
