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
        looked_up = _lookup(pairs, carc_crosswalk() if crosswalk is None else crosswalk)
        out = frame.join(like(looked_up, frame), on=["group_code", "reason_code"], how="left").with_columns(
            treatment=nw.col("treatment").fill_null("denial"), category=nw.col("category").fill_null("Other"))
    return out.to_native() if native else out


def _classify_pandas(adjustments: pd.DataFrame, crosswalk: pd.DataFrame | None) -> pd.DataFrame:
    if {"treatment", "category"} <= set(adjustments.columns):
        if crosswalk is None:
            return adjustments
        adjustments = adjustments.drop(columns=["treatment", "category"])
    pairs = adjustments[["group_code", "reason_code"]].drop_duplicates().dropna()
    out = adjustments.copy()
    if pairs.empty:
        out["treatment"], out["category"] = "denial", "Other"
        return out.astype({"treatment": "str", "category": "str"})
    looked_up = _lookup(pairs.sort_values(["group_code", "reason_code"]).reset_index(drop=True),
                        carc_crosswalk() if crosswalk is None else crosswalk)
    keys = pd.MultiIndex.from_frame(looked_up[["group_code", "reason_code"]])
    at = keys.get_indexer(pd.MultiIndex.from_frame(adjustments[["group_code", "reason_code"]]))
    for col, missing in (("treatment", "denial"), ("category", "Other")):
        values = np.append(looked_up[col].to_numpy(dtype=object), missing)  # a pair not found (-1): the last
        out[col] = pd.Series(values[at], index=out.index, dtype="str")
    return out


def _lookup(pairs: pd.DataFrame, xw: pd.DataFrame) -> pd.DataFrame:
    """The crosswalk's treatment and category of each distinct (group_code, reason_code) pair, as strings."""
    group = pairs["group_code"].astype(str).str.upper().replace({"CR": "CO"})
    reason = pairs["reason_code"].astype(str).str.upper()
    keys = pd.DataFrame({"g": group.to_numpy(), "r": reason.to_numpy()})
    lookup = xw.rename(columns={"group_code": "g", "reason_code": "r"})[["g", "r", "treatment", "category"]]
    exact = keys.merge(lookup, on=["g", "r"], how="left")
    by_group = keys.merge(lookup[lookup["r"] == "*"].drop(columns="r"), on="g", how="left")
    by_code = keys.merge(lookup[lookup["g"] == "*"].drop(columns="g"), on="r", how="left")
    out = pairs[["group_code", "reason_code"]].copy()
    out["treatment"] = (exact["treatment"].fillna(by_group["treatment"]).fillna(by_code["treatment"])
                        .fillna("denial").to_numpy())
    out["category"] = (exact["category"].fillna(by_group["category"]).fillna(by_code["category"])
                       .fillna("Other").to_numpy())
    return out.astype("str")


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
