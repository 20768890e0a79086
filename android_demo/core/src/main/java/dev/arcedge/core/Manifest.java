package dev.arcedge.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An arc-edge bundle's manifest.json (format version 1), read and checked the same way as the
 * Python package (arc_edge/export/bundle.py) and the native runner (device_bench/src/bundle.cpp).
 */
public final class Manifest {
  public static final String FORMAT = "arc-edge-bundle";
  public static final int FORMAT_VERSION = 1;
  public static final String FILE_NAME = "manifest.json";

  /** One graph input or output: name, static shape and dtype ("float32" or "int64"). */
  public static final class TensorSpec {
    public final String name;
    public final long[] shape;
    public final String dtype;

    TensorSpec(String name, long[] shape, String dtype) {
      this.name = name;
      this.shape = shape;
      this.dtype = dtype;
    }
  }

  /** One graph file with its inputs and outputs in call order. */
  public static final class GraphSpec {
    public final String file;
    public final List<TensorSpec> inputs;
    public final List<TensorSpec> outputs;

    GraphSpec(String file, List<TensorSpec> inputs, List<TensorSpec> outputs) {
      this.file = file;
      this.inputs = inputs;
      this.outputs = outputs;
    }
  }

  public final File dir;
  public final String backend;
  public final String arcEdgeVersion;
  public final String recipe;
  public final int sampleRate;
  public final int audioChannels;
  public final long sampleSize;
  public final long[] latentShape;
  public final double defaultSeconds;
  public final String tokenizerFile;
  public final int maxLength;
  public final int padId;
  public final int eosId;
  public final int defaultSteps;
  public final Map<String, GraphSpec> graphs;
  public final Map<String, String> files;

  private Manifest(File dir, Map<String, Object> j) throws BundleException {
    this.dir = dir;
    try {
      backend = str(j, "backend");
      arcEdgeVersion = j.containsKey("arc_edge_version") ? str(j, "arc_edge_version") : "";
      recipe = str(obj(j, "recipe"), "name");
      sampleRate = (int) num(j, "sample_rate");
      audioChannels = (int) num(j, "audio_channels");
      sampleSize = (long) num(obj(j, "model_config"), "sample_size");
      latentShape = longs(list(j, "latent_shape"));
      defaultSeconds = num(j, "default_seconds");
      Map<String, Object> tok = obj(j, "tokenizer");
      tokenizerFile = str(tok, "file");
      maxLength = (int) num(tok, "max_length");
      padId = (int) num(tok, "pad_id");
      eosId = (int) num(tok, "eos_id");
      defaultSteps = (int) num(obj(j, "sampler"), "steps");
      Map<String, GraphSpec> g = new LinkedHashMap<>();
      for (Map.Entry<String, Object> e : obj(j, "graphs").entrySet()) {
        @SuppressWarnings("unchecked")
        Map<String, Object> spec = (Map<String, Object>) e.getValue();
        g.put(e.getKey(), new GraphSpec(str(spec, "file"), specs(list(spec, "inputs")), specs(list(spec, "outputs"))));
      }
      graphs = Collections.unmodifiableMap(g);
      Map<String, String> f = new LinkedHashMap<>();
      for (Map.Entry<String, Object> e : obj(j, "files").entrySet()) f.put(e.getKey(), (String) e.getValue());
      files = Collections.unmodifiableMap(f);
    } catch (NullPointerException ex) {
      throw new BundleException(FILE_NAME + " lacks the field '" + ex.getMessage() + "'; re-export the bundle");
    } catch (ClassCastException ex) {
      throw new BundleException(FILE_NAME + " has a field of the wrong type; re-export the bundle");
    }
    for (String needed : new String[] {"conditioners", "dit", "decoder"}) graph(needed);
  }

