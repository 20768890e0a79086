"""What machine a benchmark ran on: timings from different CPUs must not be compared as one."""

from __future__ import annotations

import os
import platform
from pathlib import Path

_NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm", "sve", "sme")


def machine() -> dict:
    """CPU model, usable cores and the SIMD features that decide XNNPACK's int8 and fp32 kernels."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model name") and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": cores, "arch": platform.machine(),
            "simd": [f for f in _NOTABLE_FLAGS if f in flags]}
