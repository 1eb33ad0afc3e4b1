"""Padding items with different numbers of options to one array shape.

The bundled sets mix 2 to 5 options per question (PIQA 2; ARC 3, 4 or 5). The scorer stores
features as [N, K, d] with K the largest option count, zero-filled where an item has fewer; the
mask below says which slots are real. The game's rule (docs/game.md): a padded candidate is never
predicted, never an alternative and never a label, so the game must take this mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stackray.data.items import MCItem


def max_options(items: Sequence[MCItem]) -> int:
    """The largest number of options among ``items`` (0 for no items)."""
    return max((it.num_options for it in items), default=0)


def option_mask(items: Sequence[MCItem], num_options: int | None = None) -> np.ndarray:
    """bool [N, K]: ``mask[i, j]`` is True when option j of item i exists.

    K is ``num_options`` when given (to pad several windows to one width; it must be at least the
    largest option count), otherwise the largest option count among ``items``.
    """
    widest = max_options(items)
    k = widest if num_options is None else num_options
    if k < widest:
        raise ValueError(f"num_options={num_options} is smaller than the largest option count {widest} among the items")
    counts = np.fromiter((it.num_options for it in items), dtype=np.int64, count=len(items))
    return np.arange(k)[None, :] < counts[:, None]


def gold_array(items: Sequence[MCItem]) -> np.ndarray:
    """int64 [N]: each item's gold option index, -1 where it has none (``answer is None``).

    For evaluation outside the game only: gold reaches the learner through the oracle.
    """
    return np.fromiter((-1 if it.answer is None else it.answer for it in items), dtype=np.int64, count=len(items))
