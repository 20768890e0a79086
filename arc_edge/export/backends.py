"""Backends that turn a graph into a file and run that file: ExecuTorch (XNNPACK) and onnxruntime."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from .recipes import GraphRecipe
from .xnnpack_rewrites import xnnpack_friendly

RunFn = Callable[[list[torch.Tensor]], list[torch.Tensor]]

_MODULE_TYPES = {"Linear": nn.Linear}


@dataclass
class LoweringJob:
    """Everything a backend needs to write one graph file (picklable: it may go to a worker process)."""

    name: str
    module: nn.Module
    input_names: list[str]
    output_names: list[str]
    recipe: GraphRecipe
    args: tuple[torch.Tensor, ...]
    path: Path


class Backend(Protocol):
    name: str
    suffix: str

    def export(self, job: LoweringJob) -> None: ...

    def load(self, path: Path, threads: int | None = None) -> RunFn: ...


class ExecuTorchBackend:
    name = "executorch"
    suffix = ".pte"

    def export(self, job: LoweringJob) -> None:
        with torch.no_grad():  # the model's weights may be inference tensors
            job.path.write_bytes(lower_to_xnnpack(job.module, job.recipe, job.args).to_executorch().buffer)

    def load(self, path: Path, threads: int | None = None) -> RunFn:
        from executorch.runtime import Runtime

        with _native_stderr_silenced():  # the runtime's cpuinfo probe prints to fd 2 on first use
            set_executorch_threads(threads)
            method = Runtime.get().load_program(str(path)).load_method("forward")
        return lambda inputs: list(method.execute([t.contiguous() for t in inputs]))


def set_executorch_threads(threads: int | None) -> None:
    """Size the ExecuTorch runtime's (process-wide) thread pool; None keeps its default."""
    if threads:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        _unsafe_reset_threadpool(threads)


def lower_to_xnnpack(module: nn.Module, recipe: GraphRecipe, args: tuple[torch.Tensor, ...]):
    """-> the EdgeProgramManager of ``module`` quantised per ``recipe`` and delegated to XNNPACK."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        module = xnnpack_friendly(module)
        if recipe.quant == "int8_dynamic":
            module = _pt2e_dynamic_int8(module, args, recipe.modules)
        program = torch.export.export(module, args, strict=False)
        return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


@contextlib.contextmanager
def _native_stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _pt2e_dynamic_int8(module: nn.Module, args: tuple[torch.Tensor, ...], module_types: tuple[str, ...]) -> nn.Module:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer()
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    for name in module_types:
        quantizer.set_module_type(_MODULE_TYPES[name], config)
    captured = torch.export.export(module, args, strict=False).module()
    prepared = prepare_pt2e(captured, quantizer)
    from executorch.backends.transforms.duplicate_dynamic_quant_chain import DuplicateDynamicQuantChainPass

    prepared(*args)  # dynamic quantisation needs no calibration data; one pass initialises observers
    converted = convert_pt2e(prepared)
    # Every block's cross-attention to_kv reads the same context: give each its own dynamic-quant
    # chain, or the XNNPACK partitioner merges them into a partition with a dependency cycle.
    DuplicateDynamicQuantChainPass()(converted)
    return converted


class OnnxBackend:
    name = "onnx"
    suffix = ".onnx"

    def export(self, job: LoweringJob) -> None:
        quantised = job.recipe.quant == "int8_dynamic"
        fp32_path = job.path.with_suffix(".fp32.onnx") if quantised else job.path
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about T5's python-side shape checks; parity tests cover other prompt lengths.
            warnings.simplefilter("ignore")
            torch.onnx.export(job.module, job.args, str(fp32_path), input_names=job.input_names,
                              output_names=job.output_names, opset_version=17, dynamo=False)
        if quantised:
            _ort_dynamic_int8(fp32_path, job.path)
            fp32_path.unlink()

    def load(self, path: Path, threads: int | None = None) -> RunFn:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
            feed = {n: t.contiguous().numpy() for n, t in zip(names, inputs, strict=True)}
            return [torch.from_numpy(o) for o in session.run(None, feed)]

        return run


def _ort_dynamic_int8(fp32_path: Path, out: Path) -> None:
    """onnxruntime's dynamic int8 on the Linear layers only (the MatMul/Gemm nodes whose second input
    is a weight), per-channel: the same scope as the XNNPACK recipe, never attention's activation
    products. Weights use 7 bits (reduce_range): onnxruntime's x86 u8s8 kernels saturate with 8-bit
    weights (measured here on the default DiT: 17.9 dB against 34.3 dB with 7 bits)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32_path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    linear = [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in weights]
    logging.getLogger().setLevel(logging.ERROR)  # ORT's "consider pre-processing" advice
    quantize_dynamic(str(fp32_path), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                     op_types_to_quantize=["MatMul", "Gemm"], nodes_to_quantize=linear)


BACKENDS: dict[str, Backend] = {"executorch": ExecuTorchBackend(), "onnx": OnnxBackend()}
