"""SentencePiece prompt tokenisation in the T5 convention, as Hugging Face's T5 tokenizer does it:
special tokens written literally in a prompt (``</s>``, ``<pad>``, ``<unk>``, ``<extra_id_N>``) map
to their ids, the text between them is encoded piece by piece, then ``</s>``, padded to max_length.
The C++ runner and the Android app's Java core implement the same rule (tested against this)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from .errors import CheckpointError, InputError, first_line

EXTRA_IDS = 100  # <extra_id_0> .. <extra_id_99>, ids counted down from vocab + 99 (Hugging Face's T5)
_SPECIAL = re.compile(r"</s>|<pad>|<unk>|<extra_id_(?:[1-9]?[0-9])>")


@dataclass(frozen=True)
class TokenizedPrompt:
    ids: list[int]
    mask: list[int]
    truncated: bool


class PromptTokenizer:
    def __init__(self, model_file: Path, max_length: int):
        model_file = Path(model_file)
        if not model_file.is_file():
            raise CheckpointError(f"no SentencePiece model at {model_file}; the T5 folder needs spiece.model")
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        except (RuntimeError, OSError) as exc:
            raise CheckpointError(f"{model_file} is not a SentencePiece model ({first_line(exc)})") from None
        self.model_file = model_file
        self.max_length = max_length
        self.pad_id = max(self.sp.pad_id(), 0)
        self.eos_id = self.sp.eos_id()
        if self.eos_id < 0:
            raise CheckpointError(f"{model_file} defines no </s> piece; T5 tokenizers need one")
        self.special = {"</s>": self.eos_id, "<pad>": self.pad_id, "<unk>": self.sp.unk_id()}
        self.special.update({f"<extra_id_{i}>": self.vocab_size + EXTRA_IDS - 1 - i for i in range(EXTRA_IDS)})

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def pieces(self, text: str) -> list[int]:
        """Ids of ``text``: literal special tokens as single ids, the text between them encoded."""
        ids: list[int] = []
        pos = 0
        for match in _SPECIAL.finditer(text):
            ids += self.sp.encode(text[pos:match.start()])
            ids.append(self.special[match.group()])
            pos = match.end()
        return ids + self.sp.encode(text[pos:])

    def encode(self, text: str) -> TokenizedPrompt:
        if not text or not text.strip():
            raise InputError("the prompt is empty; describe the sound to generate, e.g. \"a soft sine tone\"")
        pieces = self.pieces(text)
        room = self.max_length - 1  # the last slot is </s>
        truncated = len(pieces) > room
        ids = pieces[:room] + [self.eos_id]
        n = len(ids)
        return TokenizedPrompt(ids + [self.pad_id] * (self.max_length - n), [1] * n + [0] * (self.max_length - n),
                               truncated)


# Every trained tokenizer gets a piece for each of these, whatever its captions use, so ordinary
# text (case, digits, punctuation, Western European letters) never becomes <unk>.
COVERED_CHARACTERS = (
    "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII
    + "\u00a1\u00a3\u00a7\u00b0\u00b1\u00b5\u00bf\u00d7\u00f7\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u20ac"
    + "".join(chr(c) for c in range(0xC0, 0x100) if c not in (0xD7, 0xF7))  # Latin-1 letters
)


def train_tokenizer(texts: list[str], out_file: Path, vocab_size: int, normalization: str = "nmt_nfkc") -> None:
    """Train a T5-convention SentencePiece unigram model (pad 0, </s> 1, <unk> 2, no <s>) on ``texts``
    plus the covered characters, each spelled out as its own word."""
    import io

    coverage = [" ".join(COVERED_CHARACTERS)] * 3
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts) + coverage), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False,
        normalization_rule_name=normalization, character_coverage=1.0, minloglevel=2,
    )
    Path(out_file).write_bytes(model.getvalue())
