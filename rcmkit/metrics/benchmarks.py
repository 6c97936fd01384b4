"""Benchmark status: is a KPI meeting, near or missing its target?

Targets are versioned data (``rcmkit/data/benchmarks.csv``: kpi, direction, good, acceptable, source, grade),
overridable per practice; see :func:`rcmkit.core.refdata.benchmarks`. Public anchors: AAFP (days in A/R, A/R over
120 days, denial rate, adjusted collection rate), vendor consensus for the clean-claim rate (graded C).
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from rcmkit.core.refdata import benchmarks as load_benchmarks
from rcmkit.metrics._common import KPI

__all__ = ["benchmark_status", "STATUSES"]

STATUSES = ("meeting", "near", "missing", "no target", "n/a")


def _status(value: float | None, direction: str, good: float, acceptable: float) -> str:
    if value is None:
        return "n/a"
    better = (lambda a, b: a <= b) if direction == "lower" else (lambda a, b: a >= b)
    if better(value, good):
        return "meeting"
    return "near" if better(value, acceptable) else "missing"


def benchmark_status(kpis: Mapping[str, KPI], targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per KPI: key, label, value, status, good, acceptable, source, grade.

    ``meeting``: at or better than ``good``; ``near``: between ``good`` and ``acceptable`` (inclusive);
    ``missing``: worse than ``acceptable``; ``no target`` when the benchmark file has none; ``n/a`` when the KPI
    is undefined this month.
    """
    targets = load_benchmarks() if targets is None else targets
    by_kpi = targets.set_index("kpi")
    rows = []
    for key, kpi in kpis.items():
        row = {"key": key, "label": kpi.label, "value": kpi.value, "status": "no target", "good": None,
               "acceptable": None, "source": "", "grade": ""}
        if key in by_kpi.index:
            t = by_kpi.loc[key]
            row.update(good=float(t["good"]), acceptable=float(t["acceptable"]), source=t["source"], grade=t["grade"],
                       status=_status(kpi.value, t["direction"], float(t["good"]), float(t["acceptable"])))
        rows.append(row)
    return pd.DataFrame(rows)
