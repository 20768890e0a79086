package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.Test;

public class GeneratorTest {
  private static Manifest manifest() throws Exception {
    return Manifest.load(new File((String) Golden.json("bundle.json").get("dir")), false);
  }

  private static PromptTokenizer.Tokens tokens(Manifest m) throws Exception {
    return PromptTokenizer.forBundle(m).encode("a low sine wave panned left");
  }

  @Test
  public void pingpongLoopMatchesThePythonSampler() throws Exception {
    Map<String, Object> g = Golden.json("pingpong.json");
    int steps = ((Double) g.get("steps")).intValue();
    List<?> rawNoises = (List<?>) g.get("noises");
    float[][] noises = new float[rawNoises.size()][];
    for (int i = 0; i < noises.length; i++) noises[i] = Golden.floats(rawNoises.get(i));
    Manifest m = manifest();
    float[][] captured = new float[1][];
    FakeGraphs graphs = new FakeGraphs(m.audioChannels, 100) {
      @Override
      public float[] decode(float[] latent) {
        captured[0] = latent;
        return super.decode(latent);
      }
    };
    new Generator(m, graphs).generate(tokens(m), 0.001, steps, noises, null, null);
    assertArrayEquals(Golden.floats(g.get("latent")), captured[0], 1e-5f);
  }

  @Test
  public void reportsEveryStageInOrderAndTrimsToTheDuration() throws Exception {
    Manifest m = manifest();
    List<String> stages = new ArrayList<>();
    FakeGraphs graphs = new FakeGraphs(m.audioChannels, (int) m.sampleSize);
    float[][] noises = Noise.draw(m.latentNumel(), 3, 1);
    Generator.Result r = new Generator(m, graphs).generate(tokens(m), 0.5, 3, noises,
        (stage, step, steps) -> stages.add(stage + ":" + step + "/" + steps), null);
    assertEquals(List.of("CONDITIONERS:0/3", "DIT_STEP:0/3", "DIT_STEP:1/3", "DIT_STEP:2/3", "DECODER:3/3", "DONE:3/3"), stages);
    int keep = Math.round(0.5f * m.sampleRate);
    assertEquals(keep * m.audioChannels, r.interleaved.length);
    // planar ramp -> interleaved: channel c of sample s came from c * total + s
    assertEquals(m.sampleSize + 7, r.interleaved[7 * 2 + 1], 0f);
    assertEquals(3, r.times.stepMs.length);
    assertTrue(r.times.totalMs >= r.times.ditTotalMs());
  }

  @Test
  public void cancellingStopsBeforeTheNextGraphCall() throws Exception {
    Manifest m = manifest();
    FakeGraphs graphs = new FakeGraphs(m.audioChannels, 64);
    AtomicBoolean cancel = new AtomicBoolean(false);
    float[][] noises = Noise.draw(m.latentNumel(), 8, 1);
    Generator.Listener cancelAtStep2 = (stage, step, steps) -> {
      if (stage == Generator.Stage.DIT_STEP && step == 2) cancel.set(true);
    };
    // the listener runs before the graph call of that step; the next check stops the run
    Generator gen = new Generator(m, graphs);
    assertThrows(CancellationException.class, () -> gen.generate(tokens(m), 0.5, 8, noises, cancelAtStep2, cancel));
    assertTrue(graphs.calls.size() <= 4);
    assertTrue(!graphs.calls.contains("decode"));
  }

  @Test
  public void refusesADurationTheBundleCannotMake() throws Exception {
    Manifest m = manifest();
    Generator gen = new Generator(m, new FakeGraphs(m.audioChannels, 64));
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
        () -> gen.generate(tokens(m), m.maxSeconds() + 1, 8, Noise.draw(m.latentNumel(), 8, 1), null, null));
    assertTrue(ex.getMessage(), ex.getMessage().contains("out of range"));
  }
}
