package dev.arcedge.core;

/**
 * The native runner's noise (device_bench/src/noise.cpp): a 64-bit Mersenne Twister feeding
 * Box-Muller, so the app and arc_runner draw the same latent noise for the same seed.
 */
public final class Noise {
  private static final int N = 312, M = 156;
  private static final long MATRIX_A = 0xB5026F5AA96619E9L, UPPER = 0xFFFFFFFF80000000L, LOWER = 0x7FFFFFFFL;
  private static final double TWO_POW_64 = 18446744073709551616.0;

  private final long[] mt = new long[N];
  private int index = N;

  /** std::mt19937_64 seeded with {@code seed}. */
  public Noise(long seed) {
    mt[0] = seed;
    for (int i = 1; i < N; i++) mt[i] = 6364136223846793005L * (mt[i - 1] ^ (mt[i - 1] >>> 62)) + i;
  }

  /** The next raw 64-bit output (an unsigned value held in a long). */
  public long nextLong() {
    if (index >= N) twist();
    long y = mt[index++];
    y ^= (y >>> 29) & 0x5555555555555555L;
    y ^= (y << 17) & 0x71D67FFFEDA60000L;
    y ^= (y << 37) & 0xFFF7EEE000000000L;
    y ^= y >>> 43;
    return y;
  }

  private void twist() {
    for (int i = 0; i < N; i++) {
      long y = (mt[i] & UPPER) | (mt[(i + 1) % N] & LOWER);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ ((y & 1L) != 0 ? MATRIX_A : 0L);
    }
    index = 0;
  }

  /** libstdc++'s uniform_real_distribution<double>(0, 1) on this engine: one draw / 2^64, kept below 1. */
  public double nextUniform() {
    long v = nextLong();
    double d = v >= 0 ? (double) v : ((double) ((v >>> 1) | (v & 1L))) * 2.0;  // unsigned, rounded to nearest
    double u = d / TWO_POW_64;
    return u >= 1.0 ? Math.nextDown(1.0) : u;
  }

  /** steps + 1 tensors of {@code numel} standard normals (start noise, then one per step), as arc_runner. */
  public static float[][] draw(long numel, int steps, long seed) {
    Noise gen = new Noise(seed);
    float[][] out = new float[steps + 1][(int) numel];
    for (float[] v : out) {
      for (int i = 0; i < v.length; i += 2) {
        double u1 = Math.max(gen.nextUniform(), 1e-300), u2 = gen.nextUniform();
        double r = Math.sqrt(-2.0 * Math.log(u1));
        v[i] = (float) (r * Math.cos(2 * Math.PI * u2));
        if (i + 1 < v.length) v[i + 1] = (float) (r * Math.sin(2 * Math.PI * u2));
      }
    }
    return out;
  }
}
