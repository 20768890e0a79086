package dev.arcedge.core;

import java.util.ArrayList;
import java.util.List;

/** Closed-form graphs: v = 0.5 x (1 - t) + 0.25 t (as tests/android_golden.py), decode = a ramp. */
class FakeGraphs implements Graphs {
  final List<String> calls = new ArrayList<>();
  private final int channels, samples;
  int failAtStep = -1;

  FakeGraphs(int channels, int samples) {
    this.channels = channels;
    this.samples = samples;
  }

  @Override
  public Conditioning condition(long[] ids, long[] mask, float seconds) {
    calls.add("condition");
    return new Conditioning(new float[] {seconds}, new float[] {ids[0]});
  }

  @Override
  public float[] velocity(float[] x, float t, Conditioning c) {
    calls.add("velocity");
    if (failAtStep >= 0 && calls.stream().filter("velocity"::equals).count() > failAtStep) {
      throw new IllegalStateException("graph 'dit' failed with ExecuTorch error 18");
    }
    float[] v = new float[x.length];
    for (int i = 0; i < x.length; i++) v[i] = 0.5f * x[i] * (1.0f - t) + 0.25f * t;
    return v;
  }

  @Override
  public float[] decode(float[] latent) {
    calls.add("decode");
    float[] audio = new float[channels * samples];
    for (int i = 0; i < audio.length; i++) audio[i] = i;
    return audio;
  }
}
