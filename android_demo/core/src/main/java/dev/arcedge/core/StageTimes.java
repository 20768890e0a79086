package dev.arcedge.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Per-stage latency (ms) and peak RSS (MB) of one generation, as the native runner reports them. */
public final class StageTimes {
  public double conditionersMs, decoderMs, totalMs;
  public final double[] stepMs;
  public double rssMbAfterConditioners = -1, rssMbAfterDit = -1, rssMbAfterDecoder = -1;

  StageTimes(int steps) {
    stepMs = new double[steps];
  }

  public double ditTotalMs() {
    double s = 0;
    for (double v : stepMs) s += v;
    return s;
  }

  /** The run entry of arc_runner's JSON report (device_bench/src/report.cpp). */
  public Map<String, Object> toJson() {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("conditioners_ms", conditionersMs);
    List<Object> steps = new ArrayList<>();
    for (double v : stepMs) steps.add(v);
    out.put("dit_step_ms", steps);
    out.put("dit_total_ms", ditTotalMs());
    out.put("decoder_ms", decoderMs);
    out.put("total_ms", totalMs);
    Map<String, Object> rss = new LinkedHashMap<>();
    rss.put("after_conditioners", rssMbAfterConditioners);
    rss.put("after_dit", rssMbAfterDit);
    rss.put("after_decoder", rssMbAfterDecoder);
    out.put("peak_rss_mb", rss);
    return out;
  }
}
