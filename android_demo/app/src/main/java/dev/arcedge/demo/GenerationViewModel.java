package dev.arcedge.demo;

import android.app.Application;
import androidx.annotation.NonNull;
import androidx.lifecycle.AndroidViewModel;
import androidx.lifecycle.LiveData;
import androidx.lifecycle.MutableLiveData;
import dev.arcedge.core.AtomicFile;
import dev.arcedge.core.BundleException;
import dev.arcedge.core.Generator;
import dev.arcedge.core.Manifest;
import dev.arcedge.core.Noise;
import dev.arcedge.core.PromptTokenizer;
import dev.arcedge.core.Wav;
import java.io.File;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Owns the bundle and its native graphs for as long as the screen exists, across rotations (an
 * Activity is recreated on rotation; this object is not). Every graph call, load and close runs on
 * one worker thread, so a graph is never destroyed while it executes: a new bundle or the end of
 * the screen first cancels the generation, then closes the graphs on the worker, after the call.
 */
public final class GenerationViewModel extends AndroidViewModel {
  /** What the screen shows; posted from the worker. */
  public static final class State {
    public final String bundleStatus;
    public final String stage;
    public final int progress, progressMax;
    public final boolean ready, running;
    public final File wav;
    public final String stats;

    State(String bundleStatus, String stage, int progress, int progressMax, boolean ready, boolean running, File wav,
          String stats) {
      this.bundleStatus = bundleStatus;
      this.stage = stage;
      this.progress = progress;
      this.progressMax = progressMax;
      this.ready = ready;
      this.running = running;
      this.wav = wav;
      this.stats = stats;
    }

    State with(String stage, int progress, int progressMax, boolean running) {
      return new State(bundleStatus, stage, progress, progressMax, ready, running, wav, stats);
    }
  }

  private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> new Thread(r, "arc-edge-worker"));
  private final AtomicBoolean cancel = new AtomicBoolean(false);
  private final MutableLiveData<State> state = new MutableLiveData<>(
      new State("Checking bundle…", "", 0, 1, false, false, null, ""));
  // Written on the worker, read on the UI thread to validate a request.
  private volatile Manifest manifest;
  private volatile PromptTokenizer tokenizer;
  private EtGraphs graphs;  // only ever touched on the worker

  public GenerationViewModel(@NonNull Application app) {
    super(app);
    worker.execute(() -> open(() -> BundleStore.open(app)));
  }

  public LiveData<State> state() {
    return state;
  }

  public Manifest manifest() {
    return manifest;
  }

  private interface BundleSource {
    Manifest get() throws BundleException;
  }

  /** Verifies and opens a bundle on the worker, closing the previous bundle's graphs first. */
  private void open(BundleSource source) {
    closeGraphs();
    try {
      Manifest m = source.get();
      PromptTokenizer tok = PromptTokenizer.forBundle(m);
      manifest = m;
      tokenizer = tok;
      state.postValue(new State(String.format(java.util.Locale.ROOT, "Bundle: %s (%s), up to %.1f s, %d steps by default",
          m.dir.getName(), m.recipe, m.maxSeconds(), m.defaultSteps), "", 0, 1, true, false, null, ""));
    } catch (BundleException ex) {
      manifest = null;
      state.postValue(new State(ex.getMessage(), "", 0, 1, false, false, null, ""));
    }
  }

  /** A folder picked with the system file picker: stops any generation, then imports and opens it. */
  public void importBundle(android.net.Uri tree) {
    cancel.set(true);
    State s = state.getValue();
    state.setValue(new State("Copying and checking the chosen bundle…", "", 0, 1, false, false, s.wav, s.stats));
    worker.execute(() -> open(() -> BundleStore.importTree(getApplication(), tree)));
  }

  public void cancel() {
    cancel.set(true);
  }

  /** Starts a generation on the worker; the request was validated by the caller. */
  public void generate(PromptTokenizer.Tokens tokens, Generator.Request request, long seed, int threads) {
    cancel.set(false);
    State s = state.getValue();
    state.setValue(s.with(tokens.truncated ? "Prompt truncated to " + manifest.maxLength + " tokens" : "Starting…",
        0, request.steps + 2, true));
    worker.execute(() -> run(tokens, request, seed, threads));
  }

  public PromptTokenizer tokenizer() {
    return tokenizer;
  }

  private void run(PromptTokenizer.Tokens tokens, Generator.Request request, long seed, int threads) {
    State base = state.getValue();
    try {
      if (graphs == null) {
        state.postValue(base.with("Loading graphs…", 0, request.steps + 2, true));
        graphs = new EtGraphs(manifest, threads);
      }
      float[][] noises = Noise.draw(manifest.latentNumel(), request.steps, seed);
      Generator.Result r = new Generator(manifest, graphs).generate(tokens, request, noises,
          (stage, i, n) -> state.postValue(base.with(describe(stage, i, n), progress(stage, i, n), n + 2, true)),
          null, cancel);
      File dir = new File(getApplication().getCacheDir(), "generated");
      if (!dir.isDirectory() && !dir.mkdirs()) throw new java.io.IOException("cannot create " + dir);
      File wav = new File(dir, "arc-edge-" + System.currentTimeMillis() + ".wav");
      AtomicFile.write(wav, Wav.encodePcm16(r.interleaved, r.channels, r.sampleRate));
      String stats = String.format(java.util.Locale.ROOT,
          "conditioners %8.1f ms%nDiT %d steps %6.1f ms (%.1f ms/step)%ndecoder      %8.1f ms%nfirst audio  %8.1f ms%n"
              + "total        %8.1f ms%npeak RSS     %8.0f MB (VmHWM)%n%s",
          r.times.conditionersMs, r.times.stepMs.length, r.times.ditTotalMs(), r.times.ditTotalMs() / r.times.stepMs.length,
          r.times.decoderMs, r.times.firstAudioMs, r.times.totalMs, r.times.rssMbAfterDecoder,
          PlatformMemory.describe(getApplication()));
      state.postValue(new State(base.bundleStatus, "Done: " + wav.getName(), request.steps + 2, request.steps + 2,
          true, false, wav, stats));
    } catch (CancellationException ex) {
      state.postValue(base.with("Cancelled.", 0, 1, false));
    } catch (OutOfMemoryError ex) {
      closeGraphs();
      state.postValue(base.with("Out of memory: this bundle is too large for this phone.", 0, 1, false));
    } catch (Exception ex) {
      state.postValue(base.with("Generation failed: " + ex.getMessage(), 0, 1, false));
    }
  }

  private static String describe(Generator.Stage s, int step, int steps) {
    switch (s) {
      case CONDITIONERS: return "Text conditioning…";
      case DIT_STEP: return "Denoising step " + (step + 1) + " of " + steps;
      case DECODER: return "Decoding audio…";
      default: return "Finishing…";
    }
  }

  private static int progress(Generator.Stage s, int step, int steps) {
    switch (s) {
      case CONDITIONERS: return 0;
      case DIT_STEP: return step + 1;
      case DECODER: return steps + 1;
      default: return steps + 2;
    }
  }

  /** On the worker: frees the native graphs (never while one of them runs: the worker runs one task at a time). */
  private void closeGraphs() {
    if (graphs != null) {
      graphs.close();
      graphs = null;
    }
  }

  @Override
  protected void onCleared() {
    cancel.set(true);
    worker.execute(this::closeGraphs);  // after the running generation stopped at its next check
    worker.shutdown();
    try {
      if (!worker.awaitTermination(30, TimeUnit.SECONDS)) worker.shutdownNow();
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
    }
  }
}
