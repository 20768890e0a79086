package dev.arcedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

public class BenchTest {
  private static Bench.Options options() {
    Bench.Options o = new Bench.Options();
    o.prompt = "a deep square wave pulsing fast on the right";
    o.runs = 3;
    o.warmup = 1;
    o.steps = 4;
    o.threads = 2;
    return o;
  }

  @Test
  public void writesTheNativeRunnersReport() throws Exception {
    Manifest m = Golden.manifest();
    File out = new File(Golden.dir(), "app_report.json");  // tests/test_android_core.py reads it back in Python
    Bench.run(m, new FakeGraphs(m), Map.of("dit", 1.0), options(), out);
    JSONObject r = Golden.read(out);
    assertEquals(true, r.getBoolean("complete"));
    JSONArray runs = r.getJSONArray("runs");
    assertEquals(3, runs.length());
    JSONObject run = runs.getJSONObject(0);
    assertEquals(4, run.getJSONArray("dit_step_ms").length());
    assertTrue(run.getJSONObject("peak_rss_mb").has("after_decoder") && run.getDouble("first_audio_ms") > 0);
    assertEquals(4, r.getInt("steps"));
    assertEquals(2, r.getInt("threads"));
    assertEquals(m.digest, r.getJSONObject("bundle").getString("digest"));
  }

  @Test
  public void aFailingGraphLeavesAReportSayingWhy() throws Exception {
    Manifest m = Golden.manifest();
    File out = File.createTempFile("report", ".json");
    FakeGraphs graphs = new FakeGraphs(m);
    graphs.failAtStep = 6;  // warm-up (4 steps) passes, the first timed run fails at its third step
    assertThrows(IllegalStateException.class, () -> Bench.run(m, graphs, Map.of(), options(), out));
    JSONObject r = Golden.read(out);
    assertEquals(false, r.getBoolean("complete"));
    assertTrue(r.getString("error").contains("ExecuTorch error"));
  }

  @Test
  public void badOptionsAreOneLineErrorsInTheReport() throws Exception {
    Manifest m = Golden.manifest();
    File out = File.createTempFile("report", ".json");
    Bench.Options o = options();
    o.cfg = Float.NaN;
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
        () -> Bench.run(m, new FakeGraphs(m), Map.of(), o, out));
    assertTrue(ex.getMessage().contains("cfg"));
    assertEquals(false, Golden.read(out).getBoolean("complete"));
  }
}
