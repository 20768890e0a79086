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

from ..errors import ConfigError
from .onnx_rewrites import polyphase_upsamplers
from .quantization import quantize_for_xnnpack
from .recipes import ExportRecipe, GraphRecipe
from .xnnpack_rewrites import xnnpack_friendly

RunFn = Callable[[list[torch.Tensor]], list[torch.Tensor]]


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
    quant_modes: tuple[str, ...]  # the recipe quantisation modes it can write

    def export(self, job: LoweringJob) -> None: ...

    def load(self, path: Path, threads: int | None = None) -> RunFn: ...


def check_recipe(backend: Backend, recipe: ExportRecipe, graphs: tuple[str, ...]) -> None:
    """A one-line error before any work when ``recipe`` asks ``backend`` for something it cannot do."""
    for name in graphs:
        quant = recipe.graph(name).quant
        if quant not in backend.quant_modes:
            others = [b.name for b in BACKENDS.values() if quant in b.quant_modes]
            raise ConfigError(f"the {backend.name} backend cannot export [graphs.{name}] as {quant} "
                              f"(recipe {recipe.source}); use --format {others[0]} or a recipe with "
                              f"{' or '.join(backend.quant_modes)} for it")


class ExecuTorchBackend:
    name = "executorch"
    suffix = ".pte"
    quant_modes = ("fp32", "fp16", "int8_dynamic", "int8_dynamic_int4_weight")

    def export(self, job: LoweringJob) -> None:
        with torch.no_grad():  # the model's weights may be inference tensors
            job.path.write_bytes(lower_to_xnnpack(job.module, job.recipe, job.args).to_executorch().buffer)

    def load(self, path: Path, threads: int | None = None) -> RunFn:
        from executorch.runtime import Runtime

        with native_stderr_silenced():  # the runtime's cpuinfo probe prints to fd 2 on first use
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
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    with torch.no_grad():
        module = quantize_for_xnnpack(xnnpack_friendly(module), recipe, args)
        program = torch.export.export(module, args, strict=False)
        with warnings.catch_warnings():  # torch's own pytree deprecation, raised inside its decompositions
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            # The edge-IR verifier re-traces the whole graph (a quarter of the lowering time of a
            # quantised decoder); the parity gate runs every exported graph against eager anyway.
            return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                               compile_config=EdgeCompileConfig(_check_ir_validity=False))



@contextlib.contextmanager
def native_stderr_silenced():
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


class OnnxBackend:
    name = "onnx"
    suffix = ".onnx"
    quant_modes = ("fp32", "int8_dynamic")

    def export(self, job: LoweringJob) -> None:
        quantised = job.recipe.quant == "int8_dynamic"
        fp32_path = job.path.with_suffix(".fp32.onnx") if quantised else job.path
        module = polyphase_upsamplers(job.module) if "ConvTranspose1d" in job.recipe.modules else job.module
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about T5's python-side shape checks; parity tests cover other prompt lengths.
            warnings.simplefilter("ignore")
            torch.onnx.export(module, job.args, str(fp32_path), input_names=job.input_names,
                              output_names=job.output_names, opset_version=17, dynamo=False)
        if quantised:
            _ort_dynamic_int8(fp32_path, job.path, job.recipe.modules)
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


def _ort_dynamic_int8(fp32_path: Path, out: Path, modules: tuple[str, ...]) -> None:
    """onnxruntime's dynamic int8, per-channel, on exactly the recipe's layers: Linear is a MatMul or
    Gemm whose second input is a weight (never attention's activation products); Conv1d a Conv;
    ConvTranspose1d the Conv of a polyphase upsampler. Weights use 7 bits (reduce_range):
    onnxruntime's x86 u8s8 kernels saturate with 8-bit weights (measured here on the default DiT:
    17.9 dB against 34.3 dB with 7 bits)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32_path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}

    def wanted(node) -> bool:
        if node.op_type in ("MatMul", "Gemm"):
            return "Linear" in modules and node.input[1] in weights
        if node.op_type == "Conv":
            return ("ConvTranspose1d" if "/polyphase" in node.name else "Conv1d") in modules
        return False

    selected = [n.name for n in model.graph.node if wanted(n)]
    logging.getLogger().setLevel(logging.ERROR)  # ORT's "consider pre-processing" advice
    quantize_dynamic(str(fp32_path), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                     op_types_to_quantize=["MatMul", "Gemm", "Conv"], nodes_to_quantize=selected)


BACKENDS: dict[str, Backend] = {"executorch": ExecuTorchBackend(), "onnx": OnnxBackend()}
