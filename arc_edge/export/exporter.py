"""``arc-edge export``: graphs -> files -> parity gate -> manifest, written atomically as one bundle."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .. import __version__
from ..checkpoint import ModelSource
from ..decoding import DecodePlan, plan_windows, whole_clip
from ..errors import ArcEdgeError, InputError
from ..fileio import atomic_dir, sha256_file
from ..generate import generate
from ..models.pipeline import ArcPipeline
from ..sampling import logsnr_schedule
from .backends import BACKENDS, LoweringJob, check_recipe
from .bundle import BundleRuntime
from .graphs import REQUIRED_GRAPHS, GraphDef, ReferenceRun, graph_defs, reference_run
from .lowering import lower_graphs
from .manifest import FORMAT, FORMAT_VERSION, MAX_SCHEDULE_STEPS, write_manifest
from .parity import compare
from .recipes import ExportRecipe
from .selftest import write_selftest

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
    decode_window: int | str = "auto"  # latent frames per decoder call, "whole" (the clip) or "auto"
    decode_overlap: int | None = None  # None: twice the decoder's receptive field


def receptive_field_frames(pipeline: ArcPipeline) -> int:
    """One-sided receptive field of the Oobleck decoder in latent frames, from its architecture:
    the k7 input conv, then per block a transposed conv (two input samples per output) and three
    k7 residual convs with dilations 1, 3, 9 at the block's output rate, then the final k7 conv."""
    cfg = pipeline.cfg.decoder
    frames, rate = 3.0, 1
    for stride in reversed(cfg.strides):
        frames += 1.0 / rate
        rate *= stride
        frames += 3 * (1 + 3 + 9) / rate
    frames += 3.0 / rate
    return int(frames) + 1


AUTO_MAX_WINDOW = 128  # latent frames (~6 s at SAOS's rate): clips up to this decode whole


def decode_plan(pipeline: ArcPipeline, opts: ExportOptions) -> DecodePlan:
    """The decoder's windows (and the model's DC blocker). auto: the whole clip when it is short, else
    the fewest equal windows of at most AUTO_MAX_WINDOW frames (bounded decoder memory, audio out
    after the first window)."""
    return replace(_windows(pipeline, opts), dc_blocker_hz=pipeline.cfg.pretransform.dc_blocker_hz)


