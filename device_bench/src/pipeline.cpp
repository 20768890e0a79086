#include "pipeline.hpp"

#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/extension/tensor/tensor.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
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

bool all_finite(const float* p, size_t n) {
  return std::all_of(p, p + n, [](float v) { return std::isfinite(v); });
}

ScalarType dtype_of(const std::string& d) { return d == "int64" ? ScalarType::Long : ScalarType::Float; }

std::vector<executorch::aten::SizesType> sizes_of(const TensorSpec& s) { return {s.shape.begin(), s.shape.end()}; }

const char* const kGraphs[] = {"conditioners", "dit", "decoder"};

// arc_edge.decoding.DCBlocker: y[n] = x[n] - x[n-1] + R y[n-1], one state per channel carried from
// window to window; before the clip, x sat at the mean of its first `settle` samples.
class DcBlocker {
 public:
  DcBlocker(double hz, int sample_rate, int64_t channels)
      : pole_(std::exp(-2.0 * M_PI * hz / sample_rate)), prev_(channels), out_(channels) {}

  // planar: a window's audio, channel c's samples from planar[c * span + offset]; starts the state
  // from the first `settle` of them the first time
  void start_once(const float* planar, int64_t span, int64_t offset, int64_t settle) {
    if (started_) return;
    for (size_t c = 0; c < prev_.size(); ++c) {
      double sum = 0;
      for (int64_t s = 0; s < settle; ++s) sum += planar[c * span + offset + s];
      prev_[c] = sum / static_cast<double>(settle);
    }
    started_ = true;
  }

  float operator()(size_t channel, float x) {
    out_[channel] = x - prev_[channel] + pole_ * out_[channel];
    prev_[channel] = x;
    return static_cast<float>(out_[channel]);
  }

 private:
  double pole_;
  std::vector<double> prev_, out_;
  bool started_ = false;
};
}  // namespace

Graph::Graph(const Manifest& m, std::string name, std::string etdump_file)
    : spec(m.graph(name)), m_(m), name_(std::move(name)), etdump_file_(std::move(etdump_file)) {}

Graph::~Graph() { write_etdump(); }

void Graph::load() {
  if (module_) return;
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<executorch::runtime::EventTracer> tracer;
  if (!etdump_file_.empty()) tracer = std::make_unique<executorch::etdump::ETDumpGen>();
  auto module = std::make_unique<Module>(m_.path(spec.file), Module::LoadMode::Mmap, std::move(tracer));
  if (module->load_method("forward") != executorch::runtime::Error::Ok) {
    throw std::runtime_error("could not load graph '" + name_ + "' from " + spec.file + "; re-export the bundle");
  }
  // Check the program's own input order and shapes against the manifest: never assume them.
  auto meta = module->method_meta("forward");
  if (!meta.ok() || meta->num_inputs() != spec.inputs.size() || meta->num_outputs() != spec.outputs.size()) {
    throw std::runtime_error("graph '" + name_ + "' takes or returns a different number of tensors than its manifest "
                             "says; re-export the bundle");
  }
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    auto tm = meta->input_tensor_meta(i);
    const auto& want = spec.inputs[i];
    bool same = tm.ok() && tm->scalar_type() == dtype_of(want.dtype) && tm->sizes().size() == want.shape.size();
    for (size_t d = 0; same && d < want.shape.size(); ++d) same = tm->sizes()[d] == want.shape[d];
    if (!same) {
      throw std::runtime_error("graph '" + name_ + "' input " + std::to_string(i) + " does not match manifest input '" +
                               want.name + "'; bundle and runner disagree, re-export the bundle");
    }
  }
  module_ = std::move(module);
  last_load_ms = ms_since(t0);
}

void Graph::unload() {
  write_etdump();
  module_.reset();
}

void Graph::write_etdump() {
  if (!module_ || etdump_file_.empty()) return;
  auto* gen = static_cast<executorch::etdump::ETDumpGen*>(module_->event_tracer());
  const auto data = gen->get_etdump_data();
  if (data.buf == nullptr || data.size == 0) return;
  std::ofstream out(etdump_file_, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data.buf), static_cast<std::streamsize>(data.size));
  free(data.buf);  // the generator hands the buffer over (allocated with malloc)
  if (!out) throw std::runtime_error("cannot write the ETDump " + etdump_file_);
}

std::vector<EValue> Graph::run(const std::vector<EValue>& inputs) {
  load();
  auto result = module_->forward(inputs);
  if (!result.ok()) {
    throw std::runtime_error("graph '" + name_ + "' failed with ExecuTorch error " +
                             std::to_string(static_cast<int>(result.error())));
  }
  if (result->size() != spec.outputs.size()) {
    throw std::runtime_error("graph '" + name_ + "' returned " + std::to_string(result->size()) + " outputs, its "
                             "manifest says " + std::to_string(spec.outputs.size()) + "; re-export the bundle");
  }
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    if (!(*result)[i].isTensor() || static_cast<size_t>((*result)[i].toTensor().numel()) != spec.outputs[i].numel()) {
      throw std::runtime_error("graph '" + name_ + "' returned output " + std::to_string(i) +
                               " of another size than its manifest says; re-export the bundle");
    }
  }
  return *result;
}

