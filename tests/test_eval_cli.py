"""`arc-edge eval` end to end on a tiny random model: report fields, VAE-only mode, the table."""

import json

import numpy as np
import pytest

from arc_edge.cli import main
from arc_edge.data.prompt_sets import builtin_text


def test_eval_report_vae_only_and_table(tiny_model_dir, tmp_path, capsys):
    gen, vae = tmp_path / "gen.json", tmp_path / "vae.json"
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "3", "--n-per-prompt", "2", "--steps", "2",
                 "--out", str(gen)]) == 0
    r = json.loads(gen.read_text())
    assert r["mode"] == "generation" and r["generations"] == 6 and r["steps"] == 2
    assert set(r["adherence"]["per_attribute"]) == {"fade", "pan", "pitch", "pulse", "waveform"}
    e = r["learned_embedding"]
    assert -1 <= e["clap_score"] <= 1 and e["diversity"] >= 0 and e["frechet_distance"] >= 0
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "3", "--n-per-prompt", "1", "--vae-only",
                 "--prompts", "training-style", "--no-embedder", "--out", str(vae)]) == 0
    v = json.loads(vae.read_text())
    assert v["mode"] == "vae reconstruction" and v["learned_embedding"] is None and v["diversity"] is None
    assert v["prompt_set"] == "training-style"
    assert r["band_response"] is None and len(v["band_response"]["bands_hz"]) == 8
    rows = [json.loads(line)["attributes"] for line in builtin_text("training-style").splitlines()[:3]]
    sounds_seen = {a["waveform"] if a["waveform"] == "noise" else f"{a['waveform']} {a['pitch']}" for a in rows}
    assert set(v["band_response"]["median_db_by_sound"]) == sounds_seen
    # chance: uniform guessing per scored attribute (4 waveforms, 3 values elsewhere; no pitch for noise)
    guesses = [1 / 4 if k == "waveform" else 1 / 3 for a in rows for k in a
               if not (k == "pitch" and a["waveform"] == "noise")]
    assert v["adherence"]["chance"] == pytest.approx(sum(guesses) / len(guesses))
    capsys.readouterr()
    assert main(["eval", "--table", f"random tiny={gen}", f"its VAE={vae}"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("|  | steps | adherence | chance | shuffled | fade")
    # signal health per clip and in summary, next to every score
    assert len(r["clip_health"]) == 6 and r["signal_health"]["clips"] == 6
    assert {c["prompt"] for c in r["clip_health"]} == {0, 1, 2}
    assert r["signal_health"]["max_abs_dc"] == pytest.approx(max(abs(d) for c in r["clip_health"] for d in c["dc"]))
    assert 0 <= r["adherence"]["shuffled_prompt_baseline"] <= 1
    # per clip: what was heard and what it missed, which add up to the per-attribute scores
    prompts = [json.loads(line)["attributes"] for line in builtin_text("heldout").splitlines()[:3]]
    clips = r["clip_attributes"]
    assert [(c["prompt"], c["seed"]) for c in clips] == [(c["prompt"], c["seed"]) for c in r["clip_health"]]
    for attr, share in r["adherence"]["per_attribute"].items():
        scored = [c for c in clips if attr in prompts[c["prompt"]]
                  and not (attr == "pitch" and prompts[c["prompt"]]["waveform"] == "noise")]
        assert share == pytest.approx(sum(attr not in c["missed"] for c in scored) / len(scored))
        assert all((attr in c["missed"]) == (c["measured"][attr] != prompts[c["prompt"]][attr]) for c in scored)
    assert set(r["adherence"]["per_attribute_when_asked"]) <= {"fade", "pulse", "pan"}
    # what each clip's waveform was heard as, per sound asked for, adds up to the waveform score
    heard = r["waveform_heard"]
    assert sum(n for row in heard.values() for n in row.values()) == len(clips)
    right = sum(row[sound.partition(" ")[0]] for sound, row in heard.items())
    assert right / len(clips) == pytest.approx(r["adherence"]["per_attribute"]["waveform"])
    assert table[2].startswith("| random tiny | 2 pingpong | ") and table[3].startswith("| its VAE |")
    # the VAE report's band response follows, one row per sound it reconstructed (none for generations)
    band_rows = [line for line in table[4:] if line.startswith("| its VAE |")]
    expected = {w: [("-" if db is None else f"{db:+.1f}") for db in m]
                for w, m in v["band_response"]["median_db_by_sound"].items()}
    assert {row.split(" | ")[1]: row.strip("| ").split(" | ")[2:] for row in band_rows} == expected
    assert not any(line.startswith("| random tiny |") for line in table[4:])
    # a report written before the split by register (median_db_by_waveform) still tabulates
    old = tmp_path / "old_vae.json"
    band = v["band_response"]
    old.write_text(json.dumps({**v, "band_response": {"bands_hz": band["bands_hz"],
                                                      "median_db_by_waveform": band["median_db_by_sound"]}}))
    assert main(["eval", "--table", f"its VAE={old}"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("| its VAE |")][1:] == band_rows


def test_eval_frame_locked_reconstructs_tones_on_the_latent_frame_grid(tiny_model_dir, tmp_path, capsys, monkeypatch):
    import arc_edge.evaluation as evaluation

    rendered = []
    real_render = evaluation.render

    def recording_render(spec, seconds, sample_rate, seed, frame_locked=False):
        rendered.append((spec.frequency, frame_locked))
        return real_render(spec, seconds, sample_rate, seed, frame_locked)

    monkeypatch.setattr(evaluation, "render", recording_render)
    out = tmp_path / "locked.json"
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "4", "--n-per-prompt", "1", "--vae-only",
                 "--frame-locked", "--no-embedder", "--out", str(out)]) == 0
    frame_rate = 44100 / 2048  # the tiny config's latent frame rate
    assert rendered and all(locked and (f / frame_rate).is_integer() for f, locked in rendered)
    assert json.loads(out.read_text())["references"] == "frame-locked tones"
    assert "(frame-locked references)" in capsys.readouterr().out
    assert main(["eval", "--table", f"locked={out}"]) == 0
    assert "| locked | - (frame-locked references) |" in capsys.readouterr().out


def test_eval_extra_words_puts_unseen_words_into_every_prompt_and_records_how_many(tiny_model_dir, tmp_path,
                                                                                 monkeypatch, capsys,
                                                                                 inserted_words):
    import arc_edge.evaluation as E
    from arc_edge.data.procedural import _IRRELEVANT_WORDS, DOMAIN_WORDS, PROBE_WORDS

    # words no training caption uses and no attribute is named by: the probe changes nothing a prompt asks for
    assert not set(PROBE_WORDS) & (set(_IRRELEVANT_WORDS) | DOMAIN_WORDS)
    given = E.load_prompts("natural", limit=4)
    probed = E.with_extra_words(given, 3, seed=1)
    assert probed == E.with_extra_words(given, 3, seed=1) != E.with_extra_words(given, 3, seed=2)
    for before, after in zip(given, probed, strict=True):
        assert after.attributes == before.attributes and after.frequency == before.frequency
        extra = inserted_words(before.prompt, after.prompt)  # its own words stay, in order
        assert len(extra) == 3 and set(extra) <= set(PROBE_WORDS)
    seen, evaluate = [], E.evaluate
    monkeypatch.setattr(E, "evaluate", lambda runtime, prompts, *a, **k: seen.append(prompts) or
                        evaluate(runtime, prompts, *a, **k))
    out = tmp_path / "probe.json"
    assert main(["eval", "--model", str(tiny_model_dir), "--prompts", "natural", "--limit", "4", "--extra-words", "3",
                 "--seed", "1", "--steps", "1", "--n-per-prompt", "1", "--no-embedder", "--out", str(out)]) == 0
    assert seen == [probed] and json.loads(out.read_text())["extra_words"] == 3
    capsys.readouterr()
    assert main(["eval", "--table", f"probed={out}"]) == 0  # the table says the prompts were not the set's own
    assert capsys.readouterr().out.splitlines()[2].startswith("| probed | 1 pingpong (+3 words per prompt) |")
    out.write_text(json.dumps({**json.loads(out.read_text()), "extra_words": "three"}))
    assert main(["eval", "--table", f"probed={out}"]) == 2
    assert "extra_words" in capsys.readouterr().err


def test_eval_refuses_bad_arguments(tiny_model_dir, tmp_path, capsys):
    assert main(["eval", "--model", str(tiny_model_dir)]) == 2
    assert "give --out" in capsys.readouterr().err
    assert main(["eval", "--table", "x=/nonexistent.json"]) == 2
    assert "no eval report at /nonexistent.json" in capsys.readouterr().err
    assert main(["eval", "--model", str(tiny_model_dir), "--embedder", str(tmp_path), "--out",
                 str(tmp_path / "r.json")]) == 2
    assert "arc-edge train clap" in capsys.readouterr().err
    assert main(["eval", "--model", str(tiny_model_dir), "--prompts", str(tmp_path / "none.jsonl"), "--out",
                 str(tmp_path / "r.json")]) == 2
    assert "heldout or training-style" in capsys.readouterr().err
    # the chart goes next to the report: a report named like its chart, or a chart already there, is refused
    # before any work, and nothing is written
    assert main(["eval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r.png")]) == 2
    assert "give the report a .json name" in capsys.readouterr().err
    (tmp_path / "r.png").write_bytes(b"mine")
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "1", "--out", str(tmp_path / "r.json")]) == 2
    assert "r.png already exists; pass --force" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists() and (tmp_path / "r.png").read_bytes() == b"mine"


