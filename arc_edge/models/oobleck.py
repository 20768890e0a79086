"""Oobleck VAE (encoder, decoder, VAE bottleneck) with weight-normed convs and SnakeBeta.

Parameter names follow stable-audio-tools so official checkpoints load with strict key checks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import OobleckConfig


class SnakeBeta(nn.Module):
    """x + 1/beta * sin^2(alpha x), with alpha and beta stored as logs, one pair per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.exp()[None, :, None]
        beta = self.beta.exp()[None, :, None]
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


def _weight_norm_init(module: nn.Module, weight: torch.Tensor) -> None:
    # Legacy torch weight_norm layout (dim=0): weight = g * v / ||v|| over all dims but the first.
    del module.weight
    module.weight_v = nn.Parameter(weight.detach().clone())
    module.weight_g = nn.Parameter(weight.detach().norm(dim=(1, 2), keepdim=True))


def _weight_norm_weight(module: nn.Module) -> torch.Tensor:
    v = module.weight_v
    return module.weight_g * v / v.norm(dim=(1, 2), keepdim=True)


def _fused(module: nn.Module, conv: nn.Module) -> nn.Module:
    """Fill a plain conv with the weight-normed module's effective weight and bias."""
    with torch.no_grad():
        conv.weight.copy_(_weight_norm_weight(module))
        if module.bias is not None:
            conv.bias.copy_(module.bias)
    return conv


class WNConv1d(nn.Conv1d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _weight_norm_init(self, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, _weight_norm_weight(self), self.bias)

    def fused(self) -> nn.Conv1d:
        return _fused(self, nn.Conv1d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                                      self.padding, self.dilation, self.groups, bias=self.bias is not None))


class WNConvTranspose1d(nn.ConvTranspose1d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _weight_norm_init(self, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, _weight_norm_weight(self), self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)

    def fused(self) -> nn.ConvTranspose1d:
        return _fused(self, nn.ConvTranspose1d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                                               self.padding, self.output_padding, self.groups,
                                               bias=self.bias is not None, dilation=self.dilation))


def make_comb_free(conv: WNConvTranspose1d) -> None:
    """Project a transposed conv's weight (in place, the nearest in L2) onto those whose s output phases
    each sum to the same gain: taps k and k + s (the two that reach one output sample) add up alike for
    every k. Such an upsampler turns a constant input into a constant, where a free one turns the
    constant part of its features into a pattern repeating every s input samples: the decoder's fixed
    comb (every multiple of 172 Hz from the second upsampler of the tiny decoder) whatever it renders."""
    s = conv.stride[0]
    if conv.kernel_size[0] != 2 * s:
        raise ValueError(f"a comb-free projection needs kernel 2 x stride, not {conv.kernel_size[0]} for stride {s}")
    with torch.no_grad():
        w = _weight_norm_weight(conv)
        phase_sums = w[..., :s] + w[..., s:]
        excess = (phase_sums - phase_sums.mean(-1, keepdim=True)) / 2
        projected = w - torch.cat([excess, excess], dim=-1)
        conv.weight_v.copy_(projected)
        conv.weight_g.copy_(projected.norm(dim=(1, 2), keepdim=True))


