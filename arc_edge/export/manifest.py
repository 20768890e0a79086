"""The bundle manifest: the one contract between the exporter and every runner (Python, the C++
runner, the Android app's Java core), written here and read, fully validated, here.

A bundle is untrusted input. Reading one checks, before anything is loaded:
- every field has the expected type and a sane value (one-line ``BundleError`` otherwise);
- every file the manifest names is a plain file name (no separators, ``..``, absolute paths),
  listed in ``files`` with its sha256, and a regular file (not a symlink) directly in the bundle;
- every listed file's sha256 (unless the caller already checked them);
- optionally, the sha256 of ``manifest.json`` itself against a digest the user pinned (the
  exporter prints it), which covers everything else through the per-file hashes.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..decoding import MAX_DC_BLOCKER_HZ, MIN_SECONDS, DecodePlan, DecodeWindow
from ..errors import ArcEdgeError
from ..fileio import sha256_file
from ..schema import Fields, int_item, number_item, printable, read_text

FORMAT = "arc-edge-bundle"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
BACKENDS = ("executorch", "onnx")
DTYPES = ("float32", "int64")
MAX_SCHEDULE_STEPS = 32  # the manifest carries ping-pong schedules for 1..32 steps
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class BundleError(ArcEdgeError):
    pass


def check_file_name(name: Any, where: str) -> str:
    """A name a manifest may use for a file: plain, inside the bundle, no path tricks."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or name in (".", "..") or ".." in name:
        raise BundleError(f"{where}: {json.dumps(name)[:60]} is not a plain file name inside the bundle "
                          "(no folders, '..', absolute paths or odd characters); re-export the bundle")
    return name


def manifest_digest(bundle_dir: Path) -> str:
    return sha256_file(Path(bundle_dir) / MANIFEST)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GraphInfo:
    file: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    quantization: dict


@dataclass(frozen=True)
class Manifest:
    dir: Path
    raw: dict
    digest: str
    backend: str
    recipe: str
    sample_rate: int
    audio_channels: int
    latent_shape: tuple[int, int, int]
    default_seconds: float
    max_seconds: float
    tokenizer_file: str
    max_length: int
    pad_id: int
    eos_id: int
    default_steps: int
    schedules: dict[int, tuple[float, ...]]
    graphs: dict[str, GraphInfo]
    decode: DecodePlan
    files: dict[str, str]
    selftest_file: str | None
    source_model: str | None = None  # the model the graphs came from and its runs, one printable line

    def path(self, name: str) -> Path:
        return self.dir / name

    def graph(self, name: str) -> GraphInfo:
        if name not in self.graphs:
            hint = "; re-export with --with-encoder" if name == "encoder" else "; re-export the bundle"
            raise BundleError(f"this bundle has no '{name}' graph{hint}")
        return self.graphs[name]


def _tensor(where: str):
    def read(value: Any, name: str) -> TensorInfo:
        f = Fields(value, where, name, BundleError)
        shape = tuple(f.items("shape", int_item(where, 1, BundleError), min_len=1))
        if len(shape) > 8 or _numel(shape) > 1 << 31:
            raise BundleError(f"{where}: {name}.shape {list(shape)} is too large")
        return TensorInfo(f.string("name"), shape, f.string("dtype", choices=DTYPES))
    return read


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _schedule(where: str, steps: int):
    def read(value: Any, name: str) -> tuple[float, ...]:
        values = [number_item(where, BundleError)(v, f"{name}[{i}]") for i, v in enumerate(value)] \
            if isinstance(value, list) else None
        ok = values is not None and len(values) == steps + 1 and all(0.0 <= v <= 1.0 for v in values) and \
            all(a >= b for a, b in zip(values, values[1:], strict=False))
        if not ok:
            raise BundleError(f"{where}: {name} must be {steps + 1} decreasing values in [0, 1]")
        return tuple(values)
    return read


