"""The month's KPI set, its 12-month trend and the definitions a report prints: one call each for notebooks."""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import narwhals as nw
import pandas as pd

from rcmkit.core.engine import collect, lazy, materialize
from rcmkit.core.refdata import classify_adjustments
from rcmkit.metrics import registry
from rcmkit.metrics._common import KPI, MetricOptions, Prepared, ledger_for, month_window
from rcmkit.metrics.ar import aged_at, ar_aging, balances_at, balances_frame, ledger_months, net_ar_at
from rcmkit.metrics.collections import patient_sums
from rcmkit.metrics.denials import (
    clean_counts, denial_reasons, denial_sums, first_adjudications_in_month, pinned_first_adjudications,
)
from rcmkit.metrics.registry import MonthContext
from rcmkit.metrics.reimbursement import reimbursement_by_payer_code

__all__ = ["monthly_kpis", "kpi_trend", "definitions_used", "ar_kpis", "kpi_suite", "prepare", "SUITE_COLUMNS"]

#: The tables and columns :func:`kpi_suite` (and :func:`monthly_kpis`, :func:`kpi_trend`) read: pass it as
#: ``columns=`` to :func:`rcmkit.core.engine.open_tables` so pandas loads nothing else (``tests/test_engine.py``
#: runs the suite on exactly these columns).
SUITE_COLUMNS: dict[str, tuple[str, ...]] = {
    "payers": ("payer_id", "payer_name", "payer_class"),
    "claims": ("claim_id", "submission_id", "frequency_code", "submitted_on", "service_from", "payer_id",
               "total_charge_cents"),
    "remittances": ("remit_id", "claim_id", "status_code", "billed_cents", "paid_cents", "payer_id", "paid_on",
                    "source"),  # source: same-day 835 events in file and segment order (rcmkit.core.ledger.event_order)
    "remit_lines": ("remit_id", "line_number", "procedure_code", "billed_cents", "paid_cents", "allowed_cents",
                    "units"),
    "adjustments": ("remit_id", "line_number", "group_code", "reason_code", "amount_cents"),
    "postings": ("claim_id", "posted_on", "kind", "amount_cents", "responsible"),
    "ledger": ("claim_id", "posted_on", "kind", "amount_cents", "responsible"),
}


def ar_kpis(tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions, *, balances=None) -> list[KPI]:
    """A/R total and the share aged over ``options.aged_over_days`` at the end of ``month`` (AAFP; MGMA): the
    registry's two A/R balance KPIs."""
    context = MonthContext(tables, month, options, balances=balances)
    return list(registry.compute(context, tuple(s for s in registry.KPIS if s.key in (
        "ar_total", "ar_over_{aged_over_days}_pct"))).values())


def prepare(tables: Mapping[str, pd.DataFrame], options: MetricOptions = MetricOptions()) -> Prepared:
    """The tables with what several KPIs share computed once, as a :class:`~rcmkit.metrics.Prepared`
    mapping: the ledger under the options' denial policy, its monthly sums (:func:`rcmkit.metrics.ar.ledger_months`,
    which the charge, revenue and payment KPIs read) and the adjustments classified through the CARC crosswalk
    (:func:`rcmkit.core.refdata.classify_adjustments`). Tables prepared for the same policy are returned as they are."""
    if isinstance(tables, Prepared) and tables.denial_policy == options.denial_policy \
            and tables.ledger_months is not None:
        return tables
    ledger = ledger_for(tables, options)
    out = {**tables, "ledger": ledger}
    adjustments = out.get("adjustments")
    if adjustments is not None:
        # a pandas table's columns are read as they are: lazy() would convert the whole table to look at them
        columns = adjustments.columns if isinstance(adjustments, pd.DataFrame) else lazy(adjustments).columns
        if "treatment" not in columns:
            # eager on pandas; on a lazy engine a join with the few classified code pairs, cheap to repeat
            out["adjustments"] = classify_adjustments(adjustments)
    # the monthly sums are small (kinds x months) on every engine: held as a pandas frame, summed without a query
    return Prepared(out, options.denial_policy, ledger_months=collect(ledger_months(ledger)))


def monthly_kpis(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *, first=None,
    balances=None,
) -> dict[str, KPI]:
    """Every headline KPI of the registry (:mod:`rcmkit.metrics.registry`) for ``month`` ('YYYY-MM'), in report
    order, keyed by KPI key. ``first``: the month's first adjudications when the caller has them
    (:func:`rcmkit.metrics.denials.first_adjudications_frame`), and ``balances`` the month-end balances
    (:func:`rcmkit.metrics.ar.balances_frame`); otherwise each is computed once, when a KPI first needs it."""
    context = MonthContext(prepare(tables, options), month, options, first=first, balances=balances)
    return registry.compute(context, tuple(s for s in registry.KPIS if s.headline))


