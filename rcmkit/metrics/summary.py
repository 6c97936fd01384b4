"""The month's KPI set, its 12-month trend and the definitions a report prints: one call each for notebooks."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from ._common import KPI, MetricOptions, ledger_for, month_window
from .ar import ar_aged_pct, ar_balances, ar_total, days_in_ar, days_in_ar_net
from .collections import charges, net_collection_rate, payments
from .denials import clean_claim_rate, first_adjudications, initial_denial_rate

__all__ = ["monthly_kpis", "kpi_trend", "definitions_used", "ar_kpis"]


def ar_kpis(tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions) -> list[KPI]:
    """A/R total and the share aged over ``options.aged_over_days`` at the end of ``month`` (AAFP; MGMA)."""
    balances = ar_balances(tables, month_window(month).end, options)
    total = ar_total(balances)
    aged, _ = ar_aged_pct(balances, options.aged_over_days)
    n = options.aged_over_days
    basis = "date of service (never re-aged)" if options.aging_basis == "service_date" else "first bill date"
    return [
        KPI("ar_total", "A/R total", total / 100, "usd", total / 100, None,
            "open balances at month end, credit balances excluded", "AAFP; MGMA"),
        KPI(f"ar_over_{n}_pct", f"A/R over {n} days", aged / total if total else None, "pct", aged / 100,
            total / 100, f"open A/R aged more than {n} days from the {basis} / total open A/R",
            "AAFP; MGMA" if n == 120 else "HFMA MAP Key AR-3 style (total A/R)"),
    ]


def monthly_kpis(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> dict[str, KPI]:
    """Every headline KPI for ``month`` ('YYYY-MM'), in report order, keyed by KPI key."""
    tables = dict(tables)
    tables["ledger"] = ledger_for(tables, options)  # build a variant ledger once, not per metric
    first = first_adjudications(tables, options)
    denial_count, denial_dollars = initial_denial_rate(tables, month, options, first=first)
    kpis = [
        days_in_ar(tables, month, options),
        days_in_ar_net(tables, month, options),
        *ar_kpis(tables, month, options),
        clean_claim_rate(tables, month, options, first=first),
        denial_count,
        denial_dollars,
        net_collection_rate(tables, month, options),
        charges(tables, month, options),
        payments(tables, month, options),
    ]
    return {k.key: k for k in kpis}


def kpi_trend(
    tables: Mapping[str, pd.DataFrame], month: str, months: int = 12, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """The KPI values for each of the ``months`` months ending with ``month``: column 'month' plus one per KPI.

    Point-in-time: each month's A/R is computed from the ledger rows posted by that month's end, so the trend
    is true history, not today's balances re-bucketed.
    """
    end = pd.Period(month_window(month).end, freq="M")
    rows = []
    for p in pd.period_range(end - (months - 1), end, freq="M"):
        kpis = monthly_kpis(tables, str(p), options)
        rows.append({"month": str(p), **{k: v.value for k, v in kpis.items()}})
    return pd.DataFrame(rows)


def definitions_used(options: MetricOptions = MetricOptions(), month: str = "2026-03") -> pd.DataFrame:
    """The definition and source of every KPI under ``options`` (the report's methods section).

    The definitions are the KPIs' own texts (computed on an empty practice for ``month``), so the methods
    section can never drift from the code. Plus one row listing the options themselves.
    """
    from .. import schema

    empty = {name: schema.empty(name) for name in schema.TABLES}
    kpis = monthly_kpis(empty, month, options)
    rows = [{"metric": k.label, "definition": k.definition, "source": k.source} for k in kpis.values()]
    rows.append({"metric": "Options", "definition": ", ".join(f"{k}={v}" for k, v in options.to_dict().items()),
                 "source": "rcmkit.metrics.MetricOptions"})
    return pd.DataFrame(rows)
