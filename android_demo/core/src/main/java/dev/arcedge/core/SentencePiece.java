package dev.arcedge.core;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A SentencePiece unigram encoder written from the model format (a protobuf ModelProto), so the
 * app needs no native tokenizer library. Covers what T5 tokenizers use: unigram pieces, the
 * whitespace rules and the precompiled normalisation map (e.g. nmt_nfkc). Byte fallback, BPE and
 * user-defined symbols are refused with a clear error rather than encoded differently from
 * sentencepiece. Proven against the Python sentencepiece library by golden tests.
 *
 * <p>Works on UTF-8 bytes held in ISO-8859-1 strings (one char per byte) so that positions and
 * piece lookups are byte-exact, as in the C++ library.
 */
public final class SentencePiece {
  private static final int NORMAL = 1, UNKNOWN = 2, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;
  private static final float UNK_PENALTY = 10.0f;
  private static final String SPACE = "\u2581";
  private static final String SPACE_BYTES = latin1(SPACE);
  private static final String REPLACEMENT = latin1("\uFFFD");

  private final Map<String, Integer> pieceIds = new HashMap<>();
  private final List<Float> scores = new ArrayList<>();
  private final List<Integer> types = new ArrayList<>();
  private int unkId = -1;
  private int maxPieceBytes = 1;
  private float minScore = Float.MAX_VALUE;
  private boolean addDummyPrefix = true, removeExtraWhitespaces = true, escapeWhitespaces = true;
  private int[] charsmapTrie;
  private byte[] charsmapStrings;

  private SentencePiece() {}

  /** Number of pieces in the model (Hugging Face's T5 counts its extra ids from here). */
  public int size() {
    return types.size();
  }

  public int unkId() {
    return unkId;
  }

  public static SentencePiece load(File file) throws IOException {
    return parse(Files.readAllBytes(file.toPath()));
  }

  /** Parses a serialised ModelProto; IllegalArgumentException for a model this encoder cannot reproduce. */
  public static SentencePiece parse(byte[] model) {
    SentencePiece sp = new SentencePiece();
    Proto proto = new Proto(model, 0, model.length);
    while (proto.more()) {
      int tag = proto.tag();
      if (tag == 1) sp.addPiece(proto.message());
      else if (tag == 2) sp.checkTrainerSpec(proto.message());
      else if (tag == 3) sp.readNormalizerSpec(proto.message());
      else proto.skip();
    }
    if (sp.types.isEmpty()) throw new IllegalArgumentException("not a SentencePiece model (no pieces)");
    if (sp.unkId < 0) throw new IllegalArgumentException("the SentencePiece model defines no <unk> piece");
    return sp;
  }

  private void addPiece(Proto p) {
    String piece = "";
    float score = 0f;
    int type = NORMAL;
    while (p.more()) {
      int tag = p.tag();
      if (tag == 1) piece = p.bytesAsLatin1();
      else if (tag == 2) score = p.float32();
      else if (tag == 3) type = (int) p.varint();
      else p.skip();
    }
    int id = types.size();
    scores.add(score);
    types.add(type);
    if (type == UNKNOWN) unkId = id;
    if (type == USER_DEFINED || type == BYTE) {
      throw new IllegalArgumentException("SentencePiece models with user-defined or byte pieces are not supported");
    }
    if (type == NORMAL || type == UNUSED) {
      pieceIds.put(piece, id);
      maxPieceBytes = Math.max(maxPieceBytes, piece.length());
    }
    if (type == NORMAL) minScore = Math.min(minScore, score);
  }

  private void checkTrainerSpec(Proto p) {
    while (p.more()) {
      switch (p.tag()) {
        case 3:
          if (p.varint() != 1) throw new IllegalArgumentException("only unigram SentencePiece models are supported");
          break;
        case 24:
          if (p.varint() != 0) throw new IllegalArgumentException("treat_whitespace_as_suffix is not supported");
          break;
        case 35:
          if (p.varint() != 0) throw new IllegalArgumentException("byte_fallback SentencePiece models are not supported");
          break;
        default:
          p.skip();
      }
    }
  }

  private void readNormalizerSpec(Proto p) {
    while (p.more()) {
      int tag = p.tag();
      if (tag == 2) setCharsmap(p.bytes());
      else if (tag == 3) addDummyPrefix = p.varint() != 0;
      else if (tag == 4) removeExtraWhitespaces = p.varint() != 0;
      else if (tag == 5) escapeWhitespaces = p.varint() != 0;
      else p.skip();
    }
  }

