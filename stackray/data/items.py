"""The one record type every part of stackray passes around: a multiple-choice item.

Why a dataclass and not the raw dict: the scorer, the game and the server all need the same
guarantees (>= 2 string options, an answer index in range or None for unlabelled pool items),
and checking them once, where the item is built, keeps every later stage free of re-validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MCItem:
    """One question with its candidate answers.

    `answer` is the 0-based gold option, or None when the item comes without gold (a human-oracle
    pool, a served request). Gold never reaches the learner except through an oracle.
    """

    id: str
    question: str
    options: tuple[str, ...]
    answer: int | None = None
    subject: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.options, tuple):
            object.__setattr__(self, "options", tuple(self.options))
        if len(self.options) < 2:
            raise ValueError(f"item {self.id!r}: field 'options' needs at least 2 options, got {len(self.options)}")
        for i, opt in enumerate(self.options):
            if not isinstance(opt, str):
                raise ValueError(f"item {self.id!r}: field 'options[{i}]' must be a string, got {type(opt).__name__}")
        if self.answer is not None and not (0 <= self.answer < len(self.options)):
            raise ValueError(
                f"item {self.id!r}: field 'answer' = {self.answer} is out of range for {len(self.options)} options"
            )

    @property
    def num_options(self) -> int:
        return len(self.options)
