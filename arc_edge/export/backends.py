"""Backends that turn a graph into a file and run that file: ExecuTorch (XNNPACK) and onnxruntime."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
import sys
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn

from .graphs import GraphDef
from .recipes import GraphRecipe
from .xnnpack_rewrites import xnnpack_friendly

RunFn = Callable[[list[torch.Tensor]], list[torch.Tensor]]

_MODULE_TYPES = {"Linear": nn.Linear}


class Backend(Protocol):
    name: str
    suffix: str

    def export(self, graph: GraphDef, recipe: GraphRecipe, args: tuple[torch.Tensor, ...], path: Path) -> None: ...

    def load(self, path: Path, threads: int | None = None) -> RunFn: ...


class ExecuTorchBackend:
    name = "executorch"
    suffix = ".pte"

    def export(self, graph: GraphDef, recipe: GraphRecipe, args: tuple[torch.Tensor, ...], path: Path) -> None:
        with torch.no_grad():  # the model's weights may be inference tensors
            path.write_bytes(lower_to_xnnpack(graph.module, recipe, args).to_executorch().buffer)

    def load(self, path: Path, threads: int | None = None) -> RunFn:
        from executorch.runtime import Runtime

        with _native_stderr_silenced():  # the runtime's cpuinfo probe prints to fd 2 on first use
            method = Runtime.get().load_program(str(path)).load_method("forward")
        return lambda inputs: list(method.execute([t.contiguous() for t in inputs]))


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
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
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

    def export(self, graph: GraphDef, recipe: GraphRecipe, args: tuple[torch.Tensor, ...], path: Path) -> None:
        fp32_path = path.with_suffix(".fp32.onnx") if recipe.quant == "int8_dynamic" else path
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about T5's python-side shape checks; parity tests cover other prompt lengths.
            warnings.simplefilter("ignore")
            torch.onnx.export(graph.module, args, str(fp32_path), input_names=[s.name for s in graph.inputs],
                              output_names=[s.name for s in graph.outputs], opset_version=17, dynamo=False)
        if recipe.quant == "int8_dynamic":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            logging.getLogger().setLevel(logging.ERROR)  # ORT's "consider pre-processing" advice
            # Linear layers export as MatMul (+Add) / Gemm: those are what ORT quantises dynamically.
            quantize_dynamic(str(fp32_path), str(path), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Gemm"])
            fp32_path.unlink()

    def load(self, path: Path, threads: int | None = None) -> RunFn:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
            feed = {n: t.contiguous().numpy() for n, t in zip(names, inputs)}
            return [torch.from_numpy(o) for o in session.run(None, feed)]

        return run


BACKENDS: dict[str, Backend] = {"executorch": ExecuTorchBackend(), "onnx": OnnxBackend()}
