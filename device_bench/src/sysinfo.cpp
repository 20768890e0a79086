#include "sysinfo.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>

#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace arc {

long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::vector<std::string> cpu_kernel_features() {
  // /proc/cpuinfo flag -> the name XNNPACK's kernel families go by
  static const std::pair<const char*, const char*> kFlags[] = {
      {"asimddp", "dotprod"}, {"i8mm", "i8mm"},       {"asimdhp", "fp16"},          {"bf16", "bf16"},
      {"sve", "sve"},         {"sve2", "sve2"},       {"sme", "sme"},               {"sme2", "sme2"},
      {"avx2", "avx2"},       {"fma", "fma"},         {"avx512f", "avx512f"},       {"avx512bw", "avx512bw"},
      {"avx512_vnni", "avx512vnni"}, {"avx_vnni", "avxvnni"}, {"avx512_bf16", "avx512bf16"},
      {"avx512_fp16", "avx512fp16"}, {"amx_int8", "amx-int8"}};
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> words;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0) {
      std::istringstream ws(line.substr(line.find(':') + 1));
      std::string w;
      while (ws >> w) words.insert(w);
      break;  // every core reports the same flags
    }
  }
  std::vector<std::string> out;
  for (const auto& [flag, name] : kFlags) {
    if (words.count(flag)) out.push_back(name);
  }
  return out;
}

std::string cpu_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  std::set<std::string> parts;
  int cores = 0;
  while (std::getline(in, line)) {
    auto value = [&] { return line.substr(line.find(':') + 2); };
    if (line.rfind("processor", 0) == 0) ++cores;
    if (model.empty() && (line.rfind("model name", 0) == 0 || line.rfind("Hardware", 0) == 0)) model = value();
    if (line.rfind("CPU part", 0) == 0) parts.insert(value());
  }
  utsname u{};
  uname(&u);
  std::ostringstream out;
  out << (model.empty() ? "unknown CPU" : model);
  if (!parts.empty()) {
    out << " (CPU parts";
    for (const auto& p : parts) out << ' ' << p;
    out << ')';
  }
  out << ", " << cores << " cores, " << u.machine;
  const auto features = cpu_kernel_features();
  if (!features.empty()) {
    out << " [";
    for (size_t i = 0; i < features.size(); ++i) out << (i ? " " : "") << features[i];
    out << ']';
  }
  return out.str();
}

}  // namespace arc
