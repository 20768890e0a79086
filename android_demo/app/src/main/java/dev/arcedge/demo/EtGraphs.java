package dev.arcedge.demo;

import dev.arcedge.core.BundleException;
import dev.arcedge.core.Graphs;
import dev.arcedge.core.Manifest;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * A bundle's graphs run with ExecuTorch's Android bindings (XNNPACK delegate inside), loaded the way
 * the native runner loads them: memory-mapped, with an explicit thread count, and with the method
 * loaded (delegates initialised, XNNPACK weights packed) inside the load timing, so a delegate error
 * surfaces at load time and the load figure is comparable with arc_runner's.
 *
 * <p>Not thread-safe: one generation at a time (GenerationViewModel guarantees it), and {@link #close}
 * only after the running call has returned (a Module refuses to be destroyed while it executes).
 */
final class EtGraphs implements Graphs {
  private final Manifest manifest;
  private final Map<String, Module> modules = new LinkedHashMap<>();
  /** Load time per graph (ms), method load included, for the benchmark report. */
  final Map<String, Double> loadMs = new LinkedHashMap<>();

  EtGraphs(Manifest manifest, int threads) throws BundleException {
    this.manifest = manifest;
    try {
      for (String name : new String[] {"conditioners", "dit", "decoder"}) modules.put(name, load(name, threads));
    } catch (BundleException | RuntimeException ex) {
      close();
      throw ex;
    }
  }

  private Module load(String name, int threads) throws BundleException {
    long t0 = System.nanoTime();
    String path = new File(manifest.dir, manifest.graph(name).file).getPath();
    try {
      Module module = Module.load(path, Module.LOAD_MODE_MMAP, threads);
      module.loadMethod("forward");
      loadMs.put(name, (System.nanoTime() - t0) / 1e6);
      return module;
    } catch (RuntimeException ex) {
      throw new BundleException("could not load graph '" + name + "' (" + ex.getMessage()
          + "); re-export the bundle with the executorch version this app was built with");
    }
  }

  private long[] shape(String graph, int input) throws BundleException {
    List<Manifest.TensorSpec> inputs = manifest.graph(graph).inputs;
    return inputs.get(input).shape;
  }

  @Override
  public Conditioning condition(long[] ids, long[] mask, float seconds) throws BundleException {
    EValue[] out = modules.get("conditioners").forward(
        EValue.from(Tensor.fromBlob(ids, shape("conditioners", 0))),
        EValue.from(Tensor.fromBlob(mask, shape("conditioners", 1))),
        EValue.from(Tensor.fromBlob(new float[] {seconds}, shape("conditioners", 2))));
    return new Conditioning(out[0].toTensor().getDataAsFloatArray(), out[1].toTensor().getDataAsFloatArray());
  }

  @Override
  public float[] velocity(float[] x, float t, Conditioning c) throws BundleException {
    EValue[] out = modules.get("dit").forward(
        EValue.from(Tensor.fromBlob(x, shape("dit", 0))),
        EValue.from(Tensor.fromBlob(new float[] {t}, shape("dit", 1))),
        EValue.from(Tensor.fromBlob(c.cross, shape("dit", 2))),
        EValue.from(Tensor.fromBlob(c.global, shape("dit", 3))));
    return out[0].toTensor().getDataAsFloatArray();
  }

  @Override
  public float[] decode(float[] latentWindow) throws BundleException {
    EValue[] out = modules.get("decoder").forward(EValue.from(Tensor.fromBlob(latentWindow, shape("decoder", 0))));
    return out[0].toTensor().getDataAsFloatArray();
  }

  /** Runs every graph of the bundle once on its stored inputs (see dev.arcedge.core.SelfTest). */
  float[][] run(String graph, Object[] inputs) throws BundleException {
    EValue[] values = new EValue[inputs.length];
    for (int i = 0; i < inputs.length; i++) {
      long[] s = shape(graph, i);
      values[i] = EValue.from(inputs[i] instanceof long[] ? Tensor.fromBlob((long[]) inputs[i], s)
          : Tensor.fromBlob((float[]) inputs[i], s));
    }
    EValue[] out = modules.get(graph).forward(values);
    float[][] result = new float[out.length][];
    for (int i = 0; i < out.length; i++) result[i] = out[i].toTensor().getDataAsFloatArray();
    return result;
  }

  /** Frees the native modules; call only when no graph is running (the worker thread does). */
  @Override
  public void close() {
    for (Module m : modules.values()) m.destroy();
    modules.clear();
  }
}
