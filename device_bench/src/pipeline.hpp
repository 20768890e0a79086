// The whole generation on the device: tokenizer, conditioners, ping-pong loop, decoder.
#pragma once

#include <executorch/extension/module/module.h>
#include <sentencepiece_processor.h>

#include <cstdint>
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
  double total_ms = 0;
  long rss_kb_after_conditioners = 0;
  long rss_kb_after_dit = 0;
  long rss_kb_after_decoder = 0;
};

class Graph {
 public:
  Graph(const Manifest& m, const std::string& name);
  std::vector<executorch::runtime::EValue> run(const std::vector<executorch::runtime::EValue>& inputs);
  double load_ms = 0;
  const GraphSpec& spec;

 private:
  std::string name_;
  std::unique_ptr<executorch::extension::Module> module_;
};

class Pipeline {
 public:
  explicit Pipeline(const Manifest& manifest);
  Tokens tokenize(const std::string& prompt) const;
  // Returns interleaved audio [samples * channels], trimmed to `seconds`.
  std::vector<float> generate(const Tokens& tokens, double seconds, int steps,
                              const std::vector<std::vector<float>>& noises, StageTimes& times);
  std::map<std::string, double> load_ms() const;
  // When set, generate() writes cross_attn_cond, global_cond and the final latent as raw float32 here.
  std::string dump_dir;

 private:
  const Manifest& m_;
  sentencepiece::SentencePieceProcessor sp_;
  Graph conditioners_, dit_, decoder_;
};

}  // namespace arc
