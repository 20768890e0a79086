package dev.arcedge.core;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.json.JSONArray;

/**
 * An arc-edge bundle's manifest.json (format version 2): the contract written by
 * arc_edge/export/manifest.py and read, with the same checks, by the native runner
 * (device_bench/src/bundle.cpp) and here.
 *
 * <p>A bundle is untrusted input: every file the manifest names must be a plain name listed in
 * {@code files} with its sha256 and a regular file (not a symlink) directly in the bundle folder;
 * the manifest itself can be pinned by its own sha256.
 */
public final class Manifest {
  public static final String FORMAT = "arc-edge-bundle";
  public static final int FORMAT_VERSION = 2;
  public static final String FILE_NAME = "manifest.json";
  private static final Pattern PLAIN_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
  private static final String[] REQUIRED_GRAPHS = {"conditioners", "dit", "decoder"};
  static final double MAX_DC_BLOCKER_HZ = 50.0;  // arc_edge.decoding.MAX_DC_BLOCKER_HZ

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

    public long numel() {
      long n = 1;
      for (long d : shape) n *= d;
      return n;
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

  /** Which latent frames one decoder call sees and which it keeps (arc_edge/decoding.py). */
  public static final class DecodeWindow {
    public final int start;
    public final int keepBegin;
    public final int keepEnd;

    DecodeWindow(int start, int keepBegin, int keepEnd) {
      this.start = start;
      this.keepBegin = keepBegin;
      this.keepEnd = keepEnd;
    }
  }

  public final File dir;
  public final String digest;
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
  public final java.util.NavigableMap<Integer, float[]> schedules;
  public final Map<String, GraphSpec> graphs;
  public final int decodeWindow;
  public final List<DecodeWindow> decodeWindows;
  /** The decoded audio's first-order high-pass in Hz (0: none); arc_edge.decoding.DCBlocker. */
  public final double dcBlockerHz;
  public final Map<String, String> files;
  public final String selftestFile;  // null when the bundle carries no self-test data
  /** graph -> {cases, min SNR dB} of the self-test. */
  public final Map<String, double[]> selftestGraphs;

  private Manifest(File dir, String digest, JsonFields j) throws BundleException {
    this.dir = dir;
    this.digest = digest;
    Map<String, String> f = new TreeMap<>();
    JsonFields fileList = j.obj("files");
    for (String name : fileList.keys()) {
      checkName(name, j.where(), "files");
      String sha = fileList.string(name);
      if (!SHA256.matcher(sha).matches()) throw fileList.fail(name, "a sha256 hex digest");
      f.put(name, sha);
    }
    if (f.containsKey(FILE_NAME)) throw new BundleException(j.where() + ": the manifest cannot list itself in files");
    files = Collections.unmodifiableMap(f);
    backend = j.string("backend");
    arcEdgeVersion = j.has("arc_edge_version") ? j.string("arc_edge_version") : "";
    recipe = j.obj("recipe").string("name");
    sampleRate = (int) j.integer("sample_rate", 1000, 384000);
    audioChannels = (int) j.integer("audio_channels", 1, 64);
    latentShape = longs(j, j.array("latent_shape"), "latent_shape", 1, 1 << 20);
    if (latentShape.length != 3 || latentShape[0] != 1) throw j.fail("latent_shape", "[1, channels, frames]");
    sampleSize = j.obj("model_config").integer("sample_size", latentShape[2], 1L << 26);
    if (sampleSize % latentShape[2] != 0) throw j.fail("latent_shape", "a divisor of sample_size in frames");
    defaultSeconds = j.number("default_seconds", Generator.END_FADE_SECONDS, maxSeconds() + 1e-9);
    JsonFields tok = j.obj("tokenizer");
    tokenizerFile = listed(tok.string("file"), j.where(), "tokenizer.file");
    maxLength = (int) tok.integer("max_length", 2, 4096);
    padId = (int) tok.integer("pad_id", 0, Integer.MAX_VALUE);
    eosId = (int) tok.integer("eos_id", 0, Integer.MAX_VALUE);
    JsonFields sampler = j.obj("sampler");
    if (!"pingpong".equals(sampler.string("type"))) throw sampler.fail("type", "pingpong");
    defaultSteps = (int) sampler.integer("steps", 1, 1000);
    schedules = Collections.unmodifiableNavigableMap(schedules(sampler.obj("schedules")));
    if (!schedules.containsKey(defaultSteps)) throw sampler.fail("schedules", "a schedule for the default steps");
    Map<String, GraphSpec> g = new LinkedHashMap<>();
    JsonFields graphList = j.obj("graphs");
    for (String name : graphList.keys()) {
      JsonFields spec = graphList.obj(name);
      g.put(name, new GraphSpec(listed(spec.string("file"), j.where(), "graphs." + name + ".file"),
          specs(spec, "inputs"), specs(spec, "outputs")));
    }
    graphs = Collections.unmodifiableMap(g);
    for (String needed : REQUIRED_GRAPHS) graph(needed);
    JsonFields decode = graphList.obj("decoder").obj("decode");
    decodeWindow = (int) decode.integer("window", 1, latentShape[2]);
    decodeWindows = Collections.unmodifiableList(windows(decode, (int) latentShape[2], decodeWindow));
    // absent in bundles exported before the blocker existed: those decode with none
    dcBlockerHz = decode.has("dc_blocker_hz") ? decode.number("dc_blocker_hz", 0, MAX_DC_BLOCKER_HZ) : 0;
    selftestFile = j.has("selftest") ? listed(j.obj("selftest").string("file"), j.where(), "selftest.file") : null;
    Map<String, double[]> st = new LinkedHashMap<>();
    if (selftestFile != null) {
      JsonFields list = j.obj("selftest").obj("graphs");
      for (String name : list.keys()) {
        graph(name);
        JsonFields spec = list.obj(name);
        st.put(name, new double[] {spec.integer("cases", 1, 16), spec.number("min_snr_db", -300, 300)});
      }
    }
    selftestGraphs = Collections.unmodifiableMap(st);
  }

  private String listed(String name, String where, String field) throws BundleException {
    checkName(name, where, field);
    if (!files.containsKey(name)) {
      throw new BundleException(where + ": " + field + " names " + name + ", which 'files' does not list with a sha256");
    }
    return name;
  }

  /** A name a manifest may use for a file: plain, inside the bundle, no path tricks. */
  static void checkName(String name, String where, String field) throws BundleException {
    if (!PLAIN_NAME.matcher(name).matches() || name.contains("..")) {
      throw new BundleException(where + ": " + field + " '" + name + "' is not a plain file name inside the bundle "
          + "(no folders, '..', absolute paths or odd characters); re-export the bundle");
    }
  }

  private static long[] longs(JsonFields j, JSONArray values, String field, long low, long high) throws BundleException {
    long[] out = new long[values.length()];
    for (int i = 0; i < out.length; i++) out[i] = j.wholeNumber(values.opt(i), field + "[" + i + "]", low, high);
    return out;
  }

  private static TreeMap<Integer, float[]> schedules(JsonFields s) throws BundleException {
    TreeMap<Integer, float[]> out = new TreeMap<>();
    for (String key : s.keys()) {
      int steps;
      try {
        steps = Integer.parseInt(key);
      } catch (NumberFormatException ex) {
        throw s.fail(key, "a schedule keyed by its step count");
      }
      JSONArray values = s.array(key);
      if (steps < 1 || values.length() != steps + 1) throw s.fail(key, (steps + 1) + " t values");
      float[] t = new float[steps + 1];
      for (int i = 0; i <= steps; i++) {
        Object v = values.opt(i);
        double d = v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
        if (!(d >= 0 && d <= 1) || (i > 0 && d > t[i - 1])) throw s.fail(key, "decreasing values in [0, 1]");
        t[i] = (float) d;
      }
      out.put(steps, t);
    }
    return out;
  }

  private static List<TensorSpec> specs(JsonFields graph, String key) throws BundleException {
    JSONArray list = graph.array(key);
    if (list.length() == 0) throw graph.fail(key, "a non-empty list");
    List<TensorSpec> out = new ArrayList<>();
    for (int i = 0; i < list.length(); i++) {
      Object item = list.opt(i);
      if (!(item instanceof org.json.JSONObject)) throw graph.fail(key, "a list of tensor specs");
      JsonFields s = new JsonFields((org.json.JSONObject) item, graph.where(), graph.path(key) + "[" + i + "]");
      String dtype = s.string("dtype");
      if (!dtype.equals("float32") && !dtype.equals("int64")) throw s.fail("dtype", "float32 or int64");
      long[] shape = longs(s, s.array("shape"), s.path("shape"), 1, 1L << 31);
      if (shape.length == 0 || shape.length > 8) throw s.fail("shape", "a rank between 1 and 8");
      out.add(new TensorSpec(s.string("name"), shape, dtype));
    }
    return Collections.unmodifiableList(out);
  }

  private static List<DecodeWindow> windows(JsonFields decode, int frames, int window) throws BundleException {
    JSONArray list = decode.array("windows");
    List<DecodeWindow> out = new ArrayList<>();
    int covered = 0;
    for (int i = 0; i < list.length(); i++) {
      JSONArray w = list.optJSONArray(i);
      if (w == null || w.length() != 3) throw decode.fail("windows", "a list of [start, keep_begin, keep_end]");
      long[] v = longs(decode, w, decode.path("windows") + "[" + i + "]", 0, frames);
      DecodeWindow d = new DecodeWindow((int) v[0], (int) v[1], (int) v[2]);
      if (!(d.start <= d.keepBegin && d.keepBegin == covered && d.keepBegin < d.keepEnd
          && d.keepEnd <= d.start + window && d.start + window <= frames)) {
        throw decode.fail("windows", "windows that tile the latent in order");
      }
      covered = d.keepEnd;
      out.add(d);
    }
    if (covered != frames) throw decode.fail("windows", "windows that cover all " + frames + " latent frames");
    return out;
  }

  /**
   * Reads and validates manifest.json in {@code dir}; with {@code verifyHashes}, checks every listed
   * file's sha256; a non-null {@code expectDigest} pins manifest.json's own sha256.
   */
  public static Manifest load(File dir, boolean verifyHashes, String expectDigest) throws BundleException {
    File path = new File(dir, FILE_NAME);
    if (Files.isSymbolicLink(path.toPath()) || (path.exists() && !path.isFile())) {
      throw new BundleException(path + " is not a regular file; a bundle holds plain files only");
    }
    if (!path.isFile()) {
      throw new BundleException(dir + " is not a bundle (no " + FILE_NAME + "); create one with `arc-edge export`");
    }
    if (path.length() > (16 << 20)) throw new BundleException(path + " is too large to be a bundle manifest");
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(path.toPath());
    } catch (IOException ex) {
      throw new BundleException("cannot read " + path + " (" + ex.getMessage() + ")");
    }
    String digest = hex(sha256(bytes));
    if (expectDigest != null && !expectDigest.replaceFirst("^sha256:", "").equalsIgnoreCase(digest)) {
      throw new BundleException(path + " has sha256 " + digest.substring(0, 16)
          + "..., not the pinned digest; this is not the bundle you pinned");
    }
    JsonFields j = JsonFields.parse(new String(bytes, StandardCharsets.UTF_8), path.toString());
    if (!j.has("format") || !FORMAT.equals(j.raw("format"))) {
      throw new BundleException(path + " is not an arc-edge bundle manifest");
    }
    Object version = j.has("format_version") ? j.raw("format_version") : null;
    if (!(version instanceof Integer) || (Integer) version != FORMAT_VERSION) {
      throw new BundleException("bundle format version " + version + " is not supported (this app reads "
          + FORMAT_VERSION + "); re-export the bundle");
    }
    Manifest m = new Manifest(dir, digest, j);
    m.checkFiles(verifyHashes);
    return m;
  }

