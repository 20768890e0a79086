package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.junit.Test;

/** A real bundle exported by `arc-edge export`, read as the Python package reads it, then broken on purpose. */
public class ManifestTest {
  private static File copyOfBundle() throws Exception {
    File dst = Files.createTempDirectory("bundle").toFile();
    for (File f : Golden.bundle().listFiles()) {
      Files.copy(f.toPath(), new File(dst, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
    }
    return dst;
  }

  private static String failure(File dir) {
    return assertThrows(BundleException.class, () -> Manifest.load(dir, true)).getMessage();
  }

  /** Rewrites the copy's manifest.json through {@code edit}. */
  private static void edit(File dir, Consumer<JSONObject> edit) throws IOException, JSONException {
    File f = new File(dir, Manifest.FILE_NAME);
    JSONObject m = new JSONObject(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8));
    edit.accept(m);
    Files.write(f.toPath(), m.toString(2).getBytes(StandardCharsets.UTF_8));
  }

  private static void put(JSONObject o, String path, Object value) {
    try {
      String[] parts = path.split("\\.");
      for (int i = 0; i < parts.length - 1; i++) o = o.getJSONObject(parts[i]);
      o.put(parts[parts.length - 1], value);
    } catch (JSONException ex) {
      throw new AssertionError(ex);
    }
  }

  @Test
  public void readsWhatPythonReads() throws Exception {
    JSONObject g = Golden.json("bundle.json");
    Manifest m = Manifest.load(Golden.bundle(), true);
    assertEquals(g.getLong("latent_numel"), m.latentNumel());
    assertEquals(g.getInt("default_steps"), m.defaultSteps);
    assertEquals(g.getInt("sample_rate"), m.sampleRate);
    assertEquals(g.getDouble("max_seconds"), m.maxSeconds(), 1e-9);
    assertEquals(g.getString("digest"), m.digest);
    List<String> names = new ArrayList<>();
    for (Manifest.TensorSpec s : m.graph("dit").inputs) names.add(s.name);
    assertEquals(g.getJSONArray("dit_inputs").toString(), new JSONArray(names).toString());
    assertEquals(g.getJSONArray("files").toString(), new JSONArray(new TreeSet<>(m.files.keySet())).toString());
    JSONArray windows = g.getJSONArray("decode_windows");
    assertEquals(windows.length(), m.decodeWindows.size());
    for (int i = 0; i < windows.length(); i++) {
      Manifest.DecodeWindow w = m.decodeWindows.get(i);
      assertArrayEquals(Golden.longs(windows.getJSONArray(i)), new long[] {w.start, w.keepBegin, w.keepEnd});
    }
    assertEquals(g.getInt("decode_window"), m.decodeWindow);
  }

  // --- the bundle-security properties (the same in Python and the C++ runner) ---------------------

  @Test
  public void aPathOutsideTheBundleIsRefused() throws Exception {
    for (String name : new String[] {"../dit.pte", "/etc/passwd", "sub/dit.pte", "..", ".hidden"}) {
      File dir = copyOfBundle();
      edit(dir, m -> put(m, "graphs.dit.file", name));
      String msg = failure(dir);
      assertTrue(name + ": " + msg, msg.contains("not a plain file name"));
    }
  }

  @Test
  public void aFileListedUnderATraversingNameIsRefused() throws Exception {
    File dir = copyOfBundle();
    edit(dir, m -> {
      try {
        m.getJSONObject("files").put("../../etc/passwd", "0".repeat(64));
      } catch (JSONException ex) {
        throw new AssertionError(ex);
      }
    });
    assertTrue(failure(dir).contains("not a plain file name"));
  }

  @Test
  public void aSymlinkIsRefusedEvenWithTheRightBytes() throws Exception {
    File dir = copyOfBundle();
    Manifest m = Manifest.load(dir, true);
    File graph = new File(dir, m.graph("dit").file);
    File outside = File.createTempFile("outside", ".pte");
    Files.copy(graph.toPath(), outside.toPath(), StandardCopyOption.REPLACE_EXISTING);
    assertTrue(graph.delete());
    Files.createSymbolicLink(graph.toPath(), outside.toPath());
    String msg = failure(dir);
    assertTrue(msg, msg.contains("symlink"));
  }

  @Test
  public void anUnlistedFileIsNeverLoaded() throws Exception {
    File dir = copyOfBundle();
    Manifest m = Manifest.load(dir, true);
    Files.copy(new File(dir, m.graph("dit").file).toPath(), new File(dir, "evil.pte").toPath());
    edit(dir, j -> put(j, "graphs.dit.file", "evil.pte"));
    String msg = failure(dir);
    assertTrue(msg, msg.contains("evil.pte") && msg.contains("does not list"));
  }

  @Test
  public void aTamperedManifestFailsItsPinnedDigest() throws Exception {
    File dir = copyOfBundle();
    String pinned = Manifest.load(dir, true).digest;
    edit(dir, m -> put(m, "default_seconds", 0.5));
    assertEquals(0.5, Manifest.load(dir, true).defaultSeconds, 0);  // unpinned it still loads ...
    String msg = assertThrows(BundleException.class, () -> Manifest.load(dir, true, "sha256:" + pinned)).getMessage();
    assertTrue(msg, msg.contains("pinned"));  // ... pinned it does not
  }

  @Test
  public void aTamperedGraphFailsItsHash() throws Exception {
    File dir = copyOfBundle();
    Manifest m = Manifest.load(dir, false);
    try (RandomAccessFile f = new RandomAccessFile(new File(dir, m.graph("dit").file), "rw")) {
      f.seek(f.length() / 2);
      int b = f.read();
      f.seek(f.length() / 2);
      f.write(b ^ 0xff);
    }
    assertTrue(failure(dir).contains("sha256"));
  }

  // --- schema ------------------------------------------------------------------------------------

  @Test
  public void fieldsOfTheWrongTypeAreOneLineErrors() throws Exception {
    Object[][] cases = {
        {"format_version", "2", "format version"},
        {"format_version", 1, "format version"},
        {"sample_rate", "44100", "sample_rate"},
        {"sample_rate", 44100.5, "sample_rate"},
        {"default_seconds", -1.0, "default_seconds"},
        {"default_seconds", 0.005, "default_seconds"},
        {"default_seconds", 3600.0, "default_seconds"},
        {"tokenizer.max_length", new JSONArray(), "tokenizer.max_length"},
        {"sampler.steps", 0, "sampler.steps"},
        {"graphs.decoder.decode.window", 0, "decode.window"},
        {"latent_shape", new JSONArray(List.of(1, 2)), "latent_shape"},
        {"graphs", new JSONObject(), "conditioners"},
    };
    for (Object[] c : cases) {
      File dir = copyOfBundle();
      edit(dir, m -> put(m, (String) c[0], c[1]));
      String msg = failure(dir);
      assertTrue(c[0] + " = " + c[1] + ": " + msg, msg.contains((String) c[2]) && !msg.contains("\n"));
    }
  }

  @Test
  public void aMissingFileIsNamed() throws Exception {
    File dir = copyOfBundle();
    Manifest m = Manifest.load(dir, false);
    assertTrue(new File(dir, m.graph("decoder").file).delete());
    String msg = failure(dir);
    assertTrue(msg, msg.contains(m.graph("decoder").file) && msg.contains("missing"));
  }

  @Test
  public void brokenOrAbsentManifests() throws Exception {
    File dir = copyOfBundle();
    File manifest = new File(dir, Manifest.FILE_NAME);
    Files.write(manifest.toPath(), "{\"format\": \"arc-edge-bundle\", ".getBytes(StandardCharsets.UTF_8));
    assertTrue(failure(dir).contains("not valid JSON"));
    Files.write(manifest.toPath(), "[1, 2]".getBytes(StandardCharsets.UTF_8));
    assertTrue(failure(dir).contains("not a JSON object"));
    Files.write(manifest.toPath(), "{\"format\": \"arc-edge-bundle\", \"format_version\": 2}".getBytes(StandardCharsets.UTF_8));
    assertTrue(failure(dir).contains("missing field"));
    assertTrue(manifest.delete());
    assertTrue(failure(dir).contains("not a bundle"));
  }
}
