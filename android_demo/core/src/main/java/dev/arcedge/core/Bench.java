package dev.arcedge.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The benchmark entry point's work: warm-up and timed runs of one prompt, written as the same
 * JSON report as arc_runner (device_bench/src/main.cpp) so that `arc-edge bench` reads either.
 * The report is rewritten after every run: partial results survive a crash.
 */
public final class Bench {
  /** What to run; defaults as arc_runner's. */
  public static final class Options {
    public String prompt;
    public double seconds = -1;  // -1: the bundle's default
    public int steps = -1;  // -1: the bundle's default
    public float cfg = 1.0f;
    public long seed = 0;
    public int runs = 5;
    public int warmup = 1;
    public int threads = 0;  // 0: the runtime's default
    public String cpu = "";
    public String runnerVersion = "app";
    /** Platform memory figures (ActivityManager / Debug), added to the report by the app. */
    public Map<String, Object> platformMemory;

    /** One-line errors for values no run can use. */
    public void validate() {
      if (runs < 1 || warmup < 0) throw new IllegalArgumentException("runs must be at least 1 and warmup at least 0");
      if (threads < 0) throw new IllegalArgumentException("threads must be at least 1 (0 for the runtime's default)");
      if (!(cfg >= 0 && Float.isFinite(cfg))) throw new IllegalArgumentException("cfg must be a finite number >= 0");
      if (!Double.isFinite(seconds)) throw new IllegalArgumentException("seconds must be a finite number");
    }
  }

  private Bench() {}

  /**
   * Runs the benchmark and writes {@code reportFile}; on failure the report says why
   * ("complete": false, "error") and the exception is rethrown.
   */
  public static Generator.Result run(Manifest m, Graphs graphs, Map<String, Double> loadMs, Options o,
                                     File reportFile) throws Exception {
    JSONObject report = new JSONObject();
    report.put("runner_version", o.runnerVersion);
    report.put("bundle", new JSONObject().put("path", m.dir.getPath()).put("format_version", Manifest.FORMAT_VERSION)
        .put("arc_edge_version", m.arcEdgeVersion).put("recipe", m.recipe).put("digest", m.digest));
    report.put("cpu", o.cpu);
    report.put("cpu_features", new JSONArray(CpuInfo.kernelFeatures()));
    report.put("threads", o.threads);
    report.put("graphs", "resident");
    double seconds = o.seconds > 0 ? o.seconds : m.defaultSeconds;
    int steps = o.steps > 0 ? o.steps : m.defaultSteps;
    report.put("steps", steps);
    report.put("seed", o.seed);
    report.put("noise", "mt19937_64 box-muller");
    report.put("complete", false);
    try {
      o.validate();
      report.put("seconds", seconds);
      report.put("cfg", (double) o.cfg);
      report.put("load_ms", new JSONObject(loadMs));
      report.put("peak_rss_mb_after_load", Memory.peakRssMb());
      if (o.platformMemory != null) report.put("platform_memory", new JSONObject(o.platformMemory));
      PromptTokenizer.Tokens tokens = PromptTokenizer.forBundle(m).encode(o.prompt);
      report.put("prompt_tokens", tokens.count);
      report.put("prompt_truncated", tokens.truncated);
      float[][] noises = Noise.draw(m.latentNumel(), steps, o.seed);
      report.put("warmup", o.warmup);
      JSONArray runs = new JSONArray();
      report.put("runs", runs);
      Generator generator = new Generator(m, graphs);
      Generator.Request request = new Generator.Request(seconds, steps, o.cfg);
      Generator.Result result = null;
      for (int r = 0; r < o.warmup + o.runs; r++) {
        result = generator.generate(tokens, request, noises, null, null, null);
        if (r < o.warmup) continue;
        runs.put(result.times.toJson());
        report.put("peak_rss_mb", Memory.peakRssMb());
        write(reportFile, report);
      }
      report.put("complete", true);
      write(reportFile, report);
      return result;
    } catch (Exception ex) {
      report.put("error", ex.getMessage());
      write(reportFile, report);
      throw ex;
    }
  }

  private static void write(File file, JSONObject report) throws IOException, JSONException {
    AtomicFile.write(file, report.toString(2).getBytes(StandardCharsets.UTF_8));
  }
}
