"""Fast forms of pandas operations that are slow on arrow-backed string columns (issue #15): ingest and the
metrics use them.

pandas 3's ``Series.isin`` on a ``str`` (pyarrow) column turns every value it is given into a pyarrow scalar in a
Python loop: about 30 us per value, so ingest's ``claims["claim_id"].isin(<250,000 ids>)`` took seconds each
time. :func:`isin` gives the same answer with one ``pyarrow.compute.is_in`` call.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["isin", "positions", "factorize_sorted", "sort_order", "duplicated", "drop_duplicates", "lookup"]


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    array = getattr(series.array, "_pa_array", None)
    if array is None or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array


def isin(series: pd.Series, values: Iterable) -> pd.Series:
    """``series.isin(values)``: a boolean Series on ``series``' index. Arrow-backed string columns are matched
    in one ``pyarrow.compute.is_in`` (missing values match a None or NaN among ``values``, as in pandas); any
    other column, or values that are not all strings, go to pandas."""
    array = _arrow_strings(series)
    if array is None:
        return series.isin(values)
    if isinstance(values, (pd.Series, pd.Index)) and _arrow_strings(pd.Series(values)) is not None:
        value_set = _arrow_strings(pd.Series(values)).combine_chunks()
    else:
        try:
            value_set = pa.array(list(values), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            return series.isin(values)
        if not (pa.types.is_string(value_set.type) or pa.types.is_large_string(value_set.type)
                or pa.types.is_null(value_set.type)):
            return series.isin(values)
    if len(value_set) == 0:
        return pd.Series(np.zeros(len(series), dtype=bool), index=series.index, name=series.name)
    value_set = value_set.cast(array.type)
    found = pc.is_in(array, value_set=value_set)
    return pd.Series(np.asarray(found, dtype=bool), index=series.index, name=series.name)


def _arrow(values) -> pa.Array | pa.ChunkedArray:
    """``values`` (a Series, an Index, a numpy array or a list) as an arrow array, without a copy when the Series
    is arrow-backed."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, (pd.Series, pd.Index)):
        array = getattr(values.array, "_pa_array", None)
        if array is not None:
            return array
        values = values.to_numpy()
    return pa.array(values, from_pandas=True)


def positions(values, index) -> np.ndarray:
    """Each of ``values``' position in ``index`` (distinct values), -1 when absent or missing: what
    ``pd.Index(index).get_indexer(values)`` gives, in one ``pyarrow.compute.index_in`` hash look-up (for string
    keys: pandas turns arrow strings into Python objects first, about 0.4 s per million)."""
    values, index = _arrow(values), _arrow(index)
    if isinstance(index, pa.ChunkedArray):
        index = index.combine_chunks()
    if len(index) == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    if values.type != index.type:
        values = values.cast(index.type)
    found = pc.index_in(values, value_set=index, skip_nulls=True)
    return np.asarray(found.fill_null(-1), dtype=np.int64)


