package dev.arcedge.core;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The on-device numerics self-test (arc_edge/export/selftest.py, device_bench/src/selftest.cpp):
 * every graph runs on the parity inputs the bundle carries, and its outputs are compared with the
 * eager fp32 outputs stored beside them, by SNR against the recipe's threshold.
 */
public final class SelfTest {
  /** Runs one graph on the given inputs (float[] or long[] per input, in call order). */
  public interface Runner {
    float[][] run(String graph, Object[] inputs) throws Exception;
  }

  private SelfTest() {}

  /** {"passed": bool, "graphs": {name: {"snr_db", "min_snr_db", "passed"}}}: the same report as arc_runner --selftest. */
  public static JSONObject run(Manifest m, Runner runner) throws Exception {
    if (m.selftestFile == null) throw new BundleException(m.dir + " carries no self-test data; re-export it");
    Map<String, Object> tensors = readSafetensors(m.file(m.selftestFile));
    JSONObject graphs = new JSONObject();
    boolean allPassed = true;
    for (Map.Entry<String, double[]> spec : m.selftestGraphs.entrySet()) {
      String name = spec.getKey();
      Manifest.GraphSpec g = m.graph(name);
      double worst = 300.0;
      for (int c = 0; c < (int) spec.getValue()[0]; c++) {
        Object[] inputs = new Object[g.inputs.size()];
        for (int i = 0; i < inputs.length; i++) {
          inputs[i] = tensor(tensors, name + "." + c + ".in." + i);
          long want = g.inputs.get(i).numel();
          int got = inputs[i] instanceof long[] ? ((long[]) inputs[i]).length : ((float[]) inputs[i]).length;
          if (got != want || (inputs[i] instanceof long[]) != g.inputs.get(i).dtype.equals("int64")) {
            throw new BundleException("self-test input " + name + "." + c + ".in." + i + " does not match the graph; re-export the bundle");
          }
        }
        float[][] outputs = runner.run(name, inputs);
        for (int j = 0; j < g.outputs.size(); j++) {
          Object expected = tensor(tensors, name + "." + c + ".out." + j);
          boolean comparable = expected instanceof float[] && j < outputs.length
              && outputs[j].length == ((float[]) expected).length;
          worst = Math.min(worst, comparable ? snrDb((float[]) expected, outputs[j]) : -300.0);
        }
      }
      boolean passed = worst >= spec.getValue()[1];
      allPassed &= passed;
      graphs.put(name, new JSONObject().put("snr_db", worst).put("min_snr_db", spec.getValue()[1]).put("passed", passed));
    }
    return new JSONObject().put("passed", allPassed).put("graphs", graphs);
  }

  /** 10 log10(|ref|^2 / |ref - got|^2), clamped to +-300 dB as arc_edge/export/parity.py does. */
  static double snrDb(float[] ref, float[] got) {
    double signal = 0, noise = 0;
    for (int i = 0; i < ref.length; i++) {
      signal += (double) ref[i] * ref[i];
      double d = (double) ref[i] - got[i];
      noise += d * d;
    }
    if (Double.isNaN(signal) || Double.isNaN(noise)) return -300.0;
    if (noise == 0) return 300.0;
    if (signal == 0) return -300.0;
    return Math.max(-300.0, Math.min(300.0, 10.0 * Math.log10(signal / noise)));
  }

  private static Object tensor(Map<String, Object> tensors, String name) throws BundleException {
    Object t = tensors.get(name);
    if (t == null) throw new BundleException("the self-test data lacks " + name + "; re-export the bundle");
    return t;
  }

  /** A safetensors file: 8-byte little-endian header length, a JSON header, the raw data. F32 -> float[], I64 -> long[]. */
  static Map<String, Object> readSafetensors(File file) throws BundleException {
    try {
      byte[] bytes = Files.readAllBytes(file.toPath());
      ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
      if (bytes.length < 8) throw new BundleException(file + " is not a safetensors file; re-export the bundle");
      long headerLen = buf.getLong(0);
      if (headerLen < 0 || headerLen > bytes.length - 8) throw new BundleException(file + ": bad header length; re-export the bundle");
      JSONObject header = new JSONObject(new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8));
      int dataStart = 8 + (int) headerLen;
      Map<String, Object> out = new HashMap<>();
      for (Iterator<String> it = header.keys(); it.hasNext(); ) {
        String name = it.next();
        if (name.equals("__metadata__")) continue;
        JSONObject t = header.getJSONObject(name);
        JSONArray shape = t.getJSONArray("shape"), offsets = t.getJSONArray("data_offsets");
        long numel = 1;
        for (int i = 0; i < shape.length(); i++) numel *= shape.getLong(i);
        String dtype = t.getString("dtype");
        int elem = dtype.equals("F32") ? 4 : dtype.equals("I64") ? 8 : 0;
        long begin = offsets.getLong(0), end = offsets.getLong(1);
        if (elem == 0 || numel < 0 || begin < 0 || begin > end || end > bytes.length - dataStart || end - begin != numel * elem) {
          throw new BundleException(file + ": tensor " + name + " has a bad dtype, shape or offsets; re-export the bundle");
        }
        ByteBuffer data = ByteBuffer.wrap(bytes, dataStart + (int) begin, (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
        if (elem == 4) {
          float[] v = new float[(int) numel];
          data.asFloatBuffer().get(v);
          out.put(name, v);
        } else {
          long[] v = new long[(int) numel];
          data.asLongBuffer().get(v);
          out.put(name, v);
        }
      }
      return out;
    } catch (IOException ex) {
      throw new BundleException("cannot read " + file + " (" + ex.getMessage() + ")");
    } catch (JSONException | RuntimeException ex) {
      throw new BundleException(file + " is not valid self-test data (" + ex.getMessage() + "); re-export the bundle");
    }
  }
}
