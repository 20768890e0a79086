package dev.arcedge.core;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** Per-stage latency (ms) and peak RSS (MB) of one generation, as the native runner reports them. */
public final class StageTimes {
  public double conditionersMs, decoderMs, firstAudioMs, totalMs;
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
  public JSONObject toJson() throws JSONException {
    JSONArray steps = new JSONArray();
    for (double v : stepMs) steps.put(v);
    return new JSONObject()
        .put("conditioners_ms", conditionersMs)
        .put("dit_step_ms", steps)
        .put("dit_total_ms", ditTotalMs())
        .put("decoder_ms", decoderMs)
        .put("first_audio_ms", firstAudioMs)
        .put("total_ms", totalMs)
        .put("peak_rss_mb", new JSONObject()
            .put("after_conditioners", rssMbAfterConditioners)
            .put("after_dit", rssMbAfterDit)
            .put("after_decoder", rssMbAfterDecoder));
  }
}
