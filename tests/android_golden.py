"""Golden vectors for the Android app's JVM core (android_demo/core), computed by independent code:
the Python package (tokenizer via the sentencepiece library, schedule, ping-pong sampler, WAV
writer, bundle reader) and the native runner's C++ noise source compiled with g++.

    python tests/android_golden.py OUT_DIR --bundle BUNDLE_DIR

The JUnit tests read OUT_DIR (system property ``arcedge.golden``).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch

from arc_edge.audio_io import write_wav
from arc_edge.checkpoint import default_model_dir
from arc_edge.data.procedural import caption_corpus, heldout_caption, random_spec
from arc_edge.decoding import decode_in_windows, end_fade_samples
from arc_edge.export.manifest import MAX_SCHEDULE_STEPS, read_manifest
from arc_edge.sampling import NoiseDraws, logsnr_schedule, sample_pingpong, with_cfg
from arc_edge.tokenizer import PromptTokenizer

REPO = Path(__file__).resolve().parents[1]
MAX_LENGTH = 32

# Strings that exercise the whitespace rules, unknown characters, multi-byte UTF-8 and truncation.
EDGE_CASES = [
    "a", " a", "a ", "  a  b  ", "\ta\tb", "a\nb", "a\u3000b", "A LOUD SAW", "sine,,, wave!!", "ünïcödé sïne",
    "\u00e9t\u00e9", "\ufb01ne tone", "\uff53\uff49\uff4e\uff45", "\u2460 \u00bd", "caf\u0065\u0301", "\U0001f3b5 sine",
    "\u6f22\u5b57 sine", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "x" * 200, "sine " * 40, "0123456789", "a\u00a0b",
    "\u2581sine", "sine\u2581\u2581wave", "----", "a" + "\u0301" * 5,
    # literal special tokens (Hugging Face's T5 tokenizer maps them to their ids)
    "a </s> b", "sine</s>", "</s>", "<pad>x<unk>", "<extra_id_0> noise", "x<extra_id_99>y", "<extra_id_100>",
    "<extra_id_07>", "<extra_id_5><extra_id_6>", "<</s>>", "<s>sine</s >",
]
# Characters for random strings: ASCII, Latin-1, combining marks, compatibility forms, CJK, emoji.
_POOL = (list("abcdefghijklmnopqrstuvwxyz ABCXYZ ,.;:-!?'\"0123456789  \t")
         + [chr(c) for c in range(0xc0, 0x180)] + ["\u0301", "\u0308", "\u00a0", "\u3000", "\u2581"]
         + [chr(c) for c in range(0xff41, 0xff5a)] + ["\u6f22", "\u5b57", "\u97f3", "\U0001f3b5", "\U0001f600"])


def prompts(n_random: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = caption_corpus(2000, seed=seed)
    texts += [heldout_caption(random_spec(rng), rng) for _ in range(300)]
    texts += EDGE_CASES
    for _ in range(n_random):
        texts.append("".join(rng.choice(_POOL) for _ in range(rng.randint(1, 40))))
    return [t for t in texts if t.strip()]


def train_nfkc_model(out: Path, texts: list[str], vocab_size: int = 300, **extra) -> Path:
    """A unigram model with sentencepiece's nmt_nfkc rule (as T5's), to test the precompiled charsmap."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "m"
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram",
            pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False, normalization_rule_name="nmt_nfkc",
            character_coverage=0.9995, minloglevel=2, **extra)
        shutil.copy(f"{prefix}.model", out)
    return out


def write_tokens(model: Path, texts: list[str], out: Path) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(model))
    tok = PromptTokenizer(model, MAX_LENGTH)
    with out.open("w", encoding="utf-8") as f:
        for text in texts:
            t = tok.encode(text)
            f.write(json.dumps({"text": text, "pieces": sp.encode(text), "ids": t.ids, "mask": t.mask,
                                "truncated": t.truncated}) + "\n")


def fake_velocity(cross0: float):
    """The closed-form stand-in for the DiT that the Java test implements too (FakeGraphs)."""
    return lambda x, t: 0.5 * x * (1.0 - t) + 0.25 * t + 0.1 * cross0


