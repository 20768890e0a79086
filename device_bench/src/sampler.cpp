#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <stdexcept>

namespace arc {

void pingpong_step(std::vector<float>& x, const float* v, float t, float t_next, const std::vector<float>& fresh) {
  for (size_t k = 0; k < x.size(); ++k) {
    const float x0 = x[k] - t * v[k];
    x[k] = (1.0f - t_next) * x0 + t_next * fresh[k];
  }
}

void apply_cfg(std::vector<float>& cond, const float* uncond, float scale) {
  for (size_t k = 0; k < cond.size(); ++k) cond[k] = uncond[k] + scale * (cond[k] - uncond[k]);
}

std::vector<std::vector<float>> draw_noise(size_t numel, int steps, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::vector<std::vector<float>> out(steps + 1, std::vector<float>(numel));
  for (auto& v : out) {
    for (size_t i = 0; i < numel; i += 2) {
      const double u1 = std::max(uni(gen), 1e-300), u2 = uni(gen);
      const double r = std::sqrt(-2.0 * std::log(u1));
      v[i] = static_cast<float>(r * std::cos(2 * M_PI * u2));
      if (i + 1 < numel) v[i + 1] = static_cast<float>(r * std::sin(2 * M_PI * u2));
    }
  }
  return out;
}

std::vector<std::vector<float>> read_noise_file(const std::string& path, size_t numel, int steps) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open noise file " + path);
  const auto bytes = static_cast<size_t>(in.tellg());
  const size_t want = (steps + 1) * numel * sizeof(float);
  if (bytes != want) {
    throw std::runtime_error("noise file " + path + " has " + std::to_string(bytes) + " bytes; " +
                             std::to_string(steps) + " steps need " + std::to_string(want));
  }
  in.seekg(0);
  std::vector<std::vector<float>> out(steps + 1, std::vector<float>(numel));
  for (auto& v : out) in.read(reinterpret_cast<char*>(v.data()), numel * sizeof(float));
  return out;
}

}  // namespace arc
