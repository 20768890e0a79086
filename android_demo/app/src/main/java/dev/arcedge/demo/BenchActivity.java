package dev.arcedge.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Build;
import android.os.Bundle;
import android.util.Log;
import dev.arcedge.core.AtomicFile;
import dev.arcedge.core.Bench;
import dev.arcedge.core.CpuInfo;
import dev.arcedge.core.Generator;
import dev.arcedge.core.Manifest;
import dev.arcedge.core.SelfTest;
import dev.arcedge.core.Wav;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The benchmark entry point, driven from adb (what `arc-edge bench device --device adb --runner app` does):
 *
 * <pre>
 * adb shell am start -W -n dev.arcedge.demo/.BenchActivity --es prompt_file /sdcard/.../prompt.txt \
 *     --ei runs 5 --ei warmup 1 [--ei threads 4] [--es bundle DIR] [--ei steps 8] [--ef seconds 11.9]
 *     [--ef cfg 1] [--el seed 0] [--es bundle_digest SHA256] [--es report report.json] [--ez selftest true]
 * </pre>
 *
 * (--es prompt TEXT works too, by hand; arc-edge always sends a file so no prompt passes through a
 * shell.) It writes arc_runner's JSON report and out.wav to the app's external files folder (the
 * report is rewritten after every run, "complete": true at the end) and logs
 * "arc-edge bench: done REPORT" or "arc-edge bench: failed: WHY". With selftest it runs the numerics
 * self-test instead and writes its verdict, as `arc_runner --selftest` does.
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
    o.threads = in.getIntExtra("threads", o.threads);
    o.seconds = in.getFloatExtra("seconds", (float) o.seconds);
    o.cfg = in.getFloatExtra("cfg", o.cfg);
    o.seed = in.getLongExtra("seed", o.seed);
    o.cpu = Build.HARDWARE + " (" + Build.MODEL + ", " + Build.SUPPORTED_ABIS[0] + ")";
    o.runnerVersion = "app-" + BuildConfig.VERSION_NAME;
    boolean selftest = in.getBooleanExtra("selftest", false);
    String bundle = in.getStringExtra("bundle");
    String digest = in.getStringExtra("bundle_digest");
    String reportName = in.getStringExtra("report");
    File files = getExternalFilesDir(null);
    File report = new File(files, reportName != null ? new File(reportName).getName() : "report.json");
    new Thread(() -> {
      try {
        if (promptFile != null) {
          o.prompt = new String(Files.readAllBytes(new File(promptFile).toPath()), StandardCharsets.UTF_8);
        }
        Manifest m = bundle != null ? Manifest.load(new File(bundle), true, digest) : BundleStore.open(this);
        try (EtGraphs graphs = new EtGraphs(m, o.threads)) {
          if (selftest) {
            writeSelfTest(report, m, o, SelfTest.run(m, graphs::run));
          } else {
            o.platformMemory = PlatformMemory.figures(this);
            Generator.Result r = Bench.run(m, graphs, graphs.loadMs, o, report);
            AtomicFile.write(new File(files, "out.wav"), Wav.encodePcm16(r.interleaved, r.channels, r.sampleRate));
          }
        }
        Log.i(TAG, "arc-edge bench: done " + report);
      } catch (Exception ex) {
        Log.e(TAG, "arc-edge bench: failed: " + ex.getMessage());
        if (!report.exists()) writeFailure(report, ex.getMessage());  // Bench.run writes its own
      }
      runOnUiThread(this::finish);
    }, "arc-edge-bench").start();
  }

  private static void writeSelfTest(File report, Manifest m, Bench.Options o, JSONObject verdict)
      throws IOException, JSONException {
    JSONObject r = new JSONObject()
        .put("runner_version", o.runnerVersion)
        .put("bundle", new JSONObject().put("path", m.dir.getPath()).put("digest", m.digest).put("recipe", m.recipe))
        .put("cpu", o.cpu)
        .put("cpu_features", new JSONArray(CpuInfo.kernelFeatures()))
        .put("threads", o.threads)
        .put("selftest", verdict)
        .put("complete", true);
    AtomicFile.write(report, r.toString(2).getBytes(StandardCharsets.UTF_8));
  }

  private static void writeFailure(File report, String message) {
    try {
      JSONObject r = new JSONObject().put("complete", false).put("error", String.valueOf(message));
      AtomicFile.write(report, r.toString(2).getBytes(StandardCharsets.UTF_8));
    } catch (IOException | JSONException ex) {
      Log.e(TAG, "cannot write " + report + ": " + ex.getMessage());
    }
  }
}
