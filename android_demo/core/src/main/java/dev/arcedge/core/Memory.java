package dev.arcedge.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

/** Process and device memory from /proc (Linux and Android); -1 where it cannot be read. */
public final class Memory {
  private Memory() {}

  /** Peak resident set size (VmHWM) in MB, the figure arc_runner reports. */
  public static double peakRssMb() {
    return mb(fieldKb("/proc/self/status", "VmHWM:"));
  }

  /** MemAvailable in MB: what a new run can still use before the system starts killing apps. */
  public static double availableMb() {
    return mb(fieldKb("/proc/meminfo", "MemAvailable:"));
  }

  private static double mb(double kb) {
    return kb < 0 ? -1 : kb / 1024.0;
  }

  private static double fieldKb(String file, String field) {
    try {
      for (String line : Files.readAllLines(Paths.get(file), StandardCharsets.UTF_8)) {
        if (line.startsWith(field)) return Double.parseDouble(line.substring(field.length()).trim().split("\\s+")[0]);
      }
    } catch (IOException | RuntimeException ex) {
      return -1;
    }
    return -1;
  }
}
