"""Interactive exploration in JupyterLab (or as a Voila app): filters, drill-down and a reimbursement heat map.

Public API::

    from rcmkit.explorer import open_explorer
    explorer = open_explorer("data", "demo", months=3)     # the widget, showing its initial state
    explorer.payer.value = ("04412",)                      # drive it from code (or click in the notebook)
    explorer.kpis["initial_denial_rate"].value

The logic is plain functions: :func:`filter_tables` (claim filters applied to every canonical table consistently),
:mod:`rcmkit.explorer.views` (the period's KPIs from the metric functions, breakdowns, the claims behind a KPI,
the payer x code matrix; :mod:`rcmkit.explorer.cash` the cash forecast by payer, :mod:`rcmkit.explorer.checks`
the claim checks of a batch), with :class:`ExplorerData` caching what no filter changes. :class:`Explorer` only wires
ipywidgets controls to them. ``notebooks/explore.ipynb`` is the notebook; ``python -m rcmkit.explorer serve``
serves it with Voila.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from rcmkit.explorer.data import LEVELS, METRICS, ExplorerData, ExplorerState, Selection
from rcmkit.explorer.export import export_frame, to_csv_bytes, to_xlsx_bytes
from rcmkit.explorer.filters import PERIOD_MONTHS, ClaimIndex, Filters, Period, filter_tables, parse_codes
from rcmkit.explorer.widget import Explorer

__all__ = [
    "open_explorer",
    "load_data",
    "Explorer",
    "ExplorerData",
    "ExplorerState",
    "Selection",
    "Filters",
    "Period",
    "ClaimIndex",
    "filter_tables",
    "parse_codes",
    "PERIOD_MONTHS",
    "METRICS",
    "LEVELS",
    "export_frame",
    "to_csv_bytes",
    "to_xlsx_bytes",
]


def load_data(data_root: str | os.PathLike, practice: str, metric_options: Mapping[str, Any] | None = None, *,
              practice_name: str | None = None) -> ExplorerData:
    """A practice's tables from the store, prepared for exploring (:class:`ExplorerData`)."""
    from rcmkit.core import store
    from rcmkit.metrics import MetricOptions
    from rcmkit.explorer.data import TABLES

    options = MetricOptions.from_dict(metric_options)
    tables = store.load_tables(data_root, practice, TABLES, required=False)
    if tables["claims"].empty and tables["remittances"].empty:
        raise store.StoreError(f"practice {practice!r} under {Path(data_root)} has no claims and no remittances: "
                               f"nothing to explore (expected {store.practice_dir(data_root, practice)})")
    return ExplorerData(tables, options, practice=practice, practice_name=practice_name)


def open_explorer(
    data_root: str | os.PathLike,
    practice: str,
    *,
    end: str | None = None,
    months: int = 3,
    metric: str = "initial_denial_rate",
    metric_options: Mapping[str, Any] | None = None,
    practice_name: str | None = None,
    benchmark_overrides: Mapping[str, Any] | None = None,
    export_dir: str | os.PathLike | None = None,
) -> Explorer:
    """The explorer for a practice: its tables loaded, the caches built and the widget showing ``months`` months
    ending with ``end`` ('YYYY-MM'; None: the last full month in the data)."""
    from rcmkit.core.refdata import benchmarks
    from rcmkit.present.narrative import data_through

    data = load_data(data_root, practice, metric_options, practice_name=practice_name)
    return Explorer(data, end=end, months=months, metric=metric, export_dir=export_dir,
                    targets=benchmarks(overrides=dict(benchmark_overrides or {})),
                    data_through=data_through(data.tables))
