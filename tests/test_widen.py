"""Growing a trained decoder's blocks (``train decoder --widen-decoder``): same sound, new channels trainable."""

import json
import os
import subprocess
import sys

import pytest
import torch

from arc_edge.checkpoint import load_model_dir, random_pipeline, save_model_dir
from arc_edge.errors import InputError
from arc_edge.models.widen import decoder_widths, widen_pipeline_decoder

WIDER = [128, 64, 32, 32, 32]


def _decoder_config(model_dir):
    raw = json.loads((model_dir / "model_config.json").read_text())
    return raw["model"]["pretransform"]["config"]["decoder"]["config"]


def test_widened_decoder_renders_the_same_and_its_new_channels_train(tiny_cfg, tmp_path):
    pipe = random_pipeline(tiny_cfg, seed=3)
    z = torch.randn(1, tiny_cfg.latent_dim, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = pipe.decode(z)
    assert decoder_widths(pipe.cfg.decoder) == [128, 64, 32, 16, 16]
    widen_pipeline_decoder(pipe, WIDER)
    assert decoder_widths(pipe.cfg.decoder) == WIDER
    with torch.no_grad():
        after = pipe.decode(z)
    assert torch.allclose(after, before, atol=1e-5 * before.abs().max().item())
    # what the old channels compute never changed, so only the new ones can move the output's gradient
    final = pipe.pretransform.model.decoder.layers[-2]
    assert final.weight_v.shape[1] == 32
    pipe.decode(z).pow(2).mean().backward()
    assert final.weight_v.grad[:, 16:].abs().sum() > 0  # the weights that read the new channels learn
    save_model_dir(pipe, tmp_path / "m")
    saved, original = _decoder_config(tmp_path / "m"), tiny_cfg.raw["model"]["pretransform"]["config"]["decoder"]["config"]
    assert (saved["channels"], saved["c_mults"]) == (32, [1, 1, 2, 4, 8])
    assert {k: v for k, v in saved.items() if k not in ("channels", "c_mults")} == \
        {k: v for k, v in original.items() if k not in ("channels", "c_mults")}
    with torch.no_grad():
        assert torch.allclose(load_model_dir(tmp_path / "m").decode(z), after, atol=1e-6)


@pytest.mark.parametrize("widths, message", [
    ([128, 64, 32, 16], "this decoder has 5 blocks"),
    ([128, 64, 16, 16, 16], "narrows a block"),
    ([128, 64, 32, 24, 24], "multiple of the last block's"),
    ([128, 64, 48, 32, 32], "multiple of the last block's"),
])
def test_widths_that_cannot_grow_the_decoder_are_refused(tiny_cfg, widths, message):
    pipe = random_pipeline(tiny_cfg, seed=3)
    with pytest.raises(InputError, match=message):
        widen_pipeline_decoder(pipe, widths)
    assert decoder_widths(pipe.cfg.decoder) == [128, 64, 32, 16, 16]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "arc_edge.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)


def test_train_decoder_widen_decoder_from_the_command_line(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--widen-decoder", ",".join(map(str, WIDER)), "--out", run,
             "--steps", "1", "--batch-size", "1", "--set", "crop=8192", "--set", "dataset_size=2")
    assert r.returncode == 0, r.stderr
    assert decoder_widths(load_model_dir(run / "model").cfg.decoder) == WIDER
    assert _decoder_config(run / "model")["c_mults"] == [1, 1, 2, 4, 8]
    r = _cli("train", "decoder", "--out", run, "--resume", "--steps", "2", "--widen-decoder", "128,64,64,64,64")
    assert r.returncode == 2 and "a resumed run keeps the decoder" in r.stderr
    r = _cli("train", "rf", "--init", tiny_model_dir, "--widen-decoder", "128,64,32,32,32", "--out", tmp_path / "rf")
    assert r.returncode == 2 and "takes no --widen-decoder" in r.stderr and not (tmp_path / "rf").exists()
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--widen-decoder", "128,64,x", "--out", tmp_path / "bad")
    assert r.returncode == 2 and "separated by commas" in r.stderr and not (tmp_path / "bad").exists()
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--widen-decoder", "128,64,16,16,16", "--out", tmp_path / "n")
    assert r.returncode == 2 and "narrows a block" in r.stderr and not (tmp_path / "n").exists()
    # a width the config allows but no memory holds (100+ GB of weights) is sized on the meta device first
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--widen-decoder", "65536,64,32,32,32", "--out", tmp_path / "h")
    assert r.returncode == 2 and "more than half of this machine's memory" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "h").exists()


def test_vae_from_joins_a_widened_decoder_with_its_widths_but_not_another_latent_scale(tiny_model_dir, tmp_path):
    from arc_edge.commands.train import take_vae

    donor = load_model_dir(tiny_model_dir)
    widen_pipeline_decoder(donor, WIDER)
    with torch.no_grad():  # as training the widened decoder leaves it
        for p in donor.pretransform.model.decoder.parameters():
            p.add_(0.01)
    save_model_dir(donor, tmp_path / "wide")
    pipe = load_model_dir(tiny_model_dir)
    dit_before = {k: v.clone() for k, v in pipe.model.state_dict().items()}
    take_vae(pipe, tmp_path / "wide", tiny_model_dir)
    assert decoder_widths(pipe.cfg.decoder) == WIDER
    z = torch.randn(1, pipe.cfg.latent_dim, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = donor.decode(z)
        assert torch.equal(pipe.decode(z), want)
    assert all(torch.equal(v, dit_before[k]) for k, v in pipe.model.state_dict().items())
    save_model_dir(pipe, tmp_path / "joined")  # what a train rf/arc run with --vae-from saves
    assert _decoder_config(tmp_path / "joined") == _decoder_config(tmp_path / "wide")
    with torch.no_grad():
        assert torch.equal(load_model_dir(tmp_path / "joined").decode(z), want)

    raw = json.loads((tmp_path / "wide" / "model_config.json").read_text())
    raw["model"]["pretransform"]["scale"] = 2.0  # latents read at another scale than the DiT's
    (tmp_path / "wide" / "model_config.json").write_text(json.dumps(raw))
    pipe = load_model_dir(tiny_model_dir)
    with pytest.raises(InputError, match="another VAE architecture"):
        take_vae(pipe, tmp_path / "wide", tiny_model_dir)
    assert decoder_widths(pipe.cfg.decoder) == [128, 64, 32, 16, 16]
