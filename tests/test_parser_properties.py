"""Property tests of every parser of untrusted input: a valid document with one random part replaced,
deleted or re-typed is either accepted, into something the rest of arc-edge can use, or refused with an
ArcEdgeError of one line. Any other exception is a crash a user would see as a traceback."""

import copy
import json
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arc_edge.config import builtin_config, parse_config
from arc_edge.errors import ArcEdgeError
from arc_edge.evaluation import load_prompts
from arc_edge.export.manifest import parse_manifest
from arc_edge.export.recipes import parse_recipe
from arc_edge.models.pipeline import ArcPipeline
from arc_edge.training.recipe import STAGE_OPTIONS, load_recipe

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["../x", "/etc/passwd", "dit.pte", "", "pingpong", "8", "decoder"]),
    st.lists(st.integers(min_value=-5, max_value=70), max_size=4), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                                  max_size=2),
)


def _paths(node, prefix=()):
    """Every place in a JSON tree: (path to it, its value)."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw, document):
    """``document`` with one node replaced by a random JSON value, or deleted."""
    doc = copy.deepcopy(document)
    places = [p for p, _ in _paths(doc) if p]
    path = draw(st.sampled_from(places))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return doc


def _refused_cleanly(exc: ArcEdgeError) -> None:
    message = str(exc)
    assert message and "\n" not in message, message
    assert "Traceback" not in message


@pytest.fixture(scope="module")
def manifest_raw(et_int8_bundle):
    return json.loads((et_int8_bundle / "manifest.json").read_text())


@SETTINGS
@given(data=st.data())
def test_a_mutated_manifest_parses_or_is_refused_in_one_line(manifest_raw, data):
    raw = data.draw(mutated(manifest_raw))
    try:
        manifest = parse_manifest(raw, Path("/bundle"), "0" * 64)
    except ArcEdgeError as exc:
        _refused_cleanly(exc)
        return
    # accepted: everything the runtimes read from it is usable
    assert all(isinstance(name, str) and "/" not in name for name in manifest.files)
    for steps, schedule in manifest.schedules.items():
        assert len(schedule) == steps + 1 and all(0.0 <= t <= 1.0 for t in schedule)
    assert manifest.decode is not None and manifest.decode.windows


@pytest.mark.parametrize("name", ["tiny", "saos"])
@SETTINGS
@given(data=st.data())
def test_a_mutated_model_config_parses_into_a_buildable_model_or_is_refused(name, data):
    raw = data.draw(mutated(builtin_config(name).raw))
    try:
        cfg = parse_config(raw, "model_config.json")
        with torch.device("meta"):
            ArcPipeline(cfg)  # an accepted config must build (on meta: no memory)
    except ArcEdgeError as exc:
        _refused_cleanly(exc)


TOML_VALUES = st.sampled_from(['"int8_dynamic"', '"fp32"', "nan", "inf", "-1e400", "1e400", "0", "-5", '"x"',
                               "[]", '["Linear", "Conv9d"]', "{}", "true", '"""\nmulti"""', "[1, 2"])


@SETTINGS
@given(data=st.data())
def test_a_mutated_export_recipe_parses_or_is_refused_in_one_line(data):
    text = (Path(__file__).resolve().parents[1] / "export" / "recipes" / "int8.toml").read_text()
    lines = text.splitlines()
    values = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
    i = data.draw(st.sampled_from(values))
    key = lines[i].split("=", 1)[0]
    lines[i] = data.draw(st.sampled_from([f"{key}= {data.draw(TOML_VALUES)}", "", f"{key.strip()}x = 1", "[graphs.x]"]))
    try:
        recipe = parse_recipe("\n".join(lines), "recipe.toml", "int8")
    except ArcEdgeError as exc:
        _refused_cleanly(exc)
        return
    for graph in recipe.graphs.values():
        assert graph.min_snr_db == graph.min_snr_db  # not NaN


@pytest.mark.parametrize("stage", sorted(STAGE_OPTIONS))
@SETTINGS
@given(data=st.data())
def test_random_training_overrides_parse_or_are_refused_in_one_line(stage, data):
    from dataclasses import fields
    names = [f.name for f in fields(STAGE_OPTIONS[stage])] + ["no_such_option"]
    overrides = data.draw(st.dictionaries(st.sampled_from(names), JSON_VALUES, min_size=1, max_size=3))
    try:
        opts = load_recipe(None, stage, overrides)
    except ArcEdgeError as exc:
        _refused_cleanly(exc)
        return
    assert opts.steps >= 1 and opts.batch_size >= 1


PROMPT_LINES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda d: json.dumps(d), st.dictionaries(
        st.sampled_from(["prompt", "attributes", "frequency", "extra"]),
        st.one_of(JSON_VALUES, st.dictionaries(st.sampled_from(["pan", "waveform", "tempo", "colour"]), JSON_VALUES)),
        max_size=4)),
)


@SETTINGS
@given(lines=st.lists(PROMPT_LINES, min_size=1, max_size=4))
def test_random_prompt_files_load_or_are_refused_in_one_line(tmp_path, lines):
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        prompts = load_prompts(path)
    except ArcEdgeError as exc:
        _refused_cleanly(exc)
        return
    assert prompts and all(p.prompt.strip() for p in prompts)
