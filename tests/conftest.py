import os
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_cfg():
    from arc_edge.config import builtin_config
    return builtin_config("tiny")


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_cfg):
    from arc_edge.checkpoint import random_pipeline
    return random_pipeline(tiny_cfg, seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_pipeline):
    """A saved tiny model directory (random weights), shared by tests that load from disk."""
    from arc_edge.checkpoint import save_model_dir
    out = tmp_path_factory.mktemp("models") / "tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model_dir(tiny_pipeline, out)
    return out


@pytest.fixture(scope="session")
def bundled_model_dir(tiny_model_dir):
    """The model `arc-edge export` uses without --model: the bundled default, else the random tiny one."""
    from arc_edge.checkpoint import WEIGHTS_FILE, default_model_dir
    return default_model_dir() if (default_model_dir() / WEIGHTS_FILE).is_file() else tiny_model_dir


def _cli_bundle(tmp_path_factory, model_dir, recipe: str, name: str):
    """An ExecuTorch bundle of ``model_dir`` with ``recipe``, exported through the CLI (1.5 s, windows of 32)."""
    from arc_edge.cli import main
    out = tmp_path_factory.mktemp("bundles") / name
    assert main(["export", "--model", str(model_dir), "--quant", recipe, "--seconds", "1.5",
                 "--decode-window", "32", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def et_int8_bundle(tmp_path_factory, bundled_model_dir):
    """An ExecuTorch int8 bundle of ``bundled_model_dir``, exported once per test run."""
    return _cli_bundle(tmp_path_factory, bundled_model_dir, "int8", "et_int8")


@pytest.fixture(scope="session")
def et_fp16_decoder_bundle(tmp_path_factory, bundled_model_dir):
    """The same with the fp16-decoder recipe."""
    return _cli_bundle(tmp_path_factory, bundled_model_dir, "fp16-decoder", "et_fp16_decoder")


def _inserted_words(own: str, changed: str) -> list[str]:
    """The words of ``changed`` left over once ``own``'s words are matched in order (fails unless every word
    of ``own`` is there, in order)."""
    own_words, extra, i = own.split(" "), [], 0
    for word in changed.split(" "):
        if i < len(own_words) and word == own_words[i]:
            i += 1
        else:
            extra.append(word)
    assert i == len(own_words), (own, changed)
    return extra


@pytest.fixture
def inserted_words():
    """``inserted_words(own, changed)``: the words put into a text (its own words kept, in order)."""
    return _inserted_words
