#include "bundle.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace arc {

size_t TensorSpec::numel() const {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  return n;
}

size_t Manifest::latent_numel() const {
  size_t n = 1;
  for (auto d : latent_shape) n *= static_cast<size_t>(d);
  return n;
}

const GraphSpec& Manifest::graph(const std::string& name) const {
  auto it = graphs.find(name);
  if (it == graphs.end()) throw std::runtime_error("the bundle has no '" + name + "' graph; re-export it");
  return it->second;
}

static std::vector<TensorSpec> read_specs(const nlohmann::json& arr) {
  std::vector<TensorSpec> out;
  for (const auto& s : arr) {
    out.push_back({s.at("name").get<std::string>(), s.at("shape").get<std::vector<int64_t>>(),
                   s.at("dtype").get<std::string>()});
  }
  return out;
}

Manifest load_manifest(const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/manifest.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error(bundle_dir + " is not a bundle (no manifest.json); create one with `arc-edge export`");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception&) {
    throw std::runtime_error(path + " is not valid JSON; re-export the bundle");
  }
  if (j.value("format", "") != "arc-edge-bundle") throw std::runtime_error(path + " is not an arc-edge bundle manifest");
  Manifest m;
  m.dir = bundle_dir;
  m.format_version = j.value("format_version", 0);
  if (m.format_version != kSupportedFormatVersion) {
    throw std::runtime_error("bundle format version " + std::to_string(m.format_version) +
                             " is not supported by this runner (reads " + std::to_string(kSupportedFormatVersion) +
                             "); rebuild the runner or re-export the bundle");
  }
  try {
    m.backend = j.at("backend").get<std::string>();
    if (m.backend != "executorch") {
      throw std::runtime_error("this is a '" + m.backend + "' bundle; arc_runner runs executorch bundles only");
    }
    m.arc_edge_version = j.value("arc_edge_version", "");
    m.recipe = j.at("recipe").value("name", "");
    m.sample_rate = j.at("sample_rate").get<int>();
    m.audio_channels = j.at("audio_channels").get<int>();
    m.sample_size = j.at("model_config").at("sample_size").get<int64_t>();
    m.latent_shape = j.at("latent_shape").get<std::vector<int64_t>>();
    m.default_seconds = j.at("default_seconds").get<double>();
    const auto& tok = j.at("tokenizer");
    m.tokenizer_file = tok.at("file").get<std::string>();
    m.max_length = tok.at("max_length").get<int>();
    m.pad_id = tok.at("pad_id").get<int>();
    m.eos_id = tok.at("eos_id").get<int>();
    m.default_steps = j.at("sampler").at("steps").get<int>();
    for (const auto& [name, g] : j.at("graphs").items()) {
      m.graphs[name] = {g.at("file").get<std::string>(), read_specs(g.at("inputs")), read_specs(g.at("outputs"))};
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + " lacks a field this runner needs (" + std::string(e.what()) + "); re-export it");
  }
  for (const char* needed : {"conditioners", "dit", "decoder"}) m.graph(needed);
  return m;
}

}  // namespace arc
