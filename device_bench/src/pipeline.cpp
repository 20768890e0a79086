#include "pipeline.hpp"

#include <executorch/extension/tensor/tensor.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include "sysinfo.hpp"

namespace arc {

using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::extension::Module;
using executorch::runtime::EValue;

namespace {
void dump(const std::string& dir, const std::string& name, const std::vector<float>& v) {
  if (dir.empty()) return;
  std::ofstream out(dir + "/" + name + ".f32", std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

ScalarType dtype_of(const std::string& d) { return d == "int64" ? ScalarType::Long : ScalarType::Float; }

std::vector<executorch::aten::SizesType> sizes_of(const TensorSpec& s) {
  return {s.shape.begin(), s.shape.end()};
}
}  // namespace

Graph::Graph(const Manifest& m, const std::string& name) : spec(m.graph(name)), name_(name) {
  const auto t0 = std::chrono::steady_clock::now();
  module_ = std::make_unique<Module>(m.dir + "/" + spec.file, Module::LoadMode::Mmap);
  if (module_->load_method("forward") != executorch::runtime::Error::Ok) {
    throw std::runtime_error("could not load graph '" + name + "' from " + spec.file + "; re-export the bundle");
  }
  // Check the program's own input order and shapes against the manifest: never assume them.
  auto meta = module_->method_meta("forward");
  if (!meta.ok() || meta->num_inputs() != spec.inputs.size()) {
    throw std::runtime_error("graph '" + name + "' takes a different number of inputs than its manifest says");
  }
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    auto tm = meta->input_tensor_meta(i);
    const auto& want = spec.inputs[i];
    bool same = tm.ok() && tm->scalar_type() == dtype_of(want.dtype) && tm->sizes().size() == want.shape.size();
    for (size_t d = 0; same && d < want.shape.size(); ++d) same = tm->sizes()[d] == want.shape[d];
    if (!same) {
      throw std::runtime_error("graph '" + name + "' input " + std::to_string(i) + " does not match manifest input '" +
                               want.name + "'; bundle and runner disagree, re-export the bundle");
    }
  }
  load_ms = ms_since(t0);
}

std::vector<EValue> Graph::run(const std::vector<EValue>& inputs) {
  auto result = module_->forward(inputs);
  if (!result.ok()) {
    throw std::runtime_error("graph '" + name_ + "' failed with ExecuTorch error " +
                             std::to_string(static_cast<int>(result.error())));
  }
  return *result;
}

Pipeline::Pipeline(const Manifest& manifest)
    : m_(manifest), conditioners_(manifest, "conditioners"), dit_(manifest, "dit"), decoder_(manifest, "decoder") {
  const auto status = sp_.Load(m_.dir + "/" + m_.tokenizer_file);
  if (!status.ok()) throw std::runtime_error("cannot load tokenizer " + m_.tokenizer_file + ": " + status.ToString());
}

std::map<std::string, double> Pipeline::load_ms() const {
  return {{"conditioners", conditioners_.load_ms}, {"dit", dit_.load_ms}, {"decoder", decoder_.load_ms}};
}

Tokens Pipeline::tokenize(const std::string& prompt) const {
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw std::runtime_error("the prompt is empty; describe the sound to generate");
  }
  std::vector<int> pieces;
  sp_.Encode(prompt, &pieces);
  Tokens t;
  const size_t room = static_cast<size_t>(m_.max_length - 1);  // the last slot is </s>
  t.truncated = pieces.size() > room;
  if (t.truncated) pieces.resize(room);
  pieces.push_back(m_.eos_id);
  t.pieces = static_cast<int>(pieces.size());
  t.ids.assign(m_.max_length, m_.pad_id);
  t.mask.assign(m_.max_length, 0);
  for (size_t i = 0; i < pieces.size(); ++i) {
    t.ids[i] = pieces[i];
    t.mask[i] = 1;
  }
  return t;
}

std::vector<float> Pipeline::generate(const Tokens& tokens, double seconds, int steps,
                                      const std::vector<std::vector<float>>& noises, StageTimes& times) {
  const auto start = std::chrono::steady_clock::now();
  const auto& cin = conditioners_.spec.inputs;
  std::vector<int64_t> ids = tokens.ids, mask = tokens.mask;
  float sec = static_cast<float>(seconds);
  auto cond = conditioners_.run({from_blob(ids.data(), sizes_of(cin[0]), ScalarType::Long),
                                 from_blob(mask.data(), sizes_of(cin[1]), ScalarType::Long),
                                 from_blob(&sec, sizes_of(cin[2]), ScalarType::Float)});
  // Keep the conditioning in our own buffers: it is reused by every DiT step.
  const auto& cross_t = cond[0].toTensor();
  const auto& glob_t = cond[1].toTensor();
  std::vector<float> cross(cross_t.const_data_ptr<float>(), cross_t.const_data_ptr<float>() + cross_t.numel());
  std::vector<float> glob(glob_t.const_data_ptr<float>(), glob_t.const_data_ptr<float>() + glob_t.numel());
  times.conditioners_ms = ms_since(start);
  dump(dump_dir, "cross_attn_cond", cross);
  dump(dump_dir, "global_cond", glob);
  times.rss_kb_after_conditioners = peak_rss_kb();

  const auto& din = dit_.spec.inputs;
  const auto ts = pingpong_schedule(steps);
  const size_t n = m_.latent_numel();
  std::vector<float> x = noises[0];
  times.step_ms.clear();
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    float t = ts[i];
    auto out = dit_.run({from_blob(x.data(), sizes_of(din[0]), ScalarType::Float),
                         from_blob(&t, sizes_of(din[1]), ScalarType::Float),
                         from_blob(cross.data(), sizes_of(din[2]), ScalarType::Float),
                         from_blob(glob.data(), sizes_of(din[3]), ScalarType::Float)});
    const float* v = out[0].toTensor().const_data_ptr<float>();
    const float t_next = ts[i + 1];
    const auto& fresh = noises[i + 1];
    for (size_t k = 0; k < n; ++k) {
      const float x0 = x[k] - t * v[k];  // denoise fully, then re-noise to the next level
      x[k] = (1.0f - t_next) * x0 + t_next * fresh[k];
    }
    times.step_ms.push_back(ms_since(t0));
  }
  times.dit_total_ms = 0;
  for (double s : times.step_ms) times.dit_total_ms += s;
  times.rss_kb_after_dit = peak_rss_kb();
  dump(dump_dir, "latent", x);

  const auto t_dec = std::chrono::steady_clock::now();
  auto audio = decoder_.run({from_blob(x.data(), sizes_of(decoder_.spec.inputs[0]), ScalarType::Float)});
  const auto& a = audio[0].toTensor();
  const float* p = a.const_data_ptr<float>();
  const int64_t channels = m_.audio_channels, total = a.numel() / channels;
  const int64_t keep = std::min<int64_t>(total, std::llround(seconds * m_.sample_rate));
  std::vector<float> interleaved(static_cast<size_t>(keep * channels));
  for (int64_t s = 0; s < keep; ++s)
    for (int64_t c = 0; c < channels; ++c) interleaved[s * channels + c] = p[c * total + s];
  times.decoder_ms = ms_since(t_dec);
  times.rss_kb_after_decoder = peak_rss_kb();
  times.total_ms = ms_since(start);
  return interleaved;
}

}  // namespace arc