  /** The precompiled map: uint32 trie size, a darts-clone double array, then NUL-terminated replacements. */
  private void setCharsmap(byte[] blob) {
    if (blob.length == 0) return;
    ByteBuffer buf = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
    int trieBytes = buf.getInt();
    if (trieBytes < 0 || trieBytes % 4 != 0 || 4 + trieBytes > blob.length) {
      throw new IllegalArgumentException("corrupt precompiled_charsmap in the SentencePiece model");
    }
    charsmapTrie = new int[trieBytes / 4];
    for (int i = 0; i < charsmapTrie.length; i++) charsmapTrie[i] = buf.getInt();
    charsmapStrings = new byte[blob.length - 4 - trieBytes];
    buf.get(charsmapStrings);
  }

  /** The piece ids for {@code text}, exactly as sentencepiece's EncodeAsIds. */
  public int[] encode(String text) {
    String s = normalize(latin1(text));
    int n = s.length();
    int[] bestId = new int[n + 1];
    int[] bestStart = new int[n + 1];
    float[] bestScore = new float[n + 1];
    java.util.Arrays.fill(bestStart, -1);
    float unkScore = minScore - UNK_PENALTY;
    int start = 0;
    while (start < n) {
      float here = bestScore[start];
      int charLen = Math.min(oneCharLen(s.charAt(start)), n - start);
      boolean hasSingle = false;
      for (int end = start + 1; end <= Math.min(n, start + maxPieceBytes); end++) {
        Integer id = pieceIds.get(s.substring(start, end));
        if (id == null || types.get(id) == UNUSED) continue;
        float candidate = scores.get(id) + here;
        if (bestStart[end] == -1 || candidate > bestScore[end]) {
          bestScore[end] = candidate;
          bestStart[end] = start;
          bestId[end] = id;
        }
        if (end - start == charLen) hasSingle = true;
      }
      if (!hasSingle) {
        int end = start + charLen;
        float candidate = unkScore + here;
        if (bestStart[end] == -1 || candidate > bestScore[end]) {
          bestScore[end] = candidate;
          bestStart[end] = start;
          bestId[end] = unkId;
        }
      }
      start += charLen;
    }
    List<Integer> reversed = new ArrayList<>();
    for (int end = n; end > 0; end = bestStart[end]) {
      boolean runOfUnknowns = bestId[end] == unkId && !reversed.isEmpty() && reversed.get(reversed.size() - 1) == unkId;
      if (!runOfUnknowns) reversed.add(bestId[end]);  // sentencepiece emits one <unk> per run
    }
    int[] ids = new int[reversed.size()];
    for (int i = 0; i < ids.length; i++) ids[i] = reversed.get(ids.length - 1 - i);
    return ids;
  }

  /** sentencepiece's Normalizer::Normalize on UTF-8 bytes (as latin1 chars). */
  String normalize(String input) {
    StringBuilder out = new StringBuilder();
    int pos = 0;
    if (removeExtraWhitespaces) {
      while (pos < input.length()) {
        String[] p = normalizePrefix(input, pos);
        if (!p[0].equals(" ")) break;
        pos += p[1].length();
      }
    }
    if (pos >= input.length()) return "";
    if (addDummyPrefix) out.append(escapeWhitespaces ? SPACE_BYTES : " ");
    boolean prevSpace = removeExtraWhitespaces;
    while (pos < input.length()) {
      String[] p = normalizePrefix(input, pos);
      String piece = p[0];
      int skip = 0;
      while (prevSpace && skip < piece.length() && piece.charAt(skip) == ' ') skip++;
      piece = piece.substring(skip);
      if (!piece.isEmpty()) {
        for (int i = 0; i < piece.length(); i++) {
          char c = piece.charAt(i);
          if (escapeWhitespaces && c == ' ') out.append(SPACE_BYTES);
          else out.append(c);
        }
        prevSpace = piece.endsWith(" ");
      }
      pos += p[1].length();
      if (!removeExtraWhitespaces) prevSpace = false;
    }
    if (removeExtraWhitespaces) {
      String space = escapeWhitespaces ? SPACE_BYTES : " ";
      while (out.length() >= space.length() && out.substring(out.length() - space.length()).equals(space)) {
        out.setLength(out.length() - space.length());
      }
    }
    return out.toString();
  }