def kpi_suite(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *,
    kpis: Mapping[str, KPI] | None = None,
) -> dict:
    """The full KPI suite of ``month`` on any engine (pandas frames, DuckDB relations or Spark DataFrames, see
    :mod:`rcmkit.core.engine`): ``"kpis"`` (:func:`monthly_kpis`), ``"aging"`` (:func:`ar_aging` by payer),
    ``"reimbursement"`` (:func:`reimbursement_by_payer_code`) and ``"denial_reasons"`` (every reason, not a
    top 10). What the scale benchmark times and the engine equality tests compare, to the cent. ``kpis``: the
    month's :func:`monthly_kpis` when the caller has them (the report's :func:`trend_kpis`), not computed again."""
    tables = prepare(tables, options)
    first = materialize(first_adjudications_in_month(tables, month, options))
    balances = materialize(balances_frame(tables, month_window(month).end, options))
    return {
        "kpis": dict(kpis) if kpis is not None else monthly_kpis(tables, month, options, first=first,
                                                                 balances=balances),
        "aging": ar_aging(tables, month, options, by="payer", balances=balances),
        "reimbursement": reimbursement_by_payer_code(tables, month, options),
        "denial_reasons": denial_reasons(tables, month, options, top=None, first=first),
    }


def kpi_trend(
    tables: Mapping[str, pd.DataFrame], month: str, months: int = 12, options: MetricOptions = MetricOptions(), *,
    known: Mapping[str, Mapping[str, KPI]] | None = None,
) -> pd.DataFrame:
    """The KPI values for each of the ``months`` months ending with ``month``: column 'month' plus one per KPI.

    Point-in-time: each month's A/R is computed from the ledger rows posted by that month's end, so the trend
    is true history, not today's balances re-bucketed. ``known``: months whose :func:`monthly_kpis` (same tables
    and options) the caller already has, e.g. the report month's from :func:`kpi_suite`; they are not computed
    again.
    """
    by_month = trend_kpis(tables, month, months, options, known=known)
    return pd.DataFrame([{"month": m, **{k: v.value for k, v in kpis.items()}} for m, kpis in by_month.items()])


def trend_kpis(
    tables: Mapping[str, pd.DataFrame], month: str, months: int = 12, options: MetricOptions = MetricOptions(), *,
    known: Mapping[str, Mapping[str, KPI]] | None = None,
) -> dict[str, dict[str, KPI]]:
    """:func:`kpi_trend`'s months as :func:`monthly_kpis` dicts ('YYYY-MM' -> KPIs, oldest month first): the same
    numbers, with each KPI's definition. The report model computes its month's KPIs here, in the trend's passes
    over the ledger, and hands them to :func:`kpi_suite` (issue #15: the suite's own passes cost about 10 s at
    10 M claim lines)."""
    end = pd.Period(month_window(month).end, freq="M")
    tables = prepare(tables, options)
    known = dict(known or {})
    todo = [str(p) for p in pd.period_range(end - (months - 1), end, freq="M") if str(p) not in known]
    if todo:
        # what every month needs, in one pass each for all the months: the first adjudications (the same for every
        # month), the month-end balances (balances_at reads the ledger once) and their sums, net A/R's pending
        # balances and payer rates, the claim cohorts' counts and the patient sums; each month's KPIs are then
        # built from its share, through the functions that compute one month alone
        first = pinned_first_adjudications(tables, options)
        ends = [month_window(m).end for m in todo]
        balances = materialize(balances_at(tables, ends, options))
        aged = aged_at(balances, options.aged_over_days, len(todo))
        net = net_ar_at(tables, ends, options, balances)
        clean, denied = clean_counts(tables, todo, options, first), denial_sums(tables, todo, options, first)
        patient = patient_sums(tables, todo, options)
        specs = tuple(s for s in registry.KPIS if s.headline)
        for i, m in enumerate(todo):
            own = balances.filter(nw.col("as_of_index") == i).drop("as_of_index")
            parts = {"aged": aged[i], "net": net[i], "clean": clean[m], "denials": denied[m], "patient": patient[m]}
            known[m] = registry.compute(MonthContext(tables, m, options, first=first, balances=own, parts=parts),
                                        specs)
    return {str(p): dict(known[str(p)]) for p in pd.period_range(end - (months - 1), end, freq="M")}


def definitions_used(options: MetricOptions = MetricOptions(), month: str = "2026-03") -> pd.DataFrame:
    """The definition and source of every KPI under ``options`` (the report's methods section).

    The definitions are the KPIs' own texts (computed on an empty practice for ``month``), so the methods
    section can never drift from the code. Plus one row listing the options themselves. A new frame each call
    (computed once per options and month in a process: a monthly run's reports share it).
    """
    return _definitions(options, str(month)).copy()


@lru_cache(maxsize=64)
def _definitions(options: MetricOptions, month: str) -> pd.DataFrame:
    from rcmkit.core import schema
    empty = {name: schema.empty(name) for name in schema.TABLES}
    kpis = monthly_kpis(empty, month, options)
    rows = [{"metric": k.label, "definition": k.definition, "source": k.source} for k in kpis.values()]
    rows.append({"metric": "Options", "definition": ", ".join(f"{k}={v}" for k, v in options.to_dict().items()),
                 "source": "rcmkit.metrics.MetricOptions"})
    return pd.DataFrame(rows)
