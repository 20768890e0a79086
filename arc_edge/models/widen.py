"""Widen a trained Oobleck decoder's blocks without changing what it renders (``train decoder --widen-decoder``).

The tiny decoder's last two blocks (22 and 44.1 kHz) have 16 channels, and there the upper partials
of high tones have to be made: the block before runs at 5.5 kHz, under their frequency. Training a
wider decoder from scratch would throw away hours of decoder training, so the trained one is grown
in place: every old weight is kept, the new channels are fed by random weights, and no old channel
reads a new one yet. The output is the old decoder's (to float rounding), and the new channels
start to contribute as soon as training moves the weights that read them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import OobleckConfig
from ..errors import InputError
from .oobleck import OobleckDecoder, SnakeBeta, WNConv1d, WNConvTranspose1d, _weight_norm_weight


def decoder_widths(cfg: OobleckConfig) -> list[int]:
    """Output channels of each decoder block, latent side first (tiny: 128, 64, 32, 16, 16)."""
    mults = (1,) + tuple(cfg.c_mults)
    return [mults[i - 1] * cfg.channels for i in range(len(cfg.strides), 0, -1)]


def widened_config(cfg: OobleckConfig, widths: list[int]) -> tuple[int, list[int]]:
    """The decoder ``(channels, c_mults)`` whose blocks have ``widths`` (latent side first); a one-line
    error unless each is at least the current width and a multiple of the last."""
    old = decoder_widths(cfg)
    shown = ",".join(map(str, old))
    if len(widths) != len(old):
        raise InputError(f"--widen-decoder gives {len(widths)} widths; this decoder has {len(old)} blocks "
                         f"(now {shown}, latent side first)")
    if any(w < o for w, o in zip(widths, old, strict=True)):
        raise InputError(f"--widen-decoder {','.join(map(str, widths))} narrows a block; give each at least "
                         f"its present width ({shown})")
    channels, first = widths[-1], cfg.channels * cfg.c_mults[-1]  # the latent conv's width stays
    if any(w % channels for w in (*widths, first)):
        raise InputError(f"--widen-decoder: every width (and the latent conv's {first}) must be a multiple of the "
                         f"last block's ({channels}): the decoder's widths are channels x c_mults")
    return channels, [w // channels for w in reversed(widths[:-1])] + [first // channels]


@torch.no_grad()
def _grow_conv(new: nn.Module, old: nn.Module, generator: torch.Generator) -> None:
    transposed = isinstance(new, WNConvTranspose1d)
    w_old = _weight_norm_weight(old)
    w = torch.zeros_like(new.weight_v)
    n_out_old = w_old.shape[1] if transposed else w_old.shape[0]
    # unit gain per conv: a transposed conv's output sums in_channels * kernel / stride terms
    fan_in = w.shape[0] * w.shape[2] / new.stride[0] if transposed else w.shape[1] * w.shape[2]
    fresh = torch.randn(w.shape, generator=generator) / math.sqrt(fan_in)
    if transposed:  # [in, out, k]
        w[:, n_out_old:] = fresh[:, n_out_old:]
    else:  # [out, in, k]
        w[n_out_old:] = fresh[n_out_old:]
    w[: w_old.shape[0], : w_old.shape[1]] = w_old  # old outputs read no new input: the same function
    new.weight_v.copy_(w)
    new.weight_g.copy_(w.norm(dim=(1, 2), keepdim=True))
    if new.bias is not None:
        new.bias.zero_()
        new.bias[: old.bias.numel()] = old.bias


def widen_decoder(old: OobleckDecoder, cfg: OobleckConfig, seed: int = 0) -> OobleckDecoder:
    """A decoder of ``cfg`` (wider than ``old``'s, same strides) that renders what ``old`` does."""
    new = OobleckDecoder(cfg)
    generator = torch.Generator().manual_seed(seed)
    old_modules = dict(old.named_modules())
    for name, module in new.named_modules():
        if isinstance(module, (WNConv1d, WNConvTranspose1d)):
            _grow_conv(module, old_modules[name], generator)
        elif isinstance(module, SnakeBeta):
            with torch.no_grad():  # new channels: alpha = beta = 1 (stored as logs), fed zeros at first
                for mine, theirs in ((module.alpha, old_modules[name].alpha), (module.beta, old_modules[name].beta)):
                    mine.zero_()
                    mine[: theirs.numel()] = theirs
    return new


def widen_pipeline_decoder(pipeline, widths: list[int], seed: int = 0) -> None:
    """Give ``pipeline`` a decoder with blocks of ``widths`` output channels, rendering as before; its
    config (what a saved model records) says so."""
    from ..checkpoint import check_fits_in_memory
    from ..config import decoder_raw, with_decoder

    channels, c_mults = widened_config(pipeline.cfg.decoder, widths)
    widened = {**decoder_raw(pipeline.cfg), "channels": channels, "c_mults": c_mults}
    cfg = with_decoder(pipeline.cfg, widened, "the widened decoder's config")
    check_fits_in_memory(cfg, f"--widen-decoder {','.join(map(str, widths))}")  # sized before any of it is made
    vae = pipeline.pretransform.model
    dtype = next(vae.decoder.parameters()).dtype
    vae.decoder = widen_decoder(vae.decoder.float(), cfg.decoder, seed).to(dtype)
    pipeline.cfg = cfg
