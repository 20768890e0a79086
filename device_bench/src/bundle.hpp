// Reads an arc-edge bundle's manifest.json: the contract between the exporter and every runner
// (arc_edge/export/manifest.py writes it and documents every field).
//
// A bundle is untrusted input: every file the manifest names must be a plain name listed in its
// `files` with a sha256, and a regular file (not a symlink) directly in the bundle folder; the
// files are hashed before anything is loaded (with a cache keyed by the file's identity, so
// repeated runs stay fast), and the manifest itself can be pinned by its own sha256.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace arc {

constexpr int kSupportedFormatVersion = 2;

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

// Which latent frames each decoder call sees and which of them it keeps (arc_edge/decoding.py).
struct DecodeWindow {
  int64_t start = 0, keep_begin = 0, keep_end = 0;
};

struct Manifest {
  std::string dir;
  std::string digest;  // sha256 of manifest.json
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
  std::map<int, std::vector<float>> schedules;  // step count -> t values (steps + 1)
  std::map<std::string, GraphSpec> graphs;
  int64_t decode_window = 0;
  std::vector<DecodeWindow> decode_windows;
  double dc_blocker_hz = 0.0;  // the decoded audio's first-order high-pass (0: none); arc_edge.decoding.DCBlocker
  std::map<std::string, std::string> files;  // name -> sha256
  std::string selftest_file;                 // empty when the bundle has none
  struct SelfTestSpec {
    int cases = 0;
    double min_snr_db = 0;
  };
  std::map<std::string, SelfTestSpec> selftest_graphs;

  // A clip cut short of the model's length fades out over its last 10 ms (arc_edge.decoding.END_FADE_SECONDS);
  // no clip is shorter than that fade.
  static constexpr double kEndFadeSeconds = 0.01;
  static constexpr double kMaxDcBlockerHz = 50.0;  // arc_edge.decoding.MAX_DC_BLOCKER_HZ
  double max_seconds() const { return static_cast<double>(sample_size) / sample_rate; }
  int64_t latent_frames() const { return latent_shape.at(2); }
  int64_t hop() const { return sample_size / latent_frames(); }  // audio samples per latent frame
  size_t latent_numel() const;
  const GraphSpec& graph(const std::string& name) const;
  const std::vector<float>& schedule(int steps) const;
  std::string path(const std::string& file) const { return dir + "/" + file; }
};

enum class Verify { Full, Cached, Off };

// Reads, validates and (per `verify`) hashes the bundle. Throws std::runtime_error with a one-line
// message naming the problem and the fix. `expect_digest` (may be empty) pins manifest.json.
Manifest load_manifest(const std::string& bundle_dir, Verify verify, const std::string& expect_digest,
                       const std::string& cache_file);

// A plain file name inside a bundle: no separators, no "..", no leading dot, no odd characters.
bool is_plain_file_name(const std::string& name);

}  // namespace arc
