"""Rewrites for the onnxruntime route: its dynamic quantisation has ConvInteger for Conv but nothing
for ConvTranspose, so a recipe that quantises the decoder's upsamplers gets them as polyphase
convolutions (one conv computing every output phase, then a pixel shuffle), which are exact."""

from __future__ import annotations

import copy

import torch
from torch import nn


class PolyphaseConvTranspose1d(nn.Module):
    """ConvTranspose1d(stride s, kernel K, padding p) as Conv1d(cin -> cout * s, ceil(K / s) taps)
    followed by interleaving the s phases and cropping p samples each side."""

    def __init__(self, conv: nn.ConvTranspose1d):
        super().__init__()
        if conv.groups != 1 or conv.dilation[0] != 1:
            raise ValueError("polyphase rewrite needs groups=1 and dilation=1")
        s, k, cin, cout = conv.stride[0], conv.kernel_size[0], conv.in_channels, conv.out_channels
        taps = -(-k // s)
        padded = torch.zeros(cin, cout, taps * s)
        padded[..., :k] = conv.weight.detach()
        # output q*s + r sums x[q - j] * W[:, :, j*s + r]; the conv's tap m reads x[q - (taps-1) + m]
        weight = torch.stack([padded[:, :, (taps - 1 - m) * s:(taps - m) * s] for m in range(taps)], dim=-1)
        self.polyphase = nn.Conv1d(cin, cout * s, taps, padding=taps - 1, bias=conv.bias is not None)
        with torch.no_grad():
            self.polyphase.weight.copy_(weight.permute(1, 2, 0, 3).reshape(cout * s, cin, taps))
            if conv.bias is not None:
                self.polyphase.bias.copy_(conv.bias.detach().repeat_interleave(s))
        self.stride, self.padding, self.kernel, self.out_channels = s, conv.padding[0], k, cout
        self.output_padding = conv.output_padding[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, length = x.shape
        z = self.polyphase(x)
        n = z.shape[-1]
        z = z.reshape(b, self.out_channels, self.stride, n).transpose(2, 3).reshape(b, self.out_channels, n * self.stride)
        out_len = (length - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding
        return z[..., self.padding:self.padding + out_len]


def polyphase_upsamplers(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ConvTranspose1d as a PolyphaseConvTranspose1d."""
    module = copy.deepcopy(module)
    _swap(module)
    return module


def _swap(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, nn.ConvTranspose1d):
            setattr(module, name, PolyphaseConvTranspose1d(child))
        else:
            _swap(child)