  public static Manifest load(File dir, boolean verifyHashes) throws BundleException {
    return load(dir, verifyHashes, null);
  }

  /** Every listed file is a regular file directly in the bundle (a symlink is refused), with its sha256. */
  public void checkFiles(boolean verifyHashes) throws BundleException {
    for (Map.Entry<String, String> e : files.entrySet()) {
      Path p = new File(dir, e.getKey()).toPath();
      if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
        throw new BundleException("bundle file " + e.getKey() + " is missing from " + dir + "; re-export the bundle");
      }
      if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
        throw new BundleException("bundle file " + e.getKey() + " is " + (Files.isSymbolicLink(p) ? "a symlink" : "not a regular file")
            + "; a bundle holds plain files only");
      }
      if (verifyHashes && !sha256(p.toFile()).equals(e.getValue())) {
        throw new BundleException("bundle file " + e.getKey() + " fails its sha256 check (corrupt or modified); re-export it");
      }
    }
  }

  public GraphSpec graph(String name) throws BundleException {
    GraphSpec g = graphs.get(name);
    if (g == null) throw new BundleException("this bundle has no '" + name + "' graph; re-export it");
    return g;
  }

  /** The t values of a run with {@code steps} steps, as the exporter computed them. */
  public float[] schedule(int steps) throws BundleException {
    float[] t = schedules.get(steps);
    if (t == null) {
      throw new BundleException("this bundle carries schedules for " + schedules.firstKey() + ".."
          + schedules.lastKey() + " steps, not " + steps);
    }
    return t;
  }

  public long latentNumel() {
    long n = 1;
    for (long d : latentShape) n *= d;
    return n;
  }

  public int latentFrames() {
    return (int) latentShape[2];
  }

  /** Audio samples per latent frame. */
  public int hop() {
    return (int) (sampleSize / latentShape[2]);
  }

  public double maxSeconds() {
    return (double) sampleSize / sampleRate;
  }

  public File file(String name) {
    return new File(dir, name);
  }

  /** Sum of the graph files' sizes: a lower bound on the memory a run needs. */
  public long graphBytes() {
    long total = 0;
    for (GraphSpec g : graphs.values()) total += new File(dir, g.file).length();
    return total;
  }

  /**
   * A conservative estimate of the memory a generation needs, for refusing to start on a phone that
   * would kill the app: the largest graph (graphs are loaded one stage at a time), half as much again
   * for activations and allocator slack, and 256 MB for the app itself.
   */
  public double requiredMemoryMb() {
    long largest = 0;
    for (GraphSpec g : graphs.values()) largest = Math.max(largest, new File(dir, g.file).length());
    return largest * 1.5 / (1024.0 * 1024.0) + 256.0;
  }

  static String sha256(File f) throws BundleException {
    try (InputStream in = Files.newInputStream(f.toPath())) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
      return hex(md.digest());
    } catch (IOException ex) {
      throw new BundleException("cannot read bundle file " + f + " (" + ex.getMessage() + ")");
    } catch (NoSuchAlgorithmException ex) {
      throw new IllegalStateException("this JVM has no SHA-256", ex);
    }
  }

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException ex) {
      throw new IllegalStateException("this JVM has no SHA-256", ex);
    }
  }

  private static String hex(byte[] digest) {
    StringBuilder sb = new StringBuilder();
    for (byte b : digest) sb.append(String.format("%02x", b & 0xff));
    return sb.toString();
  }
}
