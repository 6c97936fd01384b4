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

__all__ = ["isin"]


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
