package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The schedule against Python's, the noise against arc_runner's C++ source. */
public class SamplerTest {
  @Test
  public void scheduleMatchesPython() throws Exception {
    Map<String, Object> golden = Golden.json("schedule.json");
    assertEquals(16, golden.size());
    for (Map.Entry<String, Object> e : golden.entrySet()) {
      assertArrayEquals("steps " + e.getKey(), Golden.floats(e.getValue()), Schedule.pingpong(Integer.parseInt(e.getKey())), 1e-7f);
    }
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
    Map<String, Object> g = Golden.json("noise_cpp.json");
    int numel = ((Double) g.get("numel")).intValue(), steps = ((Double) g.get("steps")).intValue();
    float[] expected = Golden.floats(g.get("values"));
    int k = 0;
    for (Object seed : (List<?>) g.get("seeds")) {
      for (float[] tensor : Noise.draw(numel, steps, ((Double) seed).longValue())) {
        for (float x : tensor) {
          assertEquals("noise value " + k, expected[k], x, 1e-6f * Math.max(1f, Math.abs(expected[k])));
          k++;
        }
      }
    }
    assertEquals(expected.length, k);
  }
}
