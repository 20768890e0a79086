#include "selftest.hpp"

#include <executorch/extension/tensor/tensor.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

namespace arc {

namespace {

using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::runtime::EValue;

struct StoredTensor {
  std::string dtype;  // "F32" | "I64"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// A safetensors file: 8-byte little-endian header length, a JSON header, then the raw data.
std::map<std::string, StoredTensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read self-test data " + path);
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), {});
  auto bad = [&](const std::string& what) { return std::runtime_error(path + ": " + what + "; re-export the bundle"); };
  if (file.size() < 8) throw bad("not a safetensors file");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file[i];
  if (header_len > file.size() - 8) throw bad("its header runs past the end of the file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<ptrdiff_t>(header_len));
  } catch (const std::exception&) {
    throw bad("its header is not valid JSON");
  }
  const size_t data_start = 8 + header_len, data_size = file.size() - data_start;
  std::map<std::string, StoredTensor> out;
  try {
    for (const auto& [name, t] : header.items()) {
      if (name == "__metadata__") continue;
      StoredTensor st{t.at("dtype").get<std::string>(), t.at("shape").get<std::vector<int64_t>>(), {}};
      const auto offsets = t.at("data_offsets").get<std::vector<uint64_t>>();
      size_t numel = 1;
      for (auto d : st.shape) {
        if (d < 0 || d > (int64_t(1) << 31)) throw bad("tensor " + name + " has a bad shape");
        numel *= static_cast<size_t>(d);
      }
      const size_t elem = st.dtype == "F32" ? 4 : st.dtype == "I64" ? 8 : 0;
      if (elem == 0) throw bad("tensor " + name + " has dtype " + st.dtype);
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size ||
          offsets[1] - offsets[0] != numel * elem) {
        throw bad("tensor " + name + " has bad data offsets");
      }
      st.bytes.assign(file.begin() + static_cast<ptrdiff_t>(data_start + offsets[0]),
                      file.begin() + static_cast<ptrdiff_t>(data_start + offsets[1]));
      out[name] = std::move(st);
    }
  } catch (const nlohmann::json::exception&) {
    throw bad("its header has fields of the wrong type");
  }
  return out;
}

double snr_db(const std::vector<float>& ref, const float* got, size_t n) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    signal += double(ref[i]) * ref[i];
    const double d = double(ref[i]) - got[i];
    noise += d * d;
  }
  if (std::isnan(signal) || std::isnan(noise)) return -300.0;  // the same clamp as arc_edge/export/parity.py
  if (noise == 0) return 300.0;
  if (signal == 0) return -300.0;
  return std::max(-300.0, std::min(300.0, 10.0 * std::log10(signal / noise)));
}

const StoredTensor& find(const std::map<std::string, StoredTensor>& tensors, const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw std::runtime_error("the self-test data lacks " + name + "; re-export the bundle");
  return it->second;
}

}  // namespace

nlohmann::json run_selftest(const Manifest& m) {
  if (m.selftest_file.empty()) throw std::runtime_error(m.dir + " carries no self-test data; re-export it");
  const auto tensors = read_safetensors(m.path(m.selftest_file));
  nlohmann::json report = {{"passed", true}, {"graphs", nlohmann::json::object()}};
  for (const auto& [name, spec] : m.selftest_graphs) {
    Graph graph(m, name);
    double worst = 300.0;
    for (int c = 0; c < spec.cases; ++c) {
      const std::string prefix = name + "." + std::to_string(c);
      std::vector<std::vector<uint8_t>> buffers;  // the inputs' storage and tensors, alive during the call
      std::vector<executorch::extension::TensorPtr> tensors_in;
      std::vector<EValue> inputs;
      buffers.reserve(graph.spec.inputs.size());
      for (size_t i = 0; i < graph.spec.inputs.size(); ++i) {
        const auto& want = graph.spec.inputs[i];
        const auto& st = find(tensors, prefix + ".in." + std::to_string(i));
        const bool is_long = want.dtype == "int64";
        if (st.dtype != (is_long ? "I64" : "F32") || st.bytes.size() != want.numel() * (is_long ? 8 : 4)) {
          throw std::runtime_error("self-test input " + prefix + ".in." + std::to_string(i) +
                                   " does not match the graph's input; re-export the bundle");
        }
        buffers.push_back(st.bytes);
        tensors_in.push_back(from_blob(buffers.back().data(), {want.shape.begin(), want.shape.end()},
                                       is_long ? ScalarType::Long : ScalarType::Float));
        inputs.emplace_back(tensors_in.back());
      }
      const auto outputs = graph.run(inputs);
      for (size_t j = 0; j < graph.spec.outputs.size(); ++j) {
        const auto& st = find(tensors, prefix + ".out." + std::to_string(j));
        std::vector<float> expected(st.bytes.size() / 4);
        std::memcpy(expected.data(), st.bytes.data(), expected.size() * 4);
        const auto& got = outputs[j].toTensor();
        const bool same_size = st.dtype == "F32" && static_cast<size_t>(got.numel()) == expected.size();
        worst = std::min(worst, same_size ? snr_db(expected, got.const_data_ptr<float>(), expected.size()) : -300.0);
      }
    }
    const bool passed = worst >= spec.min_snr_db;
    report["graphs"][name] = {{"snr_db", worst}, {"min_snr_db", spec.min_snr_db}, {"passed", passed}};
    if (!passed) report["passed"] = false;
  }
  return report;
}

}  // namespace arc
