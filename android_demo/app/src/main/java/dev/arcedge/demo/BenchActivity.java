package dev.arcedge.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Build;
import android.os.Bundle;
import android.util.Log;
import dev.arcedge.core.AtomicFile;
import dev.arcedge.core.Bench;
import dev.arcedge.core.Generator;
import dev.arcedge.core.Json;
import dev.arcedge.core.Manifest;
import dev.arcedge.core.Wav;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The benchmark entry point, driven from adb (what `arc-edge bench --device adb --runner app` does):
 *
 * <pre>
 * adb shell am start -W -n dev.arcedge.demo/.BenchActivity --es prompt_file /sdcard/.../prompt.txt \
 *     --ei runs 5 --ei warmup 1 [--es bundle DIR] [--ei steps 8] [--ef seconds 11.9] [--el seed 0]
 *     [--es report report.json]
 * </pre>
 *
 * (--es prompt TEXT works too, by hand; arc-edge always sends a file so no prompt passes through a
 * shell.) It writes arc_runner's JSON report and out.wav to the app's external files folder (the
 * report is rewritten after every run, "complete": true at the end) and logs
 * "arc-edge bench: done REPORT" or "arc-edge bench: failed: WHY".
 */
public class BenchActivity extends Activity {
  static final String TAG = "arc-edge";

  @Override
  protected void onCreate(Bundle state) {
    super.onCreate(state);
    Intent in = getIntent();
    Bench.Options o = new Bench.Options();
    o.prompt = in.getStringExtra("prompt");
    String promptFile = in.getStringExtra("prompt_file");
    o.runs = in.getIntExtra("runs", o.runs);
    o.warmup = in.getIntExtra("warmup", o.warmup);
    o.steps = in.getIntExtra("steps", o.steps);
    o.seconds = in.getFloatExtra("seconds", (float) o.seconds);
    o.seed = in.getLongExtra("seed", o.seed);
    o.cpu = Build.HARDWARE + " (" + Build.MODEL + ", " + Build.SUPPORTED_ABIS[0] + ")";
    o.runnerVersion = "app-" + BuildConfig.VERSION_NAME;
    String bundle = in.getStringExtra("bundle");
    String reportName = in.getStringExtra("report");
    File files = getExternalFilesDir(null);
    File report = new File(files, reportName != null ? new File(reportName).getName() : "report.json");
    new Thread(() -> {
      try {
        if (promptFile != null) {
          o.prompt = new String(Files.readAllBytes(new File(promptFile).toPath()), StandardCharsets.UTF_8);
        }
        Manifest m = bundle != null ? Manifest.load(new File(bundle), true) : BundleStore.open(this);
        try (EtGraphs graphs = new EtGraphs(m)) {
          Generator.Result r = Bench.run(m, graphs, graphs.loadMs, o, report);
          AtomicFile.write(new File(files, "out.wav"), Wav.encodePcm16(r.interleaved, r.channels, r.sampleRate));
        }
        Log.i(TAG, "arc-edge bench: done " + report);
      } catch (Exception ex) {
        Log.e(TAG, "arc-edge bench: failed: " + ex.getMessage());
        if (!report.exists()) writeFailure(report, ex.getMessage());  // Bench.run writes its own
      }
      runOnUiThread(this::finish);
    }, "arc-edge-bench").start();
  }

  private static void writeFailure(File report, String message) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("complete", false);
    r.put("error", message);
    try {
      AtomicFile.write(report, Json.write(r).getBytes(StandardCharsets.UTF_8));
    } catch (IOException ex) {
      Log.e(TAG, "cannot write " + report + ": " + ex.getMessage());
    }
  }
}