def _windows(pipeline: ArcPipeline, opts: ExportOptions) -> DecodePlan:
    frames = pipeline.cfg.latent_length
    field = receptive_field_frames(pipeline)
    overlap = 2 * field if opts.decode_overlap is None else opts.decode_overlap
    window = opts.decode_window
    if window == "auto":
        if frames <= AUTO_MAX_WINDOW or overlap >= AUTO_MAX_WINDOW:
            return whole_clip(frames)
        count = -(-(frames - overlap) // (AUTO_MAX_WINDOW - overlap))
        window = -(-(frames - overlap) // count) + overlap
    if window == "whole" or window >= frames:
        return whole_clip(frames)
    if overlap < 2 * field:
        raise InputError(f"--decode-overlap {overlap} is below twice the decoder's receptive field ({field} frames): "
                         "the windows would not join seamlessly; use at least " + str(2 * field))
    if window <= overlap:
        raise InputError(f"--decode-window {window} is not larger than its overlap ({overlap} frames, "
                         f"twice the decoder's receptive field); use a window above {overlap} frames")
    return plan_windows(frames, window, overlap)


def _graph_parity(graph: GraphDef, run) -> dict[str, float]:
    """Worst SNR and cosine of the exported graph against its eager reference over its cases."""
    scores = []
    with torch.inference_mode():
        for case in graph.cases:
            scores.append(compare(list(graph.reference(*case)), run(list(case))))
    return {"snr_db": min(s["snr_db"] for s in scores), "cosine": min(s["cosine"] for s in scores)}


def build_manifest(pipeline: ArcPipeline, opts: ExportOptions, seconds: float, graphs: list[GraphDef],
                   jobs: list[LoweringJob], source: ModelSource | None = None) -> dict:
    cfg = pipeline.cfg
    manifest: dict = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "arc_edge_version": __version__,
        "backend": opts.backend, "recipe": {"name": opts.recipe.name, "description": opts.recipe.description},
        "model_config": cfg.raw, "sample_rate": cfg.sample_rate, "audio_channels": cfg.audio_channels,
        "latent_shape": [1, cfg.latent_dim, cfg.latent_length], "default_seconds": seconds,
        "tokenizer": {"file": "spiece.model", "max_length": cfg.prompt.max_length,
                      "pad_id": pipeline.tokenizer.pad_id, "eos_id": pipeline.tokenizer.eos_id},
        "sampler": {"type": "pingpong", "steps": opts.steps,
                    "schedules": {str(n): logsnr_schedule(n).tolist() for n in range(1, MAX_SCHEDULE_STEPS + 1)}},
        "graphs": {}, "parity": {}, "export_seconds": {},
    }
    if source is not None:  # which model the graphs came from, and the runs that trained it
        manifest["source_model"] = {"model": source.description, **({"trained": source.lineage} if source.lineage else {})}
    for graph, job in zip(graphs, jobs, strict=True):
        manifest["graphs"][graph.name] = {
            "file": job.path.name, "inputs": [s.to_json() for s in graph.inputs],
            "outputs": [s.to_json() for s in graph.outputs], "quantization": job.recipe.to_json(), **graph.manifest}
    return manifest


def export_bundle(pipeline: ArcPipeline, out_dir: Path, opts: ExportOptions, force: bool = False,
                  log: Callable[[str], None] = print, source: ModelSource | None = None) -> dict:
    """Export, gate and write a bundle; returns the manifest. Raises ParityError (nothing written) on failure.
    ``source``: where ``pipeline`` was loaded from, recorded in the manifest (``source_model``)."""
    cfg = pipeline.cfg
    seconds = opts.seconds if opts.seconds is not None else cfg.max_seconds
    if not 1 <= opts.steps <= MAX_SCHEDULE_STEPS:
        raise InputError(f"--steps {opts.steps} is out of range for a bundle; use 1..{MAX_SCHEDULE_STEPS}")
    backend = BACKENDS[opts.backend]
    names = REQUIRED_GRAPHS + (("encoder",) if opts.with_encoder else ())
    check_recipe(backend, opts.recipe, names)
    pipeline = pipeline.eval()
    plan = decode_plan(pipeline, opts)
    run = reference_run(pipeline, seconds, opts.steps)
    graphs = graph_defs(pipeline, run, plan, names)
    with atomic_dir(Path(out_dir), force=force, kind="bundle") as tmp:
        shutil.copyfile(pipeline.tokenizer.model_file, tmp / "spiece.model")
        jobs = [LoweringJob(g.name, g.module, [s.name for s in g.inputs], [s.name for s in g.outputs],
                            opts.recipe.graph(g.name), g.cases[0], tmp / (g.name + backend.suffix)) for g in graphs]
        manifest = build_manifest(pipeline, opts, seconds, graphs, jobs, source)
        manifest["export_seconds"] = lower_graphs(opts.backend, jobs, offload="dit", log=log)
        failures = []
        for graph, job in zip(graphs, jobs, strict=True):
            parity = {**_graph_parity(graph, backend.load(job.path)), "min_snr_db": job.recipe.min_snr_db}
            manifest["parity"][graph.name] = parity
            log(f"  parity {graph.name}: SNR {parity['snr_db']:.1f} dB (min {job.recipe.min_snr_db}), "
                f"cosine {parity['cosine']:.6f}")
            if not parity["snr_db"] >= job.recipe.min_snr_db:
                failures.append(f"{graph.name} {parity['snr_db']:.1f} dB < {job.recipe.min_snr_db} dB")
        manifest["selftest"] = write_selftest(tmp, graphs, opts.recipe)
        manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        write_manifest(tmp, manifest)
        e2e = {**_end_to_end(run, tmp), "min_snr_db": opts.recipe.end_to_end_min_snr_db}
        manifest["parity"]["end_to_end"] = e2e
        log(f"  parity end-to-end ({opts.steps} steps): SNR {e2e['snr_db']:.1f} dB "
            f"(min {e2e['min_snr_db']}), cosine {e2e['cosine']:.6f}")
        if not e2e["snr_db"] >= e2e["min_snr_db"]:
            failures.append(f"end-to-end {e2e['snr_db']:.1f} dB < {e2e['min_snr_db']} dB")
        if failures:
            raise ParityError("parity gate failed (" + "; ".join(failures) + "); no bundle written. "
                              "Try a less aggressive recipe (e.g. --quant fp32) or retrain")
        manifest["digest"] = write_manifest(tmp, manifest)
    return manifest


def _end_to_end(run: ReferenceRun, bundle_dir: Path) -> dict[str, float]:
    """The bundle generates the reference run's request with the same noise: its audio against eager's."""
    runtime = BundleRuntime(bundle_dir)
    bundled = torch.from_numpy(generate(runtime, run.request, noise=run.noise).audio)
    return compare([run.audio], [bundled])
