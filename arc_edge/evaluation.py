"""Evaluation on the procedural benchmark: prompt adherence, diversity and quality, plus latency.

- adherence: attribute accuracy measured by the analysers (``data/analysis.py``);
- diversity: in the spirit of CCDS, the mean pairwise distance between generations of the same
  prompt divided by the mean distance between generations of different prompts;
- quality: Frechet distance between generated and reference (procedurally rendered) audio.
Distances live in the analysers' feature space (standardised on the reference set): a hand-made,
interpretable embedding; and, with an embedder (``embedding/``, arc-edge's own CLAP-style model
trained on the procedural data), in that learned space too, with a CLAP-style score for adherence.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .data import prompt_sets
from .data.analysis import analyse, harmonic_ratios, score
from .data.band_response import (
    band_response_db,
    band_response_table,
    label_order,
    sound_label,
    summarize_band_response,
)
from .data.procedural import (
    ATTRIBUTES,
    PROBE_WORDS,
    WAVEFORMS,
    check_frame_grid,
    on_frame_grid,
    random_spec,
    render,
    with_irrelevant_words,
)
from .data.signal_health import health, summarize_health
from .errors import InputError, first_line
from .generate import GenerationRequest, Runtime, generate, reconstruct
from .schema import Fields, number_item, read_json, read_text

NEUTRAL = {"fade": "none", "pulse": "steady", "pan": "center"}  # what a prompt gets when it does not ask


@dataclass(frozen=True)
class EvalPrompt:
    prompt: str
    attributes: dict[str, str]  # the attributes the prompt asks for; others are not scored
    frequency: float | None  # the reference's fundamental; None: drawn in its register


def _prompt_row(line: str, where: str) -> EvalPrompt:
    try:
        raw = json.loads(line, parse_constant=lambda c: math.nan)
    except ValueError as exc:
        raise InputError(f"{where} is not valid JSON ({first_line(exc)})") from None
    row = Fields(raw, where, error=InputError)
    prompt = row.string("prompt")
    if not prompt.strip():
        raise InputError(f"{where}: the prompt is empty")
    attributes = row.obj("attributes", {})
    for key in attributes:
        if key not in ATTRIBUTES:
            raise InputError(f"{where}: unknown attribute '{key}'; known: {', '.join(ATTRIBUTES)}")
        attributes.string(key, choices=ATTRIBUTES[key])
    frequency = row.number("frequency", low=20.0, high=20000.0) if row.has("frequency") else None
    return EvalPrompt(prompt, dict(attributes.data), frequency)


def load_prompts(source: str | Path | None = None, limit: int | None = None) -> list[EvalPrompt]:
    """``source``: a built-in set's name (``prompt_sets.FILES``; None means ``heldout``) or a JSONL path of
    ``prompt``, ``attributes`` (any subset: attributes left out are not scored) and optional ``frequency``."""
    path = source or "heldout"  # named in per-line errors
    if str(path) in prompt_sets.FILES:
        text = prompt_sets.builtin_text(str(path))
    else:
        if not Path(source).exists():
            names = " or ".join(prompt_sets.FILES)
            raise InputError(f"no prompt file at {source}; give {names} or a .jsonl with prompt and attributes per line")
        text = read_text(Path(source), "prompt file", InputError, max_bytes=64 << 20)
    prompts = [_prompt_row(line, f"{path} line {n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not prompts:
        raise InputError(f"{path} holds no prompts; write one JSON object per line with at least a 'prompt'")
    prompts = prompts[:limit] if limit else prompts
    if not any(score(p.attributes, p.attributes) for p in prompts):  # adherence would be the mean of nothing
        raise InputError(f"{path}: no prompt{' of the first ' + str(limit) if limit else ''} names an attribute to "
                         f"score; give some prompts attributes ({', '.join(ATTRIBUTES)})")
    return prompts


def with_extra_words(prompts: list[EvalPrompt], count: int, seed: int) -> list[EvalPrompt]:
    """Each prompt with ``count`` everyday words no training caption uses put in at random places (seeded):
    how much a model's reading of its prompts depends on seeing only words it was taught."""
    rng = random.Random(seed)
    return [replace(p, prompt=with_irrelevant_words(p.prompt, rng, count, PROBE_WORDS)) for p in prompts]