class NearestUpsample1d(nn.Module):
    """nn.Upsample(mode="nearest") on the last axis, then the zero padding of the 2s-tap 'same' conv
    that follows it (s - 1 left, s right: torch's split), done here so the conv needs no padded copy."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        upsampled = x.unsqueeze(-1).expand(*x.shape, self.scale).flatten(-2)
        return F.pad(upsampled, (self.scale - 1, self.scale))


class NearestUpsampleConv(nn.Sequential):
    """stable-audio-tools' ``use_nearest_upsample`` upsampler: nearest x s, then a bias-free conv of
    2s taps with 'same' padding. Unlike a transposed conv it treats every output phase alike, so an
    untrained decoder has no period-s pattern (the checkerboard comb and sr/8, sr/4 whines) to unlearn.
    Keys match the reference (``<block>.layers.1.1.weight_v``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__(NearestUpsample1d(stride),
                         WNConv1d(in_channels, out_channels, kernel_size=2 * stride, bias=False))
        self.stride = stride

    def fused(self) -> nn.ConvTranspose1d:
        """The same map as one transposed conv (kernel 3s, stride s, padding s), so the export routes
        keep their deconvolution kernels and skip the s-fold work at the upsampled rate.

        With 'same' padding (s - 1 left), output q*s + r reads x[q - 1 + d] for d in 0..2 through the
        taps k with floor((r + k + 1) / s) = d; the transposed conv applies tap (2 - d)s + r to x[q - 1 + d].
        """
        s = self.stride
        w = _weight_norm_weight(self[1]).detach()  # [out, in, 2s]
        deconv = nn.ConvTranspose1d(w.shape[1], w.shape[0], kernel_size=3 * s, stride=s, padding=s, bias=False)
        taps = torch.zeros(w.shape[1], w.shape[0], 3 * s)
        for r in range(s):
            for k in range(2 * s):
                d = (r + k + 1) // s
                taps[:, :, (2 - d) * s + r] += w[:, :, k].T
        with torch.no_grad():
            deconv.weight.copy_(taps)
        return deconv


def fuse_weight_norm(module: nn.Module) -> nn.Module:
    """Replace every weight-normed conv in ``module`` (in place) by a plain conv with the same output."""
    for name, child in list(module.named_children()):
        if isinstance(child, (WNConv1d, WNConvTranspose1d, NearestUpsampleConv)):
            setattr(module, name, child.fused())
        else:
            fuse_weight_norm(child)
    return module


def _activation(channels: int, use_snake: bool) -> nn.Module:
    return SnakeBeta(channels) if use_snake else nn.ELU()


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(
            _activation(channels, use_snake),
            WNConv1d(channels, channels, kernel_size=7, dilation=dilation, padding=3 * dilation),
            _activation(channels, use_snake),
            WNConv1d(channels, channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def _residual_stack(channels: int, use_snake: bool) -> list[nn.Module]:
    return [ResidualUnit(channels, d, use_snake) for d in (1, 3, 9)]


class EncoderBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(
            *_residual_stack(in_channels, use_snake),
            _activation(in_channels, use_snake),
            WNConv1d(in_channels, out_channels, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DecoderBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, use_snake: bool,
                 nearest_upsample: bool = False):
        super().__init__()
        upsample = (NearestUpsampleConv(in_channels, out_channels, stride) if nearest_upsample else
                    WNConvTranspose1d(in_channels, out_channels, kernel_size=2 * stride, stride=stride,
                                      padding=math.ceil(stride / 2)))
        self.layers = nn.Sequential(
            _activation(in_channels, use_snake),
            upsample,
            *_residual_stack(out_channels, use_snake),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def signal_preserving_init(module: nn.Module, residual_gain: float = 0.1, output_gain: float = 0.1) -> None:
    """Re-initialise every weight-normed conv of an encoder or decoder for training from scratch:
    unit gain per conv (std 1 / sqrt(fan-in)), residual branches scaled by ``residual_gain``, the
    last conv by ``output_gain``, zero biases. With torch's default init the signal shrinks by about
    half per conv while every SnakeBeta adds a constant, so a fresh decoder's output is ~90% the same
    for every latent and training spends its first hundreds of steps on one average sound."""
    branch_ends = {id(m.layers[-1]) for m in module.modules() if isinstance(m, ResidualUnit)}
    convs = [m for m in module.modules() if isinstance(m, (WNConv1d, WNConvTranspose1d))]
    for conv in convs:
        v = conv.weight_v
        # a transposed conv's output sums in_channels * kernel / stride terms
        fan_in = v.shape[0] * v.shape[2] / conv.stride[0] if isinstance(conv, WNConvTranspose1d) else v.shape[1] * v.shape[2]
        gain = residual_gain if id(conv) in branch_ends else output_gain if conv is convs[-1] else 1.0
        with torch.no_grad():
            v.normal_(0.0, gain / math.sqrt(fan_in))
            conv.weight_g.copy_(v.norm(dim=(1, 2), keepdim=True))
            if conv.bias is not None:
                conv.bias.zero_()


class OobleckEncoder(nn.Module):
    def __init__(self, cfg: OobleckConfig):
        super().__init__()
        mults = (1,) + cfg.c_mults
        ch = cfg.channels
        layers: list[nn.Module] = [WNConv1d(cfg.audio_channels, mults[0] * ch, kernel_size=7, padding=3)]
        for i, stride in enumerate(cfg.strides):
            layers.append(EncoderBlock(mults[i] * ch, mults[i + 1] * ch, stride, cfg.use_snake))
        layers += [_activation(mults[-1] * ch, cfg.use_snake),
                   WNConv1d(mults[-1] * ch, cfg.latent_dim, kernel_size=3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OobleckDecoder(nn.Module):
    def __init__(self, cfg: OobleckConfig):
        super().__init__()
        mults = (1,) + cfg.c_mults
        ch = cfg.channels
        layers: list[nn.Module] = [WNConv1d(cfg.latent_dim, mults[-1] * ch, kernel_size=7, padding=3)]
        for i in range(len(cfg.strides), 0, -1):
            layers.append(DecoderBlock(mults[i] * ch, mults[i - 1] * ch, cfg.strides[i - 1], cfg.use_snake,
                                       cfg.use_nearest_upsample))
        layers += [_activation(mults[0] * ch, cfg.use_snake),
                   WNConv1d(mults[0] * ch, cfg.audio_channels, kernel_size=7, padding=3, bias=False),
                   nn.Tanh() if cfg.final_tanh else nn.Identity()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


def vae_split(encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The VAE bottleneck: encoder output -> (mean, std)."""
    mean, scale = encoded.chunk(2, dim=1)
    return mean, F.softplus(scale) + 1e-4


class OobleckVAE(nn.Module):
    def __init__(self, encoder: OobleckConfig, decoder: OobleckConfig):
        super().__init__()
        self.encoder = OobleckEncoder(encoder)
        self.decoder = OobleckDecoder(decoder)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)


class Pretransform(nn.Module):
    """Holds the VAE as ``.model`` so keys read ``pretransform.model.*`` as in official checkpoints."""

    def __init__(self, encoder: OobleckConfig, decoder: OobleckConfig):
        super().__init__()
        self.model = OobleckVAE(encoder, decoder)
