package dev.arcedge.demo;

import android.app.Activity;
import android.content.Intent;
import android.media.MediaPlayer;
import android.net.Uri;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ProgressBar;
import android.widget.TextView;
import androidx.core.content.FileProvider;
import dev.arcedge.core.AtomicFile;
import dev.arcedge.core.BundleException;
import dev.arcedge.core.Generator;
import dev.arcedge.core.Manifest;
import dev.arcedge.core.Memory;
import dev.arcedge.core.Noise;
import dev.arcedge.core.PromptTokenizer;
import dev.arcedge.core.StageTimes;
import dev.arcedge.core.Wav;
import java.io.File;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

/** Prompt in, audio out: generation runs on a worker thread, the UI shows each stage and can cancel. */
public class MainActivity extends Activity {
  private static final int PICK_BUNDLE = 1, SAVE_WAV = 2;

  private final ExecutorService worker = Executors.newSingleThreadExecutor();
  private final Handler ui = new Handler(Looper.getMainLooper());
  private final AtomicBoolean cancel = new AtomicBoolean(false);

  private Manifest manifest;
  private PromptTokenizer tokenizer;
  private EtGraphs graphs;  // loaded on first use, on the worker thread
  private File lastWav;
  private MediaPlayer player;

  private TextView bundleStatus, stage, stats;
  private EditText prompt, seconds, steps, seed;
  private Button generate, cancelButton, play, save, share;
  private ProgressBar progress;

  @Override
  protected void onCreate(Bundle state) {
    super.onCreate(state);
    setContentView(R.layout.activity_main);
    bundleStatus = findViewById(R.id.bundle_status);
    stage = findViewById(R.id.stage);
    stats = findViewById(R.id.stats);
    prompt = findViewById(R.id.prompt);
    seconds = findViewById(R.id.seconds);
    steps = findViewById(R.id.steps);
    seed = findViewById(R.id.seed);
    generate = findViewById(R.id.generate);
    cancelButton = findViewById(R.id.cancel);
    play = findViewById(R.id.play);
    save = findViewById(R.id.save);
    share = findViewById(R.id.share);
    progress = findViewById(R.id.progress);

    findViewById(R.id.pick_bundle).setOnClickListener(v ->
        startActivityForResult(new Intent(Intent.ACTION_OPEN_DOCUMENT_TREE), PICK_BUNDLE));
    generate.setOnClickListener(v -> startGeneration());
    cancelButton.setOnClickListener(v -> cancel.set(true));
    play.setOnClickListener(v -> playLast());
    save.setOnClickListener(v -> startActivityForResult(new Intent(Intent.ACTION_CREATE_DOCUMENT)
        .addCategory(Intent.CATEGORY_OPENABLE).setType("audio/wav").putExtra(Intent.EXTRA_TITLE, lastWav.getName()), SAVE_WAV));
    share.setOnClickListener(v -> shareLast());
    openBundle();
  }

  /** Verifies the bundle off the UI thread (hashing a large bundle takes seconds). */
  private void openBundle() {
    bundleStatus.setText("Checking bundle…");
    worker.execute(() -> {
      try {
        Manifest m = BundleStore.open(this);
        PromptTokenizer tok = PromptTokenizer.forBundle(m);
        ui.post(() -> bundleReady(m, tok));
      } catch (BundleException ex) {
        ui.post(() -> {
          bundleStatus.setText(ex.getMessage() + "\n\n" + getString(R.string.no_bundle));
          generate.setEnabled(false);
        });
      }
    });
  }

  private void bundleReady(Manifest m, PromptTokenizer tok) {
    if (graphs != null) {
      graphs.close();
      graphs = null;
    }
    manifest = m;
    tokenizer = tok;
    bundleStatus.setText(String.format(Locale.ROOT, "Bundle: %s (%s), up to %.1f s, %d steps by default",
        m.dir.getName(), m.recipe, m.maxSeconds(), m.defaultSteps));
    if (seconds.getText().length() == 0) seconds.setText(String.format(Locale.ROOT, "%.1f", m.defaultSeconds));
    generate.setEnabled(true);
  }

  private void startGeneration() {
    final PromptTokenizer.Tokens tokens;
    final double secs;
    final int nSteps;
    final long noiseSeed;
    try {
      tokens = tokenizer.encode(prompt.getText().toString());
      secs = Double.parseDouble(seconds.getText().toString());
      nSteps = Integer.parseInt(steps.getText().toString());
      noiseSeed = Long.parseLong(seed.getText().toString());
      if (nSteps < 1 || nSteps > 64) throw new IllegalArgumentException("steps must be between 1 and 64");
    } catch (IllegalArgumentException ex) {  // NumberFormatException included
      stage.setText(ex.getMessage());
      return;
    }
    double needMb = manifest.requiredMemoryMb(), haveMb = Memory.availableMb();
    if (graphs == null && haveMb > 0 && haveMb < needMb) {
      stage.setText(String.format(Locale.ROOT, "Too little free memory: this bundle needs about %.0f MB, "
          + "the phone has %.0f MB available. Close other apps or use a smaller bundle.", needMb, haveMb));
      return;
    }
    cancel.set(false);
    setRunning(true);
    if (tokens.truncated) stage.setText("Prompt truncated to " + manifest.maxLength + " tokens");
    worker.execute(() -> runGeneration(tokens, secs, nSteps, noiseSeed));
  }

