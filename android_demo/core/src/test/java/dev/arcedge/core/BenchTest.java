package dev.arcedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class BenchTest {
  private static Manifest manifest() throws Exception {
    return Manifest.load(new File((String) Golden.json("bundle.json").get("dir")), false);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> read(File f) throws Exception {
    return (Map<String, Object>) Json.parse(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8));
  }

  private static Bench.Options options() {
    Bench.Options o = new Bench.Options();
    o.prompt = "a deep square wave pulsing fast on the right";
    o.runs = 3;
    o.warmup = 1;
    o.steps = 4;
    return o;
  }

  @Test
  public void writesTheNativeRunnersReport() throws Exception {
    Manifest m = manifest();
    File out = new File(Golden.dir(), "app_report.json");  // tests/test_android_core.py reads it back in Python
    Bench.run(m, new FakeGraphs(m.audioChannels, (int) m.sampleSize), Map.of("dit", 1.0), options(), out);
    Map<String, Object> r = read(out);
    assertEquals(Boolean.TRUE, r.get("complete"));
    List<?> runs = (List<?>) r.get("runs");
    assertEquals(3, runs.size());
    Map<?, ?> run = (Map<?, ?>) runs.get(0);
    assertEquals(4, ((List<?>) run.get("dit_step_ms")).size());
    assertTrue(((Map<?, ?>) run.get("peak_rss_mb")).containsKey("after_decoder"));
    assertEquals(4.0, r.get("steps"));
  }

  @Test
  public void aFailingGraphLeavesAReportSayingWhy() throws Exception {
    Manifest m = manifest();
    File out = File.createTempFile("report", ".json");
    FakeGraphs graphs = new FakeGraphs(m.audioChannels, 64);
    graphs.failAtStep = 6;  // warm-up (4 steps) passes, the first timed run fails at its third step
    assertThrows(IllegalStateException.class, () -> Bench.run(m, graphs, Map.of(), options(), out));
    Map<String, Object> r = read(out);
    assertEquals(Boolean.FALSE, r.get("complete"));
    assertTrue(((String) r.get("error")).contains("ExecuTorch error"));
  }
}
