package dev.arcedge.core;

import java.io.File;
import java.io.IOException;

/** Prompt tokenisation in the T5 convention (pieces, then </s>, padded), as arc_edge/tokenizer.py. */
public final class PromptTokenizer {
  /** Token ids and attention mask, both maxLength long. */
  public static final class Tokens {
    public final long[] ids;
    public final long[] mask;
    public final int count;
    public final boolean truncated;

    Tokens(long[] ids, long[] mask, int count, boolean truncated) {
      this.ids = ids;
      this.mask = mask;
      this.count = count;
      this.truncated = truncated;
    }
  }

  private final SentencePiece sp;
  private final int maxLength, padId, eosId;

  public PromptTokenizer(SentencePiece sp, int maxLength, int padId, int eosId) {
    this.sp = sp;
    this.maxLength = maxLength;
    this.padId = padId;
    this.eosId = eosId;
  }

  public static PromptTokenizer forBundle(Manifest m) throws BundleException {
    File file = new File(m.dir, m.tokenizerFile);
    try {
      return new PromptTokenizer(SentencePiece.load(file), m.maxLength, m.padId, m.eosId);
    } catch (IOException | IllegalArgumentException ex) {
      throw new BundleException("cannot load the bundle's tokenizer " + m.tokenizerFile + " (" + ex.getMessage() + ")");
    }
  }

  public Tokens encode(String prompt) {
    if (isBlank(prompt)) {
      throw new IllegalArgumentException("the prompt is empty; describe the sound to generate, e.g. \"a soft sine tone\"");
    }
    int[] pieces = sp.encode(prompt);
    int room = maxLength - 1;  // the last slot is </s>
    boolean truncated = pieces.length > room;
    int n = Math.min(pieces.length, room) + 1;
    long[] ids = new long[maxLength];
    long[] mask = new long[maxLength];
    java.util.Arrays.fill(ids, padId);
    for (int i = 0; i < n - 1; i++) ids[i] = pieces[i];
    ids[n - 1] = eosId;
    for (int i = 0; i < n; i++) mask[i] = 1;
    return new Tokens(ids, mask, n, truncated);
  }

  /** Blank in Python's sense (str.isspace), so the app refuses exactly the prompts the CLI refuses. */
  static boolean isBlank(String s) {
    if (s == null) return true;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085')) return false;
    }
    return true;
  }
}