def _decode_plan(f: Fields, frames: int) -> DecodePlan:
    window = f.integer("window", low=1, high=frames)
    windows = []
    for i, item in enumerate(f.items("windows", lambda v, n: v, min_len=1)):
        name = f"{f.path}.windows[{i}]"
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in item)):
            raise BundleError(f"{f.where}: {name} must be [start, keep_begin, keep_end]")
        w = DecodeWindow(*item)
        prev_end = windows[-1].keep_end if windows else 0
        if not (0 <= w.start <= w.keep_begin < w.keep_end <= w.start + window <= frames and w.keep_begin == prev_end):
            raise BundleError(f"{f.where}: {name} {item} does not tile the latent in order; re-export the bundle")
        windows.append(w)
    if windows[-1].keep_end != frames:
        raise BundleError(f"{f.where}: the decode windows stop at frame {windows[-1].keep_end} of {frames}")
    # absent in bundles exported before the blocker existed: those decode with none
    return DecodePlan(window, tuple(windows), f.number("dc_blocker_hz", 0.0, low=0.0, high=MAX_DC_BLOCKER_HZ))


SOURCE_CHARS = 800  # a bundle's source line is shown in messages and reports: a longer one is cut


def _source_model(f: Fields) -> str:
    """``source_model`` as one printable line: "MODEL (trained: RUNS)"."""
    line = f.string("model") + (f" (trained: {f.string('trained')})" if f.has("trained") else "")
    line = printable(line)
    return line if len(line) <= SOURCE_CHARS else line[:SOURCE_CHARS] + "..."


def parse_manifest(raw: Any, bundle_dir: Path, digest: str) -> Manifest:
    where = str(Path(bundle_dir) / MANIFEST)
    top = Fields(raw, where, error=BundleError)
    if top.raw("format", None) != FORMAT:
        raise BundleError(f"{where} is not an arc-edge bundle manifest")
    version = top.raw("format_version", None)
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle format version {json.dumps(version)[:20]} is not supported "
                          f"(this arc-edge reads {FORMAT_VERSION}); re-export the bundle")
    files = {}
    for name, value in top.obj("files").data.items():
        check_file_name(name, where)
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
            raise BundleError(f"{where}: files.{name} must be a sha256 hex digest")
        files[name] = value
    if MANIFEST in files:
        raise BundleError(f"{where}: the manifest cannot list itself in files")

    def listed(name: Any, field_name: str) -> str:
        check_file_name(name, f"{where}: {field_name}")
        if name not in files:
            raise BundleError(f"{where}: {field_name} names {name}, which 'files' does not list with a sha256")
        return name

    latent = tuple(top.items("latent_shape", int_item(where, 1, BundleError), min_len=3))
    if len(latent) != 3 or latent[0] != 1:
        raise BundleError(f"{where}: latent_shape must be [1, channels, frames]")
    tok = top.obj("tokenizer")
    sampler = top.obj("sampler")
    sampler.string("type", choices=("pingpong",))
    steps = sampler.integer("steps", low=1, high=MAX_SCHEDULE_STEPS)
    schedules_f = sampler.obj("schedules")
    schedules = {}
    for key in schedules_f:
        if not key.isdigit() or not 1 <= int(key) <= MAX_SCHEDULE_STEPS:
            raise BundleError(f"{where}: sampler.schedules keys must be step counts 1..{MAX_SCHEDULE_STEPS}")
        schedules[int(key)] = _schedule(where, int(key))(schedules_f.raw(key), f"sampler.schedules.{key}")
    if steps not in schedules:
        raise BundleError(f"{where}: sampler.schedules lacks the default {steps} steps")
    graphs = {}
    decode = None
    for name, g in top.obj("graphs").each():
        if not re.fullmatch(r"[a-z_]{1,32}", name):
            raise BundleError(f"{where}: graph name {json.dumps(name)[:40]} is not a plain name")
        graphs[name] = GraphInfo(listed(g.raw("file"), f"graphs.{name}.file"),
                                 tuple(g.items("inputs", _tensor(where), min_len=1)),
                                 tuple(g.items("outputs", _tensor(where), min_len=1)),
                                 g.obj("quantization", {}).data)
        if name == "decoder":
            decode = _decode_plan(g.obj("decode"), latent[2])
    for needed in ("conditioners", "dit", "decoder"):
        if needed not in graphs:
            raise BundleError(f"{where}: the bundle has no '{needed}' graph; re-export it")
    selftest = top.obj("selftest") if top.has("selftest") else None
    if selftest is not None:
        for name, g in selftest.obj("graphs").each():
            if name not in graphs:
                raise BundleError(f"{where}: selftest.graphs names '{name}', which is not a graph of this bundle")
            g.integer("cases", low=1, high=16)
            g.number("min_snr_db", low=-300.0, high=300.0)
    sample_rate = top.integer("sample_rate", low=1000, high=384000)
    max_seconds = top.obj("model_config").integer("sample_size", low=latent[2], high=1 << 26) / sample_rate
    default_seconds = top.number("default_seconds", low=MIN_SECONDS)
    if default_seconds > max_seconds + 1e-9:
        raise BundleError(f"{where}: default_seconds {default_seconds:g} is longer than the model's {max_seconds:.2f} s; "
                          f"re-export the bundle with --seconds of at most {max_seconds:.2f}")
    manifest = Manifest(
        dir=Path(bundle_dir), raw=raw, digest=digest, backend=top.string("backend", choices=BACKENDS),
        recipe=top.obj("recipe").string("name"), sample_rate=sample_rate,
        audio_channels=top.integer("audio_channels", low=1, high=64), latent_shape=latent,  # type: ignore[arg-type]
        default_seconds=default_seconds, max_seconds=max_seconds,
        tokenizer_file=listed(tok.raw("file"), "tokenizer.file"), max_length=tok.integer("max_length", low=2, high=4096),
        pad_id=tok.integer("pad_id", low=0), eos_id=tok.integer("eos_id", low=0), default_steps=steps,
        schedules=schedules, graphs=graphs, decode=decode, files=files,
        selftest_file=listed(selftest.raw("file"), "selftest.file") if selftest is not None else None,
        source_model=_source_model(top.obj("source_model")) if top.has("source_model") else None,
    )
    return manifest


