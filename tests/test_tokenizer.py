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
