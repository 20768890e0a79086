package dev.arcedge.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
    public long seed = 0;
    public int runs = 5;
    public int warmup = 1;
    public int threads = 0;
    public String cpu = "";
    public String runnerVersion = "app";
  }

  private Bench() {}

  /**
   * Runs the benchmark and writes {@code reportFile}; on failure the report says why
   * ("complete": false, "error") and the exception is rethrown.
   */
  public static Generator.Result run(Manifest m, Graphs graphs, Map<String, Double> loadMs, Options o,
                                     File reportFile) throws Exception {
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("runner_version", o.runnerVersion);
    Map<String, Object> bundle = new LinkedHashMap<>();
    bundle.put("path", m.dir.getPath());
    bundle.put("format_version", Manifest.FORMAT_VERSION);
    bundle.put("arc_edge_version", m.arcEdgeVersion);
    bundle.put("recipe", m.recipe);
    report.put("bundle", bundle);
    report.put("cpu", o.cpu);
    report.put("threads", o.threads);
    double seconds = o.seconds > 0 ? o.seconds : m.defaultSeconds;
    int steps = o.steps > 0 ? o.steps : m.defaultSteps;
    report.put("seconds", seconds);
    report.put("steps", steps);
    report.put("seed", o.seed);
    report.put("noise", "mt19937_64 box-muller");
    report.put("complete", false);
    try {
      report.put("load_ms", new LinkedHashMap<>(loadMs));
      report.put("peak_rss_mb_after_load", Memory.peakRssMb());
      PromptTokenizer.Tokens tokens = PromptTokenizer.forBundle(m).encode(o.prompt);
      report.put("prompt_tokens", tokens.count);
      report.put("prompt_truncated", tokens.truncated);
      float[][] noises = Noise.draw(m.latentNumel(), steps, o.seed);
      report.put("warmup", o.warmup);
      List<Object> runs = new ArrayList<>();
      report.put("runs", runs);
      Generator generator = new Generator(m, graphs);
      Generator.Result result = null;
      for (int r = 0; r < o.warmup + o.runs; r++) {
        result = generator.generate(tokens, seconds, steps, noises, null, null);
        if (r < o.warmup) continue;
        runs.add(result.times.toJson());
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

  private static void write(File file, Map<String, Object> report) throws IOException {
    AtomicFile.write(file, Json.write(report).getBytes(StandardCharsets.UTF_8));
  }
}
