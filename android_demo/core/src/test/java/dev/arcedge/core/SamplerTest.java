package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/** The schedules read from the manifest against Python's, the noise against arc_runner's C++ source. */
public class SamplerTest {
  @Test
  public void theManifestsSchedulesAreWhatPythonComputes() throws Exception {
    JSONObject golden = Golden.json("schedule.json");
    Manifest m = Golden.manifest();
    assertEquals(golden.length(), m.schedules.size());
    for (String steps : Golden.keys(golden)) {
      assertArrayEquals("steps " + steps, Golden.floats(golden.getJSONArray(steps)), m.schedule(Integer.parseInt(steps)), 0f);
    }
    BundleException ex = assertThrows(BundleException.class, () -> m.schedule(m.schedules.size() + 1));
    assertEquals(true, ex.getMessage().contains("not " + (m.schedules.size() + 1)));
  }

  @Test
  public void mersenneTwisterMatchesTheStandard() {
    // C++ [rand.predef]: the 10000th output of a default-constructed mt19937_64 (seed 5489).
    Noise n = new Noise(5489);
    long v = 0;
    for (int i = 0; i < 10000; i++) v = n.nextLong();
    assertEquals("9981545732273789042", Long.toUnsignedString(v));
  }

  @Test
  public void noiseMatchesTheNativeRunner() throws Exception {
    JSONObject g = Golden.json("noise_cpp.json");
    int numel = g.getInt("numel"), steps = g.getInt("steps");
    float[] expected = Golden.floats(g.getJSONArray("values"));
    JSONArray seeds = g.getJSONArray("seeds");
    int k = 0;
    for (int s = 0; s < seeds.length(); s++) {
      for (float[] tensor : Noise.draw(numel, steps, seeds.getLong(s))) {
        for (float x : tensor) {
          assertEquals("noise value " + k, expected[k], x, 1e-6f * Math.max(1f, Math.abs(expected[k])));
          k++;
        }
      }
    }
    assertEquals(expected.length, k);
  }
}
