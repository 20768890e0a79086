package dev.arcedge.core;

/**
 * arc_edge.decoding.DCBlocker: y[n] = x[n] - x[n-1] + R y[n-1] with R = exp(-2 pi hz / sample rate),
 * one state per channel carried from window to window; before the clip, x sat at the mean of its
 * first samples (so an offset present from the start goes at once instead of decaying as a thump).
 */
final class DcBlocker {
  private final double pole;
  private final double[] prev;
  private final double[] out;
  private boolean started;

  DcBlocker(double hz, int sampleRate, int channels) {
    pole = Math.exp(-2.0 * Math.PI * hz / sampleRate);
    prev = new double[channels];
    out = new double[channels];
  }

  /** Starts the state from the first {@code settle} samples of a planar window, the first time only. */
  void startOnce(float[] planar, int span, int offset, int settle) {
    if (started) return;
    for (int c = 0; c < prev.length; c++) {
      double sum = 0;
      for (int s = 0; s < settle; s++) sum += planar[c * span + offset + s];
      prev[c] = sum / settle;
    }
    started = true;
  }

  float apply(int channel, float x) {
    out[channel] = x - prev[channel] + pole * out[channel];
    prev[channel] = x;
    return (float) out[channel];
  }
}
