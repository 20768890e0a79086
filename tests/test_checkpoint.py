"""Model directories: round trip, strict key/shape checks, safe loading."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from arc_edge.checkpoint import load_model_dir, load_vae_dir, trained_record
from arc_edge.config import load_config
from arc_edge.errors import CheckpointError, ConfigError


def test_round_trip_preserves_every_tensor(tiny_model_dir, tiny_pipeline):
    loaded = load_model_dir(tiny_model_dir)
    a, b = tiny_pipeline.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.tokenizer.encode("a sine").ids == tiny_pipeline.tokenizer.encode("a sine").ids


def _copy(src, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(src, dst)
    return dst


def test_missing_unexpected_and_misshaped_keys_in_one_error(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path)
    sd = load_file(str(d / "model.safetensors"))
    del sd["model.model.transformer.project_in.weight"]
    sd["model.model.extra"] = torch.zeros(1)
    sd["model.model.preprocess_conv.weight"] = torch.zeros(3, 3, 1)
    save_file(sd, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError) as err:
        load_model_dir(d)
    msg = str(err.value)
    assert "1 missing: model.model.transformer.project_in.weight" in msg
    assert "1 unexpected: model.model.extra" in msg
    assert "1 mis-shaped: model.model.preprocess_conv.weight (3, 3, 1)" in msg
    assert "\n" not in msg


def test_missing_weights_and_config(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path)
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model_dir(d)
    (d / "model_config.json").unlink()
    with pytest.raises(ConfigError, match="model_config.json"):
        load_model_dir(d)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model_dir(tmp_path / "nowhere")


def test_ckpt_is_loaded_with_weights_only(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path)
    sd = load_file(str(d / "model.safetensors"))
    (d / "model.safetensors").unlink()
    torch.save({"state_dict": sd}, d / "model.ckpt")
    loaded = load_model_dir(d)
    assert torch.equal(loaded.state_dict()["model.model.preprocess_conv.weight"],
                       sd["model.model.preprocess_conv.weight"])

    class Evil:
        def __reduce__(self):
            return (print, ("pickle code ran",))
    torch.save({"state_dict": sd, "x": Evil()}, d / "model.ckpt")
    with pytest.raises(CheckpointError, match="could not be loaded safely"):
        load_model_dir(d)


def test_the_vae_alone_reads_only_the_vae_tensors_from_safetensors_and_from_a_ckpt(tiny_model_dir, tmp_path,
                                                                                    monkeypatch):
    import arc_edge.checkpoint as checkpoint

    full = load_model_dir(tiny_model_dir).pretransform.model.state_dict()
    read: list[str] = []
    real_open = checkpoint.safe_open

    class RecordingFile:  # safetensors' reader, noting every tensor taken from the file
        def __init__(self, *args, **kwargs):
            self.inner = real_open(*args, **kwargs)

        def __enter__(self):
            self.file = self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def keys(self):
            return self.file.keys()

        def get_tensor(self, key):
            read.append(key)
            return self.file.get_tensor(key)

    monkeypatch.setattr(checkpoint, "safe_open", RecordingFile)
    _, vae = load_vae_dir(tiny_model_dir)
    assert read and all(k.startswith("pretransform.") for k in read)
    assert len(read) == len(full) and all(torch.equal(vae.model.state_dict()[k], v) for k, v in full.items())
    d = _copy(tiny_model_dir, tmp_path)  # a .ckpt is one pickle: read whole, the VAE kept
    sd = load_file(str(d / "model.safetensors"))
    (d / "model.safetensors").unlink()
    torch.save({"state_dict": sd}, d / "model.ckpt")
    _, from_ckpt = load_vae_dir(d)
    assert all(torch.equal(from_ckpt.model.state_dict()[k], v) for k, v in full.items())


def test_bad_config_is_one_clear_error(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path)
    raw = json.loads((d / "model_config.json").read_text())
    raw["model"]["diffusion"]["config"]["io_channels"] = 7
    (d / "model_config.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="io_channels must equal the VAE latent_dim"):
        load_config(d / "model_config.json")
    (d / "model_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(d / "model_config.json")


def test_missing_t5_folder_names_the_fix(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path)
    shutil.rmtree(d / "t5")
    with pytest.raises(CheckpointError, match="pass --t5 DIR"):
        load_model_dir(d)


def test_trained_record_reads_the_weights_metadata_and_escapes_hostile_text(tiny_model_dir, tmp_path):
    d = _copy(tiny_model_dir, tmp_path)
    assert trained_record(d) == {}  # saved outside a training run
    state = load_file(d / "model.safetensors")
    save_file(state, d / "model.safetensors", metadata={"arc_edge_trained_step": "1\n\x1b[31m", "other": "x",
                                                        "arc_edge_trained_stage": "vae"})
    assert trained_record(d) == {"stage": "vae", "step": "'1\\n\\x1b[31m'"}
    (d / "model.safetensors").write_bytes(b"")
    assert trained_record(d) == {}  # unreadable: loading the weights is what reports it