def test_eval_of_one_prompt_or_one_clip_completes_without_the_figures_it_cannot_have(tiny_model_dir, tmp_path,
                                                                                    capsys):
    """Diversity needs two prompts with two clips; a Frechet distance two clips: left out, said up front."""
    one_prompt, one_clip = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "1", "--n-per-prompt", "2", "--steps", "1",
                 "--out", str(one_prompt)]) == 0
    out = capsys.readouterr().out
    assert "diversity needs 2 prompts or more" in out and "Frechet" not in out
    r = json.loads(one_prompt.read_text())
    assert r["diversity"] is None and r["learned_embedding"]["diversity"] is None and r["frechet_distance"] >= 0
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "1", "--n-per-prompt", "1", "--steps", "1",
                 "--out", str(one_clip)]) == 0
    assert "the Frechet distance needs 2 clips or more" in capsys.readouterr().out
    r = json.loads(one_clip.read_text())
    assert r["frechet_distance"] is None and r["learned_embedding"]["frechet_distance"] is None
    assert main(["eval", "--table", f"one={one_clip}"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split(" | ")
    assert row[11:14] == ["-", "-", "-"]  # diversity, FD (feat.), FD (emb.)


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_eval_writes_a_chart_with_a_panel_per_view_of_the_report(tiny_model_dir, tmp_path, capsys):
    """Generations: attributes, waveform heard, health (3 panels); --vae-only adds the band response."""
    from arc_edge.eval_chart import report_chart

    gen, vae = tmp_path / "gen.json", tmp_path / "vae.json"
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "3", "--n-per-prompt", "1", "--steps", "1",
                 "--no-embedder", "--out", str(gen)]) == 0
    assert f"wrote {gen} and {tmp_path / 'gen.png'}" in capsys.readouterr().out
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "3", "--n-per-prompt", "1", "--vae-only",
                 "--no-embedder", "--out", str(vae)]) == 0
    gen_width, gen_height = _png_size(tmp_path / "gen.png")
    vae_width, vae_height = _png_size(tmp_path / "vae.png")
    assert gen_height == vae_height and vae_width / gen_width == pytest.approx(4 / 3, rel=0.02)
    # a report without any waveform asked for has no "heard" panel
    report = json.loads(gen.read_text())
    no_waveform = report_chart({**report, "waveform_heard": {}}, tmp_path / "plain.png", "t")
    assert _png_size(no_waveform)[0] / gen_width == pytest.approx(2 / 3, rel=0.02)
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary file left
    # --table draws reports side by side with --chart: a bar per report, refusals before any output
    assert main(["eval", "--table", f"gen={gen}", f"vae={vae}", "--chart", str(tmp_path / "cmp.png")]) == 0
    assert f"wrote {tmp_path / 'cmp.png'}" in capsys.readouterr().out
    cmp_width, _ = _png_size(tmp_path / "cmp.png")
    for argv, message in ((["--table", f"gen={gen}", "--chart", str(tmp_path / "cmp.png")], "already exists"),
                          (["--table", f"a={gen}", f"a={vae}"], "label 'a' is given twice"),
                          (["--chart", str(tmp_path / "c2.png"), "--out", str(tmp_path / "x.json")],
                           "--chart draws --table's reports")):
        assert main(["eval", *argv]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and "|" not in captured.out
    assert _png_size(tmp_path / "cmp.png")[0] == cmp_width and not (tmp_path / "c2.png").exists()
    # --force replaces both
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "1", "--n-per-prompt", "1", "--steps", "1",
                 "--no-embedder", "--out", str(gen)]) == 2
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "1", "--n-per-prompt", "1", "--steps", "1",
                 "--no-embedder", "--out", str(gen), "--force"]) == 0
    assert json.loads(gen.read_text())["generations"] == 1


