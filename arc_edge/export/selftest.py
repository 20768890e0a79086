"""The on-device numerics self-test: a bundle carries the parity inputs of each graph and the eager
fp32 outputs they must give (``selftest.safetensors``, hashed like every bundle file), and every
runner (Python here, ``arc_runner --selftest``, the app's benchmark entry point) runs each graph on
them and reports its SNR against the recipe's threshold. A phone whose kernels compute wrong
numbers (as XNNPACK's int8 SME kernels did under qemu) fails it, naming the graph.

Tensors are named ``GRAPH.CASE.in.I`` and ``GRAPH.CASE.out.J``; the manifest's ``selftest``
section lists, per graph, its number of cases and the minimum SNR.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import ArcEdgeError
from .graphs import GraphDef
from .parity import snr_db
from .recipes import ExportRecipe

SELFTEST_FILE = "selftest.safetensors"


class SelfTestError(ArcEdgeError):
    pass


def write_selftest(bundle_dir: Path, graphs: list[GraphDef], recipe: ExportRecipe) -> dict:
    """Store every graph's parity cases with their eager outputs; returns the manifest section."""
    tensors: dict[str, torch.Tensor] = {}
    section: dict = {"file": SELFTEST_FILE, "graphs": {}}
    with torch.inference_mode():
        for graph in graphs:
            for c, case in enumerate(graph.cases):
                # copies: safetensors refuses tensors that share memory (cases can be views of one run)
                for i, tensor in enumerate(case):
                    tensors[f"{graph.name}.{c}.in.{i}"] = tensor.detach().clone().contiguous()
                for j, tensor in enumerate(graph.reference(*case)):
                    tensors[f"{graph.name}.{c}.out.{j}"] = tensor.detach().float().clone().contiguous()
            section["graphs"][graph.name] = {"cases": len(graph.cases),
                                             "min_snr_db": recipe.graph(graph.name).min_snr_db}
    save_file(tensors, str(Path(bundle_dir) / SELFTEST_FILE))
    return section


def _load_selftest(manifest) -> dict[str, torch.Tensor]:
    if manifest.selftest_file is None:
        raise SelfTestError(f"{manifest.dir} carries no self-test data; re-export it with this arc-edge")
    try:
        return load_file(str(manifest.path(manifest.selftest_file)))
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise SelfTestError(f"{manifest.selftest_file} could not be read ({exc}); re-export the bundle") from None


def stored_inputs(manifest) -> dict[str, list[torch.Tensor]]:
    """The first stored case of every graph: real inputs from the export's reference generation."""
    tensors = _load_selftest(manifest)
    return {name: _numbered(tensors, f"{name}.0.in.") for name in manifest.raw["selftest"]["graphs"]}


def run_selftest(manifest, run_graph) -> dict:
    """Run every graph on its stored inputs: ``run_graph(name, inputs) -> outputs``.
    -> {"passed": bool, "graphs": {name: {"snr_db", "min_snr_db", "passed"}}} (worst case per graph)."""
    tensors = _load_selftest(manifest)
    section = manifest.raw["selftest"]["graphs"]
    report: dict = {"passed": True, "graphs": {}}
    for name, spec in section.items():
        worst = None
        for c in range(int(spec["cases"])):
            inputs = _numbered(tensors, f"{name}.{c}.in.")
            expected = _numbered(tensors, f"{name}.{c}.out.")
            got = run_graph(name, inputs)
            if len(got) != len(expected):
                snr = -300.0
            else:
                snr = min(snr_db(e, g) if e.shape == g.shape else -300.0 for e, g in zip(expected, got, strict=True))
            worst = snr if worst is None else min(worst, snr)
        passed = worst is not None and worst >= float(spec["min_snr_db"])
        report["graphs"][name] = {"snr_db": worst, "min_snr_db": float(spec["min_snr_db"]), "passed": passed}
        report["passed"] &= passed
    return report


def _numbered(tensors: dict[str, torch.Tensor], prefix: str) -> list[torch.Tensor]:
    out = []
    while f"{prefix}{len(out)}" in tensors:
        out.append(tensors[f"{prefix}{len(out)}"])
    if not out:
        raise SelfTestError(f"the self-test data has no tensor {prefix}0; re-export the bundle")
    return out


def failures(report: dict) -> list[str]:
    return [f"{name} {g['snr_db']:.1f} dB < {g['min_snr_db']:.1f} dB" for name, g in report["graphs"].items()
            if not g["passed"]]
