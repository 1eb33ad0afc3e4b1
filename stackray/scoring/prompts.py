"""Prompt formats: how a multiple-choice item becomes one prompt plus K continuations.

Every format returns a `PromptSplit`: the text shared by all candidates (`prompt`) and one
continuation per option. The scorer needs the split, not a joined string, for two reasons:

- prefix sharing: the prompt is run through the model once and the K continuations are scored on
  its cached keys/values;
- an exact token boundary: the prompt and each continuation are tokenised *separately* and their
  ids concatenated (see `stackray.scoring.hf_backend.tokenize_split`). Tokenising the joined
  string could merge the last prompt character with the first continuation character into one
  token, which would make the prefix-shared and the one-sequence-per-option computations see
  different ids. Every continuation therefore starts with its own leading space.

Formats:

- ``cloze``: ``"Question: {q}\\nAnswer:"``, continuation ``" " + option`` (the option's text is
  scored; the mean log-prob over its tokens is the length-normalised zero-shot score).
- ``letter``: the question with its options listed ``"A. ..."``, ``"B. ..."``, ending in
  ``"Answer:"``; continuations ``" A"``, ``" B"``, ... (one token each for most tokenisers).

k-shot examples (items with gold answers, e.g. from a dev split) are rendered in the same format
with their gold continuation and prepended, separated by a blank line. Question and option texts
are stripped of surrounding whitespace (the bundled data keeps the source's trailing spaces and
newlines, which would otherwise leak into token boundaries).

`NEUTRAL_PROMPT` is the prompt of the calibration term log p(y | prompt) − log p(y | neutral):
it carries the format's answer cue and nothing about the question, so the difference measures how
much the question, rather than the option's prior frequency, supports the option.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from stackray.data.items import MCItem

FORMATS: tuple[str, ...] = ("cloze", "letter")
NEUTRAL_PROMPT = "Answer:"
# Bump when any template below changes: it is part of the feature-cache key.
PROMPT_VERSION = 1
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SHOT_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PromptSplit:
    """The shared prompt of one item and its candidates' continuations (in option order)."""

    prompt: str
    continuations: tuple[str, ...]


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is a known format, else raise a ValueError that lists the known ones."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def _cloze(item: MCItem) -> PromptSplit:
    prompt = f"Question: {item.question.strip()}\nAnswer:"
    return PromptSplit(prompt, tuple(" " + opt.strip() for opt in item.options))


def _letter(item: MCItem) -> PromptSplit:
    if item.num_options > len(LETTERS):
        raise ValueError(f"item {item.id!r}: the letter format supports at most {len(LETTERS)} options")
    lines = [f"Question: {item.question.strip()}"]
    lines += [f"{LETTERS[i]}. {opt.strip()}" for i, opt in enumerate(item.options)]
    lines.append("Answer:")
    return PromptSplit("\n".join(lines), tuple(f" {LETTERS[i]}" for i in range(item.num_options)))


_BUILDERS = {"cloze": _cloze, "letter": _letter}


def build_prompt(item: MCItem, fmt: str = "cloze", shots: Sequence[MCItem] = ()) -> PromptSplit:
    """The (prompt, continuations) split of ``item`` in format ``fmt``, with ``shots`` prepended.

    Each shot must carry a gold answer; it is rendered as prompt + gold continuation.
    """
    build = _BUILDERS[check_format(fmt)]
    parts = []
    for shot in shots:
        if shot.answer is None:
            raise ValueError(f"k-shot example {shot.id!r} has no gold answer (field 'answer' is None)")
        split = build(shot)
        parts.append(split.prompt + split.continuations[shot.answer])
    target = build(item)
    prefix = _SHOT_SEPARATOR.join(parts)
    prompt = f"{prefix}{_SHOT_SEPARATOR}{target.prompt}" if parts else target.prompt
    return PromptSplit(prompt, target.continuations)


def build_prompts(items: Sequence[MCItem], fmt: str = "cloze", shots: Sequence[MCItem] = ()) -> list[PromptSplit]:
    """`build_prompt` for every item (the format is checked even for an empty list)."""
    check_format(fmt)
    return [build_prompt(it, fmt, shots) for it in items]


def shots_hash(shots: Sequence[MCItem]) -> str:
    """sha256 (hex) of the k-shot examples' content, for cache keys ("" for zero-shot)."""
    if not shots:
        return ""
    rows = [[s.id, s.question, list(s.options), s.answer] for s in shots]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
