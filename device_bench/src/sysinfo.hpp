#pragma once
#include <string>

namespace arc {
long peak_rss_kb();            // VmHWM from /proc/self/status (ru_maxrss as fallback)
std::string cpu_description();  // model name / CPU part from /proc/cpuinfo, plus the machine type
}  // namespace arc
