package dev.arcedge.core;

import static org.junit.Assert.assertNotNull;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

/** The golden vectors written by tests/android_golden.py (system property arcedge.golden). */
final class Golden {
  private Golden() {}

  static File dir() {
    String path = System.getProperty("arcedge.golden");
    assertNotNull("set -Darcedge.golden=DIR (made by `python tests/android_golden.py DIR`)", path);
    return new File(path);
  }

  static File file(String name) {
    return new File(dir(), name);
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> json(String name) throws IOException {
    return (Map<String, Object>) Json.parse(new String(Files.readAllBytes(file(name).toPath()), StandardCharsets.UTF_8));
  }

  static List<String> lines(String name) throws IOException {
    return Files.readAllLines(file(name).toPath(), StandardCharsets.UTF_8);
  }

  static float[] floats(Object list) {
    List<?> l = (List<?>) list;
    float[] out = new float[l.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Double) l.get(i)).floatValue();
    return out;
  }

  static long[] longs(Object list) {
    List<?> l = (List<?>) list;
    long[] out = new long[l.size()];
    for (int i = 0; i < out.length; i++) out[i] = ((Double) l.get(i)).longValue();
    return out;
  }
}