  private void runGeneration(PromptTokenizer.Tokens tokens, double secs, int nSteps, long noiseSeed) {
    try {
      if (graphs == null) {
        ui.post(() -> stage.setText("Loading graphs…"));
        graphs = new EtGraphs(manifest);
      }
      float[][] noises = Noise.draw(manifest.latentNumel(), nSteps, noiseSeed);
      Generator.Result r = new Generator(manifest, graphs).generate(tokens, secs, nSteps, noises,
          (s, i, n) -> ui.post(() -> showStage(s, i, n)), cancel);
      File dir = new File(getCacheDir(), "generated");
      dir.mkdirs();
      File wav = new File(dir, "arc-edge-" + System.currentTimeMillis() + ".wav");
      AtomicFile.write(wav, Wav.encodePcm16(r.interleaved, r.channels, r.sampleRate));
      ui.post(() -> finished(wav, r.times));
    } catch (CancellationException ex) {
      ui.post(() -> failed("Cancelled."));
    } catch (OutOfMemoryError ex) {
      ui.post(() -> failed("Out of memory: this bundle is too large for this phone."));
    } catch (Exception ex) {
      ui.post(() -> failed("Generation failed: " + ex.getMessage()));
    }
  }

  private void showStage(Generator.Stage s, int step, int steps) {
    progress.setMax(steps + 2);
    switch (s) {
      case CONDITIONERS: stage.setText("Text conditioning…"); progress.setProgress(0); break;
      case DIT_STEP: stage.setText("Denoising step " + (step + 1) + " of " + steps); progress.setProgress(step + 1); break;
      case DECODER: stage.setText("Decoding audio…"); progress.setProgress(steps + 1); break;
      default: progress.setProgress(steps + 2);
    }
  }

  private void finished(File wav, StageTimes t) {
    lastWav = wav;
    setRunning(false);
    stage.setText("Done: " + wav.getName());
    stats.setText(String.format(Locale.ROOT,
        "conditioners %8.1f ms%nDiT %d steps %6.1f ms (%.1f ms/step)%ndecoder      %8.1f ms%ntotal        %8.1f ms%npeak RSS     %8.0f MB",
        t.conditionersMs, t.stepMs.length, t.ditTotalMs(), t.ditTotalMs() / t.stepMs.length, t.decoderMs, t.totalMs,
        t.rssMbAfterDecoder));
    play.setEnabled(true);
    save.setEnabled(true);
    share.setEnabled(true);
  }

  private void failed(String message) {
    setRunning(false);
    stage.setText(message);
  }

  private void setRunning(boolean running) {
    generate.setEnabled(!running);
    cancelButton.setEnabled(running);
  }

  private void playLast() {
    if (player != null) player.release();
    player = MediaPlayer.create(this, Uri.fromFile(lastWav));
    if (player != null) player.start();
  }

  private void shareLast() {
    Uri uri = FileProvider.getUriForFile(this, "dev.arcedge.demo.files", lastWav);
    startActivity(Intent.createChooser(new Intent(Intent.ACTION_SEND).setType("audio/wav")
        .putExtra(Intent.EXTRA_STREAM, uri).addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION), getString(R.string.share)));
  }

  @Override
  protected void onActivityResult(int request, int result, Intent data) {
    super.onActivityResult(request, result, data);
    if (result != RESULT_OK || data == null || data.getData() == null) return;
    Uri uri = data.getData();
    if (request == PICK_BUNDLE) {
      bundleStatus.setText("Copying and checking the chosen bundle…");
      worker.execute(() -> {
        try {
          Manifest m = BundleStore.importTree(this, uri);
          PromptTokenizer tok = PromptTokenizer.forBundle(m);
          ui.post(() -> bundleReady(m, tok));
        } catch (BundleException ex) {
          ui.post(() -> bundleStatus.setText(ex.getMessage()));
        }
      });
    } else if (request == SAVE_WAV) {
      try (OutputStream out = getContentResolver().openOutputStream(uri)) {
        out.write(Files.readAllBytes(lastWav.toPath()));
        stage.setText("Saved.");
      } catch (Exception ex) {
        stage.setText("Could not save: " + ex.getMessage());
      }
    }
  }

  @Override
  protected void onDestroy() {
    cancel.set(true);
    worker.shutdown();
    if (player != null) player.release();
    super.onDestroy();
  }
}
