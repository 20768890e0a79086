package dev.arcedge.core;

import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;

/** Text -> audio with a bundle's graphs: conditioners, the ping-pong loop, the decoder. */
public final class Generator {
  public enum Stage { CONDITIONERS, DIT_STEP, DECODER, DONE }

  /** Progress callback: called before each stage (step counts from 0 for DIT_STEP). */
  public interface Listener {
    void onStage(Stage stage, int step, int steps);
  }

  /** The generated audio (interleaved, trimmed to the requested seconds) and per-stage times. */
  public static final class Result {
    public final float[] interleaved;
    public final int channels;
    public final int sampleRate;
    public final StageTimes times;

    Result(float[] interleaved, int channels, int sampleRate, StageTimes times) {
      this.interleaved = interleaved;
      this.channels = channels;
      this.sampleRate = sampleRate;
      this.times = times;
    }
  }

  private final Manifest manifest;
  private final Graphs graphs;

  public Generator(Manifest manifest, Graphs graphs) {
    this.manifest = manifest;
    this.graphs = graphs;
  }

  /**
   * Runs one generation. {@code cancel} is checked between graph calls; when it is set the run
   * stops with a CancellationException and nothing is returned.
   */
  public Result generate(PromptTokenizer.Tokens tokens, double seconds, int steps, float[][] noises,
                         Listener listener, AtomicBoolean cancel) throws Exception {
    if (!(seconds > 0 && seconds <= manifest.maxSeconds() + 1e-9)) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "duration %.2f s is out of range; this bundle makes up to %.2f s", seconds, manifest.maxSeconds()));
    }
    if (noises.length < steps + 1) throw new IllegalArgumentException("need " + (steps + 1) + " noise tensors");
    Listener progress = listener != null ? listener : (s, i, n) -> { };
    StageTimes times = new StageTimes(steps);
    long start = System.nanoTime();

    check(cancel);
    progress.onStage(Stage.CONDITIONERS, 0, steps);
    Graphs.Conditioning cond = graphs.condition(tokens.ids, tokens.mask, (float) seconds);
    times.conditionersMs = msSince(start);
    times.rssMbAfterConditioners = Memory.peakRssMb();

    float[] ts = Schedule.pingpong(steps);
    float[] x = noises[0].clone();
    for (int i = 0; i < steps; i++) {
      check(cancel);
      progress.onStage(Stage.DIT_STEP, i, steps);
      long t0 = System.nanoTime();
      x = pingpongStep(x, graphs.velocity(x, ts[i], cond), ts[i], ts[i + 1], noises[i + 1]);
      times.stepMs[i] = msSince(t0);
    }
    times.rssMbAfterDit = Memory.peakRssMb();

    check(cancel);
    progress.onStage(Stage.DECODER, steps, steps);
    long t0 = System.nanoTime();
    float[] planar = graphs.decode(x);
    float[] audio = interleave(planar, manifest.audioChannels, Math.round(seconds * manifest.sampleRate));
    times.decoderMs = msSince(t0);
    times.rssMbAfterDecoder = Memory.peakRssMb();
    times.totalMs = msSince(start);
    progress.onStage(Stage.DONE, steps, steps);
    return new Result(audio, manifest.audioChannels, manifest.sampleRate, times);
  }

  /** Denoise fully with the predicted velocity, then re-noise with fresh noise to the next level. */
  static float[] pingpongStep(float[] x, float[] v, float t, float tNext, float[] fresh) {
    float[] out = new float[x.length];
    for (int k = 0; k < x.length; k++) {
      float x0 = x[k] - t * v[k];
      out[k] = (1.0f - tNext) * x0 + tNext * fresh[k];
    }
    return out;
  }

  static float[] interleave(float[] planar, int channels, long samples) {
    int total = planar.length / channels;
    int keep = (int) Math.min(total, samples);
    float[] out = new float[keep * channels];
    for (int s = 0; s < keep; s++) {
      for (int c = 0; c < channels; c++) out[s * channels + c] = planar[c * total + s];
    }
    return out;
  }

  private static void check(AtomicBoolean cancel) {
    if (cancel != null && cancel.get()) throw new CancellationException("generation cancelled");
  }

  private static double msSince(long t0) {
    return (System.nanoTime() - t0) / 1e6;
  }
}