Pipeline::Pipeline(const Manifest& manifest, Residency residency, const std::string& etdump_prefix)
    : m_(manifest), residency_(residency) {
  const auto status = sp_.Load(m_.path(m_.tokenizer_file));
  if (!status.ok()) throw std::runtime_error("cannot load tokenizer " + m_.tokenizer_file + ": " + status.ToString());
  for (const char* name : kGraphs) {
    graphs_[name] = std::make_unique<Graph>(m_, name, etdump_prefix.empty() ? "" : etdump_prefix + "." + name + ".etdp");
    if (residency_ == Residency::Resident) graphs_[name]->load();
  }
}

std::map<std::string, double> Pipeline::load_ms() const {
  std::map<std::string, double> out;
  for (const auto& [name, g] : graphs_) {
    if (g->loaded()) out[name] = g->last_load_ms;
  }
  return out;
}

Graph& Pipeline::stage_begin(const std::string& name, StageTimes& times) {
  Graph& g = *graphs_.at(name);
  if (!g.loaded()) {
    g.load();
    times.load_ms[name] = g.last_load_ms;
  }
  return g;
}

void Pipeline::stage_end(Graph& g) {
  if (residency_ == Residency::Staged) g.unload();  // its weights are not needed again this run
}

namespace {
constexpr int kExtraIds = 100;  // <extra_id_0> .. <extra_id_99>, as Hugging Face's T5 tokenizer

// The id of a literal special token at `pos` (and its length), or -1: </s>, <pad>, <unk>, <extra_id_N>.
int special_at(const std::string& s, size_t pos, int vocab, int eos, int pad, int unk, size_t& len) {
  if (s[pos] != '<') return -1;
  const std::pair<const char*, int> fixed[] = {{"</s>", eos}, {"<pad>", pad}, {"<unk>", unk}};
  for (const auto& [text, id] : fixed) {
    if (s.compare(pos, std::strlen(text), text) == 0) {
      len = std::strlen(text);
      return id;
    }
  }
  static const std::string extra = "<extra_id_";
  if (s.compare(pos, extra.size(), extra) != 0) return -1;
  size_t p = pos + extra.size(), digits = 0;
  int n = 0;
  while (p < s.size() && digits < 3 && std::isdigit(static_cast<unsigned char>(s[p]))) n = n * 10 + (s[p++] - '0'), ++digits;
  const bool canonical = digits == 1 || (digits == 2 && s[pos + extra.size()] != '0');
  if (!canonical || n >= kExtraIds || p >= s.size() || s[p] != '>') return -1;
  len = p + 1 - pos;
  return vocab + kExtraIds - 1 - n;
}
}  // namespace

Tokens Pipeline::tokenize(const std::string& prompt) const {
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw std::runtime_error("the prompt is empty; describe the sound to generate");
  }
  // Literal special tokens become their ids; the text between them is encoded (arc_edge/tokenizer.py).
  std::vector<int> pieces;
  const int vocab = sp_.GetPieceSize();
  size_t segment = 0;
  for (size_t pos = 0; pos < prompt.size(); ++pos) {
    size_t len = 0;
    const int id = special_at(prompt, pos, vocab, m_.eos_id, m_.pad_id, sp_.unk_id(), len);
    if (id < 0) continue;
    std::vector<int> part;
    sp_.Encode(prompt.substr(segment, pos - segment), &part);
    pieces.insert(pieces.end(), part.begin(), part.end());
    pieces.push_back(id);
    segment = pos + len;
    pos = segment - 1;
  }
  std::vector<int> tail;
  sp_.Encode(prompt.substr(segment), &tail);
  pieces.insert(pieces.end(), tail.begin(), tail.end());
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

