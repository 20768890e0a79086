package dev.arcedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.json.JSONObject;
import org.junit.Test;

/** The self-test reader and verdict against Python's, on the bundle's real self-test data. */
public class SelfTestTest {
  /** A runner that answers with what the Python ExecuTorch runtime computed for the same inputs. */
  private static SelfTest.Runner pythonOutputs(JSONObject outputs, float scale) {
    int[] calls = new int[8];
    String[] names = {"conditioners", "dit", "decoder", "encoder"};
    return (graph, inputs) -> {
      int index = java.util.Arrays.asList(names).indexOf(graph);
      org.json.JSONArray outs = outputs.getJSONArray(graph + "." + calls[index]++);
      float[][] result = new float[outs.length()][];
      for (int i = 0; i < result.length; i++) {
        result[i] = Golden.floats(outs.getJSONArray(i));
        for (int k = 0; k < result[i].length; k++) result[i][k] *= scale;
      }
      return result;
    };
  }

  @Test
  public void theVerdictMatchesPythons() throws Exception {
    JSONObject golden = Golden.json("selftest.json");
    Manifest m = Golden.manifest();
    JSONObject report = SelfTest.run(m, pythonOutputs(golden.getJSONObject("outputs"), 1f));
    JSONObject expected = golden.getJSONObject("report");
    assertTrue(report.getBoolean("passed"));
    for (String graph : Golden.keys(expected.getJSONObject("graphs"))) {
      assertEquals(graph, expected.getJSONObject("graphs").getJSONObject(graph).getDouble("snr_db"),
          report.getJSONObject("graphs").getJSONObject(graph).getDouble("snr_db"), 1e-6);
    }
  }

  @Test
  public void wrongNumbersFailAndNameTheGraph() throws Exception {
    Manifest m = Golden.manifest();
    JSONObject report = SelfTest.run(m, pythonOutputs(Golden.json("selftest.json").getJSONObject("outputs"), 1.5f));
    assertFalse(report.getBoolean("passed"));  // a 50% gain error is -6 dB: below every threshold
    for (String graph : Golden.keys(report.getJSONObject("graphs"))) {
      assertFalse(graph, report.getJSONObject("graphs").getJSONObject(graph).getBoolean("passed"));
    }
  }

  @Test
  public void snrIsTheParityGatesFormula() {
    assertEquals(300.0, SelfTest.snrDb(new float[] {1, 2}, new float[] {1, 2}), 0);
    assertEquals(10 * Math.log10(5.0 / 0.25), SelfTest.snrDb(new float[] {1, 2}, new float[] {1.5f, 2}), 1e-9);
    assertEquals(-300.0, SelfTest.snrDb(new float[] {1}, new float[] {Float.NaN}), 0);
  }

  @Test
  public void aBundleWithoutSelfTestDataIsRefused() throws Exception {
    java.io.File dir = java.nio.file.Files.createTempDirectory("b").toFile();
    Manifest m = Golden.manifest();
    for (java.io.File f : m.dir.listFiles()) {
      java.nio.file.Files.copy(f.toPath(), new java.io.File(dir, f.getName()).toPath());
    }
    java.io.File manifest = new java.io.File(dir, Manifest.FILE_NAME);
    JSONObject j = Golden.read(manifest);
    j.remove("selftest");
    java.nio.file.Files.write(manifest.toPath(), j.toString().getBytes("UTF-8"));
    Manifest stripped = Manifest.load(dir, false);
    BundleException ex = assertThrows(BundleException.class, () -> SelfTest.run(stripped, (g, in) -> new float[0][]));
    assertTrue(ex.getMessage().contains("no self-test data"));
  }
}