def features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    m = analyse(audio, sample_rate)
    mono = np.asarray(audio, dtype=np.float64).mean(axis=0)
    ratios = harmonic_ratios(mono[: sample_rate // 4], sample_rate, m.f0_hz)
    rms = float(np.sqrt((mono ** 2).mean()) + 1e-9)
    return np.array([np.log(m.f0_hz), m.periodicity, *ratios, m.pan_ratio, m.fade_slope,
                     m.pulse_depth["slow"], m.pulse_depth["fast"], np.log(rms)])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """||mu_a - mu_b||^2 + tr(Ca + Cb - 2 (Ca Cb)^1/2), with tr (Ca Cb)^1/2 taken as the trace of the
    symmetric square root of Ca^1/2 Cb Ca^1/2 (same value; stays real and finite for singular Cs).
    None for fewer than two clips a side: no covariance."""
    if len(a) < 2 or len(b) < 2:
        return None
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(ca)
    sqrt_ca = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = sqrt_ca @ cb @ sqrt_ca
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * tr_covmean)


def diversity(embeddings: np.ndarray, groups: list[int]) -> float | None:
    """Mean within-prompt pairwise distance / mean between-prompt distance (0 = identical outputs); None
    without two prompts and two clips of one prompt."""
    sizes = Counter(groups)
    if len(sizes) < 2 or max(sizes.values()) < 2:  # decided before the O(n^2) pairs are walked
        return None
    within, between = [], []
    for i, j in combinations(range(len(groups)), 2):
        d = float(np.linalg.norm(embeddings[i] - embeddings[j]))
        (within if groups[i] == groups[j] else between).append(d)
    return float(np.mean(within) / max(np.mean(between), 1e-12))


class Embedder(Protocol):
    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor: ...

    def embed_text(self, texts: list[str]) -> torch.Tensor: ...


def embedding_metrics(embedder: Embedder, texts: list[str], gen: list[np.ndarray], ref: list[np.ndarray],
                       groups: list[int]) -> dict:
    """CLAP-style score (cosine of audio and prompt embeddings), diversity and FD in the embedding."""
    with torch.no_grad():
        def embed(audios):
            return torch.cat([embedder.embed_audio(torch.from_numpy(np.asarray(a, dtype=np.float32))[None])
                              for a in audios]).numpy()
        g, r = embed(gen), embed(ref)
        t = embedder.embed_text(texts).numpy()
    return {"clap_score": float((g * t).sum(1).mean()), "reference_clap_score": float((r * t).sum(1).mean()),
            "diversity": diversity(g, groups), "reference_diversity": diversity(r, groups),
            "frechet_distance": frechet_distance(g, r)}


def may_have_own_tone(asked: dict[str, str], measured: dict[str, str]) -> bool:
    """Whether a clip's loudest steady tone may be its own sound (signal_health's ``tonal``): not when the
    prompt asks for noise, and, when it leaves the waveform open, not when the analysers hear noise. Otherwise
    a whistle in a noise clip whose prompt named no waveform would pass as that clip's tone."""
    return asked.get("waveform", measured["waveform"]) != "noise"


def evaluate(runtime: Runtime, prompts: list[EvalPrompt],
             n_per_prompt: int, steps: int, sampler: str, cfg_scale: float | None, seed: int = 0,
             on_item: Callable[[], None] | None = None, vae_only: bool = False,
             embedder: Embedder | None = None, frame_locked: bool = False) -> dict:
    """Generate (or, with ``vae_only``, reconstruct the rendered reference) and score every item;
    with an ``embedder``, also in its learned embedding space. ``frame_locked`` renders the references'
    tones on the latent frame grid at phase 0, as ``--data procedural-grid`` trains."""
    cfg = runtime.cfg
    if frame_locked:
        check_frame_grid(cfg.latent_frame_rate)
    seconds = cfg.max_seconds
    hits: dict[str, list[bool]] = defaultdict(list)
    asked: dict[str, list[bool]] = defaultdict(list)  # only prompts that ask for something other than the neutral value
    clip_health: list[dict] = []
    clip_attributes: list[dict] = []  # per clip: what the analysers heard, and which asked attributes it missed
    gen_feats, ref_feats, groups, times = [], [], [], []
    gen_audio, ref_audio, texts = [], [], []
    responses, sounds = [], []  # band response of each reconstruction (vae_only), by sound_label
    rng = random.Random(seed)
    for p_index, p in enumerate(prompts):
        spec = random_spec(random.Random(seed * 7 + p_index), p.attributes, p.frequency)  # the reference sound
        spec = on_frame_grid(spec, cfg.latent_frame_rate) if frame_locked else spec
        for k in range(n_per_prompt):
            item_seed = seed * 100_003 + p_index * 101 + k
            t0 = time.perf_counter()
            if vae_only:
                rendered = render(spec, seconds, cfg.sample_rate, item_seed, frame_locked)
                audio = reconstruct(runtime, rendered)
                responses.append(band_response_db(rendered, audio, cfg.sample_rate))
                sounds.append(sound_label(spec.waveform, spec.pitch))
            else:
                req = GenerationRequest(p.prompt, seconds, steps, seed=item_seed, sampler=sampler, cfg_scale=cfg_scale)
                audio = generate(runtime, req).audio
            times.append(time.perf_counter() - t0)
            attrs = analyse(audio, cfg.sample_rate).attributes
            scored = score(p.attributes, attrs)
            for attr, ok in scored.items():
                hits[attr].append(ok)
                if p.attributes[attr] != NEUTRAL.get(attr):
                    asked[attr].append(ok)
            clip_attributes.append({"prompt": p_index, "seed": item_seed, "measured": attrs,
                                    "missed": sorted(attr for attr, ok in scored.items() if not ok)})
            clip_health.append({"prompt": p_index, "seed": item_seed,
                                **health(audio, cfg.sample_rate, cfg.downsampling_ratio,
                                         tonal=may_have_own_tone(p.attributes, attrs))})
            reference = render(spec, seconds, cfg.sample_rate, rng.randrange(1 << 30), frame_locked)
            gen_feats.append(features(audio, cfg.sample_rate))
            ref_feats.append(features(reference, cfg.sample_rate))
            groups.append(p_index)
            if embedder is not None:
                gen_audio.append(audio)
                ref_audio.append(reference)
                texts.append(p.prompt)
            if on_item:
                on_item()
    gen, ref = np.array(gen_feats), np.array(ref_feats)
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    gen_z, ref_z = (gen - mu) / sd, (ref - mu) / sd
    per_attr = {k: float(np.mean(v)) for k, v in sorted(hits.items())}
    all_hits = [h for v in hits.values() for h in v]
    # what guessing uniformly among each attribute's values would score on these items
    chance = float(np.mean([1.0 / len(ATTRIBUTES[k]) for k, v in hits.items() for _ in v]))
    return {
        "mode": "vae reconstruction" if vae_only else "generation",
        "prompts": len(prompts), "generations": len(groups), "steps": steps, "sampler": sampler,
        "cfg_scale": GenerationRequest("x", seconds, sampler=sampler, cfg_scale=cfg_scale).guidance,
        "seconds": round(seconds, 3), "references": "frame-locked tones" if frame_locked else "procedural",
        "adherence": {"overall": float(np.mean(all_hits)), "per_attribute": per_attr, "chance": chance,
                      "shuffled_prompt_baseline": shuffled_baseline(prompts, groups,
                                                                    [c["measured"] for c in clip_attributes]),
                      # fade, pulse and pan on the prompts that ask for a fade, a pulse or a side: a model
                      # that never fades scores the share of prompts asking for none in "per_attribute"
                      "per_attribute_when_asked": {k: float(np.mean(v)) for k, v in sorted(asked.items())
                                                   if k in NEUTRAL}},
        "signal_health": summarize_health(clip_health),
        # per octave band, waveform and register, the reconstruction's energy over the reference's (dB)
        "band_response": summarize_band_response(responses, sounds, cfg.sample_rate) if vae_only else None,
        "waveform_heard": waveform_heard(prompts, clip_attributes),
        "clip_health": clip_health,
        "clip_attributes": clip_attributes,
        "diversity": diversity(gen_z, groups),
        "reference_diversity": diversity(ref_z, groups),
        "frechet_distance": frechet_distance(gen_z, ref_z),
        "latency_s": {"mean": float(np.mean(times)), "median": float(np.median(times))},
        "embedding": "analyser features (standardised on the reference set)",
        "learned_embedding": (embedding_metrics(embedder, texts, gen_audio, ref_audio, groups)
                              if embedder is not None else None),
    }


def waveform_heard(prompts: list[EvalPrompt], clip_attributes: list[dict]) -> dict[str, dict[str, int]]:
    """Per sound asked for (waveform and register, "saw high"; "noise"; "saw any" where the prompt names no
    register), how many clips the analyser heard as each waveform. One waveform score hides where it is
    lost: high saws and squares heard as sines (their upper partials missing), mid saws as squares."""
    heard: dict[str, dict[str, int]] = {}
    for clip in clip_attributes:
        asked = prompts[clip["prompt"]].attributes
        if "waveform" in asked:
            label = sound_label(asked["waveform"], asked.get("pitch", "any"))
            heard.setdefault(label, dict.fromkeys(WAVEFORMS, 0))[clip["measured"]["waveform"]] += 1
    return dict(sorted(heard.items(), key=lambda item: label_order(item[0])))


def shuffled_baseline(prompts: list[EvalPrompt], groups: list[int], measured: list[dict[str, str]]) -> float | None:
    """Each clip scored against another prompt's attributes (half the prompt list away): the chance
    level of this model's own output distribution. A model biased towards one value (always "saw")
    beats uniform chance without following any prompt; it does not beat this."""
    if len(prompts) < 2:
        return None
    shift = len(prompts) // 2
    hits = [ok for g, m in zip(groups, measured, strict=True)
            for ok in score(prompts[(g + shift) % len(prompts)].attributes, m).values()]
    return float(np.mean(hits)) if hits else None


def load_report(path: Path) -> dict:
    """An eval report, checked for every field the table reads (one-line error otherwise)."""
    raw = read_json(path, "eval report", InputError)
    r = Fields(raw, str(path), error=InputError)
    a = r.obj("adherence")
    a.number("overall")
    for key in a.obj("per_attribute"):
        a.obj("per_attribute").number(key)
    _optional_numbers(a, "chance", "shuffled_prompt_baseline")
    r.integer("steps", low=0)
    r.string("sampler")
    r.number("cfg_scale")
    if r.raw("extra_words", None) is not None:  # absent in reports from before --extra-words
        r.integer("extra_words", low=0)
    r.obj("latency_s").number("mean")
    _optional_numbers(r, "diversity", "frechet_distance")
    for key, numbers in (("learned_embedding", ("clap_score", "frechet_distance")),
                         ("signal_health", ("healthy_share", "max_abs_dc", "median_artefact_tone_db"))):
        if r.raw(key, None) is not None:
            _optional_numbers(r.obj(key), *numbers)
    if r.raw("band_response", None) is not None:
        _check_band_response(r.obj("band_response"))
    return raw


def _optional_numbers(fields: Fields, *keys: str) -> None:
    """Each key may be absent or null (a figure a report could not compute); otherwise a finite number."""
    for key in keys:
        if fields.raw(key, None) is not None:
            fields.number(key)


def _check_band_response(b: Fields) -> None:
    """A --vae-only report's band response: [lo, hi] per band, and per sound one dB value (or null) per
    band. Reports written before the split by register say ``median_db_by_waveform``; read as such."""
    number = number_item(b.where, InputError)

    def edge_pair(value, name: str) -> list[float]:
        if not isinstance(value, list) or len(value) != 2:
            raise InputError(f"{b.where}: field '{name}' must be a [low, high] pair of numbers, got {value!r:.40}")
        return [number(v, f"{name}[{i}]") for i, v in enumerate(value)]

    def db_or_null(value, name: str) -> float | None:
        return None if value is None else number(value, name)

    n = len(b.items("bands_hz", edge_pair, min_len=1))
    if not b.has("median_db_by_sound") and b.has("median_db_by_waveform"):
        b.data["median_db_by_sound"] = b.data.pop("median_db_by_waveform")
    medians = b.obj("median_db_by_sound")
    for sound in medians:
        if len(medians.items(sound, db_or_null)) != n:
            raise medians.fail(sound, f"a list of {n} values (one per band)", medians.raw(sound))


def results_table(reports: dict[str, dict]) -> str:
    """A markdown table of eval reports, one row per label, in the given order."""
    attrs = sorted({k for r in reports.values() for k in r["adherence"]["per_attribute"]})
    head = ["", "steps", "adherence", "chance", "shuffled", *attrs, "CLAP score", "diversity", "FD (feat.)",
            "FD (emb.)", "healthy", "max DC", "tone dB (median)", "ms/gen"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def fmt(v, digits=3):
        return "-" if v is None else f"{v:.{digits}f}"

    for label, r in reports.items():
        e = r.get("learned_embedding") or {}
        sampler = f"{r['steps']} {r['sampler']}" + (f" cfg {r['cfg_scale']:g}" if r["cfg_scale"] != 1 else "")
        if r.get("mode") == "vae reconstruction":
            sampler = "-"
        if r.get("references") == "frame-locked tones":  # not comparable with scores on the usual references
            sampler += " (frame-locked references)"
        if r.get("extra_words"):  # the prompts were not the set's own
            sampler += f" (+{r['extra_words']} words per prompt)"
        h = r.get("signal_health") or {}
        cells = [label, sampler, fmt(r["adherence"]["overall"]), fmt(r["adherence"].get("chance")),
                 fmt(r["adherence"].get("shuffled_prompt_baseline")),
                 *[fmt(r["adherence"]["per_attribute"].get(a), 2) for a in attrs],
                 fmt(e.get("clap_score")), fmt(r.get("diversity")), fmt(r.get("frechet_distance"), 1),
                 fmt(e.get("frechet_distance")), fmt(h.get("healthy_share"), 2), fmt(h.get("max_abs_dc"), 3),
                 fmt(h.get("median_artefact_tone_db"), 1), fmt(r["latency_s"]["mean"] * 1e3, 0)]
        lines.append("| " + " | ".join(cells) + " |")
    responses = {label: r["band_response"] for label, r in reports.items() if r.get("band_response")}
    if responses:  # --vae-only reports: why a waveform is misread
        lines += ["", "Band response of the reconstructions (dB, reconstruction over reference, median per sound):",
                  "", band_response_table(responses)]
    return "\n".join(lines)
