"""``metrics.json``: the month's KPI values in machine-readable form, written beside the HTML report.

The document is deterministic: sorted keys, no wall-clock time, floats as Python writes them (they read back
bit-identical), NaN written as null. Two runs on the same data and options produce the same bytes.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from rcmkit.present.format import month_end

__all__ = ["METRICS_FILE", "metrics_document", "write_metrics", "read_metrics"]

METRICS_FILE = "metrics.json"
KPI_FIELDS = ("label", "value", "unit", "numerator", "denominator", "definition", "source")


def _clean(value: Any) -> Any:
    """JSON-safe scalars: numpy numbers to Python numbers, NaN/NA to None."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def _records(frame: Any) -> list[dict]:
    if frame is None:
        return []
    rows = frame.to_dict(orient="records") if hasattr(frame, "to_dict") else list(frame)
    return [{k: _clean(v) for k, v in r.items()} for r in rows]


def metrics_document(
    practice: str, month: str, kpis: Mapping[str, Any], definitions: Any = None, *,
    status: Any = None, summary: Any = None, scorecard: Any = None, data_through: str | None = None,
    practice_name: str | None = None, worklists: Any = None, underpayments: Any = None, suspense: Any = None,
    measures: Any = None, cash_forecast: Any = None,
) -> dict:
    """The ``metrics.json`` payload for ``kpis`` (a ``{key: KPI}`` mapping from ``monthly_kpis``).

    ``definitions`` is the ``definitions_used(opts)`` frame (columns metric, definition, source) or a list of dicts.
    Optional parts, written when given: ``status`` (``benchmark_status``: the KPI's target status, under
    ``benchmarks``), ``summary`` (an :class:`~rcmkit.present.narrative.ExecutiveSummary`), ``scorecard``
    (``payer_scorecard``), ``data_through`` (the data's as-of date), ``practice_name``, ``worklists`` (a
    :class:`~rcmkit.report.suite.WorkLists`: claims and open dollars per list) and ``underpayments`` (an
    ``underpayment_summary`` frame: its totals, whole cents) and ``suspense`` (``unapplied_postings``: PM
    postings waiting for their claims) and ``measures`` (:func:`rcmkit.report.suite.measure_definitions`: the
    analyst's technical definitions of the other measures, which the client report gives only in words) and
    ``cash_forecast`` (a :class:`~rcmkit.forecast.report.MonthForecast`: the next 30/60/90 days' expected cash with
    its 80% range, whole cents, from the open A/R and with new charges, and last month's forecast against what
    came in).
    """
    from rcmkit import __version__

    out_kpis = {}
    for key, kpi in kpis.items():
        out_kpis[key] = {f: _clean(getattr(kpi, f, None)) for f in KPI_FIELDS}
    if definitions is None:
        defs: list = []
    elif hasattr(definitions, "to_dict"):
        defs = definitions.to_dict(orient="records")
    else:
        defs = list(definitions)
    defs = [{k: _clean(v) for k, v in d.items()} for d in defs]
    doc = {
        "practice": practice,
        "month": month,
        "as_of": month_end(month),
        "rcmkit_version": __version__,
        "kpis": out_kpis,
        "definitions": defs,
    }
    if measures is not None:
        rows = measures.to_dict(orient="records") if hasattr(measures, "to_dict") else list(measures)
        doc["measures"] = [{k: _clean(v) for k, v in d.items()} for d in rows]
    if practice_name is not None:
        doc["practice_name"] = practice_name
    if data_through is not None:
        doc["data_through"] = data_through
    if status is not None:
        doc["benchmarks"] = {r["key"]: {k: r[k] for k in ("status", "good", "acceptable", "source", "grade")}
                             for r in _records(status)}
    if summary is not None:
        doc["summary"] = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    if scorecard is not None:
        doc["payer_scorecard"] = _records(scorecard)
    if worklists is not None:
        doc["worklists"] = worklists.to_dict() if hasattr(worklists, "to_dict") else dict(worklists)
    if suspense is not None:
        doc["unapplied_postings"] = dict(suspense)
    if cash_forecast is not None:
        doc["cash_forecast"] = forecast_document(cash_forecast)
    if underpayments is not None:
        from rcmkit.metrics.contracts import underpayment_totals

        doc["underpayments"] = underpayment_totals(underpayments)
    return doc


def forecast_document(month_forecast: Any) -> dict:
    """metrics.json's ``cash_forecast``: as_of, ``horizons`` (source 'open A/R' or 'all cash', days, expected,
    low and high in whole cents) and ``check`` (last month's forecast: source, made_on, forecast, low, high,
    actual cents and whether the actual fell inside the range)."""
    def cents(v: Any) -> int | None:  # a range without the history to set it is unknown (None), not 0
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else int(round(float(v)))

    horizons = [{"source": r["source"], "days": int(r["end_day"]), "expected_cents": cents(r["expected_cents"]),
                 "low_cents": cents(r["low_cents"]), "high_cents": cents(r["high_cents"])}
                for r in _records(month_forecast.horizons)]
    check = [{"source": r["source"], "made_on": str(pd.Timestamp(r["made_on"]).date()),
              "forecast_cents": cents(r["forecast_cents"]), "low_cents": cents(r["low_cents"]),
              "high_cents": cents(r["high_cents"]), "actual_cents": cents(r["actual_cents"]),
              "inside": bool(r["inside"])} for r in _records(month_forecast.check)]
    return {"as_of": str(pd.Timestamp(month_forecast.as_of).date()), "horizons": horizons, "check": check}


def write_metrics(
    output_dir: str | os.PathLike | None, practice: Any, month: str | None = None,
    kpis: Mapping[str, Any] | None = None, definitions: Any = None, **parts: Any,
) -> Path | None:
    """Write ``<output_dir>/metrics.json`` and return its path; does nothing when ``output_dir`` is None
    (a notebook run by hand, outside ``rcmkit report``).

    ``write_metrics(output_dir, report)`` writes a :class:`~rcmkit.report.model.MonthlyReport`'s
    :meth:`~rcmkit.report.model.MonthlyReport.metrics_document` (what the report notebook does);
    ``write_metrics(output_dir, practice, month, kpis, definitions, **parts)`` writes :func:`metrics_document`
    of those parts."""
    if output_dir is None:
        return None
    if hasattr(practice, "metrics_document"):  # a MonthlyReport
        if month is not None or kpis is not None or definitions is not None or parts:
            raise TypeError("write_metrics(output_dir, report) takes no other parts: the report has them all")
        doc = practice.metrics_document()
    else:
        if month is None or kpis is None:
            raise TypeError("write_metrics(output_dir, practice, month, kpis, ...) needs the month and the KPIs")
        doc = metrics_document(practice, month, kpis, definitions, **parts)
    return _write_document(Path(output_dir) / METRICS_FILE, doc)


def _write_document(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_metrics(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
