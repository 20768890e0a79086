package dev.arcedge.core;

/**
 * The three graphs of a bundle. The app implements this with ExecuTorch's Android Module;
 * tests implement it with closed-form fakes. Shapes follow the bundle's manifest.
 */
public interface Graphs extends AutoCloseable {
  /** Cross-attention context [1, tokens + 1, cond_dim] and global conditioning [1, cond_dim]. */
  final class Conditioning {
    public final float[] cross;
    public final float[] global;

    public Conditioning(float[] cross, float[] global) {
      this.cross = cross;
      this.global = global;
    }
  }

  Conditioning condition(long[] ids, long[] mask, float seconds) throws Exception;

  /** One DiT call: the velocity v = noise - x0 predicted at noise level t. */
  float[] velocity(float[] x, float t, Conditioning c) throws Exception;

  /** One decoder window: latent [1, latent_dim, window] -> planar audio [1, channels, window * hop]. */
  float[] decode(float[] latentWindow) throws Exception;

  @Override
  default void close() {}
}
