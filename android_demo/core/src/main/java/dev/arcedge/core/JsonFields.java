package dev.arcedge.core;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * Typed reads from an org.json object (Android's own JSON library; Debian's libandroid-json-java is
 * the same code for the JVM tests), with errors that name the file and the field. Numbers must be
 * finite, integers must be whole, strings must be strings: a value of the wrong type is a
 * BundleException with one line, never a ClassCastException.
 */
final class JsonFields {
  private final JSONObject o;
  private final String where;
  private final String path;

  JsonFields(JSONObject o, String where, String path) {
    this.o = o;
    this.where = where;
    this.path = path;
  }

  static JsonFields parse(String text, String where) throws BundleException {
    try {
      Object value = new org.json.JSONTokener(text).nextValue();
      if (!(value instanceof JSONObject)) throw new BundleException(where + " is not a JSON object; re-export the bundle");
      return new JsonFields((JSONObject) value, where, "");
    } catch (JSONException | StackOverflowError ex) {
      throw new BundleException(where + " is not valid JSON; re-export the bundle");
    }
  }

  private String name(String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  BundleException fail(String key, String expected) {
    return new BundleException(where + ": field '" + name(key) + "' must be " + expected + "; re-export the bundle");
  }

  boolean has(String key) {
    return o.has(key) && !o.isNull(key);
  }

  Object raw(String key) throws BundleException {
    if (!has(key)) throw new BundleException(where + ": missing field '" + name(key) + "'; re-export the bundle");
    return o.opt(key);
  }

  JsonFields obj(String key) throws BundleException {
    Object v = raw(key);
    if (!(v instanceof JSONObject)) throw fail(key, "an object");
    return new JsonFields((JSONObject) v, where, name(key));
  }

  JSONArray array(String key) throws BundleException {
    Object v = raw(key);
    if (!(v instanceof JSONArray)) throw fail(key, "a list");
    return (JSONArray) v;
  }

  String string(String key) throws BundleException {
    Object v = raw(key);
    if (!(v instanceof String)) throw fail(key, "a string");
    return (String) v;
  }

  double number(String key, double low, double high) throws BundleException {
    Object v = raw(key);
    if (!(v instanceof Number) || !Double.isFinite(((Number) v).doubleValue())) throw fail(key, "a finite number");
    double d = ((Number) v).doubleValue();
    if (d < low || d > high) throw fail(key, "in [" + low + ", " + high + "]");
    return d;
  }

  long integer(String key, long low, long high) throws BundleException {
    return wholeNumber(raw(key), name(key), low, high);
  }

  long wholeNumber(Object v, String field, long low, long high) throws BundleException {
    boolean whole = (v instanceof Integer || v instanceof Long)
        || (v instanceof Double && Double.isFinite((Double) v) && (Double) v == Math.rint((Double) v));
    if (!whole || ((Number) v).longValue() < low || ((Number) v).longValue() > high) {
      throw new BundleException(where + ": field '" + field + "' must be a whole number in [" + low + ", " + high
          + "]; re-export the bundle");
    }
    return ((Number) v).longValue();
  }

  Iterable<String> keys() {
    java.util.List<String> out = new java.util.ArrayList<>();
    o.keys().forEachRemaining(out::add);
    return out;
  }

  String where() {
    return where;
  }

  String path(String key) {
    return name(key);
  }
}
