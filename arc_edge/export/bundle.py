"""A bundle as a runtime: its graphs run through their backend, with the manifest's tokenizer,
schedules and decode plan (``generate.Runtime``)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import ModelConfig, parse_config
from ..decoding import DecodePlan
from ..errors import ConfigError
from ..sampling import logsnr_schedule
from ..tokenizer import PromptTokenizer
from .backends import BACKENDS, RunFn
from .manifest import MANIFEST, BundleError, Manifest, read_manifest


class BundleRuntime:
    """Runs a bundle's graphs; implements the ``generate.Runtime`` protocol."""

    def __init__(self, bundle_dir: Path, threads: int | None = None, expect_digest: str | None = None):
        self.dir = Path(bundle_dir)
        self.manifest: Manifest = read_manifest(self.dir, expect_digest=expect_digest)
        m = self.manifest
        try:
            self.cfg: ModelConfig = parse_config(m.raw["model_config"], f"{self.dir / MANIFEST} model_config")
        except ConfigError as exc:
            raise BundleError(str(exc)) from None
        if list(m.latent_shape) != [1, self.cfg.latent_dim, self.cfg.latent_length]:
            raise BundleError(f"{self.dir / MANIFEST}: latent_shape does not match its model_config; re-export it")
        self.tokenizer = PromptTokenizer(m.path(m.tokenizer_file), m.max_length)
        backend = BACKENDS[m.backend]
        self.graphs: dict[str, RunFn] = {name: backend.load(m.path(g.file), threads) for name, g in m.graphs.items()}
        of = f" of {m.source_model}" if m.source_model else ""  # older bundles do not say
        self.description = f"bundle {self.dir} ({m.backend}, {m.recipe}){of}"

    def _run(self, name: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
        self.manifest.graph(name)
        return self.graphs[name](list(inputs))

    def condition(self, input_ids, attention_mask, seconds):
        cross, glob = self._run("conditioners", input_ids, attention_mask, seconds.float())
        return cross, glob

    def velocity(self, x, t, cross_attn_cond, global_cond):
        return self._run("dit", x.float(), t.float().reshape(1), cross_attn_cond, global_cond)[0]

    def decode(self, latents):
        return self._run("decoder", latents.float())[0]

    def decode_plan(self) -> DecodePlan:
        return self.manifest.decode

    def default_seconds(self) -> float:
        """The duration the bundle was exported for (``export --seconds``), as the native runner and app use."""
        return self.manifest.default_seconds

    def posterior(self, audio):
        mean, std = self._run("encoder", audio.float())
        return mean, std

    def schedule(self, steps: int, sigma_max: float = 1.0) -> torch.Tensor:
        """The manifest's schedule (what every runner reads); audio-to-audio starts are computed."""
        stored = self.manifest.schedules.get(steps)
        if sigma_max >= 1.0 and stored is not None:
            return torch.tensor(stored, dtype=torch.float32)
        return logsnr_schedule(steps, sigma_max)