def test_prompt_files_need_something_to_score(tmp_path):
    """Prompts may leave attributes out, but a selection with none to score would average nothing (a
    report of NaNs after every generation): refused up front."""
    from arc_edge.errors import InputError
    from arc_edge.evaluation import load_prompts

    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "a sine", "attributes": {}}\n{"prompt": "a saw", "attributes": {"pan": "left"}}\n')
    assert [p.prompt for p in load_prompts(f)] == ["a sine", "a saw"]
    with pytest.raises(InputError, match="no prompt of the first 1 names an attribute to score"):
        load_prompts(f, limit=1)
    f.write_text('{"prompt": "a sine"}\n')
    with pytest.raises(InputError, match="no prompt names an attribute"):
        load_prompts(f)


def test_waveform_heard_counts_each_clip_under_the_sound_its_prompt_asked_for():
    from arc_edge.evaluation import EvalPrompt, waveform_heard

    prompts = [EvalPrompt("a", {"waveform": "saw", "pitch": "high"}, None),
               EvalPrompt("b", {"waveform": "noise", "pitch": "low"}, None),
               EvalPrompt("c", {"waveform": "square"}, None),  # no register asked
               EvalPrompt("d", {"pan": "left"}, None)]  # no waveform asked: not counted
    clips = [{"prompt": p, "measured": {"waveform": w}}
             for p, w in [(0, "sine"), (0, "sine"), (0, "saw"), (1, "noise"), (2, "square"), (3, "saw")]]
    heard = waveform_heard(prompts, clips)
    assert list(heard) == ["noise", "saw high", "square any"]  # as the band response: by name, then register
    assert heard["saw high"] == {"sine": 2, "square": 0, "saw": 1, "noise": 0}
    assert heard["noise"] == {"sine": 0, "square": 0, "saw": 0, "noise": 1}
    assert sum(heard["square any"].values()) == 1


