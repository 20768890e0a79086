"""Building the native runner from the sources shipped in the package (``arc_edge.device_bench``,
the repository's device_bench/ folder) into a per-user cache folder, never into the install.

The cache key is a hash of the sources and the executorch version, so an upgrade rebuilds; the
build goes to a temporary folder renamed into place under a lock, so two processes never see a
half-built runner.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from ..errors import ArcEdgeError

SOURCE_PACKAGE = "arc_edge.device_bench"
TARGETS = ("host", "aarch64")


class BuildError(ArcEdgeError):
    pass


def cache_root() -> Path:
    """$ARC_EDGE_CACHE, else $XDG_CACHE_HOME/arc-edge, else ~/.cache/arc-edge."""
    if os.environ.get("ARC_EDGE_CACHE"):
        return Path(os.environ["ARC_EDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arc-edge"


@contextlib.contextmanager
def runner_sources() -> Iterator[Path]:
    with resources.as_file(resources.files(SOURCE_PACKAGE)) as path:
        yield Path(path)


def _source_hash(src: Path) -> str:
    h = hashlib.sha256(importlib.metadata.version("executorch").encode())
    for path in sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and not any(part.startswith("build-") for part in p.relative_to(src).parts)):
        h.update(str(path.relative_to(src)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def runner_dir(target: str, log: Callable[[str], None] = print) -> Path:
    """The built runner folder (``arc_runner`` + ``lib/``) for ``target``; builds it on first use."""
    if target not in TARGETS:
        raise BuildError(f"unknown runner target '{target}'; choose one of {', '.join(TARGETS)}")
    with runner_sources() as src:
        key = _source_hash(src)
        root = cache_root() / "runner"
        dist = root / f"{target}-{key}" / "dist"
        if (dist / "arc_runner").is_file():
            return dist
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BuildError(f"cannot create the runner cache {root} ({exc.strerror}); set ARC_EDGE_CACHE") from None
        with (root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same runner
            if not (dist / "arc_runner").is_file():
                log(f"building arc_runner for {target} into {dist.parent} (once) ...")
                _build(src, target, dist.parent)
    return dist


def _build(src: Path, target: str, final: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    # downloaded cross-build dependencies (aarch64 wheel, arm64 .debs) are kept across source changes
    env = {**os.environ, "ARC_DEPS_DIR": str(final.parent / f"deps-{target}"), "ARC_PYTHON": sys.executable}
    try:
        res = subprocess.run(["bash", str(src / "build.sh"), target, str(work)], capture_output=True, text=True,
                             check=False, env=env)
        if res.returncode != 0:
            failed_log = final.parent / f"{target}-build-failure.log"
            logs = [p.read_text(errors="replace") for p in (work / "configure.log", work / "build.log") if p.is_file()]
            failed_log.write_text(res.stdout + res.stderr + "\n".join(logs))
            tail = (res.stderr or res.stdout).strip().splitlines()[-2:]
            raise BuildError(f"building the {target} runner failed: {' / '.join(tail) or 'no output'} "
                             f"(full log: {failed_log}); see device_bench/README.md for the toolchain it needs")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
