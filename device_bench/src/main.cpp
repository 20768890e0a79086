// arc_runner: text -> WAV with an arc-edge ExecuTorch bundle, timing each stage.
//
// The prompt is read from a file or stdin, never from the command line, so no shell ever
// parses user text (adb included). See kUsage for the options.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "bundle.hpp"
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>

#include "et_threadpool.hpp"
#include "pipeline.hpp"
#include "report.hpp"
#include "selftest.hpp"
#include "sysinfo.hpp"
#include "wav.hpp"

namespace {

const char* kUsage =
    "arc_runner --bundle DIR --prompt-file FILE|- [--out out.wav] [--report report.json]\n"
    "           [--seconds S] [--steps N] [--seed K] [--cfg SCALE] [--noise-file F] [--threads T]\n"
    "           [--runs N] [--warmup K] [--graphs auto|resident|staged] [--pcm-stream FILE|-]\n"
    "           [--bundle-digest SHA256] [--verify cached|full|off] [--verify-cache FILE]\n"
    "           [--float-wav] [--dump-dir DIR] [--xnn-workspace default|off|per-model|global]\n"
    "           [--xnn-weight-cache default|on|off] [--etdump PREFIX]\n"
    "arc_runner --bundle DIR --selftest [--report report.json] [--threads T]\n"
    "--selftest runs every graph on the inputs the bundle carries and compares its outputs with the\n"
    "  eager fp32 ones (SNR against the recipe's threshold); exit 4 if a graph fails.\n"
    "--graphs: resident keeps every graph loaded (repeated generations); staged loads each graph just\n"
    "  before its stage and frees it after (lowest peak memory); auto: staged for one generation.\n"
    "--pcm-stream writes each decoded window as interleaved float32 as soon as it is ready.\n"
    "--verify: bundle files are hashed before loading; cached skips files whose identity (inode, size,\n"
    "  times) matches an earlier verified run; off trusts the bundle.\n"
    "--dump-dir writes cross_attn_cond, global_cond and the final latent as raw float32.\n"
    "--xnn-workspace: XNNPACK scratch memory per delegate (off), per graph, or one for all graphs;\n"
    "--xnn-weight-cache: XNNPACK's packed-weight cache; default leaves the runtime's choice.\n"
    "--etdump PREFIX writes each graph's per-operator events (last run) to PREFIX.GRAPH.etdp for\n"
    "  ExecuTorch's Inspector (arc-edge bench profile --etdump reads them).\n";

struct Args {
  std::string bundle, prompt_file, out = "out.wav", report = "report.json", noise_file, dump_dir, digest, pcm_stream;
  std::string graphs = "auto", verify = "cached", verify_cache, etdump, xnn_workspace = "default", xnn_weight_cache = "default";
  double seconds = -1, cfg = 1.0;
  int steps = -1, runs = 1, warmup = 0, threads = 0;
  uint64_t seed = 0;
  bool float_wav = false, selftest = false;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "arc_runner: error: " << msg << " (see --help)\n";
  std::exit(2);
}

double parse_number(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(d)) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    usage_error(flag + " expects a finite number, got '" + v + "'");
  }
}

long long parse_int(const std::string& flag, const std::string& v, long long low, long long high) {
  try {
    size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    if (n < low || n > high) {
      usage_error(flag + " must be in " + std::to_string(low) + ".." + std::to_string(high) + ", got " + v);
    }
    return n;
  } catch (const std::invalid_argument&) {
    usage_error(flag + " expects a whole number, got '" + v + "'");
  } catch (const std::out_of_range&) {
    usage_error(flag + " is out of range: " + v);
  }
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(k + " needs a value");
      return argv[++i];
    };
    if (k == "--help" || k == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (k == "--bundle") a.bundle = next();
    else if (k == "--prompt-file") a.prompt_file = next();
    else if (k == "--out") a.out = next();
    else if (k == "--report") a.report = next();
    else if (k == "--noise-file") a.noise_file = next();
    else if (k == "--seconds") a.seconds = parse_number(k, next());
    else if (k == "--cfg") a.cfg = parse_number(k, next());
    else if (k == "--steps") a.steps = static_cast<int>(parse_int(k, next(), 1, 1000));
    else if (k == "--seed") a.seed = static_cast<uint64_t>(parse_int(k, next(), 0, std::numeric_limits<long long>::max()));
    else if (k == "--threads") a.threads = static_cast<int>(parse_int(k, next(), 1, 1024));
    else if (k == "--runs") a.runs = static_cast<int>(parse_int(k, next(), 1, 1000000));
    else if (k == "--warmup") a.warmup = static_cast<int>(parse_int(k, next(), 0, 1000000));
    else if (k == "--graphs") a.graphs = next();
    else if (k == "--pcm-stream") a.pcm_stream = next();
    else if (k == "--bundle-digest") a.digest = next();
    else if (k == "--verify") a.verify = next();
    else if (k == "--verify-cache") a.verify_cache = next();
    else if (k == "--float-wav") a.float_wav = true;
    else if (k == "--selftest") a.selftest = true;
    else if (k == "--dump-dir") a.dump_dir = next();
    else if (k == "--xnn-workspace") a.xnn_workspace = next();
    else if (k == "--etdump") a.etdump = next();
    else if (k == "--xnn-weight-cache") a.xnn_weight_cache = next();
    else usage_error("unknown option " + k);
  }
  if (a.bundle.empty()) usage_error("--bundle is required");
  if (a.prompt_file.empty() && !a.selftest) usage_error("--prompt-file is required (use - for stdin)");
  if (a.cfg < 0) usage_error("--cfg must not be negative (1 means no guidance)");
  if (a.graphs != "auto" && a.graphs != "resident" && a.graphs != "staged") usage_error("--graphs is auto, resident or staged");
  if (a.verify != "cached" && a.verify != "full" && a.verify != "off") usage_error("--verify is cached, full or off");
  if (a.xnn_workspace != "default" && a.xnn_workspace != "off" && a.xnn_workspace != "per-model" &&
      a.xnn_workspace != "global") {
    usage_error("--xnn-workspace is default, off, per-model or global");
  }
  if (a.xnn_weight_cache != "default" && a.xnn_weight_cache != "on" && a.xnn_weight_cache != "off") {
    usage_error("--xnn-weight-cache is default, on or off");
  }
  return a;
}

