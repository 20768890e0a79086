package dev.arcedge.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The CPU features that decide which XNNPACK kernels run, from /proc/cpuinfo (as arc_runner reports them). */
public final class CpuInfo {
  // /proc/cpuinfo flag -> the name XNNPACK's kernel families go by (device_bench/src/sysinfo.cpp)
  private static final String[][] FLAGS = {
      {"asimddp", "dotprod"}, {"i8mm", "i8mm"}, {"asimdhp", "fp16"}, {"bf16", "bf16"}, {"sve", "sve"},
      {"sve2", "sve2"}, {"sme", "sme"}, {"sme2", "sme2"}, {"avx2", "avx2"}, {"fma", "fma"},
      {"avx512f", "avx512f"}, {"avx512bw", "avx512bw"}, {"avx512_vnni", "avx512vnni"}, {"avx_vnni", "avxvnni"},
      {"avx512_bf16", "avx512bf16"}, {"avx512_fp16", "avx512fp16"}, {"amx_int8", "amx-int8"}};

  private CpuInfo() {}

  public static List<String> kernelFeatures() {
    Set<String> words = new HashSet<>();
    try {
      for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
        if (line.startsWith("flags") || line.startsWith("Features")) {
          words.addAll(Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
          break;  // every core reports the same flags
        }
      }
    } catch (IOException | RuntimeException ex) {
      return new ArrayList<>();
    }
    List<String> out = new ArrayList<>();
    for (String[] f : FLAGS) {
      if (words.contains(f[0])) out.add(f[1]);
    }
    return out;
  }
}