def test_shuffled_baseline_exposes_a_biased_model():
    """A model that always answers "saw" scores well above uniform chance on saw-heavy prompts, and
    exactly as well against shuffled prompts: the baseline shows it follows nothing."""
    from arc_edge.evaluation import EvalPrompt, shuffled_baseline

    waves = ["saw", "saw", "saw", "sine"]
    prompts = [EvalPrompt(f"p{i}", {"waveform": w}, None) for i, w in enumerate(waves)]
    always_saw = [{"waveform": "saw"}] * 4
    assert shuffled_baseline(prompts, [0, 1, 2, 3], always_saw) == pytest.approx(0.75)
    follows = [{"waveform": w} for w in waves]  # a model that follows its prompt
    # scored against the prompt two further on: saw-saw, saw-sine, saw-saw, sine-saw
    assert shuffled_baseline(prompts, [0, 1, 2, 3], follows) == pytest.approx(0.5)
    assert shuffled_baseline(prompts[:1], [0], follows[:1]) is None


def test_charts_draw_what_the_reports_say(monkeypatch, tmp_path):
    """The health panel splits clips by the health limits; the comparison has a bar per report and attribute."""
    import arc_edge.eval_chart as chart

    figures = []
    monkeypatch.setattr(chart, "save_png", lambda fig, path: figures.append(fig) or path)
    healthy = {"dc": [0.001, -0.002], "peak": 0.5, "clipped_share": 0.0, "silent": False,
               "artefact_tone_db": -60.0, "end_level": 0.1}
    clips = [healthy, {**healthy, "dc": [0.02, 0.0]}, {**healthy, "artefact_tone_db": -30.0}, healthy]
    report = {"adherence": {"overall": 0.5, "per_attribute": {"pan": 0.5, "waveform": 0.25}, "chance": 0.3,
                            "shuffled_prompt_baseline": 0.28, "per_attribute_when_asked": {"pan": 0.6}},
              "clip_health": clips, "waveform_heard": {"saw high": {"sine": 2, "square": 0, "saw": 1, "noise": 0}},
              "band_response": None}
    chart.report_chart(report, tmp_path / "r.png", "t")
    accuracy, heard, health = figures[-1].axes
    assert [round(b.get_height(), 2) for b in accuracy.patches[:3]] == [0.5, 0.5, 0.25]
    assert [line.get_ydata()[0] for line in accuracy.lines] == [0.3, 0.28]  # chance, shuffled
    assert heard.images[0].get_array()[0].tolist() == pytest.approx([2 / 3, 0, 1 / 3, 0])
    good, bad = health.collections
    assert len(good.get_offsets()) == 2 and len(bad.get_offsets()) == 2
    assert sorted(bad.get_offsets()[:, 1].tolist()) == [-60.0, -30.0]  # the DC clip and the tone clip
    other = {**report, "adherence": {**report["adherence"], "per_attribute": {"pan": 1.0, "fade": 0.5}},
             "signal_health": {"healthy_share": 0.75}}
    chart.comparison_chart({"a": report, "b": other}, tmp_path / "c.png")
    bars, shares = figures[-1].axes
    assert len(bars.patches) == 2 * 4  # overall, fade, pan, waveform for each report
    nan = float("nan")  # an attribute a report did not score draws no bar
    np.testing.assert_allclose([b.get_height() for b in bars.patches],
                               [0.5, nan, 0.5, 0.25, 0.5, 0.5, 1.0, nan])
    assert [round(p.get_width(), 2) for p in shares.patches][1] == 0.75
