#pragma once
// The ping-pong update and the seeded noise: no ExecuTorch here, so tests (and the Android app's
// golden vectors) can compile these alone. The schedule itself comes from the bundle's manifest.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace arc {

// One ping-pong step in place: denoise fully with the velocity v at level t (x0 = x - t v), then
// re-noise to the next level with fresh noise (x = (1 - t_next) x0 + t_next fresh).
void pingpong_step(std::vector<float>& x, const float* v, float t, float t_next, const std::vector<float>& fresh);

// Classifier-free guidance in place: v = v_uncond + scale * (v_cond - v_uncond), into `cond`.
void apply_cfg(std::vector<float>& cond, const float* uncond, float scale);

// steps + 1 Gaussian noise tensors from a seeded 64-bit Mersenne Twister (Box-Muller). Not torch's
// generator: for bit-exact parity with Python, pass the noise with --noise-file instead.
std::vector<std::vector<float>> draw_noise(size_t numel, int steps, uint64_t seed);

// Raw little-endian float32, (steps + 1) * numel values, as `arc-edge` writes them.
std::vector<std::vector<float>> read_noise_file(const std::string& path, size_t numel, int steps);

}  // namespace arc
