"""SentencePiece prompt tokenisation in the T5 convention: pieces, then </s>, padded to max_length."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from .errors import CheckpointError, InputError


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
        self.model_file = model_file
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.max_length = max_length
        self.pad_id = max(self.sp.pad_id(), 0)
        self.eos_id = self.sp.eos_id()
        if self.eos_id < 0:
            raise CheckpointError(f"{model_file} defines no </s> piece; T5 tokenizers need one")

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> TokenizedPrompt:
        if not text or not text.strip():
            raise InputError("the prompt is empty; describe the sound to generate, e.g. \"a soft sine tone\"")
        pieces = self.sp.encode(text)
        room = self.max_length - 1  # the last slot is </s>
        truncated = len(pieces) > room
        ids = pieces[:room] + [self.eos_id]
        n = len(ids)
        return TokenizedPrompt(ids + [self.pad_id] * (self.max_length - n), [1] * n + [0] * (self.max_length - n),
                               truncated)


def train_tokenizer(texts: list[str], out_file: Path, vocab_size: int) -> None:
    """Train a small T5-convention SentencePiece model (pad 0, </s> 1, <unk> 2, no <s>)."""
    import io

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False,
        normalization_rule_name="identity", character_coverage=1.0, minloglevel=2,
    )
    Path(out_file).write_bytes(model.getvalue())
