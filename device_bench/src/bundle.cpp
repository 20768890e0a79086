#include "bundle.hpp"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "sha256.hpp"

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

const std::vector<float>& Manifest::schedule(int steps) const {
  auto it = schedules.find(steps);
  if (it == schedules.end()) {
    throw std::runtime_error("this bundle carries no schedule for " + std::to_string(steps) + " steps (it has 1.." +
                             std::to_string(schedules.rbegin()->first) + ")");
  }
  return it->second;
}

bool is_plain_file_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.' || name.find("..") != std::string::npos) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what + "; re-export the bundle");
}

std::vector<TensorSpec> read_specs(const json& arr, const std::string& where) {
  if (!arr.is_array() || arr.empty()) bad(where, "a graph's inputs/outputs must be a non-empty list");
  std::vector<TensorSpec> out;
  for (const auto& s : arr) {
    TensorSpec t{s.at("name").get<std::string>(), s.at("shape").get<std::vector<int64_t>>(),
                 s.at("dtype").get<std::string>()};
    if (t.dtype != "float32" && t.dtype != "int64") bad(where, "tensor dtype '" + t.dtype + "' is not supported");
    if (t.shape.empty() || t.shape.size() > 8) bad(where, "tensor '" + t.name + "' has a bad rank");
    for (auto d : t.shape) {
      if (d < 1 || d > (int64_t(1) << 31)) bad(where, "tensor '" + t.name + "' has a bad shape");
    }
    out.push_back(t);
  }
  return out;
}

std::string listed(const Manifest& m, const std::string& name, const std::string& where, const std::string& field) {
  if (!is_plain_file_name(name)) bad(where, field + " '" + name + "' is not a plain file name inside the bundle");
  if (!m.files.count(name)) bad(where, field + " names " + name + ", which 'files' does not list with a sha256");
  return name;
}

// The identity of a file as the kernel sees it: any change to its bytes changes mtime/ctime.
std::string identity(const struct stat& st) {
  std::ostringstream out;
  out << st.st_dev << ' ' << st.st_ino << ' ' << st.st_size << ' ' << st.st_mtim.tv_sec << ' ' << st.st_mtim.tv_nsec
      << ' ' << st.st_ctim.tv_sec << ' ' << st.st_ctim.tv_nsec;
  return out.str();
}

std::set<std::string> read_cache(const std::string& path) {
  std::set<std::string> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.insert(line);
  return lines;
}

void write_cache(const std::string& path, const std::set<std::string>& lines) {
  const std::string tmp = path + ".part";
  {
    std::ofstream out(tmp);
    if (!out) return;  // an unwritable cache only costs time on the next run
    for (const auto& l : lines) out << l << '\n';
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::remove(tmp.c_str());
}

void check_files(const Manifest& m, Verify verify, const std::string& cache_file) {
  std::set<std::string> cache = verify == Verify::Cached ? read_cache(cache_file) : std::set<std::string>{};
  bool changed = false;
  for (const auto& [name, digest] : m.files) {
    const std::string path = m.path(name);
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      throw std::runtime_error("bundle file " + name + " is missing from " + m.dir + "; re-export the bundle");
    }
    if (!S_ISREG(st.st_mode)) {
      throw std::runtime_error("bundle file " + name + " is " + (S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file") +
                               "; a bundle holds plain files only");
    }
    if (verify == Verify::Off) continue;
    const std::string key = digest + ' ' + identity(st);
    if (verify == Verify::Cached && cache.count(key)) continue;
    if (sha256_file(path) != digest) {
      throw std::runtime_error("bundle file " + name + " fails its sha256 check (corrupt or modified); re-export it");
    }
    cache.insert(key);
    changed = true;
  }
  if (verify == Verify::Cached && changed && !cache_file.empty()) write_cache(cache_file, cache);
}

}  // namespace

