"""Versioned reference data shipped with rcmkit (``rcmkit/data/``): the CARC crosswalk and benchmark targets.

These are data, not code: code sets change several times a year, and a practice may override them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

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


def classify_adjustments(adjustments: pd.DataFrame, crosswalk: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return ``adjustments`` with two new columns, ``treatment`` and ``category``. Pure: the input is unchanged.

    Lookup order: exact (group, code); then (group, '*') (e.g. every PR code is patient responsibility); then
    ('*', code); a code found nowhere is a ``denial`` in category ``Other``. The 4010 group ``CR``
    (corrections and reversals) is looked up like CO. DESIGN.md, "X12 835 semantics"; kpi-anchors.md 3.5.
    """
    xw = crosswalk if crosswalk is not None else carc_crosswalk()
    group = adjustments["group_code"].astype(str).str.upper().replace({"CR": "CO"})
    reason = adjustments["reason_code"].astype(str).str.upper()
    keys = pd.DataFrame({"g": group.to_numpy(), "r": reason.to_numpy()})
    lookup = xw.rename(columns={"group_code": "g", "reason_code": "r"})[["g", "r", "treatment", "category"]]
    exact = keys.merge(lookup, on=["g", "r"], how="left")
    by_group = keys.merge(lookup[lookup["r"] == "*"].drop(columns="r"), on="g", how="left")
    by_code = keys.merge(lookup[lookup["g"] == "*"].drop(columns="g"), on="r", how="left")
    treatment = exact["treatment"].fillna(by_group["treatment"]).fillna(by_code["treatment"]).fillna("denial")
    category = exact["category"].fillna(by_group["category"]).fillna(by_code["category"]).fillna("Other")
    out = adjustments.copy()
    out["treatment"] = treatment.to_numpy()
    out["category"] = category.to_numpy()
    return out


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
