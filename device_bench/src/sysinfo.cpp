#include "sysinfo.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>

#include <fstream>
#include <set>
#include <sstream>

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
  return out.str();
}

}  // namespace arc
