// arc_runner: text -> WAV with an arc-edge ExecuTorch bundle, timing each stage.
//
//   arc_runner --bundle DIR --prompt-file FILE|- [--out out.wav] [--report report.json]
//              [--seconds S] [--steps N] [--seed K] [--noise-file F] [--threads T]
//              [--runs N] [--warmup K] [--float-wav] [--dump-dir DIR]
//
// The prompt is read from a file or stdin, never from the command line, so no shell ever
// parses user text (adb included).
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>

#include "bundle.hpp"
#include "et_threadpool.hpp"
#include "pipeline.hpp"
#include "report.hpp"
#include "sysinfo.hpp"
#include "wav.hpp"

namespace {

struct Args {
  std::string bundle, prompt_file, out = "out.wav", report = "report.json", noise_file, dump_dir;
  double seconds = -1;
  int steps = -1, runs = 1, warmup = 0, threads = 0;
  uint64_t seed = 0;
  bool float_wav = false;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "arc_runner: error: " << msg << " (see --help)\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(k + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string& v) -> double {
      try {
        size_t used = 0;
        double d = std::stod(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return d;
      } catch (const std::exception&) {
        usage_error(k + " expects a number, got '" + v + "'");
      }
    };
    if (k == "--help" || k == "-h") {
      std::cout << "arc_runner --bundle DIR --prompt-file FILE|- [--out out.wav] [--report report.json]\n"
                   "           [--seconds S] [--steps N] [--seed K] [--noise-file F] [--threads T]\n"
                   "           [--runs N] [--warmup K] [--float-wav] [--dump-dir DIR]\n"
                   "--dump-dir writes cross_attn_cond, global_cond and the final latent as raw float32.\n";
      std::exit(0);
    } else if (k == "--bundle") a.bundle = next();
    else if (k == "--prompt-file") a.prompt_file = next();
    else if (k == "--out") a.out = next();
    else if (k == "--report") a.report = next();
    else if (k == "--noise-file") a.noise_file = next();
    else if (k == "--seconds") a.seconds = number(next());
    else if (k == "--steps") a.steps = static_cast<int>(number(next()));
    else if (k == "--seed") a.seed = static_cast<uint64_t>(number(next()));
    else if (k == "--threads") a.threads = static_cast<int>(number(next()));
    else if (k == "--runs") a.runs = static_cast<int>(number(next()));
    else if (k == "--warmup") a.warmup = static_cast<int>(number(next()));
    else if (k == "--float-wav") a.float_wav = true;
    else if (k == "--dump-dir") a.dump_dir = next();
    else usage_error("unknown option " + k);
  }
  if (a.bundle.empty()) usage_error("--bundle is required");
  if (a.prompt_file.empty()) usage_error("--prompt-file is required (use - for stdin)");
  if (a.runs < 1 || a.warmup < 0) usage_error("--runs must be >= 1 and --warmup >= 0");
  if (a.steps == 0 || a.steps > 1000) usage_error("--steps must be in 1..1000");
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
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  nlohmann::json report;
  try {
    const auto manifest = arc::load_manifest(args.bundle);
    const double seconds = args.seconds < 0 ? manifest.default_seconds : args.seconds;
    if (!(seconds > 0 && seconds <= manifest.max_seconds() + 1e-9)) {
      usage_error("--seconds " + std::to_string(seconds) + " is out of range (0, " +
                  std::to_string(manifest.max_seconds()) + "]");
    }
    const int steps = args.steps > 0 ? args.steps : manifest.default_steps;
    if (args.threads > 0) executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(args.threads);
    const std::string prompt = read_prompt(args.prompt_file);

    report = {{"runner_version", ARC_RUNNER_VERSION},
              {"bundle", {{"path", args.bundle}, {"format_version", manifest.format_version},
                          {"arc_edge_version", manifest.arc_edge_version}, {"recipe", manifest.recipe}}},
              {"cpu", arc::cpu_description()},
              {"threads", args.threads},
              {"seconds", seconds},
              {"steps", steps},
              {"seed", args.seed},
              {"noise", args.noise_file.empty() ? "mt19937_64 box-muller" : "file"},
              {"complete", false}};
    arc::Pipeline pipeline(manifest);
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
    std::vector<float> audio;
    for (int r = 0; r < args.warmup + args.runs; ++r) {
      arc::StageTimes times;
      audio = pipeline.generate(tokens, seconds, steps, noises, times);
      if (r < args.warmup) continue;
      report["runs"].push_back(arc::run_to_json(times));
      report["peak_rss_mb"] = arc::peak_rss_kb() / 1024.0;
      arc::write_report(args.report, report);  // partial results survive a later crash
      std::cout << "run " << (r - args.warmup + 1) << ": conditioners " << times.conditioners_ms << " ms, dit "
                << times.dit_total_ms << " ms (" << steps << " steps), decoder " << times.decoder_ms << " ms, total "
                << times.total_ms << " ms, peak RSS " << arc::peak_rss_kb() / 1024.0 << " MB\n";
    }
    arc::write_wav(args.out, audio, manifest.audio_channels, manifest.sample_rate, args.float_wav);
    report["output"] = args.out;
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
