"""The weight a weight-normed conv applies, computed here from g and v (g * v / |v| over all but the first
dim), independently of torch's parametrisation and of ``oobleck.fuse_weight_norm``, for tests to compare
against."""

import torch


def effective_weight(conv: torch.nn.Module) -> torch.Tensor:
    v = conv.weight_v
    return (conv.weight_g * v / torch.sqrt((v ** 2).sum(dim=(1, 2), keepdim=True))).detach()
