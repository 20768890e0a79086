"""Atomic writes: outputs appear whole or not at all, and are never clobbered silently.

- ``--force`` replaces only a regular file, or a folder that is recognisably arc-edge's own (a
  bundle, a model directory, a training run, a latent cache, an embedder); never a symlink, a
  device node or an arbitrary folder.
- Temporary files and folders are named after the process that made them
  (``.NAME.arc-tmp.PID.XXXX``); one left by a killed process is removed by the next write of the
  same output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InputError

TMP_TAG = "arc-tmp"
# what makes a folder recognisably ours, per kind of output (any one marker file suffices)
OWNED_FOLDERS = {
    "bundle": ("manifest.json",),
    "model": ("model_config.json",),
    "run": ("checkpoint.pt", "recipe.json", "metrics.csv", "vae/recipe.json", "latents/latents.safetensors"),
    "latents": ("latents.safetensors",),
    "embedder": ("embedder_config.json",),
}


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot inspect {path} ({exc.strerror}); choose another path") from None


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"output folder {parent} is not writable; choose another path")


def check_writable_target(path: Path, force: bool) -> None:
    """Fail early (before any heavy work) if the file ``path`` cannot or should not be written."""
    path = Path(path)
    st = _lstat(path)
    if st is not None:
        if not force:
            raise InputError(f"{path} already exists; pass --force to overwrite it")
        if not stat.S_ISREG(st.st_mode):
            kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode) \
                else "not a regular file"
            raise InputError(f"{path} is {kind}; --force only replaces regular files, so choose another path")
    _check_parent(path)


def is_owned_folder(path: Path, kind: str) -> bool:
    return not any(Path(path).iterdir()) or any((Path(path) / m).is_file() for m in OWNED_FOLDERS[kind])


def refuse_current_folder(path: Path, kind: str) -> None:
    """An output folder that is the working folder or one above it (``--out ''``, ``.``, ``..``) would be
    replaced whole, with everything in it; refused whatever --force says."""
    try:
        here, target = Path.cwd().resolve(), Path(path).resolve()
    except OSError:
        return
    if target == here or target in here.parents:
        raise InputError(f"{path} is the current folder or one above it, and the {kind} replaces "
                         f"its output folder whole; name a new folder, e.g. --out my_{kind}")


def check_writable_dir_target(path: Path, force: bool, kind: str) -> None:
    """Like ``check_writable_target`` for an output folder of ``kind`` (see ``OWNED_FOLDERS``)."""
    path = Path(path)
    refuse_current_folder(path, kind)
    st = _lstat(path)
    if st is not None:
        if not force:
            raise InputError(f"{path} already exists; pass --force to replace it")
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path} is not a folder; --force replaces only an earlier {kind}, so choose another path")
        if not is_owned_folder(path, kind):
            raise InputError(f"{path} does not look like an arc-edge {kind}; --force will not delete it, "
                             "so remove it yourself or choose another path")
    _check_parent(path)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_stale(path: Path) -> None:
    """Remove temporaries of ``path`` left by processes that no longer exist (kill -9, power loss)."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{TMP_TAG}\.(\d+)\.")
    try:
        siblings = list(path.parent.iterdir()) if str(path.parent) else list(Path(".").iterdir())
    except OSError:
        return
    for item in siblings:
        found = pattern.match(item.name)
        if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    item.unlink()


# A Ctrl-C can land inside a finaliser or a library's catch-all, which swallows the KeyboardInterrupt;
# the CLI's SIGINT handler also records it here, so no atomic write commits after it.
_interrupt_seen = False


def record_interrupt() -> None:
    global _interrupt_seen
    _interrupt_seen = True


def clear_interrupt() -> None:
    global _interrupt_seen
    _interrupt_seen = False


def interrupt_seen() -> bool:
    return _interrupt_seen


def _commit_allowed() -> None:
    if _interrupt_seen:
        raise KeyboardInterrupt


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.{TMP_TAG}.{os.getpid()}."


@contextlib.contextmanager
def atomic_file(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    reclaim_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=suffix or path.suffix, dir=path.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes it private; the result is an ordinary file
            os.chmod(tmp_path, 0o666 & ~_umask())
        _commit_allowed()
        os.replace(tmp_path, path)
    except OSError as exc:
        raise InputError(f"cannot write {path} ({exc.strerror or exc}); check the disk space and permissions") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path, force: bool = False, kind: str = "bundle") -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    check_writable_dir_target(path, force, kind)
    reclaim_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
        for item in tmp.rglob("*"):  # some writers (safetensors) create private files too
            if item.is_file():
                os.chmod(item, 0o666 & ~_umask())
        _commit_allowed()
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write {path} ({exc.strerror or exc}); check the disk space and permissions") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    with atomic_file(Path(path)) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
