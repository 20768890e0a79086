"""Bundles: a folder of graph files + tokenizer + ``manifest.json``, and a Runtime that runs one.

The manifest is the contract with every runner (Python here, the C++ runner, the Android app):
graph files with their input/output names, order, shapes and dtypes, the sampler schedule,
the tokenizer, sha256 of every file and the parity measured at export.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ..config import ModelConfig, parse_config
from ..errors import ArcEdgeError
from ..tokenizer import PromptTokenizer
from .backends import BACKENDS, RunFn

FORMAT = "arc-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class BundleError(ArcEdgeError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(bundle_dir: Path, verify_hashes: bool = True) -> dict[str, Any]:
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle_dir} is not a bundle (no {MANIFEST}); create one with `arc-edge export`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise BundleError(f"{path} is not valid JSON; re-export the bundle") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not an arc-edge bundle manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"bundle format version {manifest.get('format_version')} is not supported "
                          f"(this arc-edge reads {FORMAT_VERSION}); re-export the bundle")
    if verify_hashes:
        for name, digest in manifest["files"].items():
            f = bundle_dir / name
            if not f.is_file():
                raise BundleError(f"bundle file {name} is missing from {bundle_dir}; re-export the bundle")
            if sha256_file(f) != digest:
                raise BundleError(f"bundle file {name} fails its sha256 check (corrupt or modified); re-export it")
    return manifest


class BundleRuntime:
    """Runs a bundle's graphs; implements the ``generate.Runtime`` protocol."""

    def __init__(self, bundle_dir: Path, threads: int | None = None):
        self.dir = Path(bundle_dir)
        self.manifest = read_manifest(self.dir)
        self.cfg: ModelConfig = parse_config(self.manifest["model_config"], f"{self.dir / MANIFEST}")
        tok = self.manifest["tokenizer"]
        self.tokenizer = PromptTokenizer(self.dir / tok["file"], int(tok["max_length"]))
        backend = BACKENDS[self.manifest["backend"]]
        self.graphs: dict[str, RunFn] = {name: backend.load(self.dir / g["file"], threads)
                                         for name, g in self.manifest["graphs"].items()}

    def _run(self, name: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
        if name not in self.graphs:
            raise BundleError(f"this bundle has no '{name}' graph; re-export with --with-encoder")
        return self.graphs[name](list(inputs))

    def condition(self, input_ids, attention_mask, seconds):
        cross, glob = self._run("conditioners", input_ids, attention_mask, seconds.float())
        return cross, glob

    def velocity(self, x, t, cross_attn_cond, global_cond):
        return self._run("dit", x.float(), t.float().reshape(1), cross_attn_cond, global_cond)[0]

    def decode(self, latents):
        return self._run("decoder", latents.float())[0]

    def encode(self, audio):
        return self._run("encoder", audio.float())[0]
