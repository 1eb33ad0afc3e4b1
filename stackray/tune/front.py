"""The Pareto front of a sweep: the trials no other trial beats on both labels used and accuracy.

Why exact and home-made: Ray Tune has no Pareto support, and "near the front" is not a front. A trial
is dominated when another used no more labels and reached no less accuracy, and is strictly better in
one of the two; the front is every trial that is not dominated (ties on both are all kept).
"""

from __future__ import annotations

import numpy as np


def pareto_front(labels, accuracy) -> np.ndarray:
    """Indices of the non-dominated points (fewer labels and more accuracy are better), by labels then accuracy.

    One sort and one sweep, O(n log n): in order of labels (ties: higher accuracy first) a point is on
    the front iff its accuracy beats every point with strictly fewer labels, and it has the best accuracy
    among the points with its own label count."""
    labels, accuracy = np.asarray(labels, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    if labels.shape != accuracy.shape or labels.ndim != 1:
        raise ValueError(f"pareto_front: labels {labels.shape} and accuracy {accuracy.shape} must be equal 1-d shapes")
    if not (np.all(np.isfinite(labels)) and np.all(np.isfinite(accuracy))):
        raise ValueError("pareto_front: labels and accuracy must be finite")
    ranked = np.lexsort((-accuracy, labels))
    front: list[int] = []
    best_fewer = -np.inf  # best accuracy among points with strictly fewer labels
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and labels[ranked[j]] == labels[ranked[i]]:
            j += 1
        top = accuracy[ranked[i]]  # the best of this label count
        if top > best_fewer:
            front.extend(int(k) for k in ranked[i:j] if accuracy[k] == top)
        best_fewer = max(best_fewer, top)
        i = j
    return np.array(front, dtype=np.int64)
