package dev.arcedge.core;

/** A bundle that cannot be used, with a message that says what is wrong and what to do. */
public class BundleException extends Exception {
  private static final long serialVersionUID = 1L;

  public BundleException(String message) {
    super(message);
  }
}
