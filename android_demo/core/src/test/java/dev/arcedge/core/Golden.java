package dev.arcedge.core;

import static org.junit.Assert.assertNotNull;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

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

  static JSONObject json(String name) throws IOException, JSONException {
    return new JSONObject(new String(Files.readAllBytes(file(name).toPath()), StandardCharsets.UTF_8));
  }

  static JSONObject read(File f) throws IOException, JSONException {
    return new JSONObject(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8));
  }

  static List<String> lines(String name) throws IOException {
    return Files.readAllLines(file(name).toPath(), StandardCharsets.UTF_8);
  }

  static float[] floats(JSONArray l) throws JSONException {
    float[] out = new float[l.length()];
    for (int i = 0; i < out.length; i++) out[i] = (float) l.getDouble(i);
    return out;
  }

  static long[] longs(JSONArray l) throws JSONException {
    long[] out = new long[l.length()];
    for (int i = 0; i < out.length; i++) out[i] = l.getLong(i);
    return out;
  }

  static List<String> keys(JSONObject o) {
    List<String> out = new java.util.ArrayList<>();
    o.keys().forEachRemaining(out::add);
    return out;
  }

  /** The bundle the golden vectors were made from. */
  static File bundle() throws IOException, JSONException {
    return new File(json("bundle.json").getString("dir"));
  }

  static Manifest manifest() throws Exception {
    return Manifest.load(bundle(), false);
  }
}
