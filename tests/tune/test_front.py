"""The front is exactly the non-dominated set (checked against the definition, pair by pair)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackray.tune.front import pareto_front


def _dominated(i: int, labels, acc) -> bool:
    return any(labels[j] <= labels[i] and acc[j] >= acc[i] and (labels[j] < labels[i] or acc[j] > acc[i])
               for j in range(len(labels)))


# small integer grids make ties (equal labels, equal accuracy, duplicates) common
points = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=0, max_size=30)


@settings(max_examples=300, deadline=None)
@given(points)
def test_front_is_exactly_the_non_dominated_set(pts) -> None:
    labels = [float(a) for a, _ in pts]
    acc = [b / 6 for _, b in pts]
    front = pareto_front(labels, acc)
    assert len(set(front.tolist())) == len(front)
    assert set(front.tolist()) == {i for i in range(len(pts)) if not _dominated(i, labels, acc)}
    assert list(np.array(labels)[front]) == sorted(np.array(labels)[front])  # listed by labels


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        pareto_front([1.0, np.nan], [0.5, 0.5])
    with pytest.raises(ValueError, match="shapes"):
        pareto_front([1.0], [0.5, 0.6])
