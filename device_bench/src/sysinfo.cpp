#include "sysinfo.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

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

#if defined(__aarch64__)
// On Arm the kernel's hardware capability bits are the authority (qemu-user emulates them for the
// CPU model it runs, where /proc/cpuinfo would show the host's).
std::vector<std::string> cpu_kernel_features() {
#ifndef HWCAP2_SME2
#define HWCAP2_SME2 (1UL << 37)
#endif
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  const std::pair<bool, const char*> kFeatures[] = {
      {(hw & HWCAP_ASIMDDP) != 0, "dotprod"}, {(hw2 & HWCAP2_I8MM) != 0, "i8mm"}, {(hw & HWCAP_ASIMDHP) != 0, "fp16"},
      {(hw2 & HWCAP2_BF16) != 0, "bf16"},     {(hw & HWCAP_SVE) != 0, "sve"},      {(hw2 & HWCAP2_SVE2) != 0, "sve2"},
      {(hw2 & HWCAP2_SME) != 0, "sme"},       {(hw2 & HWCAP2_SME2) != 0, "sme2"}};
  std::vector<std::string> out;
  for (const auto& [present, name] : kFeatures) {
    if (present) out.push_back(name);
  }
  return out;
}
#else
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
#endif

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
