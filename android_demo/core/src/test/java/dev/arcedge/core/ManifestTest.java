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
import java.util.Map;
import org.junit.Test;

/** A real bundle exported by `arc-edge export`, read as the Python package reads it, then broken on purpose. */
public class ManifestTest {
  private static Map<String, Object> facts() throws IOException {
    return Golden.json("bundle.json");
  }

  private static File copyOfBundle() throws IOException {
    File src = new File((String) facts().get("dir"));
    File dst = Files.createTempDirectory("bundle").toFile();
    for (File f : src.listFiles()) Files.copy(f.toPath(), new File(dst, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
    return dst;
  }

  private static String failure(File dir) {
    return assertThrows(BundleException.class, () -> Manifest.load(dir, true)).getMessage();
  }

  @Test
  public void readsWhatPythonReads() throws Exception {
    Map<String, Object> g = facts();
    Manifest m = Manifest.load(new File((String) g.get("dir")), true);
    assertEquals(((Double) g.get("latent_numel")).longValue(), m.latentNumel());
    assertEquals(((Double) g.get("default_steps")).intValue(), m.defaultSteps);
    assertEquals(((Double) g.get("sample_rate")).intValue(), m.sampleRate);
    assertEquals((Double) g.get("max_seconds"), m.maxSeconds(), 1e-9);
    List<String> names = new ArrayList<>();
    for (Manifest.TensorSpec s : m.graph("dit").inputs) names.add(s.name);
    assertEquals(g.get("dit_inputs"), names);
    assertEquals(g.get("files"), new ArrayList<>(new java.util.TreeSet<>(m.files.keySet())));
    assertArrayEquals(Golden.floats(g.get("schedule")), Schedule.pingpong(m.defaultSteps), 1e-7f);
  }

  @Test
  public void aTamperedFileFailsItsHash() throws Exception {
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

  @Test
  public void aMissingFileIsNamed() throws Exception {
    File dir = copyOfBundle();
    Manifest m = Manifest.load(dir, false);
    assertTrue(new File(dir, m.graph("decoder").file).delete());
    String msg = failure(dir);
    assertTrue(msg, msg.contains(m.graph("decoder").file) && msg.contains("missing"));
  }

  @Test
  public void anotherFormatVersionIsRefused() throws Exception {
    File dir = copyOfBundle();
    File manifest = new File(dir, Manifest.FILE_NAME);
    String text = new String(Files.readAllBytes(manifest.toPath()), StandardCharsets.UTF_8);
    Files.write(manifest.toPath(), text.replace("\"format_version\": 1", "\"format_version\": 2").getBytes(StandardCharsets.UTF_8));
    assertTrue(failure(dir).contains("format version 2"));
  }

  @Test
  public void brokenOrAbsentManifests() throws Exception {
    File dir = copyOfBundle();
    File manifest = new File(dir, Manifest.FILE_NAME);
    Files.write(manifest.toPath(), "{\"format\": \"arc-edge-bundle\", ".getBytes(StandardCharsets.UTF_8));
    assertTrue(failure(dir).contains("not valid JSON"));
    Files.write(manifest.toPath(), "{\"format\": \"arc-edge-bundle\", \"format_version\": 1}".getBytes(StandardCharsets.UTF_8));
    assertTrue(failure(dir).contains("lacks the field"));
    assertTrue(manifest.delete());
    assertTrue(failure(dir).contains("not a bundle"));
  }
}
