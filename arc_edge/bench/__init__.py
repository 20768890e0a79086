"""Benchmark harness: the native runner on local/qemu/adb devices, and Python backends side by side."""