def factorize_sorted(values) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True)`` for strings: (codes as int64, -1 for a missing value; the distinct
    values in ascending order as an object array), by arrow's dictionary encoding and sort."""
    array = _arrow(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = array.dictionary_encode()
    order = np.asarray(pc.sort_indices(encoded.dictionary), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    raw = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    codes = np.where(raw >= 0, rank[np.maximum(raw, 0)] if len(rank) else -1, -1)
    uniques = encoded.dictionary.take(pa.array(order)).to_numpy(zero_copy_only=False).astype(object)
    return codes.astype(np.int64), uniques


def sort_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """The row positions of ``frame`` sorted by ``keys`` (ascending, stable, missing values last): what
    ``frame.sort_values(keys, kind="mergesort")`` orders, by ``pyarrow.compute.sort_indices`` (pandas sorts
    arrow string keys through Python objects)."""
    table = pa.table({f"k{i}": _arrow(frame[k]) for i, k in enumerate(keys)})
    # pyarrow places nulls at the end by default
    return np.asarray(pc.sort_indices(table, sort_keys=[(f"k{i}", "ascending") for i in range(len(keys))]),
                      dtype=np.int64)


def duplicated(frame: pd.DataFrame, subset: list[str] | tuple[str, ...], keep: str = "first") -> np.ndarray:
    """``frame.duplicated(subset, keep=keep).to_numpy()`` (missing values equal to each other, as in pandas):
    each key column turned into integer codes (an arrow string column by one dictionary encoding, pandas
    factorizes strings at several times its cost: issue #15), the codes combined into one integer per row, and
    those hashed once."""
    combined: np.ndarray | None = None
    width = 1
    for name in subset:
        column = frame[name]
        array = _arrow_strings(column)
        if array is not None:
            encoded = (array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array).dictionary_encode()
            cardinality = len(encoded.dictionary) + 1  # missing values: one more code
            code = np.asarray(encoded.indices.fill_null(cardinality - 1), dtype=np.int64)
        else:
            code, uniques = pd.factorize(column, use_na_sentinel=False)
            code, cardinality = np.asarray(code, dtype=np.int64), max(len(uniques), 1)
        width *= cardinality
        if width >= 1 << 62:  # the combined codes would overflow: pandas' own way
            return frame.duplicated(list(subset), keep=keep).to_numpy()
        combined = code if combined is None else combined * cardinality + code
    if combined is None:
        return frame.duplicated(keep=keep).to_numpy()
    return pd.Series(combined).duplicated(keep=keep).to_numpy()


def drop_duplicates(frame: pd.DataFrame, subset: list[str] | tuple[str, ...], keep: str = "first", *,
                    adjacent: bool = False) -> pd.DataFrame:
    """``frame.drop_duplicates(subset, keep=keep)`` by :func:`duplicated`; the frame itself when nothing is
    dropped. ``adjacent``: the caller knows equal keys are next to each other (the frame is sorted by them), so a
    row is a duplicate when its key equals its neighbour's (no hashing; one arrow string key only, else as
    without it)."""
    array = _arrow_strings(frame[subset[0]]) if adjacent and len(subset) == 1 else None
    if array is not None and len(frame) > 1:
        array = array.combine_chunks()
        same = pc.equal(array.slice(1), array.slice(0, len(array) - 1))
        both_missing = pc.and_(pc.is_null(array.slice(1)), pc.is_null(array.slice(0, len(array) - 1)))
        same = np.asarray(pc.or_kleene(same, both_missing).fill_null(False), dtype=bool)
        dup = np.zeros(len(frame), dtype=bool)
        if keep == "first":
            dup[1:] = same
        elif keep == "last":
            dup[:-1] = same
        else:
            dup = None
        if dup is not None:
            return frame[~dup] if dup.any() else frame
    dup = duplicated(frame, subset, keep)
    return frame[~dup] if dup.any() else frame


def lookup(keys: pd.Series, index: pd.Series, values: pd.Series) -> pd.Series:
    """``keys.map(pd.Series(values.to_numpy(), index=index))`` for distinct ``index`` values: each key's value
    (missing where the key is not in ``index``), on ``keys``' index, in ``values``' dtype, by one arrow hash
    look-up (:func:`positions`; pandas' map turns arrow string keys into Python objects first)."""
    if len(index) == 0 or not index.is_unique:  # pandas' own answer (float NaNs; an error for a key it cannot tell)
        return keys.map(pd.Series(values.to_numpy(), index=pd.Index(index)))
    at = positions(keys, index)
    if isinstance(values.dtype, (pd.StringDtype, pd.ArrowDtype)):
        taken = _arrow(values).take(pa.array(at, mask=at < 0))
        return pd.Series(pd.array(taken, dtype=values.dtype), index=keys.index, name=keys.name)
    return pd.Series(values.to_numpy()[np.maximum(at, 0)], index=keys.index, name=keys.name).where(at >= 0)
