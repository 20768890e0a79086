// Reads an arc-edge bundle's manifest.json: the contract between the exporter and every runner.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace arc {

constexpr int kSupportedFormatVersion = 1;

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;  // "float32" | "int64"
  size_t numel() const;
};

struct GraphSpec {
  std::string file;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

struct Manifest {
  std::string dir;
  int format_version = 0;
  std::string arc_edge_version;
  std::string backend;
  std::string recipe;
  int sample_rate = 0;
  int audio_channels = 0;
  int64_t sample_size = 0;
  std::vector<int64_t> latent_shape;
  double default_seconds = 0;
  std::string tokenizer_file;
  int max_length = 0;
  int pad_id = 0;
  int eos_id = 1;
  int default_steps = 8;
  std::map<std::string, GraphSpec> graphs;

  double max_seconds() const { return static_cast<double>(sample_size) / sample_rate; }
  size_t latent_numel() const;
  const GraphSpec& graph(const std::string& name) const;
};

// Throws std::runtime_error with a one-line message naming the problem and the fix.
Manifest load_manifest(const std::string& bundle_dir);

}  // namespace arc