  /** -> {replacement, consumed input} for the longest charsmap rule at pos, else one UTF-8 character. */
  private String[] normalizePrefix(String s, int pos) {
    if (charsmapTrie != null) {
      int[] match = longestCharsmapMatch(s, pos);
      if (match != null) {
        int end = match[1];
        while (end < charsmapStrings.length && charsmapStrings[end] != 0) end++;
        String replacement = new String(charsmapStrings, match[1], end - match[1], StandardCharsets.ISO_8859_1);
        return new String[] {replacement, s.substring(pos, pos + match[0])};
      }
    }
    int len = validCharLen(s, pos);
    if (len == 0) return new String[] {REPLACEMENT, s.substring(pos, pos + 1)};
    return new String[] {s.substring(pos, pos + len), s.substring(pos, pos + len)};
  }

  /** darts-clone commonPrefixSearch, keeping the longest hit: -> {length, value} or null. */
  private int[] longestCharsmapMatch(String s, int pos) {
    int[] a = charsmapTrie;
    int node = 0;
    int unit = a[node];
    node ^= offset(unit);
    int[] best = null;
    for (int i = pos; i < s.length(); i++) {
      int c = s.charAt(i) & 0xff;
      node ^= c;
      if (node < 0 || node >= a.length) return best;
      unit = a[node];
      if ((unit & ((1 << 31) | 0xff)) != c) return best;
      node ^= offset(unit);
      if (((unit >>> 8) & 1) == 1) best = new int[] {i + 1 - pos, a[node] & 0x7fffffff};
    }
    return best;
  }

  private static int offset(int unit) {
    return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
  }

  private static int oneCharLen(char leadByte) {
    int[] lengths = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lengths[(leadByte & 0xff) >> 4];
  }

  /** Length of the valid UTF-8 sequence at pos, or 0 when it is malformed. */
  private static int validCharLen(String s, int pos) {
    int b0 = s.charAt(pos) & 0xff;
    int len = b0 < 0x80 ? 1 : b0 >= 0xc2 && b0 < 0xe0 ? 2 : b0 >= 0xe0 && b0 < 0xf0 ? 3 : b0 >= 0xf0 && b0 < 0xf5 ? 4 : 0;
    if (len == 0 || pos + len > s.length()) return 0;
    for (int i = 1; i < len; i++) if ((s.charAt(pos + i) & 0xc0) != 0x80) return 0;
    return len;
  }

  private static String latin1(String text) {
    return new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
  }

  /** Just enough protobuf wire-format reading for ModelProto. */
  private static final class Proto {
    private final byte[] b;
    private int pos;
    private final int end;
    private int wireType;

    Proto(byte[] b, int start, int end) {
      this.b = b;
      this.pos = start;
      this.end = end;
    }

    boolean more() {
      return pos < end;
    }

    int tag() {
      long key = varint();
      wireType = (int) (key & 7);
      return (int) (key >>> 3);
    }

    long varint() {
      long v = 0;
      for (int shift = 0; ; shift += 7) {
        if (pos >= end || shift > 63) throw new IllegalArgumentException("corrupt SentencePiece model (varint)");
        int x = b[pos++] & 0xff;
        v |= (long) (x & 0x7f) << shift;
        if (x < 0x80) return v;
      }
    }

    float float32() {
      if (wireType != 5 || pos + 4 > end) throw new IllegalArgumentException("corrupt SentencePiece model (float)");
      int bits = (b[pos] & 0xff) | (b[pos + 1] & 0xff) << 8 | (b[pos + 2] & 0xff) << 16 | (b[pos + 3] & 0xff) << 24;
      pos += 4;
      return Float.intBitsToFloat(bits);
    }

    byte[] bytes() {
      int len = (int) varint();
      if (len < 0 || pos + len > end) throw new IllegalArgumentException("corrupt SentencePiece model (length)");
      byte[] out = java.util.Arrays.copyOfRange(b, pos, pos + len);
      pos += len;
      return out;
    }

    String bytesAsLatin1() {
      return new String(bytes(), StandardCharsets.ISO_8859_1);
    }

    Proto message() {
      int len = (int) varint();
      if (len < 0 || pos + len > end) throw new IllegalArgumentException("corrupt SentencePiece model (message)");
      Proto sub = new Proto(b, pos, pos + len);
      pos += len;
      return sub;
    }

    void skip() {
      switch (wireType) {
        case 0: varint(); break;
        case 1: pos += 8; break;
        case 2: {
          int len = (int) varint();  // read first: `pos += varint()` would add to the old pos
          pos += len;
          break;
        }
        case 5: pos += 4; break;
        default: throw new IllegalArgumentException("corrupt SentencePiece model (wire type " + wireType + ")");
      }
      if (pos > end) throw new IllegalArgumentException("corrupt SentencePiece model (truncated)");
    }
  }
}
