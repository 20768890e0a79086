package dev.arcedge.demo;

import android.content.ContentResolver;
import android.content.Context;
import android.database.Cursor;
import android.net.Uri;
import android.provider.DocumentsContract;
import dev.arcedge.core.BundleException;
import dev.arcedge.core.Manifest;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Where bundles live: the folder `adb push` targets (app-specific external storage, no permission
 * needed), or a copy of a folder picked with the system file picker. ExecuTorch loads graphs from
 * file paths, so a picked folder is copied into app storage first (atomically: temp dir, rename).
 */
final class BundleStore {
  private BundleStore() {}

  /** adb push BUNDLE /sdcard/Android/data/dev.arcedge.demo/files/bundle */
  static File pushedBundle(Context context) {
    return new File(context.getExternalFilesDir(null), "bundle");
  }

  static File pickedBundle(Context context) {
    return new File(context.getFilesDir(), "picked_bundle");
  }

  /** The bundle to use: a picked one if present, else the pushed one; verified (manifest + sha256). */
  static Manifest open(Context context) throws BundleException {
    File picked = pickedBundle(context);
    File dir = new File(picked, Manifest.FILE_NAME).isFile() ? picked : pushedBundle(context);
    return Manifest.load(dir, true);
  }

  /** Copies the files of a picked folder (a document tree) into app storage and verifies them. */
  static Manifest importTree(Context context, Uri tree) throws BundleException {
    File target = pickedBundle(context);
    File tmp = new File(context.getFilesDir(), "picked_bundle.part");
    deleteRecursively(tmp);
    if (!tmp.mkdirs()) throw new BundleException("cannot create " + tmp);
    ContentResolver resolver = context.getContentResolver();
    Uri children = DocumentsContract.buildChildDocumentsUriUsingTree(tree, DocumentsContract.getTreeDocumentId(tree));
    String[] columns = {DocumentsContract.Document.COLUMN_DOCUMENT_ID, DocumentsContract.Document.COLUMN_DISPLAY_NAME,
        DocumentsContract.Document.COLUMN_MIME_TYPE};
    try (Cursor c = resolver.query(children, columns, null, null, null)) {
      while (c != null && c.moveToNext()) {
        String name = c.getString(1);
        if (DocumentsContract.Document.MIME_TYPE_DIR.equals(c.getString(2)) || name.contains("/")) continue;
        Uri doc = DocumentsContract.buildDocumentUriUsingTree(tree, c.getString(0));
        try (InputStream in = resolver.openInputStream(doc); OutputStream out = new FileOutputStream(new File(tmp, name))) {
          byte[] buf = new byte[1 << 16];
          for (int n; (n = in.read(buf)) > 0; ) out.write(buf, 0, n);
        }
      }
    } catch (IOException | RuntimeException ex) {
      deleteRecursively(tmp);
      throw new BundleException("cannot copy the chosen folder (" + ex.getMessage() + ")");
    }
    try {
      Manifest.load(tmp, true);  // refuse a broken bundle before it replaces a good one
    } catch (BundleException ex) {
      deleteRecursively(tmp);
      throw ex;
    }
    deleteRecursively(target);
    if (!tmp.renameTo(target)) throw new BundleException("cannot move the copied bundle into place");
    return Manifest.load(target, false);
  }

  static void deleteRecursively(File f) {
    File[] children = f.listFiles();
    if (children != null) for (File c : children) deleteRecursively(c);
    f.delete();
  }
}
