package dev.arcedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertFalse;

import java.io.File;
import java.nio.file.Files;
import org.json.JSONObject;
import org.junit.Test;

public class WavTest {
  @Test
  public void bytesMatchPythonsWriter() throws Exception {
    JSONObject g = Golden.json("wav.json");
    byte[] got = Wav.encodePcm16(Golden.floats(g.getJSONArray("interleaved")), g.getInt("channels"), g.getInt("sample_rate"));
    assertArrayEquals(Files.readAllBytes(Golden.file("golden.wav").toPath()), got);
  }

  @Test
  public void atomicWriteLeavesNoPartFile() throws Exception {
    File dir = Files.createTempDirectory("wav").toFile();
    File target = new File(dir, "out.wav");
    byte[] bytes = Wav.encodePcm16(new float[] {0f, 0.5f}, 2, 44100);
    AtomicFile.write(target, bytes);
    assertArrayEquals(bytes, Files.readAllBytes(target.toPath()));
    assertFalse(new File(dir, ".out.wav.part").exists());
  }
}
