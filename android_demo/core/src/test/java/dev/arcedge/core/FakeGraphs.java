package dev.arcedge.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Closed-form graphs, the same as tests/android_golden.py: v = 0.5 x (1 - t) + 0.25 t + 0.1 cross[0];
 * a decoder window gives out[ch][i] = window[(ch % dim)][i / hop] + 0.001 i (window-relative, so a
 * wrong stitching offset shows).
 */
class FakeGraphs implements Graphs {
  final List<String> calls = new ArrayList<>();
  private final int channels, dim, window, hop;
  int failAtStep = -1;

  FakeGraphs(Manifest m) {
    this.channels = m.audioChannels;
    this.dim = (int) m.latentShape[1];
    this.window = m.decodeWindow;
    this.hop = m.hop();
  }

  @Override
  public Conditioning condition(long[] ids, long[] mask, float seconds) {
    calls.add("condition");
    return new Conditioning(new float[] {seconds, 0f}, new float[] {ids[0]});
  }

  @Override
  public float[] velocity(float[] x, float t, Conditioning c) {
    calls.add("velocity");
    if (failAtStep >= 0 && calls.stream().filter("velocity"::equals).count() > failAtStep) {
      throw new IllegalStateException("graph 'dit' failed with ExecuTorch error 18");
    }
    float[] v = new float[x.length];
    for (int i = 0; i < x.length; i++) v[i] = 0.5f * x[i] * (1.0f - t) + 0.25f * t + 0.1f * c.cross[0];
    return v;
  }

  @Override
  public float[] decode(float[] latentWindow) {
    calls.add("decode");
    int span = window * hop;
    float[] audio = new float[channels * span];
    for (int ch = 0; ch < channels; ch++) {
      for (int i = 0; i < span; i++) audio[ch * span + i] = latentWindow[(ch % dim) * window + i / hop] + 0.001f * i;
    }
    return audio;
  }
}
