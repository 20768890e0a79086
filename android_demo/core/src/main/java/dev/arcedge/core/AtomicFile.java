package dev.arcedge.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;

/** Whole-file writes that never leave a half-written file behind. */
public final class AtomicFile {
  private AtomicFile() {}

  /** Writes {@code bytes} to a temporary file beside {@code target}, syncs, then renames it into place. */
  public static void write(File target, byte[] bytes) throws IOException {
    File tmp = new File(target.getAbsoluteFile().getParentFile(), "." + target.getName() + ".part");
    try (FileOutputStream out = new FileOutputStream(tmp)) {
      out.write(bytes);
      out.getFD().sync();
    } catch (IOException ex) {
      tmp.delete();
      throw ex;
    }
    if (!tmp.renameTo(target)) {
      tmp.delete();
      throw new IOException("cannot move the finished file to " + target);
    }
  }
}
