package dev.arcedge.demo;

import android.app.Activity;
import android.content.Intent;
import android.media.MediaPlayer;
import android.net.Uri;
import android.os.Bundle;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ProgressBar;
import android.widget.TextView;
import androidx.activity.ComponentActivity;
import androidx.core.content.FileProvider;
import androidx.core.graphics.Insets;
import androidx.core.view.ViewCompat;
import androidx.core.view.WindowInsetsCompat;
import androidx.lifecycle.ViewModelProvider;
import dev.arcedge.core.Generator;
import dev.arcedge.core.Manifest;
import dev.arcedge.core.Memory;
import dev.arcedge.core.PromptTokenizer;
import java.io.File;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.Locale;

/**
 * Prompt in, audio out. The screen only shows state: the bundle, its graphs and the generation
 * live in {@link GenerationViewModel}, so a rotation neither cancels a generation nor leaks graphs.
 */
public class MainActivity extends ComponentActivity {
  private static final int PICK_BUNDLE = 1, SAVE_WAV = 2;

  private GenerationViewModel vm;
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
    applyInsets(findViewById(R.id.root));
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

    vm = new ViewModelProvider(this).get(GenerationViewModel.class);
    vm.state().observe(this, this::show);
    findViewById(R.id.pick_bundle).setOnClickListener(v ->
        startActivityForResult(new Intent(Intent.ACTION_OPEN_DOCUMENT_TREE), PICK_BUNDLE));
    generate.setOnClickListener(v -> startGeneration());
    cancelButton.setOnClickListener(v -> vm.cancel());
    play.setOnClickListener(v -> playLast());
    save.setOnClickListener(v -> startActivityForResult(new Intent(Intent.ACTION_CREATE_DOCUMENT)
        .addCategory(Intent.CATEGORY_OPENABLE).setType("audio/wav").putExtra(Intent.EXTRA_TITLE, lastWav.getName()), SAVE_WAV));
    share.setOnClickListener(v -> shareLast());
  }

  /** targetSdk 35 draws edge to edge on Android 15: keep the content clear of bars, cutouts and the keyboard. */
  private static void applyInsets(View root) {
    int pad = root.getPaddingLeft();
    ViewCompat.setOnApplyWindowInsetsListener(root, (v, insets) -> {
      Insets bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() | WindowInsetsCompat.Type.displayCutout()
          | WindowInsetsCompat.Type.ime());
      v.setPadding(pad + bars.left, pad + bars.top, pad + bars.right, pad + bars.bottom);
      return WindowInsetsCompat.CONSUMED;
    });
  }

  private void show(GenerationViewModel.State s) {
    bundleStatus.setText(s.ready ? s.bundleStatus : s.bundleStatus + "\n\n" + getString(R.string.no_bundle));
    stage.setText(s.stage);
    progress.setMax(s.progressMax);
    progress.setProgress(s.progress);
    stats.setText(s.stats);
    generate.setEnabled(s.ready && !s.running);
    cancelButton.setEnabled(s.running);
    lastWav = s.wav;
    play.setEnabled(lastWav != null);
    save.setEnabled(lastWav != null);
    share.setEnabled(lastWav != null);
    Manifest m = vm.manifest();
    if (s.ready && m != null && seconds.getText().length() == 0) {
      seconds.setText(String.format(Locale.ROOT, "%.1f", m.defaultSeconds));
    }
  }

  private void startGeneration() {
    Manifest m = vm.manifest();
    PromptTokenizer tokenizer = vm.tokenizer();
    if (m == null || tokenizer == null) return;
    final PromptTokenizer.Tokens tokens;
    final Generator.Request request;
    final long noiseSeed;
    try {
      tokens = tokenizer.encode(prompt.getText().toString());
      double secs = Double.parseDouble(seconds.getText().toString());
      int nSteps = Integer.parseInt(steps.getText().toString());
      noiseSeed = Long.parseLong(seed.getText().toString());
      if (!m.schedules.containsKey(nSteps)) {
        throw new IllegalArgumentException("steps must be between " + m.schedules.firstKey() + " and " + m.schedules.lastKey());
      }
      if (!(secs >= Generator.END_FADE_SECONDS && secs <= m.maxSeconds())) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "seconds must be from %.2f to %.1f",
            Generator.END_FADE_SECONDS, m.maxSeconds()));
      }
      request = new Generator.Request(secs, nSteps, 1.0f);
    } catch (IllegalArgumentException ex) {  // NumberFormatException included
      stage.setText(ex.getMessage());
      return;
    }
    double needMb = m.requiredMemoryMb(), haveMb = Memory.availableMb();
    if (haveMb > 0 && haveMb < needMb) {
      stage.setText(String.format(Locale.ROOT, "Too little free memory: this bundle needs about %.0f MB, "
          + "the phone has %.0f MB available. Close other apps or use a smaller bundle.", needMb, haveMb));
      return;
    }
    vm.generate(tokens, request, noiseSeed, 0);
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
    if (result != Activity.RESULT_OK || data == null || data.getData() == null) return;
    Uri uri = data.getData();
    if (request == PICK_BUNDLE) {
      vm.importBundle(uri);
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
    if (player != null) player.release();  // the generation and graphs belong to the ViewModel: they carry on
    super.onDestroy();
  }
}
