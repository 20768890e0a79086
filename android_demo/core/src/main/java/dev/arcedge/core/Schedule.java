package dev.arcedge.core;

/** The ping-pong sampler's t values, as arc_edge/sampling.py pingpong_schedule (sigma_max 1). */
public final class Schedule {
  public static final double LOGSNR_MIN = -6.0, LOGSNR_MAX = 2.0;

  private Schedule() {}

  /** steps + 1 values from 1 down to 0, evenly spaced in logSNR from -6 to +2 in between. */
  public static float[] pingpong(int steps) {
    if (steps < 1) throw new IllegalArgumentException("steps must be at least 1");
    float[] t = new float[steps + 1];
    for (int i = 0; i <= steps; i++) {
      double logsnr = LOGSNR_MIN + (LOGSNR_MAX - LOGSNR_MIN) * i / steps;
      t[i] = (float) (1.0 / (1.0 + Math.exp(logsnr)));
    }
    t[0] = 1.0f;
    t[steps] = 0.0f;
    return t;
  }
}
