"""rcmkit.core.frames: the arrow forms of pandas look-ups, sorts and factorizations the forecast's Book uses
(issue #15) give pandas' own answers, missing values and absent keys included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcmkit.core.frames import factorize_sorted, positions, sort_order


def test_positions_are_get_indexer():
    """'a' is at 1 of ['c', 'a'], 'x' and a missing value nowhere (-1), 'c' at 0."""
    values = pd.Series(["a", "x", None, "c"], dtype="str")
    index = np.array(["c", "a"], dtype=object)
    assert positions(values, index).tolist() == [1, -1, -1, 0]
    assert positions(values, index).tolist() == pd.Index(index).get_indexer(values.astype(object)).tolist()
    assert positions(values, np.array([], dtype=object)).tolist() == [-1, -1, -1, -1]


def test_factorize_sorted_is_pandas_factorize():
    values = pd.Series(["claim-10", "claim-9", None, "claim-10", "Claim-1", "é"], dtype="str")
    codes, uniques = factorize_sorted(values)
    want_codes, want_uniques = pd.factorize(values, sort=True)
    assert codes.tolist() == want_codes.tolist() == [1, 2, -1, 1, 0, 3]  # 'C' < 'c' < 'é' by code point
    assert list(uniques) == list(want_uniques) == ["Claim-1", "claim-10", "claim-9", "é"]


@pytest.mark.parametrize("seed", [0, 1])
def test_sort_order_is_a_stable_mergesort(seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"claim": rng.integers(0, 5, 200), "day": rng.integers(0, 3, 200).astype(float),
                          "id": pd.Series([f"R{n}" for n in rng.integers(0, 50, 200)], dtype="str")})
    frame.loc[frame.index % 17 == 0, "day"] = np.nan  # missing values sort last, as in pandas
    want = frame.sort_values(["claim", "day", "id"], kind="mergesort").index.to_numpy()
    assert sort_order(frame, ["claim", "day", "id"]).tolist() == want.tolist()
