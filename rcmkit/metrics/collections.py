"""Collections: charges, payments and the net (adjusted) collection rate, from the ledger.

Sources: AAFP adjusted collection rate = (payments - credits/refunds) / (charges - contractual adjustments),
over a 12-month window advised (single months swing because adjustments lag charges); MGMA adjusted FFS
collection % and gross FFS collection %. kpi-anchors.md sections 1.2-1.3.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from ._common import KPI, MetricOptions, ledger_for, month_window, ratio

__all__ = ["charges", "payments", "net_collection_rate", "PAYMENT_KINDS"]

#: Money received (negative in the ledger) and given back (reversals: positive).
PAYMENT_KINDS = ("insurance_payment", "patient_payment", "reversal")


def _sum(ledger: pd.DataFrame, month: str, months: int, kinds: tuple[str, ...]) -> int:
    window = month_window(month, months)
    rows = ledger[ledger["kind"].isin(kinds) & window.contains(ledger["posted_on"])]
    return int(rows["amount_cents"].sum())


def charges(tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()) -> KPI:
    """Gross charges posted in ``month`` (each claim's charge posts once, on its first submission)."""
    c = _sum(ledger_for(tables, options), month, 1, ("charge",))
    return KPI("charges", "Charges", c / 100, "usd", c / 100, None,
               "gross charges posted in the month (claims' first submissions, less voids)", "MGMA (gross FFS charges)")


def payments(tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()) -> KPI:
    """Payments received in ``month``: insurance (835 CLP04) and patient payments, net of payer reversals."""
    p = -_sum(ledger_for(tables, options), month, 1, PAYMENT_KINDS)
    return KPI("payments", "Payments", p / 100, "usd", p / 100, None,
               "insurance and patient payments posted in the month, net of payer reversals", "MGMA; AAFP")


def net_collection_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> KPI:
    """Net (adjusted) collection rate over the trailing ``collection_months`` months ending with ``month``.

    (payments - reversals) / (charges - contractual adjustments), all by posting date (same-period variant).
    """
    m = options.collection_months
    ledger = ledger_for(tables, options)
    paid = -_sum(ledger, month, m, PAYMENT_KINDS)
    adjusted = _sum(ledger, month, m, ("charge", "contractual"))
    window = month_window(month, m)
    return KPI(
        "net_collection_rate", f"Net collection rate ({m} mo)", ratio(paid, adjusted), "pct", paid / 100,
        adjusted / 100,
        f"payments net of reversals / (charges - contractual adjustments), posted {window.start.date()}.."
        f"{window.end.date()} (same-period posting basis)",
        "AAFP (adjusted collection rate); MGMA (adjusted FFS collection %)",
    )
