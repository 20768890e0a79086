package dev.arcedge.demo;

import android.app.ActivityManager;
import android.content.Context;
import android.os.Debug;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** The platform's own memory figures (next to VmHWM, which arc_runner reports too). */
final class PlatformMemory {
  private PlatformMemory() {}

  static Map<String, Object> figures(Context context) {
    Map<String, Object> out = new LinkedHashMap<>();
    Debug.MemoryInfo mine = new Debug.MemoryInfo();
    Debug.getMemoryInfo(mine);
    out.put("total_pss_mb", mine.getTotalPss() / 1024.0);
    out.put("native_heap_allocated_mb", Debug.getNativeHeapAllocatedSize() / (1024.0 * 1024.0));
    ActivityManager am = (ActivityManager) context.getSystemService(Context.ACTIVITY_SERVICE);
    ActivityManager.MemoryInfo device = new ActivityManager.MemoryInfo();
    am.getMemoryInfo(device);
    out.put("device_available_mb", device.availMem / (1024.0 * 1024.0));
    out.put("device_total_mb", device.totalMem / (1024.0 * 1024.0));
    out.put("device_low_memory", device.lowMemory);
    return out;
  }

  static String describe(Context context) {
    Map<String, Object> f = figures(context);
    return String.format(Locale.ROOT, "PSS %.0f MB, native heap %.0f MB; phone: %.0f of %.0f MB available",
        f.get("total_pss_mb"), f.get("native_heap_allocated_mb"), f.get("device_available_mb"), f.get("device_total_mb"));
  }
}
