#pragma once
#include <string>
#include <vector>

namespace arc {
long peak_rss_kb();  // VmHWM from /proc/self/status (ru_maxrss as fallback)
// Model name / CPU parts from /proc/cpuinfo, the core count, the machine type and the ISA features
// that decide which XNNPACK kernels run (dotprod, i8mm, fp16, SVE, SME on Arm; AVX2, AVX-512,
// VNNI, AMX on x86).
std::string cpu_description();
std::vector<std::string> cpu_kernel_features();
}  // namespace arc
