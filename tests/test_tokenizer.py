import pytest
import sentencepiece as spm

from arc_edge.errors import InputError


def test_t5_convention_eos_pad_and_mask(tiny_pipeline):
    tok = tiny_pipeline.tokenizer
    sp = spm.SentencePieceProcessor(model_file=str(tok.model_file))
    text = "a high saw wave panned right"
    out = tok.encode(text)
    pieces = sp.encode(text)
    n = len(pieces) + 1
    assert out.ids[:n] == pieces + [sp.eos_id()]
    assert out.ids[n:] == [0] * (tok.max_length - n)
    assert out.mask == [1] * n + [0] * (tok.max_length - n)
    assert not out.truncated


def test_long_prompt_is_truncated_keeping_eos(tiny_pipeline):
    tok = tiny_pipeline.tokenizer
    out = tok.encode("sine " * 100)
    assert out.truncated and len(out.ids) == tok.max_length
    assert out.ids[-1] == tok.eos_id and all(out.mask)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_prompt_is_an_error(tiny_pipeline, text):
    with pytest.raises(InputError, match="prompt is empty"):
        tiny_pipeline.tokenizer.encode(text)


def test_a_trained_tokenizer_reads_case_digits_punctuation_and_accents(tmp_path):
    from arc_edge.tokenizer import PromptTokenizer, train_tokenizer

    train_tokenizer(["a low sine wave panned left", "a high saw, fading out"] * 20, tmp_path / "s.model", 256)
    tok = PromptTokenizer(tmp_path / "s.model", 64)
    unk = tok.sp.unk_id()
    for text in ["A LOW Sine at 900 Hz, panned Left; no pulsing!", "Café, naïve, 50% (x2) - \"quoted\" [1/4] @#&*+=?",
                 "".join(chr(c) for c in range(0x21, 0x7F))]:
        assert unk not in tok.pieces(text), text
    assert tok.pieces("Left") != tok.pieces("left")  # cased, as T5's own vocabulary


def test_the_default_model_reads_ordinary_text_and_fits_its_captions():
    from arc_edge.checkpoint import load_model
    from arc_edge.data.datasets import ProceduralDataset

    pipeline, source = load_model(None)
    tok = pipeline.tokenizer
    assert not source.random_weights and tok.max_length == 64  # the SAOS prompt length
    printable = "".join(chr(c) for c in range(0x20, 0x7F))
    assert tok.sp.unk_id() not in tok.pieces(printable + " Ünïcödé àéîõü ß")
    data = ProceduralDataset(300, 1024, 44100, seed=5, caption_variants=4)
    lengths = [len(tok.pieces(c)) for i in range(len(data)) for c in data.captions(i)]
    assert sum(n >= tok.max_length for n in lengths) / len(lengths) < 0.01  # captions are not truncated
