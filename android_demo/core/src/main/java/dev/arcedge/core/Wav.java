package dev.arcedge.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** 16-bit PCM WAV, byte-identical to arc_edge.audio_io.write_wav and arc_runner's writer. */
public final class Wav {
  private Wav() {}

  /**
   * interleaved float samples -> a complete WAV file image. A clip whose peak is over full scale is
   * divided by its peak rather than clipped (one gain keeps the sound; clipping flattens every peak).
   */
  public static byte[] encodePcm16(float[] interleaved, int channels, int sampleRate) {
    float peak = 0f;
    for (float s : interleaved) peak = Math.max(peak, Math.abs(s));
    boolean over = peak > 1.0f;
    int dataBytes = interleaved.length * 2;
    ByteBuffer b = ByteBuffer.allocate(44 + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {'R', 'I', 'F', 'F'}).putInt(36 + dataBytes).put(new byte[] {'W', 'A', 'V', 'E'});
    b.put(new byte[] {'f', 'm', 't', ' '}).putInt(16).putShort((short) 1).putShort((short) channels);
    b.putInt(sampleRate).putInt(sampleRate * channels * 2).putShort((short) (channels * 2)).putShort((short) 16);
    b.put(new byte[] {'d', 'a', 't', 'a'}).putInt(dataBytes);
    for (float s : interleaved) {
      float c = Math.max(-1.0f, Math.min(1.0f, over ? s / peak : s));
      b.putShort((short) Math.rint(c * 32767.0f));
    }
    return b.array();
  }
}
