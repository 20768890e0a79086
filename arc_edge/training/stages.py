"""The three training stages. Each owns its trainable modules, optimizers and EMA, and exposes
``step`` (update number ``index``, returns metrics), ``state``/``load_state`` (for checkpoints) and
``export_pipeline`` (the weights to ship: EMA where there is one)."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import torch
from torch import nn

from ..config import ModelConfig, OobleckConfig, parse_config
from ..data.datasets import ProceduralDataset
from ..data.procedural import ATTRIBUTES, edited_caption
from ..errors import ConfigError
from ..melscale import mel_filterbank
from ..models.conditioners import TextEncoder, conditioning
from ..models.oobleck import OobleckDecoder, WNConvTranspose1d, make_comb_free, signal_preserving_init, vae_split
from ..models.pipeline import ArcPipeline
from ..sampling import noisy_latent, x0_from_velocity
from ..tokenizer import PromptTokenizer, train_tokenizer
from . import losses
from .alignment import TextLatentAlignment
from .audio_discriminator import MultiResolutionDiscriminator
from .batches import crop_start, draw_batch, logit_normal_t, logsnr_uniform_t, tokenize_batch
from .discriminator import ARCDiscriminator
from .distributed import DistEnv, barrier, unwrap, wrap
from .ema import EMA
from .generated_pool import generated_latents, latent_windows
from .recipe import ARCOptions, RFOptions, VAEOptions


def _with_ema(pipeline: ArcPipeline, ema: EMA) -> ArcPipeline:
    """A copy of the pipeline whose DiT carries the EMA weights (what gets shipped)."""
    out = copy.deepcopy(pipeline)
    out.model.load_state_dict(ema.state_dict())
    return out


def _adamw(module: nn.Module, lr: float, wd: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr, weight_decay=wd,
                             betas=(0.9, 0.99))


class _VAEObjective(nn.Module):
    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.vae = pipeline.pretransform.model

    def forward(self, audio: torch.Tensor, noise: torch.Tensor, generated: torch.Tensor | None = None):
        """-> the reconstruction, the posterior, and the decodes of ``generated`` latents (None without)."""
        mean, std = vae_split(self.vae.encoder(audio))
        z = mean + std * noise
        if generated is None:
            return self.vae.decoder(z), mean, std, None
        if generated.shape[-1] != z.shape[-1]:  # windows of another length (generated_crop)
            return self.vae.decoder(z), mean, std, self.vae.decoder(generated.to(z))
        # one decoder call (under DDP, the gradients of both decodes are reduced together)
        recon, decoded = self.vae.decoder(torch.cat([z, generated.to(z)])).split([len(z), len(generated)])
        return recon, mean, std, decoded


def _narrow_posterior(encoder: nn.Module, scale_bias: float) -> None:
    """Start the posterior's std small (softplus(scale_bias)): with the default init the latent
    noise (std ~0.7) drowns the means, and the decoder learns one average sound for every input
    for the first hundreds of steps before it starts to read the latent."""
    final = encoder.layers[-1]
    with torch.no_grad():
        final.bias[final.bias.shape[0] // 2:] = scale_bias


def initialise_vae_weights(pipeline: ArcPipeline, opts: VAEOptions) -> None:
    """Apply the recipe's ``init`` scheme to a VAE with random weights (a new run without --init;
    weights given with --init or read from a checkpoint are trained as they are)."""
    if opts.init == "signal_preserving":
        vae = pipeline.pretransform.model
        signal_preserving_init(vae.encoder, output_gain=1.0)
        signal_preserving_init(vae.decoder)
        _narrow_posterior(vae.encoder, opts.initial_scale_bias)


def check_comb_free_upsamplers(count: int, decoder: OobleckConfig) -> None:
    """Refuse a ``comb_free_upsamplers`` this decoder cannot take (checked before a run writes anything)."""
    if count and decoder.use_nearest_upsample:
        raise ConfigError("comb_free_upsamplers: this decoder upsamples by nearest x s + conv, which is comb-free "
                          "already; set comb_free_upsamplers = 0")
    if count >= len(decoder.strides) > 0:
        raise ConfigError(f"comb_free_upsamplers = {count}: this decoder has {len(decoder.strides)} upsamplers and "
                          "the first must stay free to render steady tones on the frame grid; set it to "
                          f"{len(decoder.strides) - 1} or less")


def comb_free_upsamplers(decoder: OobleckDecoder, cfg: OobleckConfig, count: int) -> list[WNConvTranspose1d]:
    """The decoder's last ``count`` upsamplers, projected comb-free now (a resumed run's are already)."""
    check_comb_free_upsamplers(count, cfg)
    chosen = [m for m in decoder.modules() if isinstance(m, WNConvTranspose1d)][len(cfg.strides) - count:]
    for conv in chosen:
        make_comb_free(conv)
    return chosen


class VAEStage:
    name = "vae"

    @property
    def trained_as(self) -> str:
        """The stage the run's weights record (``arc-edge info``): a decoder-only run says so, since the
        rest of its model (DiT, text encoder) comes unchanged from its --init."""
        return f"{self.name} (decoder only)" if self.opts.freeze_encoder else self.name

    def __init__(self, pipeline: ArcPipeline, opts: VAEOptions, env: DistEnv, data, run_dir: Path, fresh: bool):
        self.pipeline, self.opts, self.env, self.data = pipeline, opts, env, data
        pipeline.pretransform.model.encoder.requires_grad_(not opts.freeze_encoder)
        self.generated = generated_latents(pipeline, data, opts.generated_latents, opts.seed, opts.generated_mixed_share) \
            if opts.generated_latents else None
        # the decoder as the run began (a resume restores it from the checkpoint, in load_state)
        self.anchor_decoder = (copy.deepcopy(pipeline.pretransform.model.decoder).to(env.device).eval()
                               .requires_grad_(False) if opts.generated_anchor_weight > 0 else None)
        self.comb_free = comb_free_upsamplers(pipeline.pretransform.model.decoder, pipeline.cfg.decoder,
                                              opts.comb_free_upsamplers)
        self.objective = wrap(_VAEObjective(pipeline).train(), env)
        self.opt = _adamw(self.objective, opts.lr, opts.weight_decay)
        self.mel = (mel_filterbank(pipeline.cfg.sample_rate, 2048, 64, 40.0, pipeline.cfg.sample_rate / 2).to(env.device)
                    if opts.mel_weight > 0 else None)
        cfg = pipeline.cfg
        self.discriminator = (wrap(MultiResolutionDiscriminator(cfg.audio_channels).to(env.device).train(), env)
                              if opts.adversarial_weight > 0 or opts.feature_matching_weight > 0 else None)
        self.opt_d = None if self.discriminator is None else _adamw(self.discriminator, opts.lr, opts.weight_decay)
        # on the data's frame grid when it has one (procedural-grid): the warm-up teaches the tones the data plays
        self.warmup_tones = (ProceduralDataset(opts.dataset_size, cfg.sample_size, cfg.sample_rate, seed=opts.seed,
                                               steady_tone_share=1.0, frame_rate=getattr(data, "frame_rate", None))
                             if opts.tone_warmup_steps else None)

    def step(self, gen: torch.Generator, index: int) -> dict[str, float]:
        data = self.warmup_tones if index < self.opts.tone_warmup_steps else self.data
        audio = draw_batch(data, self.opts.batch_size, gen)["audio"].to(self.env.device)
        crop = min(self.opts.crop, audio.shape[-1])
        hop = self.pipeline.cfg.downsampling_ratio if self.opts.crop_on_frames else 1
        start = crop_start(audio.shape[-1], crop, gen, self.opts.end_crop_share, hop)
        audio = audio[..., start:start + crop]
        z_shape = (audio.shape[0], self.pipeline.cfg.latent_dim, crop // self.pipeline.cfg.downsampling_ratio)
        noise = torch.randn(z_shape, generator=gen).to(self.env.device)
        generated_frames = min(self.opts.generated_crop // self.pipeline.cfg.downsampling_ratio or z_shape[-1],
                               self.pipeline.cfg.latent_length)
        generated = None if self.generated is None else \
            latent_windows(self.generated, audio.shape[0], generated_frames, gen).to(self.env.device)
        recon, mean, std, decoded = self.objective(audio, noise, generated)
        ms_weight = self.opts.mid_side_weight if index >= self.opts.mid_side_from_step else 0.0
        # before spectral_from_step the magnitude terms are logged but not trained on
        spectral = 1.0 if index >= self.opts.spectral_from_step else 0.0
        terms = {"kl": (self.opts.kl_weight, losses.vae_kl(mean, std))}
        sr = self.pipeline.cfg.sample_rate
        high_recon, high_audio = ((losses.highpass(recon, sr, self.opts.spectral_highpass_hz),
                                   losses.highpass(audio, sr, self.opts.spectral_highpass_hz))
                                  if self.opts.spectral_highpass_hz > 0 else (recon, audio))
        if self.opts.stft_weight > 0:
            terms["stft"] = (spectral * self.opts.stft_weight,
                             losses.stereo_stft_loss(high_recon, high_audio, tuple(self.opts.ffts), ms_weight,
                                                     self.opts.log_floor))
        if self.opts.envelope_weight > 0:
            terms["envelope"] = (spectral * self.opts.envelope_weight, losses.envelope_loss(recon, audio))
        if self.opts.mel_weight > 0:
            terms["mel"] = (spectral * self.opts.mel_weight, losses.log_mel_loss(high_recon, high_audio, self.mel,
                                                                               self.opts.mel_log_floor))
        if self.opts.mse_weight > 0:
            terms["mse"] = (self.opts.mse_weight, losses.waveform_mse(recon, audio, sr, self.opts.mse_lowpass_hz))
        if self.opts.transport_weight > 0:
            terms["transport"] = (self.opts.transport_weight, losses.spectral_transport_loss(recon, audio))
        if self.opts.waveform_weight > 0:
            terms["waveform"] = (self.opts.waveform_weight, losses.waveform_loss(recon, audio))
        dc_tolerance = self.opts.dc_tolerance
        if self.opts.dc_weight > 0:
            terms["dc"] = (self.opts.dc_weight, losses.dc_loss(recon, audio, dc_tolerance))
        whine = {"noise_factor": self.opts.whine_noise_factor, "tolerance": self.opts.whine_tolerance,
                 "exponent": self.opts.whine_exponent}
        if self.opts.whine_weight > 0:
            terms["whine"] = (self.opts.whine_weight, losses.whine_loss(recon, audio, **whine))
        if self.opts.peak_weight > 0:
            terms["peak"] = (self.opts.peak_weight, losses.peak_loss(recon))
        if self.opts.buzz_weight > 0:
            terms["buzz"] = (self.opts.buzz_weight, losses.buzz_loss(recon, audio, self.opts.buzz_period))
        hop = self.pipeline.cfg.downsampling_ratio
        if self.opts.spurious_tone_weight > 0:
            terms["spurious_tone"] = (self.opts.spurious_tone_weight, losses.spurious_tone_loss(recon, audio, hop))
        if decoded is not None:  # no reference: a clean render has no DC, no whine, no overshoot
            terms["generated_dc"] = (self.opts.dc_weight,
                                     losses.dc_loss(decoded, torch.zeros_like(decoded), dc_tolerance))
            terms["generated_whine"] = (self.opts.whine_weight, losses.whine_loss(decoded, **whine))
            terms["generated_peak"] = (self.opts.peak_weight, losses.peak_loss(decoded))
            if self.opts.spurious_tone_weight > 0:
                terms["generated_spurious_tone"] = (self.opts.spurious_tone_weight,
                                                    losses.inharmonic_tone_loss(decoded, hop))
            if self.anchor_decoder is not None:
                with torch.no_grad():
                    first_rendering = self.anchor_decoder(generated)
                terms["generated_anchor"] = (self.opts.generated_anchor_weight,
                                             losses.envelope_loss(decoded, first_rendering))
        if self.opts.balance_weight > 0 and audio.shape[1] == 2:
            terms["balance"] = (spectral * self.opts.balance_weight, losses.stereo_balance_loss(recon, audio))
        if self.discriminator is not None:
            terms.update(self._adversarial_terms(recon, audio))
        loss = sum(weight * value for weight, value in terms.values())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.objective.parameters(), 1.0)
        self.opt.step()
        for conv in self.comb_free:
            make_comb_free(conv)
        metrics = {"loss": loss.item(), **{name: value.item() for name, (_, value) in terms.items()}}
        if self.discriminator is not None:
            metrics["d_loss"] = self._discriminator_step(recon.detach(), audio)
        return metrics

    def _adversarial_terms(self, recon: torch.Tensor, audio: torch.Tensor) -> dict[str, tuple[float, torch.Tensor]]:
        disc = unwrap(self.discriminator)
        with torch.no_grad():  # the reference's activations are targets
            real = disc(audio)
        disc.requires_grad_(False)
        fake = disc(recon)
        disc.requires_grad_(True)
        return {"adversarial": (self.opts.adversarial_weight,
                                torch.stack([losses.hinge_g_loss(logits) for logits, _ in fake]).mean()),
                "feature_matching": (self.opts.feature_matching_weight,
                                     torch.stack([losses.feature_matching_loss(r, f)
                                                  for (_, r), (_, f) in zip(real, fake, strict=True)]).mean())}

    def _discriminator_step(self, recon: torch.Tensor, audio: torch.Tensor) -> float:
        outputs = self.discriminator(torch.cat((audio, recon)))
        n = len(audio)
        d_loss = torch.stack([losses.hinge_d_loss(logits[:n], logits[n:]) for logits, _ in outputs]).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(), 1.0)
        self.opt_d.step()
        return d_loss.item()

    def state(self) -> dict:
        state = {"opt": self.opt.state_dict()}
        if self.anchor_decoder is not None:
            state["anchor_decoder"] = self.anchor_decoder.state_dict()
        if self.discriminator is not None:
            state["discriminator"] = unwrap(self.discriminator).state_dict()
            state["opt_d"] = self.opt_d.state_dict()
        return state

    def load_state(self, state: dict) -> None:
        if (self.discriminator is not None) != ("discriminator" in state):
            raise ConfigError("a resume cannot switch the adversary on or off (adversarial_weight and "
                              "feature_matching_weight both 0, or not); leave them as the run had them")
        self.opt.load_state_dict(state["opt"])
        if (self.anchor_decoder is not None) != ("anchor_decoder" in state):
            raise ConfigError("a resume cannot switch generated_anchor_weight on or off (the decoder its run began "
                              "with is kept only while it is on); leave it as the run had it")
        if self.anchor_decoder is not None:
            self.anchor_decoder.load_state_dict(state["anchor_decoder"])
        if self.discriminator is not None:
            unwrap(self.discriminator).load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])

    def export_pipeline(self) -> ArcPipeline:
        if self.opts.unit_latents:
            self.pipeline.cfg = with_latent_scale(self.pipeline.cfg, latent_std(self.pipeline, self.data))
        return self.pipeline


LATENT_STD_CLIPS = 32  # the first clips of the data: enough for a std within a few percent, ~10 s on 2 cores


def latent_std(pipeline: ArcPipeline, data, clips: int = LATENT_STD_CLIPS, batch: int = 8) -> float:
    """Std of the VAE posterior's means (before the pretransform scale) over the data's first clips."""
    n = min(clips, len(data))
    device = next(pipeline.pretransform.parameters()).device
    with torch.no_grad():
        means = [pipeline.posterior(torch.stack([data[i]["audio"] for i in range(start, min(start + batch, n))])
                                    .to(device))[0] for start in range(0, n, batch)]
    return float(torch.cat(means).std()) * pipeline.cfg.pretransform.scale


def with_latent_scale(cfg: ModelConfig, scale: float) -> ModelConfig:
    """``cfg`` with its pretransform scale set to ``scale`` (4 significant digits, as a config reads)."""
    raw = copy.deepcopy(cfg.raw)
    raw["model"]["pretransform"]["scale"] = float(f"{scale:.4g}")
    return parse_config(raw, "the trained VAE's config")


class _Denoiser(nn.Module):
    """Conditioners + DiT as one module (what RF pretraining updates), returning v and the alignment
    loss (zero without an ``alignment`` module). One module, so DDP synchronises the alignment heads."""

    def __init__(self, pipeline: ArcPipeline, alignment: TextLatentAlignment | None = None):
        super().__init__()
        self.model, self.conditioner, self.text_encoder = pipeline.model, pipeline.conditioner, pipeline.text_encoder
        self.alignment = alignment

    def forward(self, x_t, t, ids, mask, seconds, keep, x0):
        cross, glob = conditioning(self.text_encoder, self.conditioner.conditioners["seconds_total"], ids, mask,
                                   seconds)
        v = self.model(x_t, t, cross * keep[:, None, None], glob)
        aligned = self.alignment(cross[:, :ids.shape[1]], mask, x0) if self.alignment is not None else v.new_zeros(())
        return v, aligned


def _latents(batch: dict, pipeline: ArcPipeline, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    if "latent" in batch:
        return batch["latent"].to(device)
    with torch.no_grad():  # encode audio on the fly with the frozen VAE, in the latent scale the cache has
        mean, std = pipeline.posterior(batch["audio"].to(device))
        return mean + std * torch.randn(mean.shape, generator=gen).to(device)


def _keep_mask(n: int, dropout: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) >= dropout).float().to(device)


class RFStage:
    name = "rf"

    def __init__(self, pipeline: ArcPipeline, opts: RFOptions, env: DistEnv, data, run_dir: Path, fresh: bool):
        self.pipeline, self.opts, self.env, self.data = pipeline, opts, env, data
        if fresh and opts.train_text_encoder and opts.new_text_encoder:
            self._new_text_encoder(run_dir)
        pipeline.pretransform.requires_grad_(False)
        pipeline.text_encoder.requires_grad_(opts.train_text_encoder)
        alignment = (TextLatentAlignment(pipeline.cfg.cond_dim, pipeline.cfg.latent_dim).to(env.device)
                     if opts.alignment_weight > 0 else None)
        self.denoiser = wrap(_Denoiser(pipeline, alignment).train(), env)
        self.opt = _adamw(self.denoiser, opts.lr, opts.weight_decay)
        self.ema = EMA(pipeline.model, opts.ema_decay)

    def _new_text_encoder(self, run_dir: Path) -> None:
        """A SentencePiece model trained on the captions, and a fresh small T5 of the configured size."""
        cfg = self.pipeline.cfg
        spm_file = run_dir / "spiece.model"
        if self.env.is_main:
            captions = [c for i in range(min(len(self.data), 20000)) for c in self.data.captions(i)]
            train_tokenizer(captions, spm_file, self.opts.tokenizer_vocab)
        barrier(self.env)
        tokenizer = PromptTokenizer(spm_file, cfg.prompt.max_length)
        t5 = self.pipeline.text_encoder.t5
        if tokenizer.vocab_size > t5.config.vocab_size:
            raise ConfigError(f"the trained tokenizer has {tokenizer.vocab_size} pieces, more than the T5's vocabulary "
                              f"({t5.config.vocab_size}); lower tokenizer_vocab or enlarge the T5 in the model config")
        torch.manual_seed(self.opts.seed)
        self.pipeline.text_encoder = TextEncoder.from_config(copy.deepcopy(t5.config)).to(self.env.device)
        self.pipeline.tokenizer = tokenizer

    def step(self, gen: torch.Generator, index: int) -> dict[str, float]:
        batch = draw_batch(self.data, self.opts.batch_size, gen, self.opts.word_dropout)
        dev = self.env.device
        x0 = _latents(batch, self.pipeline, gen, dev)
        ids, mask = tokenize_batch(self.pipeline.tokenizer, batch["caption"])
        n = x0.shape[0]
        if self.opts.t_sampling == "logit_normal":
            t = logit_normal_t(n, gen)
        else:
            t = logsnr_uniform_t(n, -6.0, 2.0, gen)
        t = t.to(dev)
        noise = torch.randn(x0.shape, generator=gen).to(dev)
        x_t = noisy_latent(x0, noise, t)
        v, aligned = self.denoiser(x_t, t, ids.to(dev), mask.to(dev), batch["seconds"].to(dev),
                                   _keep_mask(n, self.opts.cfg_dropout, gen, dev), x0)
        rf = losses.rf_loss(v, x0, noise)
        loss = rf + self.opts.alignment_weight * aligned
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.denoiser.parameters(), 1.0)
        self.opt.step()
        self.ema.update(self.pipeline.model)
        if self._alignment is not None:
            return {"loss": loss.item(), "rf": rf.item(), "alignment": aligned.item()}
        return {"loss": loss.item()}

    @property
    def _alignment(self) -> TextLatentAlignment | None:
        """The alignment heads (None at alignment_weight 0): what the stage logs and checkpoints follows them."""
        return unwrap(self.denoiser).alignment

    def state(self) -> dict:
        state = {"opt": self.opt.state_dict(), "ema": self.ema.state_dict()}
        if self._alignment is not None:
            state["alignment"] = self._alignment.state_dict()
        return state

    def load_state(self, state: dict) -> None:
        alignment = self._alignment
        if (alignment is not None) != ("alignment" in state):
            raise ConfigError("a resume cannot switch alignment_weight between 0 and > 0 (the checkpoint's alignment "
                              "heads would be missing or unused); leave alignment_weight as the run had it")
        if alignment is not None:
            try:
                alignment.load_state_dict(state["alignment"])
            except RuntimeError as e:  # heads of another shape: saved before the time-ordered latent summary
                raise ConfigError("this run's alignment heads do not fit this arc-edge's alignment term (they were "
                                  "saved by an earlier version); start the RF run again without --resume") from e
        self.opt.load_state_dict(state["opt"])
        self.ema.load_state_dict(state["ema"])

    def export_pipeline(self) -> ArcPipeline:
        return _with_ema(self.pipeline, self.ema)


def check_edited_negatives(edited_negatives: str, data) -> None:
    """Edited negatives are made from what each example is: refused (before a run writes anything) for
    data that does not say."""
    if edited_negatives != "none" and not data.has_specs():
        raise ConfigError(f"edited_negatives = {edited_negatives!r} needs data that says what each example is: "
                          "the procedural data or a latent cache of it made by this version's 'train encode' "
                          "(re-encode an older cache); or set edited_negatives = \"none\"")


class ARCStage:
    """Adversarial relativistic-contrastive post-training; see ``losses`` for the loss forms."""

    name = "arc"

    def __init__(self, pipeline: ArcPipeline, opts: ARCOptions, env: DistEnv, data, run_dir: Path, fresh: bool):
        if opts.batch_size < 2:
            raise ConfigError("ARC needs a per-device batch of at least 2 (for the prompt derangement); raise batch_size")
        check_edited_negatives(opts.edited_negatives, data)
        self.pipeline, self.opts, self.env, self.data = pipeline, opts, env, data
        pipeline.requires_grad_(False)
        pipeline.model.requires_grad_(True)
        self.generator = wrap(pipeline.model.train(), env)
        disc = ARCDiscriminator(pipeline.model.model, opts.disc_fraction, opts.head_channels).to(env.device)
        self.discriminator = wrap(disc.train(), env)
        self.opt_g = _adamw(self.generator, opts.lr, opts.weight_decay)
        self.opt_d = _adamw(self.discriminator, opts.lr_d, opts.weight_decay)
        self.ema = EMA(pipeline.model, opts.ema_decay)
        self.g_loss, self.d_loss = losses.GAN_LOSSES[opts.loss]

    def step(self, gen: torch.Generator, index: int) -> dict[str, float]:
        o, dev = self.opts, self.env.device
        batch = draw_batch(self.data, o.batch_size, gen)
        x0 = _latents(batch, self.pipeline, gen, dev)
        n = x0.shape[0]
        ids, mask = tokenize_batch(self.pipeline.tokenizer, batch["caption"])
        edited = self._edited_prompts(batch, gen) if o.edited_negatives != "none" else None
        with torch.no_grad():  # conditioners are frozen after RF pretraining
            cross, glob = self.pipeline.condition(ids.to(dev), mask.to(dev), batch["seconds"].to(dev))
            if edited is not None:
                cross_e, glob_e = self.pipeline.condition(edited[0].to(dev), edited[1].to(dev), batch["seconds"].to(dev))

        # Generator: one-step denoise from x_t, then re-noise real and fake to s with one shared noise.
        t = logsnr_uniform_t(n, *o.gen_logsnr, gen).to(dev)
        x_t = noisy_latent(x0, torch.randn(x0.shape, generator=gen).to(dev), t)
        keep = _keep_mask(n, o.cfg_dropout, gen, dev)
        x0_hat = x0_from_velocity(x_t, t[:, None, None], self.generator(x_t, t, cross * keep[:, None, None], glob))
        s = logsnr_uniform_t(n, *o.disc_logsnr, gen).to(dev)
        shared = torch.randn(x0.shape, generator=gen).to(dev)
        x_real = noisy_latent(x0, shared, s)
        x_fake = noisy_latent(x0_hat, shared, s)

        disc = unwrap(self.discriminator)
        disc.requires_grad_(False)
        logits = disc(torch.cat((x_real, x_fake)), s.repeat(2), cross.repeat(2, 1, 1), glob.repeat(2, 1))
        g_loss = self.g_loss(logits[:n], logits[n:])
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.generator.parameters(), 1.0)
        self.opt_g.step()
        self.ema.update(self.pipeline.model)
        disc.requires_grad_(True)

        # Discriminator: relativistic real-vs-fake, plus contrastive own-prompt vs deranged prompt (and vs
        # the edited prompt).
        perm = losses.derangement(n, gen).to(dev)
        parts = [(x_real, cross, glob), (x_fake.detach(), cross, glob), (x_real, cross[perm], glob[perm])]
        if edited is not None:
            parts.append((x_real, cross_e, glob_e))
        x, c, g = (torch.cat(p) for p in zip(*parts, strict=True))
        d_real, d_fake, d_mis, *d_edited = self.discriminator(x, s.repeat(len(parts)), c, g).split(n)
        d_adv = self.d_loss(d_real, d_fake)
        d_con = losses.contrastive_d_loss(d_real, d_mis)
        d_loss = d_adv + o.contrastive_weight * d_con
        metrics = {"d_adv": d_adv.item(), "d_contrastive": d_con.item()}
        if d_edited:
            d_edit = losses.contrastive_d_loss(d_real, d_edited[0])
            d_loss = d_loss + o.edited_weight * d_edit
            metrics |= {"d_edited": d_edit.item(), "d_own_gt_edited": (d_real > d_edited[0]).float().mean().item()}
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(), 1.0)
        self.opt_d.step()
        return {"g_loss": g_loss.item(), **metrics, "d_real_gt_fake": (d_real > d_fake).float().mean().item(),
                "d_own_gt_other": (d_real > d_mis).float().mean().item()}

    def _edited_prompts(self, batch: dict, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and mask of each example's caption with one attribute changed (``edited_negatives``)."""
        rng = random.Random(int(torch.randint(2**31, (1,), generator=gen)))  # drawn from the step's generator
        attributes = tuple(ATTRIBUTES) if self.opts.edited_negatives == "all" else ("waveform",)
        return tokenize_batch(self.pipeline.tokenizer, [edited_caption(spec, attributes, rng) for spec in batch["spec"]])

    def state(self) -> dict:
        return {"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "ema": self.ema.state_dict(),
                "discriminator": unwrap(self.discriminator).state_dict()}

    def load_state(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.ema.load_state_dict(state["ema"])
        unwrap(self.discriminator).load_state_dict(state["discriminator"])

    def export_pipeline(self) -> ArcPipeline:
        return _with_ema(self.pipeline, self.ema)


STAGES = {"vae": VAEStage, "rf": RFStage, "arc": ARCStage}
