package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import org.json.JSONObject;
import org.junit.Test;

public class SentencePieceTest {
  /** Every golden prompt: pieces as sentencepiece encodes them, then the T5 ids, mask and truncation flag. */
  private static void checkAgainstPython(String model, String tokens) throws Exception {
    SentencePiece sp = SentencePiece.load(Golden.file(model));
    PromptTokenizer tok = new PromptTokenizer(sp, 32, 0, 1);
    int n = 0;
    for (String line : Golden.lines(tokens)) {
      JSONObject g = new JSONObject(line);
      String text = g.getString("text");
      long[] pieces = Golden.longs(g.getJSONArray("pieces"));
      int[] got = sp.encode(text);
      long[] gotLong = new long[got.length];
      for (int i = 0; i < got.length; i++) gotLong[i] = got[i];
      assertArrayEquals("pieces of [" + text + "]", pieces, gotLong);
      PromptTokenizer.Tokens t = tok.encode(text);
      assertArrayEquals("ids of [" + text + "]", Golden.longs(g.getJSONArray("ids")), t.ids);
      assertArrayEquals("mask of [" + text + "]", Golden.longs(g.getJSONArray("mask")), t.mask);
      assertEquals("truncation of [" + text + "]", g.getBoolean("truncated"), t.truncated);
      n++;
    }
    assertTrue("expected thousands of golden prompts, got " + n, n > 3000);
  }

  @Test
  public void matchesPythonOnTheBundledTokenizer() throws Exception {
    checkAgainstPython("tiny.model", "tokens_tiny.jsonl");
  }

  @Test
  public void matchesPythonWithTheNfkcCharsmap() throws Exception {
    checkAgainstPython("nfkc.model", "tokens_nfkc.jsonl");
  }

  @Test
  public void refusesByteFallbackModels() {
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
        () -> SentencePiece.load(Golden.file("byte_fallback.model")));
    assertTrue(ex.getMessage(), ex.getMessage().contains("not supported"));
  }

  @Test
  public void refusesSomethingThatIsNotAModel() throws Exception {
    File f = File.createTempFile("notamodel", ".model");
    f.deleteOnExit();
    java.nio.file.Files.write(f.toPath(), "hello, I am text".getBytes("UTF-8"));
    assertThrows(IllegalArgumentException.class, () -> SentencePiece.load(f));
  }

  @Test
  public void blankPromptsAreRefusedLikeTheCli() throws Exception {
    PromptTokenizer tok = new PromptTokenizer(SentencePiece.load(Golden.file("tiny.model")), 32, 0, 1);
    for (String blank : new String[] {"", " ", "\t\n", "\u00a0", "\u3000 "}) {
      IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> tok.encode(blank));
      assertTrue(ex.getMessage().contains("prompt is empty"));
    }
  }
}
