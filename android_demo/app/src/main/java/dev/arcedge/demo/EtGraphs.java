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

/** A bundle's three .pte graphs run with ExecuTorch's Android bindings (XNNPACK delegate inside). */
final class EtGraphs implements Graphs {
  private final Manifest manifest;
  private final Module conditioners, dit, decoder;
  /** Load time per graph (ms), for the benchmark report. */
  final Map<String, Double> loadMs = new LinkedHashMap<>();

  EtGraphs(Manifest manifest) throws BundleException {
    this.manifest = manifest;
    conditioners = load("conditioners");
    dit = load("dit");
    decoder = load("decoder");
  }

  private Module load(String name) throws BundleException {
    long t0 = System.nanoTime();
    String path = new File(manifest.dir, manifest.graph(name).file).getPath();
    try {
      Module module = Module.load(path);
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
    EValue[] out = conditioners.forward(
        EValue.from(Tensor.fromBlob(ids, shape("conditioners", 0))),
        EValue.from(Tensor.fromBlob(mask, shape("conditioners", 1))),
        EValue.from(Tensor.fromBlob(new float[] {seconds}, shape("conditioners", 2))));
    return new Conditioning(out[0].toTensor().getDataAsFloatArray(), out[1].toTensor().getDataAsFloatArray());
  }

  @Override
  public float[] velocity(float[] x, float t, Conditioning c) throws BundleException {
    EValue[] out = dit.forward(
        EValue.from(Tensor.fromBlob(x, shape("dit", 0))),
        EValue.from(Tensor.fromBlob(new float[] {t}, shape("dit", 1))),
        EValue.from(Tensor.fromBlob(c.cross, shape("dit", 2))),
        EValue.from(Tensor.fromBlob(c.global, shape("dit", 3))));
    return out[0].toTensor().getDataAsFloatArray();
  }

  @Override
  public float[] decode(float[] latent) throws BundleException {
    EValue[] out = decoder.forward(EValue.from(Tensor.fromBlob(latent, shape("decoder", 0))));
    return out[0].toTensor().getDataAsFloatArray();
  }

  @Override
  public void close() {
    conditioners.destroy();
    dit.destroy();
    decoder.destroy();
  }
}
