// The whole generation on the device: tokenizer, conditioners, ping-pong loop, windowed decoder.
#pragma once

#include <executorch/extension/module/module.h>
#include <sentencepiece_processor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bundle.hpp"
#include "sampler.hpp"

namespace arc {

struct Tokens {
  std::vector<int64_t> ids;
  std::vector<int64_t> mask;
  int pieces = 0;  // real tokens incl. </s>
  bool truncated = false;
};

struct StageTimes {
  double conditioners_ms = 0;
  std::vector<double> step_ms;
  double dit_total_ms = 0;
  double decoder_ms = 0;
  double first_audio_ms = 0;  // from the start until the first decoded window is ready
  double total_ms = 0;
  std::map<std::string, double> load_ms;  // graphs loaded during this run (staged residency)
  long rss_kb_after_conditioners = 0;
  long rss_kb_after_dit = 0;
  long rss_kb_after_decoder = 0;
};

// How long graphs stay in memory: all loaded up front and kept (repeated generations), or each
// loaded just before its stage and freed right after it (the lowest peak for one-shot use).
enum class Residency { Resident, Staged };

class Graph {
 public:
  // etdump_file: when set, the graph runs with an ETDump event tracer and its events are written
  // there when it is unloaded (per-operator times, XNNPACK's included; read them with ExecuTorch's Inspector).
  Graph(const Manifest& m, std::string name, std::string etdump_file = "");
  ~Graph();
  void load();  // mmap the program and initialise its delegates (XNNPACK packs the weights here)
  void unload();
  bool loaded() const { return module_ != nullptr; }
  std::vector<executorch::runtime::EValue> run(const std::vector<executorch::runtime::EValue>& inputs);
  const GraphSpec& spec;
  double last_load_ms = 0;

 private:
  void write_etdump();
  const Manifest& m_;
  std::string name_, etdump_file_;
  std::unique_ptr<executorch::extension::Module> module_;
};

struct Request {
  double seconds = 0;
  int steps = 8;
  float cfg = 1.0f;  // classifier-free guidance scale (1: none, one DiT call per step)
};

// Receives each decoded window's interleaved audio as soon as it is ready.
using AudioSink = std::function<void(const float* interleaved, size_t frames)>;

class Pipeline {
 public:
  // etdump_prefix: when set, graph G's events go to etdump_prefix + "." + G + ".etdp".
  Pipeline(const Manifest& manifest, Residency residency, const std::string& etdump_prefix = "");
  Tokens tokenize(const std::string& prompt) const;
  // Returns interleaved audio [samples * channels], trimmed to `req.seconds`.
  std::vector<float> generate(const Tokens& tokens, const Request& req, const std::vector<std::vector<float>>& noises,
                              StageTimes& times, const AudioSink& sink = nullptr);
  std::map<std::string, double> load_ms() const;
  // When set, generate() writes cross_attn_cond, global_cond and the final latent as raw float32 here.
  std::string dump_dir;

 private:
  Graph& stage_begin(const std::string& name, StageTimes& times);
  void stage_end(Graph& g);
  const Manifest& m_;
  Residency residency_;
  sentencepiece::SentencePieceProcessor sp_;
  std::map<std::string, std::unique_ptr<Graph>> graphs_;
};

}  // namespace arc
