"""Side-by-side lowering: the offloaded graph is written by a worker process, results and errors come back."""

import os

import pytest
import torch
from torch import nn

from arc_edge.export.backends import BACKENDS, LoweringJob
from arc_edge.export.lowering import lower_graphs
from arc_edge.export.recipes import GraphRecipe

FP32 = GraphRecipe("fp32", 0.0)


def _job(name: str, out_features: int, path) -> LoweringJob:
    torch.manual_seed(out_features)
    return LoweringJob(name, nn.Linear(4, out_features).eval(), ["x"], ["y"], FP32, (torch.ones(1, 4),), path)


def test_offloaded_graph_is_lowered_by_a_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    jobs = [_job("a", 3, tmp_path / "a.onnx"), _job("b", 2, tmp_path / "b.onnx")]
    logs: list[str] = []
    seconds = lower_graphs("onnx", jobs, offload="b", log=logs.append)
    assert list(seconds) == ["a", "b"] and all(s >= 0 for s in seconds.values())
    assert logs[0].startswith("exporting b") and "worker process" in logs[0]
    x = torch.randn(1, 4)
    for job in jobs:
        out = BACKENDS["onnx"].load(job.path)([x])[0]
        torch.testing.assert_close(out, job.module(x).detach(), rtol=1e-5, atol=1e-6)


def test_single_cpu_lowers_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    logs: list[str] = []
    lower_graphs("onnx", [_job("a", 3, tmp_path / "a.onnx"), _job("b", 2, tmp_path / "b.onnx")], offload="b",
                 log=logs.append)
    assert not any("worker" in m for m in logs) and (tmp_path / "b.onnx").is_file()


def test_a_failure_in_the_worker_reaches_the_caller(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    jobs = [_job("a", 3, tmp_path / "a.onnx"), _job("b", 2, tmp_path / "no-such-dir" / "b.onnx")]
    with pytest.raises(Exception, match="no-such-dir"):
        lower_graphs("onnx", jobs, offload="b", log=lambda _: None)
