"""``arc-edge export``: graphs -> files -> parity gate -> manifest, written atomically as one bundle."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import __version__
from ..errors import ArcEdgeError
from ..fileio import atomic_dir
from ..generate import GenerationRequest, generate
from ..models.pipeline import ArcPipeline
from ..sampling import draw_noise, pingpong_schedule
from .backends import BACKENDS
from .bundle import FORMAT, FORMAT_VERSION, MANIFEST, BundleRuntime, sha256_file
from .graphs import GraphDef, graph_defs
from .lowering import LoweringJob, lower_graphs
from .parity import compare, snr_db
from .recipes import ExportRecipe

PARITY_PROMPT = "a low sine wave panned left, pulsing slowly"
PARITY_SEED = 1234
DEFAULT_STEPS = 8


class ParityError(ArcEdgeError):
    pass


@dataclass
class ExportOptions:
    recipe: ExportRecipe
    backend: str = "executorch"
    seconds: float | None = None
    with_encoder: bool = False
    steps: int = DEFAULT_STEPS


@dataclass
class _Reference:
    """Eager fp32 tensors of one fixed generation: the inputs and outputs the gate compares."""

    ids: torch.Tensor
    mask: torch.Tensor
    seconds: torch.Tensor
    cond: tuple[torch.Tensor, torch.Tensor]
    dit_inputs: list[tuple[torch.Tensor, torch.Tensor]]
    latent: torch.Tensor
    audio: torch.Tensor


@torch.inference_mode()
def _reference(pipeline: ArcPipeline, seconds: float, steps: int) -> tuple[_Reference, list[torch.Tensor]]:
    cfg = pipeline.cfg
    tok = pipeline.tokenizer.encode(PARITY_PROMPT)
    ids, mask = torch.tensor([tok.ids]), torch.tensor([tok.mask])
    sec = torch.tensor([float(seconds)])
    cond = pipeline.condition(ids, mask, sec)
    noises = draw_noise((1, cfg.latent_dim, cfg.latent_length), steps, PARITY_SEED)
    ts = pingpong_schedule(steps)
    # DiT inputs at the first and a middle step (noise-only and partly denoised latents).
    mid = steps // 2
    x_mid = (1 - ts[mid]) * noises[-1] * 0.5 + ts[mid] * noises[mid]
    dit_inputs = [(noises[0], ts[:1].clone()), (x_mid, ts[mid:mid + 1].clone())]
    latent = noises[-1] * 0.8
    return _Reference(ids, mask, sec, cond, dit_inputs, latent, pipeline.decode(latent)), noises


def _graph_parity(name: str, run, ref: _Reference, pipeline: ArcPipeline) -> dict[str, float]:
    if name == "conditioners":
        return compare(list(ref.cond), run([ref.ids, ref.mask, ref.seconds]))
    if name == "dit":
        scores = [compare([pipeline.velocity(x, t, *ref.cond)], run([x, t, *ref.cond])) for x, t in ref.dit_inputs]
        return {"snr_db": min(s["snr_db"] for s in scores), "cosine": min(s["cosine"] for s in scores)}
    if name == "decoder":
        return compare([ref.audio], run([ref.latent]))
    return compare([pipeline.encode(ref.audio)], run([ref.audio]))


def _example_args(graph: GraphDef, ref: _Reference) -> tuple[torch.Tensor, ...]:
    if graph.name == "conditioners":
        return ref.ids, ref.mask, ref.seconds
    if graph.name == "dit":
        return (*ref.dit_inputs[0], *ref.cond)
    return (ref.latent,) if graph.name == "decoder" else (ref.audio,)


def export_bundle(pipeline: ArcPipeline, out_dir: Path, opts: ExportOptions, force: bool = False,
                  log: Callable[[str], None] = print) -> dict:
    """Export, gate and write a bundle; returns the manifest. Raises ParityError (nothing written) on failure."""
    cfg = pipeline.cfg
    seconds = opts.seconds if opts.seconds is not None else cfg.max_seconds
    backend = BACKENDS[opts.backend]
    pipeline = pipeline.eval()
    ref, noises = _reference(pipeline, seconds, opts.steps)
    graphs = graph_defs(pipeline, opts.with_encoder)
    manifest: dict = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "arc_edge_version": __version__,
        "backend": opts.backend, "recipe": {"name": opts.recipe.name, "description": opts.recipe.description},
        "model_config": cfg.raw, "sample_rate": cfg.sample_rate, "audio_channels": cfg.audio_channels,
        "latent_shape": [1, cfg.latent_dim, cfg.latent_length], "default_seconds": seconds,
        "tokenizer": {"file": "spiece.model", "max_length": cfg.prompt.max_length,
                      "pad_id": pipeline.tokenizer.pad_id, "eos_id": pipeline.tokenizer.eos_id},
        "sampler": {"type": "pingpong", "steps": opts.steps, "schedule": pingpong_schedule(opts.steps).tolist()},
        "graphs": {}, "parity": {}, "export_seconds": {},
    }
    with atomic_dir(Path(out_dir), force=force) as tmp:
        shutil.copyfile(pipeline.tokenizer.model_file, tmp / "spiece.model")
        jobs = [LoweringJob(g, opts.recipe.graphs[g.name], _example_args(g, ref), tmp / (g.name + backend.suffix))
                for g in graphs]
        manifest["export_seconds"] = lower_graphs(opts.backend, jobs, offload="dit", log=log)
        failures = []
        for job in jobs:
            graph, recipe = job.graph, job.recipe
            with torch.inference_mode():
                parity = _graph_parity(graph.name, backend.load(job.path), ref, pipeline)
            parity["min_snr_db"] = recipe.min_snr_db
            manifest["graphs"][graph.name] = {
                "file": job.path.name, "inputs": [s.to_json() for s in graph.inputs],
                "outputs": [s.to_json() for s in graph.outputs], "quantization": recipe.to_json(),
            }
            manifest["parity"][graph.name] = parity
            log(f"  parity {graph.name}: SNR {parity['snr_db']:.1f} dB (min {recipe.min_snr_db}), "
                f"cosine {parity['cosine']:.6f}")
            if parity["snr_db"] < recipe.min_snr_db:
                failures.append(f"{graph.name} {parity['snr_db']:.1f} dB < {recipe.min_snr_db} dB")
        manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        e2e = _end_to_end(pipeline, tmp, seconds, opts.steps, noises)
        e2e["min_snr_db"] = opts.recipe.end_to_end_min_snr_db
        manifest["parity"]["end_to_end"] = e2e
        log(f"  parity end-to-end ({opts.steps} steps): SNR {e2e['snr_db']:.1f} dB "
            f"(min {e2e['min_snr_db']}), cosine {e2e['cosine']:.6f}")
        if e2e["snr_db"] < e2e["min_snr_db"]:
            failures.append(f"end-to-end {e2e['snr_db']:.1f} dB < {e2e['min_snr_db']} dB")
        if failures:
            raise ParityError("parity gate failed (" + "; ".join(failures) + "); no bundle written. "
                              "Try a less aggressive recipe (e.g. --quant fp32) or retrain")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _end_to_end(pipeline: ArcPipeline, bundle_dir: Path, seconds: float, steps: int,
                noises: list[torch.Tensor]) -> dict[str, float]:
    req = GenerationRequest(PARITY_PROMPT, seconds, steps, PARITY_SEED)
    eager = generate(pipeline, pipeline.tokenizer, pipeline.cfg, req, noises=noises)
    runtime = BundleRuntime(bundle_dir)
    bundled = generate(runtime, runtime.tokenizer, runtime.cfg, req, noises=noises)
    a, b = torch.from_numpy(eager.audio), torch.from_numpy(bundled.audio)
    return {"snr_db": snr_db(a, b), "cosine": compare([a], [b])["cosine"]}
