"""A graph prepared for XNNPACK in its recipe's precision: fp32 as is, fp16 throughout, dynamic int8
(pt2e, per-channel weights) on the recipe's module types, or int8 dynamic activations with int4
grouped weights (torchao's 8da4w) on its Linear layers."""

from __future__ import annotations

import torch
from torch import nn
from torch.fx import Node

from ..errors import ConfigError
from .recipes import GraphRecipe
from .xnnpack_rewrites import QUANTIZABLE_TYPES


class HalfPrecision(nn.Module):
    """Runs ``module`` in fp16 behind the graph's fp32 contract (the casts stay at its edges)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module.half()

    def forward(self, *args: torch.Tensor):
        out = self.module(*(a.half() if a.is_floating_point() else a for a in args))
        if isinstance(out, tuple):
            return tuple(o.float() for o in out)
        return out.float()


def quantize_for_xnnpack(module: nn.Module, recipe: GraphRecipe, args: tuple[torch.Tensor, ...]) -> nn.Module:
    """``module`` (already rewritten for XNNPACK) in the precision ``recipe`` asks for."""
    if recipe.quant == "fp16":
        return HalfPrecision(module)
    if recipe.quant == "int8_dynamic":
        return _pt2e_dynamic_int8(module, args, recipe.modules)
    if recipe.quant == "int8_dynamic_int4_weight":
        return _int8_activations_int4_weights(module, recipe.group_size)
    return module


def _type_names(module_names: tuple[str, ...]) -> set[str]:
    return {f"{t.__module__}.{t.__qualname__}" for name in module_names for t in QUANTIZABLE_TYPES[name]}


def _inside(types: set[str]):
    """A quantizer filter: nodes traced inside one of ``types`` (weights and other nodes with no
    module stack pass, so that the annotator can reach a selected op's inputs)."""

    def accept(node: Node) -> bool:
        stack = node.meta.get("nn_module_stack")
        if not stack:
            return True
        names = (t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}" for _, t in stack.values())
        return any(n in types for n in names)

    return accept


def _pt2e_dynamic_int8(module: nn.Module, args: tuple[torch.Tensor, ...], module_names: tuple[str, ...]) -> nn.Module:
    from executorch.backends.transforms.duplicate_dynamic_quant_chain import DuplicateDynamicQuantChainPass
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    # set_module_type would drop the convs: their weights are get_attr nodes without a module stack
    quantizer = XNNPACKQuantizer()
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    quantizer.set_filter_function(_inside(_type_names(module_names)))
    captured = torch.export.export(module, args, strict=False).module()
    prepared = prepare_pt2e(captured, quantizer)
    prepared(*args)  # dynamic quantisation needs no calibration data; one pass initialises observers
    converted = convert_pt2e(prepared)
    # Every block's cross-attention to_kv reads the same context: give each its own dynamic-quant
    # chain, or the XNNPACK partitioner merges them into a partition with a dependency cycle.
    DuplicateDynamicQuantChainPass()(converted)
    return converted


def _int8_activations_int4_weights(module: nn.Module, group_size: int) -> nn.Module:
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerGroup

    odd = sorted({m.in_features for m in module.modules() if isinstance(m, nn.Linear) and m.in_features % group_size})
    if odd:
        raise ConfigError(f"group_size {group_size} does not divide the Linear input widths {odd}; "
                          "choose a group_size that divides them")
    quantize_(module, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4,
                                                             weight_granularity=PerGroup(group_size)))
    return module