std::vector<float> Pipeline::generate(const Tokens& tokens, const Request& req,
                                      const std::vector<std::vector<float>>& noises, StageTimes& times,
                                      const AudioSink& sink) {
  const auto start = std::chrono::steady_clock::now();
  const auto& ts = m_.schedule(req.steps);

  Graph& cond_graph = stage_begin("conditioners", times);
  const auto& cin = cond_graph.spec.inputs;
  std::vector<int64_t> ids = tokens.ids, mask = tokens.mask;
  float sec = static_cast<float>(req.seconds);
  auto cond = cond_graph.run({from_blob(ids.data(), sizes_of(cin[0]), ScalarType::Long),
                              from_blob(mask.data(), sizes_of(cin[1]), ScalarType::Long),
                              from_blob(&sec, sizes_of(cin[2]), ScalarType::Float)});
  // Keep the conditioning in our own buffers: it is reused by every DiT step.
  const auto& cross_t = cond[0].toTensor();
  const auto& glob_t = cond[1].toTensor();
  std::vector<float> cross(cross_t.const_data_ptr<float>(), cross_t.const_data_ptr<float>() + cross_t.numel());
  std::vector<float> glob(glob_t.const_data_ptr<float>(), glob_t.const_data_ptr<float>() + glob_t.numel());
  cond.clear();
  stage_end(cond_graph);
  times.conditioners_ms = ms_since(start);
  dump(dump_dir, "cross_attn_cond", cross);
  dump(dump_dir, "global_cond", glob);
  times.rss_kb_after_conditioners = peak_rss_kb();

  Graph& dit = stage_begin("dit", times);
  const auto& din = dit.spec.inputs;
  std::vector<float> null_cross(cross.size(), 0.0f);  // the reference's unconditional input for CFG
  std::vector<float> x = noises[0], v;
  times.step_ms.clear();
  auto velocity = [&](float t, std::vector<float>& context) {
    auto out = dit.run({from_blob(x.data(), sizes_of(din[0]), ScalarType::Float),
                        from_blob(&t, sizes_of(din[1]), ScalarType::Float),
                        from_blob(context.data(), sizes_of(din[2]), ScalarType::Float),
                        from_blob(glob.data(), sizes_of(din[3]), ScalarType::Float)});
    const float* p = out[0].toTensor().const_data_ptr<float>();
    return std::vector<float>(p, p + x.size());
  };
  for (int i = 0; i < req.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    v = velocity(ts[i], cross);
    if (req.cfg != 1.0f) apply_cfg(v, velocity(ts[i], null_cross).data(), req.cfg);
    pingpong_step(x, v.data(), ts[i], ts[i + 1], noises[i + 1]);
    times.step_ms.push_back(ms_since(t0));
  }
  stage_end(dit);
  if (!all_finite(x.data(), x.size())) {  // e.g. a guidance scale so large that the velocity overflows
    throw std::runtime_error("sampling produced NaN or infinite values (guidance scale " + std::to_string(req.cfg) +
                             "); lower --cfg (1 to 10 is usual), or check the bundle");
  }
  times.dit_total_ms = 0;
  for (double s : times.step_ms) times.dit_total_ms += s;
  times.rss_kb_after_dit = peak_rss_kb();
  dump(dump_dir, "latent", x);

  // Window by window (the manifest's plan), handing each window's audio on as soon as it is ready.
  const auto t_dec = std::chrono::steady_clock::now();
  Graph& decoder = stage_begin("decoder", times);
  const int64_t channels = m_.audio_channels, hop = m_.hop(), frames = m_.latent_frames();
  const int64_t keep_total = std::min<int64_t>(frames * hop, std::llround(req.seconds * m_.sample_rate));
  const int64_t latent_dim = m_.latent_shape[1], window = m_.decode_window;
  std::vector<float> interleaved(static_cast<size_t>(keep_total * channels));
  std::vector<float> latent_window(static_cast<size_t>(latent_dim * window));
  // A clip cut short of the model's length fades out (the reference cuts hard, which ends on a click);
  // the same raised cosine as arc_edge.decoding.end_fade_gains.
  const int64_t fade =
      keep_total < frames * hop ? std::min<int64_t>(std::llround(Manifest::kEndFadeSeconds * m_.sample_rate), keep_total) : 0;
  const int64_t fade_start = keep_total - fade;
  DcBlocker blocker(m_.dc_blocker_hz, m_.sample_rate, channels);
  const bool block = m_.dc_blocker_hz > 0;
  bool first = true;
  for (const auto& w : m_.decode_windows) {
    const int64_t begin = w.keep_begin * hop;
    if (begin >= keep_total) break;  // past the requested duration: not decoded at all
    for (int64_t c = 0; c < latent_dim; ++c) {
      std::copy_n(x.begin() + c * frames + w.start, window, latent_window.begin() + c * window);
    }
    auto audio = decoder.run({from_blob(latent_window.data(), sizes_of(decoder.spec.inputs[0]), ScalarType::Float)});
    const float* p = audio[0].toTensor().const_data_ptr<float>();
    if (!all_finite(p, static_cast<size_t>(channels * window * hop))) {
      throw std::runtime_error("the decoder produced NaN or infinite samples from finite latents; check the bundle");
    }
    const int64_t span = window * hop, offset = (w.keep_begin - w.start) * hop;
    const int64_t count = std::min(w.keep_end * hop, keep_total) - begin;
    if (block) blocker.start_once(p, span, offset, std::min(hop, count));
    for (int64_t s = 0; s < count; ++s) {
      for (int64_t c = 0; c < channels; ++c) {
        const float v = p[c * span + offset + s];
        interleaved[(begin + s) * channels + c] = block ? blocker(static_cast<size_t>(c), v) : v;
      }
      if (begin + s >= fade_start) {
        const double k = static_cast<double>(begin + s - fade_start + 1);
        const float gain = static_cast<float>(0.5 * (1.0 + std::cos(M_PI * k / static_cast<double>(fade))));
        for (int64_t c = 0; c < channels; ++c) interleaved[(begin + s) * channels + c] *= gain;
      }
    }
    if (first) {
      times.first_audio_ms = ms_since(start);
      first = false;
    }
    if (sink) sink(interleaved.data() + begin * channels, static_cast<size_t>(count));
  }
  stage_end(decoder);
  times.decoder_ms = ms_since(t_dec);
  times.rss_kb_after_decoder = peak_rss_kb();
  times.total_ms = ms_since(start);
  return interleaved;
}

}  // namespace arc
