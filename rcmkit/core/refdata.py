"""Versioned reference data shipped with rcmkit (``rcmkit/data/``): the CARC crosswalk (and the one function that
classifies adjustments through it, on any engine) and benchmark targets.

These are data, not code: code sets change several times a year, and a practice may override them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core.engine import collect, lazy, like

__all__ = ["carc_crosswalk", "classify_adjustments", "benchmarks", "TREATMENTS"]

#: What an adjustment does to the numbers (see ``rcmkit/data/README.md``).
TREATMENTS = ("contractual", "patient", "denial", "informational", "duplicate")


def _data_file(name: str) -> Path:
    return Path(str(resources.files("rcmkit") / "data" / name))


@lru_cache(maxsize=4)
def _read_crosswalk(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    bad = sorted(set(df["treatment"]) - set(TREATMENTS))
    if bad:
        raise ValueError(f"{path}: unknown treatment(s) {bad}; expected one of {TREATMENTS}")
    return df


def carc_crosswalk(path: str | Path | None = None) -> pd.DataFrame:
    """The CARC crosswalk: group_code ('*' = any group), reason_code ('*' = any code), treatment, category."""
    return _read_crosswalk(str(path or _data_file("carc_crosswalk.csv"))).copy()


def classify_adjustments(adjustments: Any, crosswalk: pd.DataFrame | None = None) -> Any:
    """``adjustments`` with two more columns, ``treatment`` and ``category``, from the CARC crosswalk; the one
    classification of rcmkit. Pure: the input is unchanged.

    Runs on every engine (:mod:`rcmkit.core.engine`): a pandas DataFrame in gives a pandas DataFrame out (same
    rows, order and index), a DuckDB relation or Spark DataFrame gives one of those, a narwhals frame a narwhals
    LazyFrame. The distinct (group, reason) pairs (a few dozen) are looked up here and joined back on the engine.
    Frames classified already (both columns present) are returned as they are, unless a ``crosswalk`` is given.

    Lookup order: exact (group, code); then (group, '*') (e.g. every PR code is patient responsibility); then
    ('*', code); a code found nowhere is a ``denial`` in category ``Other``. The 4010 group ``CR``
    (corrections and reversals) is looked up like CO. DESIGN.md, "X12 835 semantics"; kpi-anchors.md 3.5.
    """
    if isinstance(adjustments, pd.DataFrame):  # pandas in, pandas out: same rows, order and index
        return _classify_pandas(adjustments, crosswalk)
    native = not isinstance(adjustments, (nw.DataFrame, nw.LazyFrame))
    frame = lazy(adjustments)
    classified = {"treatment", "category"} <= set(frame.columns)
    if classified and crosswalk is None:
        return adjustments if native else frame
    if classified:
        frame = frame.drop("treatment", "category")
    pairs = collect(frame.select("group_code", "reason_code").unique())
    pairs = pairs.dropna().sort_values(["group_code", "reason_code"]).reset_index(drop=True)
    if pairs.empty:  # no adjustments (group and reason codes are never null)
        out = frame.with_columns(treatment=nw.lit("denial"), category=nw.lit("Other"))
    else:
        looked_up = _lookup(pairs, crosswalk)
        out = frame.join(like(looked_up, frame), on=["group_code", "reason_code"], how="left").with_columns(
            treatment=nw.col("treatment").fill_null("denial"), category=nw.col("category").fill_null("Other"))
    return out.to_native() if native else out


def _classify_pandas(adjustments: pd.DataFrame, crosswalk: pd.DataFrame | None) -> pd.DataFrame:
    if {"treatment", "category"} <= set(adjustments.columns):
        if crosswalk is None:
            return adjustments
        adjustments = adjustments.drop(columns=["treatment", "category"])
    import pyarrow as pa
    import pyarrow.compute as pc

    out = adjustments.copy()
    # one key per row, the distinct keys (a few dozen) looked up in Python, and each row's index into them
    key = pc.binary_join_element_wise(pa.array(adjustments["group_code"], type=pa.string()),
                                      pa.array(adjustments["reason_code"], type=pa.string()), _SEP)
    distinct = pc.unique(key).drop_null()
    if len(distinct) == 0:
        out["treatment"], out["category"] = "denial", "Other"
        return out.astype({"treatment": "str", "category": "str"})
    pairs = pd.DataFrame(pc.split_pattern(distinct, _SEP).to_pylist(), columns=["group_code", "reason_code"])
    looked_up = _lookup(pairs, crosswalk)
    at = pc.index_in(key, value_set=distinct).fill_null(len(distinct))
    for col, missing in (("treatment", "denial"), ("category", "Other")):
        values = pa.array(list(looked_up[col].to_numpy(dtype=object)) + [missing], pa.string())  # null pair: last
        out[col] = pd.Series(pd.array(values.take(at), dtype="str"), index=out.index)
    return out


_SEP = "\x1f"  # joins a row's group and reason codes into one key (never inside a code)


def _lookup(pairs: pd.DataFrame, xw: pd.DataFrame | None) -> pd.DataFrame:
    """The crosswalk's treatment and category of each distinct (group_code, reason_code) pair, as strings
    (``xw`` None: the packaged crosswalk, whose lookup tables are built once)."""
    exact, by_group, by_code = _default_maps() if xw is None else _maps(xw)
    out = pairs[["group_code", "reason_code"]].copy()
    found: dict[str, list] = {"treatment": [], "category": []}
    for g, r in zip(pairs["group_code"].astype(str).str.upper(), pairs["reason_code"].astype(str).str.upper()):
        g = "CO" if g == "CR" else g
        for col, missing in (("treatment", "denial"), ("category", "Other")):  # each column on its own
            value = exact[col].get((g, r))
            value = by_group[col].get(g) if value is None else value
            value = by_code[col].get(r) if value is None else value
            found[col].append(missing if value is None else value)
    out["treatment"], out["category"] = found["treatment"], found["category"]
    return out.astype("str")


def _maps(xw: pd.DataFrame) -> tuple[dict, dict, dict]:
    """Per column (treatment, category): the exact (group, reason) rows, the (group, '*') rows by group and the
    ('*', reason) rows by reason; the first row of a key wins, empty cells are not entries."""
    exact: dict[str, dict] = {"treatment": {}, "category": {}}
    by_group: dict[str, dict] = {"treatment": {}, "category": {}}
    by_code: dict[str, dict] = {"treatment": {}, "category": {}}
    for row in xw[["group_code", "reason_code", "treatment", "category"]].itertuples(index=False):
        g, r = str(row.group_code), str(row.reason_code)
        for col in ("treatment", "category"):
            value = getattr(row, col)
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            exact[col].setdefault((g, r), value)
            if r == "*":
                by_group[col].setdefault(g, value)
            if g == "*":
                by_code[col].setdefault(r, value)
    return exact, by_group, by_code


@lru_cache(maxsize=1)
def _default_maps() -> tuple[dict, dict, dict]:
    return _maps(carc_crosswalk())


def benchmarks(path: str | Path | None = None, overrides: dict | None = None) -> pd.DataFrame:
    """Benchmark targets: kpi, direction ('lower'/'higher' is better), good, acceptable, source, grade.

    ``overrides`` maps a kpi to a dict of the columns to replace (a practice's parameter file).
    """
    df = pd.read_csv(path or _data_file("benchmarks.csv"), dtype={"kpi": str, "direction": str})
    for kpi, values in (overrides or {}).items():
        if kpi not in set(df["kpi"]):
            raise ValueError(f"benchmark override for unknown KPI {kpi!r}; known: {sorted(df['kpi'])}")
        unknown = set(values) - {"good", "acceptable", "source", "grade"}
        if unknown:
            raise ValueError(f"benchmark override for {kpi!r} has unknown field(s) {sorted(unknown)}")
        for col, val in values.items():
            df.loc[df["kpi"] == kpi, col] = val
    return df


def npi_valid(npi: str | None) -> bool:
    """Ten digits whose last is the Luhn check digit over '80840' + the first nine (CMS, "NPI check digit":
    45 CFR 162.406; the claim scrubber's NPI rule and the report's provider table use it)."""
    s = "" if npi is None else str(npi).strip()
    if not re.fullmatch(r"\d{10}", s):
        return False
    digits = [int(ch) for ch in "80840" + s[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):  # double every other digit, starting with the rightmost
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(s[9])
