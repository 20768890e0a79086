package dev.arcedge.core;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prompt tokenisation in the T5 convention, as arc_edge/tokenizer.py and Hugging Face's T5 tokenizer:
 * literal special tokens (</s>, <pad>, <unk>, <extra_id_N>) map to their ids, the text between them is
 * encoded piece by piece, then </s>, padded to maxLength.
 */
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
    } catch (IOException | RuntimeException ex) {  // a hostile model file must not crash the app
      throw new BundleException("cannot load the bundle's tokenizer " + m.tokenizerFile + " (" + ex + ")");
    }
  }

  private static final int EXTRA_IDS = 100;  // <extra_id_0> .. <extra_id_99>
  private static final Pattern SPECIAL = Pattern.compile("</s>|<pad>|<unk>|<extra_id_(?:[1-9]?[0-9])>");

  private int specialId(String token) {
    switch (token) {
      case "</s>": return eosId;
      case "<pad>": return padId;
      case "<unk>": return sp.unkId();
      default:  // Hugging Face counts the extra ids down from the end of the vocabulary
        return sp.size() + EXTRA_IDS - 1 - Integer.parseInt(token.substring(10, token.length() - 1));
    }
  }

  /** Ids of {@code text}: literal special tokens as single ids, the text between them encoded. */
  int[] pieces(String text) {
    List<Integer> ids = new ArrayList<>();
    Matcher m = SPECIAL.matcher(text);
    int pos = 0;
    while (m.find()) {
      for (int id : sp.encode(text.substring(pos, m.start()))) ids.add(id);
      ids.add(specialId(m.group()));
      pos = m.end();
    }
    for (int id : sp.encode(text.substring(pos))) ids.add(id);
    int[] out = new int[ids.size()];
    for (int i = 0; i < out.length; i++) out[i] = ids.get(i);
    return out;
  }

  public Tokens encode(String prompt) {
    if (isBlank(prompt)) {
      throw new IllegalArgumentException("the prompt is empty; describe the sound to generate, e.g. \"a soft sine tone\"");
    }
    int[] pieces = pieces(prompt);
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
