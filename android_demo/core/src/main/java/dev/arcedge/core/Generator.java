package dev.arcedge.core;

import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Text -> audio with a bundle's graphs: conditioners, the ping-pong loop on the manifest's schedule
 * (with optional classifier-free guidance), the decoder window by window on the manifest's plan,
 * handing each window's audio on as soon as it is ready. The same steps as arc_edge/generate.py and
 * device_bench/src/pipeline.cpp.
 */
public final class Generator {
  public enum Stage { CONDITIONERS, DIT_STEP, DECODER, DONE }

  /**
   * A clip cut short of the model's length fades out over this many seconds
   * (arc_edge.decoding.END_FADE_SECONDS); no clip is shorter.
   */
  public static final double END_FADE_SECONDS = 0.01;

  /** Progress callback: called before each stage (step counts from 0 for DIT_STEP). */
  public interface Listener {
    void onStage(Stage stage, int step, int steps);
  }

  /** Receives each decoded window's interleaved audio ({@code frames} frames from {@code offset}). */
  public interface AudioSink {
    void onAudio(float[] interleaved, int offset, int frames);
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

  /** What to generate: duration, steps and guidance scale (1: none, one DiT call per step). */
  public static final class Request {
    public final double seconds;
    public final int steps;
    public final float cfg;

    public Request(double seconds, int steps, float cfg) {
      this.seconds = seconds;
      this.steps = steps;
      this.cfg = cfg;
    }
  }

  private final Manifest manifest;
  private final Graphs graphs;

  public Generator(Manifest manifest, Graphs graphs) {
    this.manifest = manifest;
    this.graphs = graphs;
  }

