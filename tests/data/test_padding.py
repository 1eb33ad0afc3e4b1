"""The validity mask and the gold array for items with different option counts."""

from __future__ import annotations

import numpy as np
import pytest

from stackray.data import MCItem, gold_array, max_options, option_mask

ITEMS = [
    MCItem(id="two", question="q", options=("a", "b"), answer=1),
    MCItem(id="five", question="q", options=("a", "b", "c", "d", "e"), answer=4),
    MCItem(id="three", question="q", options=("a", "b", "c"), answer=None),
]


def test_mask_pads_to_the_widest_item():
    mask = option_mask(ITEMS)
    expected = np.array(
        [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]],
        dtype=bool,
    )
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, expected)
    assert max_options(ITEMS) == 5


def test_mask_to_a_fixed_width():
    mask = option_mask(ITEMS[:1], num_options=4)
    np.testing.assert_array_equal(mask, [[True, True, False, False]])
    with pytest.raises(ValueError, match="smaller than the largest option count 5"):
        option_mask(ITEMS, num_options=4)


def test_gold_array_marks_missing_answers():
    gold = gold_array(ITEMS)
    assert gold.dtype == np.int64
    np.testing.assert_array_equal(gold, [1, 4, -1])


def test_empty_inputs():
    assert option_mask([]).shape == (0, 0)
    assert option_mask([], num_options=3).shape == (0, 3)
    assert gold_array([]).shape == (0,)