std::string read_prompt(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read prompt file " + path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (text.size() > (1 << 20)) throw std::runtime_error("the prompt file is larger than 1 MB; give a short prompt");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Where verified file identities are remembered: $ARC_RUNNER_CACHE, else beside the runner binary.
std::string default_verify_cache() {
  if (const char* env = std::getenv("ARC_RUNNER_CACHE")) return env;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  std::string path(exe, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/')) + "/.arc-verified-files";
}

arc::Verify verify_mode(const std::string& v) {
  return v == "full" ? arc::Verify::Full : v == "off" ? arc::Verify::Off : arc::Verify::Cached;
}

// XNNPACK's backend options, set before any graph is loaded (they apply at delegate init).
void configure_xnnpack(const Args& a) {
  executorch::runtime::BackendOptions<2> options;
  if (a.xnn_workspace != "default") {
    const int mode = a.xnn_workspace == "off" ? 0 : a.xnn_workspace == "per-model" ? 1 : 2;
    options.set_option("workspace_sharing_mode", mode);
  }
  if (a.xnn_weight_cache != "default") options.set_option("weight_cache_enabled", a.xnn_weight_cache == "on");
  if (options.view().size() == 0) return;
  if (executorch::runtime::set_option("XnnpackBackend", options.view()) != executorch::runtime::Error::Ok) {
    throw std::runtime_error("the XNNPACK backend refused --xnn-workspace/--xnn-weight-cache");
  }
}

// What the kernels actually run on (not just what was asked for).
size_t threadpool_threads() {
  return pthreadpool_get_threads_count(executorch::extension::threadpool::get_pthreadpool());
}

// The numerics self-test: one line per graph, the verdict in the report, exit 4 if a graph fails.
int selftest(const Args& args, const arc::Manifest& manifest) {
  nlohmann::json report = {{"runner_version", ARC_RUNNER_VERSION},
                           {"bundle", {{"path", args.bundle}, {"digest", manifest.digest}, {"recipe", manifest.recipe}}},
                           {"cpu", arc::cpu_description()},
                           {"cpu_features", arc::cpu_kernel_features()},
                           {"threads", args.threads},
                           {"threadpool_threads", threadpool_threads()}};
  report["selftest"] = arc::run_selftest(manifest);
  report["complete"] = true;
  arc::write_report(args.report, report);
  for (const auto& [name, g] : report["selftest"]["graphs"].items()) {
    std::cout << "selftest " << name << ": SNR " << g["snr_db"].get<double>() << " dB (min "
              << g["min_snr_db"].get<double>() << ") " << (g["passed"].get<bool>() ? "ok" : "FAILED") << '\n';
  }
  if (!report["selftest"]["passed"].get<bool>()) {
    std::cerr << "arc_runner: error: the numerics self-test failed: this device computes the bundle's graphs wrongly\n";
    return 4;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  nlohmann::json report;
  try {
    const auto manifest = arc::load_manifest(args.bundle, verify_mode(args.verify), args.digest,
                                             args.verify_cache.empty() ? default_verify_cache() : args.verify_cache);
    if (args.threads > 0) executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(args.threads);
    configure_xnnpack(args);
    if (args.selftest) return selftest(args, manifest);
    const double seconds = args.seconds < 0 ? manifest.default_seconds : args.seconds;
    if (!(seconds >= arc::Manifest::kEndFadeSeconds && seconds <= manifest.max_seconds() + 1e-9)) {
      usage_error("--seconds " + std::to_string(seconds) + " is out of range; give a duration from " +
                  std::to_string(arc::Manifest::kEndFadeSeconds) + " s (the end fade) to " +
                  std::to_string(manifest.max_seconds()) + " s");
    }
    const int steps = args.steps > 0 ? args.steps : manifest.default_steps;
    manifest.schedule(steps);  // fails now, with the range the bundle carries
    const std::string prompt = read_prompt(args.prompt_file);
    const bool one_shot = args.runs + args.warmup == 1;
    const auto residency = args.graphs == "resident" || (args.graphs == "auto" && !one_shot) ? arc::Residency::Resident
                                                                                            : arc::Residency::Staged;

    report = {{"runner_version", ARC_RUNNER_VERSION},
              {"bundle", {{"path", args.bundle}, {"format_version", manifest.format_version},
                          {"arc_edge_version", manifest.arc_edge_version}, {"recipe", manifest.recipe},
                          {"digest", manifest.digest}}},
              {"cpu", arc::cpu_description()},
              {"cpu_features", arc::cpu_kernel_features()},
              {"threads", args.threads},
              {"threadpool_threads", threadpool_threads()},
              {"xnnpack", {{"workspace", args.xnn_workspace}, {"weight_cache", args.xnn_weight_cache}}},
              {"graphs", residency == arc::Residency::Resident ? "resident" : "staged"},
              {"seconds", seconds},
              {"steps", steps},
              {"cfg", args.cfg},
              {"seed", args.seed},
              {"noise", args.noise_file.empty() ? "mt19937_64 box-muller" : "file"},
              {"complete", false}};
    arc::Pipeline pipeline(manifest, residency, args.etdump);
    pipeline.dump_dir = args.dump_dir;
    report["load_ms"] = pipeline.load_ms();
    report["peak_rss_mb_after_load"] = arc::peak_rss_kb() / 1024.0;
    const auto tokens = pipeline.tokenize(prompt);
    if (tokens.truncated) std::cerr << "arc_runner: warning: the prompt was truncated to " << manifest.max_length << " tokens\n";
    report["prompt_tokens"] = tokens.pieces;
    report["prompt_truncated"] = tokens.truncated;
    const auto noises = args.noise_file.empty() ? arc::draw_noise(manifest.latent_numel(), steps, args.seed)
                                                 : arc::read_noise_file(args.noise_file, manifest.latent_numel(), steps);
    report["warmup"] = args.warmup;
    report["runs"] = nlohmann::json::array();
    std::unique_ptr<FILE, int (*)(FILE*)> stream(nullptr, std::fclose);
    arc::AudioSink sink;
    if (!args.pcm_stream.empty()) {
      stream.reset(args.pcm_stream == "-" ? fdopen(dup(1), "wb") : std::fopen(args.pcm_stream.c_str(), "wb"));
      if (!stream) throw std::runtime_error("cannot open --pcm-stream " + args.pcm_stream);
      sink = [&](const float* p, size_t frames) {
        std::fwrite(p, sizeof(float), frames * manifest.audio_channels, stream.get());
        std::fflush(stream.get());
      };
    }
    const arc::Request request{seconds, steps, static_cast<float>(args.cfg)};
    std::vector<float> audio;
    for (int r = 0; r < args.warmup + args.runs; ++r) {
      arc::StageTimes times;
      const bool last = r == args.warmup + args.runs - 1;
      audio = pipeline.generate(tokens, request, noises, times, last ? sink : nullptr);
      if (r < args.warmup) continue;
      report["runs"].push_back(arc::run_to_json(times));
      report["peak_rss_mb"] = arc::peak_rss_kb() / 1024.0;
      arc::write_report(args.report, report);  // partial results survive a later crash
      std::cout << "run " << (r - args.warmup + 1) << ": conditioners " << times.conditioners_ms << " ms, dit "
                << times.dit_total_ms << " ms (" << steps << " steps), decoder " << times.decoder_ms
                << " ms, first audio " << times.first_audio_ms << " ms, total " << times.total_ms
                << " ms, peak RSS " << arc::peak_rss_kb() / 1024.0 << " MB\n";
    }
    const float gain = arc::write_wav(args.out, audio, manifest.audio_channels, manifest.sample_rate, args.float_wav);
    if (gain < 1.0f) {  // worded and rounded as arc-edge generate's note
      std::printf("note: the clip peaked %.1f dB over full scale; it was written that much quieter rather than "
                  "clipped\n", -20.0 * std::log10(gain));
    }
    report["output"] = args.out;
    report["output_gain"] = gain;
    report["complete"] = true;
    arc::write_report(args.report, report);
  } catch (const std::exception& e) {
    std::cerr << "arc_runner: error: " << e.what() << '\n';
    if (!report.is_null()) {
      report["error"] = e.what();
      try {
        arc::write_report(args.report, report);
      } catch (...) {
      }
    }
    return 3;
  }
  return 0;
}