  /** Reads and validates manifest.json in {@code dir}; with {@code verifyHashes}, checks every file's sha256. */
  public static Manifest load(File dir, boolean verifyHashes) throws BundleException {
    File path = new File(dir, FILE_NAME);
    if (!path.isFile()) {
      throw new BundleException(dir + " is not a bundle (no " + FILE_NAME + "); create one with `arc-edge export`");
    }
    Object parsed;
    try {
      parsed = Json.parse(new String(Files.readAllBytes(path.toPath()), StandardCharsets.UTF_8));
    } catch (IOException ex) {
      throw new BundleException("cannot read " + path + " (" + ex.getMessage() + ")");
    } catch (IllegalArgumentException ex) {
      throw new BundleException(path + " is not valid JSON; re-export the bundle");
    }
    if (!(parsed instanceof Map) || !FORMAT.equals(((Map<?, ?>) parsed).get("format"))) {
      throw new BundleException(path + " is not an arc-edge bundle manifest");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> j = (Map<String, Object>) parsed;
    Object version = j.get("format_version");
    if (!(version instanceof Double) || ((Double) version).intValue() != FORMAT_VERSION) {
      throw new BundleException("bundle format version " + version + " is not supported (this app reads "
          + FORMAT_VERSION + "); re-export the bundle");
    }
    Manifest m = new Manifest(dir, j);
    if (verifyHashes) m.verifyFiles();
    return m;
  }

  /** Checks that every listed file exists and has the sha256 the manifest records. */
  public void verifyFiles() throws BundleException {
    for (Map.Entry<String, String> e : files.entrySet()) {
      File f = new File(dir, e.getKey());
      if (!f.isFile()) {
        throw new BundleException("bundle file " + e.getKey() + " is missing from " + dir + "; re-export the bundle");
      }
      if (!sha256(f).equals(e.getValue())) {
        throw new BundleException("bundle file " + e.getKey() + " fails its sha256 check (corrupt or modified); re-export it");
      }
    }
  }

  public GraphSpec graph(String name) throws BundleException {
    GraphSpec g = graphs.get(name);
    if (g == null) throw new BundleException("this bundle has no '" + name + "' graph; re-export it");
    return g;
  }

  public long latentNumel() {
    long n = 1;
    for (long d : latentShape) n *= d;
    return n;
  }

  public double maxSeconds() {
    return (double) sampleSize / sampleRate;
  }

  /** Sum of the graph files' sizes: a lower bound on the memory a run needs. */
  public long graphBytes() {
    long total = 0;
    for (GraphSpec g : graphs.values()) total += new File(dir, g.file).length();
    return total;
  }

  /**
   * A conservative estimate of the memory a generation needs, for refusing to start on a phone that
   * would kill the app: the weights, half as much again for activations and allocator slack, and
   * 256 MB for the app itself. arc_runner measured 1.95 GB peak for the SAOS-size int8 bundle.
   */
  public double requiredMemoryMb() {
    return graphBytes() * 1.5 / (1024.0 * 1024.0) + 256.0;
  }

  static String sha256(File f) throws BundleException {
    try (InputStream in = new FileInputStream(f)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
      StringBuilder sb = new StringBuilder();
      for (byte b : md.digest()) sb.append(String.format("%02x", b & 0xff));
      return sb.toString();
    } catch (IOException ex) {
      throw new BundleException("cannot read bundle file " + f + " (" + ex.getMessage() + ")");
    } catch (NoSuchAlgorithmException ex) {
      throw new IllegalStateException("this JVM has no SHA-256", ex);
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> obj(Map<String, Object> j, String key) {
    return (Map<String, Object>) require(j, key);
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Map<String, Object> j, String key) {
    return (List<Object>) require(j, key);
  }

  private static String str(Map<String, Object> j, String key) {
    return (String) require(j, key);
  }

  private static double num(Map<String, Object> j, String key) {
    return (Double) require(j, key);
  }

  private static Object require(Map<String, Object> j, String key) {
    Object v = j.get(key);
    if (v == null) throw new NullPointerException(key);
    return v;
  }

  private static long[] longs(List<Object> values) {
    long[] out = new long[values.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Double) values.get(i)).longValue();
    return out;
  }

  @SuppressWarnings("unchecked")
  private static List<TensorSpec> specs(List<Object> values) {
    List<TensorSpec> out = new ArrayList<>();
    for (Object o : values) {
      Map<String, Object> s = (Map<String, Object>) o;
      out.add(new TensorSpec(str(s, "name"), longs(list(s, "shape")), str(s, "dtype")));
    }
    return Collections.unmodifiableList(out);
  }
}