  /**
   * Runs one generation. {@code cancel} is checked between graph calls; when it is set the run stops
   * with a CancellationException and nothing is returned.
   */
  public Result generate(PromptTokenizer.Tokens tokens, Request req, float[][] noises, Listener listener,
                         AudioSink sink, AtomicBoolean cancel) throws Exception {
    if (!(req.seconds >= END_FADE_SECONDS && req.seconds <= manifest.maxSeconds() + 1e-9)) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
          "duration %g s is out of range; give %.2f to %.2f s", req.seconds, END_FADE_SECONDS, manifest.maxSeconds()));
    }
    if (!(req.cfg >= 0 && Float.isFinite(req.cfg))) throw new IllegalArgumentException("the guidance scale must be 0 or more");
    float[] ts = manifest.schedule(req.steps);
    if (noises.length < req.steps + 1) throw new IllegalArgumentException("need " + (req.steps + 1) + " noise tensors");
    Listener progress = listener != null ? listener : (s, i, n) -> { };
    StageTimes times = new StageTimes(req.steps);
    long start = System.nanoTime();

    check(cancel);
    progress.onStage(Stage.CONDITIONERS, 0, req.steps);
    Graphs.Conditioning cond = graphs.condition(tokens.ids, tokens.mask, (float) req.seconds);
    Graphs.Conditioning unconditional = new Graphs.Conditioning(new float[cond.cross.length], cond.global);
    times.conditionersMs = msSince(start);
    times.rssMbAfterConditioners = Memory.peakRssMb();

    float[] x = noises[0].clone();
    for (int i = 0; i < req.steps; i++) {
      check(cancel);
      progress.onStage(Stage.DIT_STEP, i, req.steps);
      long t0 = System.nanoTime();
      float[] v = graphs.velocity(x, ts[i], cond);
      if (req.cfg != 1.0f) v = guided(v, graphs.velocity(x, ts[i], unconditional), req.cfg);
      x = pingpongStep(x, v, ts[i], ts[i + 1], noises[i + 1]);
      times.stepMs[i] = msSince(t0);
    }
    if (!allFinite(x)) {  // e.g. a guidance scale so large that the velocity overflows
      throw new IllegalStateException("sampling produced NaN or infinite values (guidance scale " + req.cfg
          + "); lower the guidance scale (1 to 10 is usual), or check the bundle");
    }
    times.rssMbAfterDit = Memory.peakRssMb();

    check(cancel);
    progress.onStage(Stage.DECODER, req.steps, req.steps);
    long t0 = System.nanoTime();
    float[] audio = decode(x, Math.round(req.seconds * manifest.sampleRate), times, start, sink, cancel);
    times.decoderMs = msSince(t0);
    times.rssMbAfterDecoder = Memory.peakRssMb();
    times.totalMs = msSince(start);
    progress.onStage(Stage.DONE, req.steps, req.steps);
    return new Result(audio, manifest.audioChannels, manifest.sampleRate, times);
  }

  private float[] decode(float[] latent, long samples, StageTimes times, long start, AudioSink sink,
                         AtomicBoolean cancel) throws Exception {
    int channels = manifest.audioChannels, hop = manifest.hop(), frames = manifest.latentFrames();
    int dim = (int) manifest.latentShape[1], window = manifest.decodeWindow;
    int keepTotal = (int) Math.min((long) frames * hop, samples);
    // A clip cut short of the model's length fades out (the reference cuts hard, which ends on a
    // click); the same raised cosine as arc_edge.decoding.end_fade_gains.
    int fade = keepTotal < frames * hop ? (int) Math.min(Math.round(END_FADE_SECONDS * manifest.sampleRate), keepTotal) : 0;
    int fadeStart = keepTotal - fade;
    float[] out = new float[keepTotal * channels];
    float[] chunk = new float[dim * window];
    DcBlocker blocker = manifest.dcBlockerHz > 0 ? new DcBlocker(manifest.dcBlockerHz, manifest.sampleRate, channels) : null;
    boolean first = true;
    for (Manifest.DecodeWindow w : manifest.decodeWindows) {
      int begin = w.keepBegin * hop;
      if (begin >= keepTotal) break;  // past the requested duration: not decoded at all
      check(cancel);
      for (int c = 0; c < dim; c++) System.arraycopy(latent, c * frames + w.start, chunk, c * window, window);
      float[] planar = graphs.decode(chunk);
      if (!allFinite(planar)) {
        throw new IllegalStateException("the decoder produced NaN or infinite samples from finite latents; check the bundle");
      }
      int span = window * hop, offset = (w.keepBegin - w.start) * hop;
      int count = Math.min(w.keepEnd * hop, keepTotal) - begin;
      if (blocker != null) blocker.startOnce(planar, span, offset, Math.min(hop, count));
      for (int s = 0; s < count; s++) {
        for (int c = 0; c < channels; c++) {
          float v = planar[c * span + offset + s];
          out[(begin + s) * channels + c] = blocker != null ? blocker.apply(c, v) : v;
        }
        if (begin + s >= fadeStart) {
          float gain = (float) (0.5 * (1.0 + Math.cos(Math.PI * (begin + s - fadeStart + 1) / (double) fade)));
          for (int c = 0; c < channels; c++) out[(begin + s) * channels + c] *= gain;
        }
      }
      if (first) {
        times.firstAudioMs = msSince(start);
        first = false;
      }
      if (sink != null) sink.onAudio(out, begin * channels, count);
    }
    return out;
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

  /** Classifier-free guidance: v_uncond + scale * (v_cond - v_uncond), as the reference. */
  static float[] guided(float[] cond, float[] uncond, float scale) {
    float[] out = new float[cond.length];
    for (int k = 0; k < cond.length; k++) out[k] = uncond[k] + scale * (cond[k] - uncond[k]);
    return out;
  }

  private static boolean allFinite(float[] values) {
    for (float v : values) {
      if (!Float.isFinite(v)) return false;
    }
    return true;
  }

  private static void check(AtomicBoolean cancel) {
    if (cancel != null && cancel.get()) throw new CancellationException("generation cancelled");
  }

  private static double msSince(long t0) {
    return (System.nanoTime() - t0) / 1e6;
  }
}
