"""The VAE's adversary: a multi-resolution complex-STFT discriminator (stable-audio-tools trains its
Oobleck VAEs against one, with hinge losses and feature matching; this one is written from that
description). Each resolution sees the real and imaginary STFT of every channel, so unlike the
magnitude terms it sees phase, and its 2-D convolutions span neighbouring frequency bins."""

from __future__ import annotations

import torch
from torch import nn


class STFTDiscriminator(nn.Module):
    """One resolution: [B, C, T] audio -> (patch logits, the hidden activations for feature matching)."""

    def __init__(self, audio_channels: int, n_fft: int, channels: int = 32, dilations: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # [B, 2 * C, frames, bins]: time dilations widen the context, a stride of 2 over frequency halves the bins
        layers = [nn.Conv2d(2 * audio_channels, channels, (3, 9), padding=(1, 4))]
        layers += [nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4))
                   for d in dilations]
        layers.append(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))
        self.layers = nn.ModuleList(nn.utils.parametrizations.weight_norm(layer) for layer in layers)
        self.out = nn.utils.parametrizations.weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = audio.shape
        spec = torch.stft(audio.reshape(b * c, t), self.n_fft, hop_length=self.n_fft // 4, window=self.window,
                          return_complex=True)
        x = torch.view_as_real(spec).reshape(b, c, *spec.shape[1:], 2)  # [B, C, bins, frames, re/im]
        x = x.permute(0, 1, 4, 3, 2).reshape(b, 2 * c, spec.shape[2], spec.shape[1])
        features = []
        for layer in self.layers:
            x = self.act(layer(x))
            features.append(x)
        return self.out(x).flatten(1), features


class MultiResolutionDiscriminator(nn.Module):
    """One ``STFTDiscriminator`` per FFT size; -> a list of (logits, features), one per resolution."""

    def __init__(self, audio_channels: int, ffts: tuple[int, ...] = (2048, 1024, 512), channels: int = 32):
        super().__init__()
        self.scales = nn.ModuleList(STFTDiscriminator(audio_channels, n, channels) for n in ffts)

    def forward(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [scale(audio) for scale in self.scales]
