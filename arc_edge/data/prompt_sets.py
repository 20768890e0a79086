"""The built-in evaluation prompt sets, selectable by name in ``arc-edge eval --prompts``.

- ``heldout``: templates and words the training captions never use (``procedural.heldout_caption``);
  it measures whether the text encoder generalises to new phrasings.
- ``training-style``: captions from the training templates and synonyms for freshly drawn attribute
  combinations; it measures whether the model renders the attributes it was taught to read. The
  audio is never a training example (the evaluation renders its own references), but a caption can
  coincide with one of the training captions.
- ``natural``: prompts written by hand the way people type them (capitals, Hz values, negations,
  abbreviations), with only the attributes each one states; written before the model was trained
  and never used to tune it.
"""

from __future__ import annotations

import json
import random
from importlib import resources

from .procedural import caption, random_spec

FILES = {"heldout": "heldout_prompts.jsonl", "training-style": "training_style_prompts.jsonl",
         "natural": "natural_prompts.jsonl"}
TRAINING_STYLE_SEED = 424242  # far from the datasets' seeds (0 and small integers)


def builtin_text(name: str) -> str:
    return resources.files("arc_edge.data").joinpath(FILES[name]).read_text()


def training_style_lines(n: int = 60, seed: int = TRAINING_STYLE_SEED) -> list[str]:
    """JSONL lines of the ``training-style`` set (the committed file is this function's output)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        spec = random_spec(rng)
        row = {"prompt": caption(spec, rng), "attributes": spec.attributes(), "frequency": round(spec.frequency, 2)}
        lines.append(json.dumps(row))
    return lines
