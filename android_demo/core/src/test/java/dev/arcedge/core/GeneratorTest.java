package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

public class GeneratorTest {
  private static PromptTokenizer.Tokens tokens(Manifest m) throws Exception {
    return PromptTokenizer.forBundle(m).encode("a low sine wave panned left");
  }

  private static float[][] noises(JSONArray raw) throws Exception {
    float[][] out = new float[raw.length()][];
    for (int i = 0; i < out.length; i++) out[i] = Golden.floats(raw.getJSONArray(i));
    return out;
  }

  /** Python's sampler (with and without guidance) and windowed decoding on the same closed-form graphs. */
  @Test
  public void matchesPythonsSamplerGuidanceAndWindowedDecoding() throws Exception {
    JSONObject g = Golden.json("pingpong.json");
    Manifest m = Golden.manifest();
    float[][] noises = noises(g.getJSONArray("noises"));
    JSONObject runs = g.getJSONObject("runs");
    for (String scale : Golden.keys(runs)) {
      float[][] latent = new float[1][];
      FakeGraphs graphs = new FakeGraphs(m) {
        @Override
        public float[] decode(float[] window) {
          if (latent[0] == null) latent[0] = window.clone();  // the generator reuses its window buffer
          return super.decode(window);
        }
      };
      Generator.Request req = new Generator.Request(g.getDouble("seconds"), g.getInt("steps"), Float.parseFloat(scale));
      Generator.Result r = new Generator(m, graphs).generate(tokens(m), req, noises, null, null, null);
      JSONObject expected = runs.getJSONObject(scale);
      assertArrayEquals("first decoder window, cfg " + scale, Golden.floats(expected.getJSONArray("first_window")),
          latent[0], 1e-5f);
      assertArrayEquals("stitched audio, cfg " + scale, Golden.floats(expected.getJSONArray("audio")), r.interleaved, 1e-4f);
      int calls = (int) graphs.calls.stream().filter("velocity"::equals).count();
      assertEquals(scale.equals("1.0") ? req.steps : 2 * req.steps, calls);  // guidance costs a second call per step
    }
  }

  @Test
  public void reportsEveryStageAndEveryWindowInOrder() throws Exception {
    Manifest m = Golden.manifest();
    List<String> stages = new ArrayList<>();
    List<int[]> windows = new ArrayList<>();
    FakeGraphs graphs = new FakeGraphs(m);
    float[][] noises = Noise.draw(m.latentNumel(), 3, 1);
    Generator.Result r = new Generator(m, graphs).generate(tokens(m), new Generator.Request(m.maxSeconds(), 3, 1f), noises,
        (stage, step, steps) -> stages.add(stage + ":" + step + "/" + steps), (audio, offset, frames) -> windows.add(new int[] {offset, frames}), null);
    assertEquals(List.of("CONDITIONERS:0/3", "DIT_STEP:0/3", "DIT_STEP:1/3", "DIT_STEP:2/3", "DECODER:3/3", "DONE:3/3"), stages);
    assertEquals(m.decodeWindows.size(), windows.size());  // one call per window, in order, no gap
    int next = 0;
    for (int[] w : windows) {
      assertEquals(next, w[0]);
      next += w[1] * m.audioChannels;
    }
    assertEquals(r.interleaved.length, next);
    assertTrue(r.times.firstAudioMs > 0 && r.times.firstAudioMs <= r.times.totalMs);
  }

  @Test
  public void aShortClipDecodesOnlyTheWindowsItNeeds() throws Exception {
    Manifest m = Golden.manifest();
    FakeGraphs graphs = new FakeGraphs(m);
    Generator.Result r = new Generator(m, graphs).generate(tokens(m), new Generator.Request(0.05, 2, 1f),
        Noise.draw(m.latentNumel(), 2, 1), null, null, null);
    assertEquals(Math.round(0.05 * m.sampleRate) * m.audioChannels, r.interleaved.length);
    assertEquals(1, graphs.calls.stream().filter("decode"::equals).count());
  }

  @Test
  public void cancellingStopsBeforeTheNextGraphCall() throws Exception {
    Manifest m = Golden.manifest();
    FakeGraphs graphs = new FakeGraphs(m);
    AtomicBoolean cancel = new AtomicBoolean(false);
    float[][] noises = Noise.draw(m.latentNumel(), 8, 1);
    Generator.Listener cancelAtStep2 = (stage, step, steps) -> {
      if (stage == Generator.Stage.DIT_STEP && step == 2) cancel.set(true);
    };
    // the listener runs before the graph call of that step; the next check stops the run
    Generator gen = new Generator(m, graphs);
    assertThrows(CancellationException.class,
        () -> gen.generate(tokens(m), new Generator.Request(0.5, 8, 1f), noises, cancelAtStep2, null, cancel));
    assertTrue(graphs.calls.size() <= 4);
    assertTrue(!graphs.calls.contains("decode"));
  }

  @Test
  public void refusesWhatTheBundleCannotDo() throws Exception {
    Manifest m = Golden.manifest();
    Generator gen = new Generator(m, new FakeGraphs(m));
    float[][] noises = Noise.draw(m.latentNumel(), 8, 1);
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
        () -> gen.generate(tokens(m), new Generator.Request(m.maxSeconds() + 1, 8, 1f), noises, null, null, null));
    assertTrue(ex.getMessage(), ex.getMessage().contains("out of range"));
    assertThrows(BundleException.class,
        () -> gen.generate(tokens(m), new Generator.Request(0.5, 999, 1f), noises, null, null, null));
    assertThrows(IllegalArgumentException.class,
        () -> gen.generate(tokens(m), new Generator.Request(0.5, 8, Float.NaN), noises, null, null, null));
  }

  @Test
  public void aGenerationThatOverflowsFailsInsteadOfReturningNoise() throws Exception {
    Manifest m = Golden.manifest();
    float[][] noises = Noise.draw(m.latentNumel(), 8, 1);
    FakeGraphs graphs = new FakeGraphs(m) {
      @Override
      public float[] velocity(float[] x, float t, Conditioning c) {  // conditional and unconditional 1e30 apart
        float[] v = super.velocity(x, t, c);
        v[0] += 1e30f * c.cross[0];
        return v;
      }
    };
    IllegalStateException ex = assertThrows(IllegalStateException.class,  // 1e10 x 1e30 overflows a float
        () -> new Generator(m, graphs).generate(tokens(m), new Generator.Request(0.5, 8, 1e10f), noises, null, null, null));
    assertTrue(ex.getMessage(), ex.getMessage().contains("NaN or infinite") && ex.getMessage().contains("guidance"));
    assertTrue(!graphs.calls.contains("decode"));  // stopped before the decoder
    FakeGraphs broken = new FakeGraphs(m) {
      @Override
      public float[] decode(float[] window) {
        float[] audio = super.decode(window);
        audio[audio.length / 2] = Float.NaN;
        return audio;
      }
    };
    ex = assertThrows(IllegalStateException.class,
        () -> new Generator(m, broken).generate(tokens(m), new Generator.Request(0.5, 8, 1f), noises, null, null, null));
    assertTrue(ex.getMessage(), ex.getMessage().contains("decoder"));
  }
}