def check_bundle_files(bundle_dir: Path, files: dict[str, str], verify_hashes: bool = True) -> None:
    """Every listed file is a regular file directly in the bundle (a symlink is refused), with its sha256."""
    for name, digest in files.items():
        path = Path(bundle_dir) / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise BundleError(f"bundle file {name} is missing from {bundle_dir}; re-export the bundle") from None
        except OSError as exc:
            raise BundleError(f"cannot read bundle file {path} ({exc.strerror})") from None
        if not stat.S_ISREG(st.st_mode):
            kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise BundleError(f"bundle file {name} is {kind}; a bundle holds plain files only")
        if verify_hashes and sha256_file(path) != digest:
            raise BundleError(f"bundle file {name} fails its sha256 check (corrupt or modified); re-export it")


def read_manifest(bundle_dir: Path, verify_hashes: bool = True, expect_digest: str | None = None) -> Manifest:
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir} is not a folder; give a bundle made by `arc-edge export`")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise BundleError(f"{path} is not a regular file; a bundle holds plain files only")
    if not path.is_file():
        raise BundleError(f"{bundle_dir} is not a bundle (no {MANIFEST}); create one with `arc-edge export`")
    text = read_text(path, "bundle manifest", BundleError, max_bytes=16 << 20)
    digest = sha256_file(path)
    if expect_digest is not None and normalise_digest(expect_digest) != digest:
        raise BundleError(f"{path} has sha256 {digest[:16]}..., not the pinned {normalise_digest(expect_digest)[:16]}...; "
                          "this is not the bundle you pinned")
    try:
        raw = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (json.JSONDecodeError, ValueError, RecursionError):
        raise BundleError(f"{path} is not valid JSON; re-export the bundle") from None
    manifest = parse_manifest(raw, bundle_dir, digest)
    check_bundle_files(bundle_dir, manifest.files, verify_hashes)
    return manifest


def normalise_digest(text: str) -> str:
    value = text.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise BundleError(f"--bundle-digest {text[:80]!r} is not a sha256 digest (64 hex digits, optionally "
                          "prefixed 'sha256:'); copy it from `arc-edge export`'s output")
    return value


def write_manifest(bundle_dir: Path, data: dict) -> str:
    """Write manifest.json (everything but itself listed in ``files``); returns its sha256."""
    path = Path(bundle_dir) / MANIFEST
    path.write_text(json.dumps(data, indent=2) + "\n")
    return sha256_file(path)
