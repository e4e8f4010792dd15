"""What the calibrator tests share: hypothesis's labelled confidences to fit a map on."""

from __future__ import annotations

from hypothesis import strategies as st


def labelled_confidences(max_size: int) -> st.SearchStrategy[list[tuple[float, bool]]]:
    """2 to ``max_size`` (confidence, correct) pairs, both labels present; the confidences
    drawn anywhere in [0, 1] or tied at 0, 0.5 or 1."""
    return st.lists(
        st.tuples(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0])), st.booleans()),
        min_size=2, max_size=max_size,
    ).filter(lambda d: len({k for _, k in d}) == 2)