Manifest load_manifest(const std::string& bundle_dir, Verify verify, const std::string& expect_digest,
                       const std::string& cache_file) {
  const std::string path = bundle_dir + "/manifest.json";
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    throw std::runtime_error(bundle_dir + " is not a bundle (no manifest.json); create one with `arc-edge export`");
  }
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + " is not a regular file; a bundle holds plain files only");
  if (st.st_size > (16 << 20)) throw std::runtime_error(path + " is too large to be a manifest");
  Manifest m;
  m.dir = bundle_dir;
  m.digest = sha256_file(path);
  if (!expect_digest.empty() && expect_digest != m.digest && expect_digest != "sha256:" + m.digest) {
    throw std::runtime_error(path + " has sha256 " + m.digest.substr(0, 16) +
                             "..., not the pinned digest; this is not the bundle you pinned");
  }
  std::ifstream in(path);
  json j;
  try {
    in >> j;
  } catch (const std::exception&) {
    throw std::runtime_error(path + " is not valid JSON; re-export the bundle");
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != "arc-edge-bundle") {
    throw std::runtime_error(path + " is not an arc-edge bundle manifest");
  }
  if (!j.contains("format_version") || !j["format_version"].is_number_integer() ||
      j["format_version"].get<int>() != kSupportedFormatVersion) {
    throw std::runtime_error("bundle format version " + (j.contains("format_version") ? j["format_version"].dump() : "?") +
                             " is not supported by this runner (reads " + std::to_string(kSupportedFormatVersion) +
                             "); rebuild the runner or re-export the bundle");
  }
  try {
    for (const auto& [name, digest] : j.at("files").items()) {
      const auto d = digest.get<std::string>();
      if (!is_plain_file_name(name) || name == "manifest.json") bad(path, "files lists '" + name + "'");
      if (d.size() != 64 || d.find_first_not_of("0123456789abcdef") != std::string::npos) {
        bad(path, "files." + name + " is not a sha256 hex digest");
      }
      m.files[name] = d;
    }
    m.backend = j.at("backend").get<std::string>();
    if (m.backend != "executorch") {
      throw std::runtime_error("this is a '" + m.backend + "' bundle; arc_runner runs executorch bundles only");
    }
    m.format_version = kSupportedFormatVersion;
    m.arc_edge_version = j.value("arc_edge_version", "");
    m.recipe = j.at("recipe").at("name").get<std::string>();
    m.sample_rate = j.at("sample_rate").get<int>();
    m.audio_channels = j.at("audio_channels").get<int>();
    m.sample_size = j.at("model_config").at("sample_size").get<int64_t>();
    m.latent_shape = j.at("latent_shape").get<std::vector<int64_t>>();
    m.default_seconds = j.at("default_seconds").get<double>();
    if (m.sample_rate < 1000 || m.audio_channels < 1 || m.audio_channels > 64 || m.latent_shape.size() != 3 ||
        m.latent_shape[0] != 1 || m.latent_shape[1] < 1 || m.latent_shape[2] < 1 || m.sample_size < 1 ||
        m.sample_size % m.latent_shape[2] != 0 || !std::isfinite(m.default_seconds) || m.default_seconds < Manifest::kEndFadeSeconds) {
      bad(path, "sample_rate, audio_channels, latent_shape, sample_size or default_seconds is out of range");
    }
    if (m.default_seconds > m.max_seconds() + 1e-9) {
      bad(path, "default_seconds " + std::to_string(m.default_seconds) + " is longer than the model's " +
                    std::to_string(m.max_seconds()) + " s; re-export the bundle with a shorter --seconds");
    }
    const auto& tok = j.at("tokenizer");
    m.tokenizer_file = listed(m, tok.at("file").get<std::string>(), path, "tokenizer.file");
    m.max_length = tok.at("max_length").get<int>();
    m.pad_id = tok.at("pad_id").get<int>();
    m.eos_id = tok.at("eos_id").get<int>();
    if (m.max_length < 2 || m.max_length > 4096 || m.pad_id < 0 || m.eos_id < 0) bad(path, "tokenizer fields");
    const auto& sampler = j.at("sampler");
    if (sampler.at("type") != "pingpong") bad(path, "sampler.type must be pingpong");
    m.default_steps = sampler.at("steps").get<int>();
    for (const auto& [key, values] : sampler.at("schedules").items()) {
      const int steps = std::stoi(key);
      auto t = values.get<std::vector<float>>();
      if (steps < 1 || t.size() != static_cast<size_t>(steps) + 1) bad(path, "sampler.schedules." + key);
      for (size_t i = 0; i < t.size(); ++i) {
        if (!(t[i] >= 0.0f && t[i] <= 1.0f) || (i > 0 && t[i] > t[i - 1])) bad(path, "sampler.schedules." + key);
      }
      m.schedules[steps] = t;
    }
    if (!m.schedules.count(m.default_steps)) bad(path, "sampler.schedules lacks the default step count");
    for (const auto& [name, g] : j.at("graphs").items()) {
      const std::string where = path + " graphs." + name;
      m.graphs[name] = {listed(m, g.at("file").get<std::string>(), path, "graphs." + name + ".file"),
                        read_specs(g.at("inputs"), where), read_specs(g.at("outputs"), where)};
    }
    const auto& decode = j.at("graphs").at("decoder").at("decode");
    m.decode_window = decode.at("window").get<int64_t>();
    int64_t covered = 0;
    for (const auto& w : decode.at("windows")) {
      const auto v = w.get<std::vector<int64_t>>();
      if (v.size() != 3) bad(path, "decoder.decode.windows entries are [start, keep_begin, keep_end]");
      DecodeWindow d{v[0], v[1], v[2]};
      if (!(d.start >= 0 && d.start <= d.keep_begin && d.keep_begin == covered && d.keep_begin < d.keep_end &&
            d.keep_end <= d.start + m.decode_window && d.start + m.decode_window <= m.latent_frames())) {
        bad(path, "decoder.decode.windows do not tile the latent in order");
      }
      covered = d.keep_end;
      m.decode_windows.push_back(d);
    }
    if (covered != m.latent_frames()) bad(path, "decoder.decode.windows do not cover the latent");
    if (decode.contains("dc_blocker_hz")) {  // absent in bundles exported before the blocker existed
      m.dc_blocker_hz = decode.at("dc_blocker_hz").get<double>();
      if (!std::isfinite(m.dc_blocker_hz) || m.dc_blocker_hz < 0 || m.dc_blocker_hz > Manifest::kMaxDcBlockerHz) {
        bad(path, "decoder.decode.dc_blocker_hz must be a number from 0 to 50");
      }
    }
    if (j.contains("selftest")) {
      const auto& st = j.at("selftest");
      m.selftest_file = listed(m, st.at("file").get<std::string>(), path, "selftest.file");
      for (const auto& [name, g] : st.at("graphs").items()) {
        Manifest::SelfTestSpec spec{g.at("cases").get<int>(), g.at("min_snr_db").get<double>()};
        if (!m.graphs.count(name) || spec.cases < 1 || spec.cases > 16 || !std::isfinite(spec.min_snr_db)) {
          bad(path, "selftest.graphs." + name);
        }
        m.selftest_graphs[name] = spec;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + " lacks a field this runner needs or has one of the wrong type (" +
                             std::string(e.what()) + "); re-export it");
  } catch (const std::invalid_argument&) {
    bad(path, "sampler.schedules keys must be step counts");
  } catch (const std::out_of_range&) {
    bad(path, "a number is out of range");
  }
  for (const char* needed : {"conditioners", "dit", "decoder"}) m.graph(needed);
  check_files(m, verify, cache_file);
  return m;
}

}  // namespace arc