def fake_decode(window: torch.Tensor, channels: int, hop: int) -> torch.Tensor:
    """FakeGraphs.decode: out[ch][i] = window[ch % dim][i // hop] + 0.001 i (window-relative)."""
    dim, frames = window.shape[1], window.shape[2]
    i = torch.arange(frames * hop)
    rows = [window[0, ch % dim, i // hop] + 0.001 * i.float() for ch in range(channels)]
    return torch.stack(rows)[None]


def write_pingpong(bundle: Path, out: Path) -> None:
    """Python's sampler, guidance and windowed decoding on the bundle's schedule and decode plan."""
    m = read_manifest(bundle)
    steps, seconds = 8, 0.9 * m.raw["model_config"]["sample_size"] / m.sample_rate
    shape = tuple(m.latent_shape)
    gen = torch.Generator().manual_seed(7)
    noise = NoiseDraws(torch.randn(shape, generator=gen), [torch.randn(shape, generator=gen) for _ in range(steps)])
    schedule = torch.tensor(m.schedules[steps])
    hop = m.raw["model_config"]["sample_size"] // shape[2]
    samples = int(round(seconds * m.sample_rate))
    runs = {}
    for scale in (1.0, 3.0):
        velocity = with_cfg(fake_velocity(seconds), fake_velocity(0.0), scale)
        latent = sample_pingpong(velocity, noise, schedule)
        first = latent[..., :m.decode.window]
        chunks = decode_in_windows(lambda w: fake_decode(w, m.audio_channels, hop), latent, m.decode, hop, samples,
                                   end_fade_samples(m.sample_rate), m.sample_rate)
        audio = torch.cat(list(chunks), dim=-1)[0]
        runs[str(scale)] = {"first_window": first.flatten().tolist(), "audio": audio.T.flatten().tolist()}
    json.dump({"steps": steps, "seconds": seconds, "noises": [n.flatten().tolist() for n in [noise.initial, *noise.steps]],
               "runs": runs}, out.open("w"))


def write_wav_golden(out_dir: Path) -> None:
    rng = np.random.default_rng(3)
    audio = np.concatenate([rng.uniform(-1.2, 1.2, (2, 500)), np.array([[0.5, -0.5, 1.0, -1.0, 0.0]] * 2)], axis=1)
    audio = audio.astype(np.float32)
    write_wav(out_dir / "golden.wav", audio, 44100)
    json.dump({"sample_rate": 44100, "channels": 2, "interleaved": audio.T.flatten().tolist()},
              (out_dir / "wav.json").open("w"))


def write_cpp_noise(out: Path) -> None:
    """arc_runner's draw_noise (device_bench/src/sampler.cpp), compiled alone with the host g++."""
    driver = r"""
#include <cstdio>
#include "sampler.hpp"
int main() {
  for (unsigned long long seed : {0ULL, 42ULL, 123456789ULL}) {
    auto v = arc::draw_noise(37, 2, seed);
    for (auto& t : v) for (float x : t) std::printf("%.9g\n", x);
  }
}
"""
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "driver.cpp", Path(tmp) / "driver"
        src.write_text(driver)
        subprocess.run(["g++", "-std=gnu++17", "-O1", "-I", str(REPO / "device_bench/src"), str(src),
                        str(REPO / "device_bench/src/sampler.cpp"), "-o", str(exe)], check=True)
        values = [float(x) for x in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]
    json.dump({"numel": 37, "steps": 2, "seeds": [0, 42, 123456789], "values": values}, out.open("w"))


def write_bundle_facts(bundle: Path, out: Path) -> None:
    m = read_manifest(bundle)
    json.dump({"dir": str(bundle), "digest": m.digest, "latent_numel": int(np.prod(m.latent_shape)),
               "default_steps": m.default_steps, "sample_rate": m.sample_rate,
               "max_seconds": m.raw["model_config"]["sample_size"] / m.sample_rate,
               "dit_inputs": [s.name for s in m.graph("dit").inputs], "files": sorted(m.files),
               "decode_window": m.decode.window, "decode_windows": [w.to_json() for w in m.decode.windows]},
              out.open("w"))


def write_selftest(bundle: Path, out: Path) -> None:
    """The bundle's graphs run by the Python ExecuTorch runtime on the self-test inputs, and Python's verdict."""
    from arc_edge.export.bundle import BundleRuntime
    from arc_edge.export.selftest import run_selftest

    runtime = BundleRuntime(bundle)
    outputs: dict[str, list[list[float]]] = {}

    def run(name, inputs):
        got = runtime.graphs[name](inputs)
        outputs[f"{name}.{sum(k.startswith(name + '.') for k in outputs)}"] = [o.flatten().tolist() for o in got]
        return got

    report = run_selftest(runtime.manifest, run)
    json.dump({"outputs": outputs, "report": report}, out.open("w"))


def generate(out: Path, bundle: Path, n_random: int = 1500) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    texts = prompts(n_random)
    tiny = out / "tiny.model"
    shutil.copy(default_model_dir() / "t5" / "spiece.model", tiny)
    write_tokens(tiny, texts, out / "tokens_tiny.jsonl")
    corpus = caption_corpus(3000, seed=1) + texts[-n_random:]
    write_tokens(train_nfkc_model(out / "nfkc.model", corpus), texts, out / "tokens_nfkc.jsonl")
    train_nfkc_model(out / "byte_fallback.model", corpus, vocab_size=800, byte_fallback=True)
    json.dump({str(s): logsnr_schedule(s).tolist() for s in range(1, MAX_SCHEDULE_STEPS + 1)},
              (out / "schedule.json").open("w"))
    write_wav_golden(out)
    write_cpp_noise(out / "noise_cpp.json")
    write_bundle_facts(bundle, out / "bundle.json")
    write_pingpong(bundle, out / "pingpong.json")
    write_selftest(bundle, out / "selftest.json")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--bundle", type=Path, required=True, help="an exported bundle (manifest, schedule and decode tests)")
    args = ap.parse_args()
    print(generate(args.out, args.bundle))
