"""Collections: charges, payments and the net (adjusted) collection rate, from the ledger.

Sources: AAFP adjusted collection rate = (payments - credits/refunds) / (charges - contractual adjustments),
over a 12-month window advised (single months swing because adjustments lag charges); MGMA adjusted FFS
collection % and gross FFS collection %. kpi-anchors.md sections 1.2-1.3.
"""

from __future__ import annotations

from typing import Mapping

import narwhals as nw
import pandas as pd

from rcmkit.core.engine import between, collect, int_sum, lazy
from rcmkit.metrics._common import KPI, MetricOptions, as_int, lazy_ledger, month_window, pandas_only, ratio
from rcmkit.metrics.ar import money_source, month_number, posted_in, posted_rows, ym

__all__ = ["charges", "payments", "net_collection_rate", "gross_collection_rate", "adjustment_shares",
           "payments_by_payer_class", "patient_collection_rate", "unapplied_postings", "PAYMENT_KINDS", "patient_sums"]

#: Money received (negative in the ledger) and given back (payer reversals and refunds: positive). Payments are
#: net of both, as AAFP's adjusted collection rate defines them: (payments - refunds/credits) / (...).
PAYMENT_KINDS = ("insurance_payment", "patient_payment", "reversal", "refund")


def _sum(ledger, month: str, months: int, kinds: tuple[str, ...]) -> int:
    return posted_in(ledger, month_window(month, months), kinds)


def charges(tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()) -> KPI:
    """Gross charges posted in ``month`` (each claim's charge posts once, on its first submission)."""
    c = _sum(money_source(tables, options), month, 1, ("charge",))
    return KPI("charges", "Charges", c / 100, "usd", c / 100, None,
               "gross charges posted in the month (claims' first submissions, less voids)", "MGMA (gross FFS charges)")


def payments(tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()) -> KPI:
    """Payments received in ``month``: insurance (835 CLP04) and patient payments, net of payer reversals and of
    refunds to patients and payers (AAFP: payments - refunds/credits)."""
    p = -_sum(money_source(tables, options), month, 1, PAYMENT_KINDS)
    return KPI("payments", "Payments", p / 100, "usd", p / 100, None,
               "insurance and patient payments posted in the month, net of payer reversals and refunds",
               "MGMA; AAFP")


def net_collection_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> KPI:
    """Net (adjusted) collection rate over the trailing ``collection_months`` months ending with ``month``.

    (payments - reversals - refunds) / (charges - contractual adjustments), all by posting date (same-period
    variant).
    """
    m = options.collection_months
    ledger = money_source(tables, options)
    paid = -_sum(ledger, month, m, PAYMENT_KINDS)
    adjusted = _sum(ledger, month, m, ("charge", "contractual"))
    window = month_window(month, m)
    return KPI(
        "net_collection_rate", f"Net collection rate ({m} mo)", ratio(paid, adjusted), "pct", paid / 100,
        adjusted / 100,
        f"payments net of reversals and refunds / (charges - contractual adjustments), posted {window.start.date()}.."
        f"{window.end.date()} (same-period posting basis)",
        "AAFP (adjusted collection rate); MGMA (adjusted FFS collection %)",
    )


def gross_collection_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> KPI:
    """Gross collection rate (MGMA gross FFS collection %): payments net of reversals / gross charges, over the
    trailing ``collection_months`` months. It depends on how high the practice sets its fees: compare it over
    time, not across practices."""
    m = options.collection_months
    ledger = money_source(tables, options)
    paid = -_sum(ledger, month, m, PAYMENT_KINDS)
    charged = _sum(ledger, month, m, ("charge",))
    window = month_window(month, m)
    return KPI(
        "gross_collection_rate", f"Gross collection rate ({m} mo)", ratio(paid, charged), "pct", paid / 100,
        charged / 100,
        f"payments net of reversals and refunds / gross charges, posted {window.start.date()}..{window.end.date()}",
        "MGMA (gross FFS collection %)",
    )


def adjustment_shares(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Adjustments posted in the trailing ``collection_months`` months as a share of the charges posted then:
    one row per ledger kind (contractual, denial write-offs, other adjustments) with amount_cents (positive =
    a credit) and share_of_charges. AAFP advises tracking non-contractual adjustments apart from contractual
    ones: denial write-offs are money lost, contractuals are the price agreed."""
    m = options.collection_months
    ledger = money_source(tables, options)
    charged = _sum(ledger, month, m, ("charge",))
    rows = [{"kind": kind, "amount_cents": -_sum(ledger, month, m, (kind,))}
            for kind in ("contractual", "denial", "other_adjustment")]
    out = pd.DataFrame(rows)
    out["share_of_charges"] = out["amount_cents"] / charged if charged else float("nan")
    return out


@pandas_only
def payments_by_payer_class(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Payments posted in ``month`` by payer class (medicare, medicaid, commercial, ..., and 'patient'):
    payer_class, payments_cents, share. Payments are net of reversals and refunds."""
    rows = posted_rows(tables, options, month_window(month), PAYMENT_KINDS)
    classes = tables["payers"].set_index("payer_id")["payer_class"].to_dict() if "payers" in tables else {}
    payer_class = rows["responsible"].map(classes).where(rows["responsible"] != "patient", "patient").fillna("other")
    out = (-rows["amount_cents"]).groupby(payer_class.rename("payer_class")).sum().rename("payments_cents")
    out = out.reset_index().sort_values(["payments_cents", "payer_class"], ascending=[False, True])
    total = out["payments_cents"].sum()
    out["share"] = out["payments_cents"] / total if total else float("nan")
    return out.reset_index(drop=True)


def unapplied_postings(tables: Mapping[str, pd.DataFrame], month: str) -> dict:
    """PM postings waiting in suspense at the end of ``month`` because their claim is not held yet (the
    ``unapplied_postings`` table, filled by ``rcmkit ingest``): ``count``, ``payments_cents`` (money received,
    positive) and ``other_cents`` (adjustments and refunds, as the ledger signs them). They are in no KPI until
    their claim arrives, so a report must say how much is waiting."""
    table = tables.get("unapplied_postings")
    if table is None or len(table) == 0:
        return {"count": 0, "payments_cents": 0, "other_cents": 0}
    rows = table[table["posted_on"] <= month_window(month).end]
    paid = rows["kind"].isin(PAYMENT_KINDS)
    return {"count": int(len(rows)), "payments_cents": int(-rows.loc[paid, "amount_cents"].sum()),
            "other_cents": int(rows.loc[~paid, "amount_cents"].sum())}


def patient_sums(tables: Mapping[str, pd.DataFrame], months, options: MetricOptions = MetricOptions()
                 ) -> dict[str, tuple[int, int]]:
    """(paid, assigned) of :func:`patient_collection_rate` for each month of ``months`` (each over its trailing
    ``collection_months``), from the patient rows' sums by calendar month: one pass over the ledger."""
    months = list(months)
    windows = {m: month_window(m, options.collection_months) for m in months}
    start, end = min(w.start for w in windows.values()), max(w.end for w in windows.values())
    ledger = lazy_ledger(tables, options)
    insured = ledger.filter(nw.col("kind") == "charge", nw.col("responsible") != "patient").select("claim_id").unique()
    patient = (ledger.filter(nw.col("responsible") == "patient", between(ledger, "posted_on", start, end))
               .with_columns(_ym=month_number(nw.col("posted_on"))))
    assigned = collect(patient.filter(nw.col("kind") == "patient_responsibility").group_by("_ym")
                       .agg(int_sum("amount_cents")))
    paid = collect(patient.filter(nw.col("kind").is_in(["patient_payment", "refund"]))
                   .join(insured, on="claim_id", how="semi").group_by("_ym").agg(int_sum("amount_cents")))
    by_month = {name: dict(zip(frame["_ym"].astype("int64"), frame["amount_cents"]))
                for name, frame in (("assigned", assigned), ("paid", paid))}
    out = {}
    for m, w in windows.items():
        yms = range(ym(w.start), ym(w.end) + 1)
        out[m] = (-sum(as_int(by_month["paid"].get(y)) for y in yms),
                  sum(as_int(by_month["assigned"].get(y)) for y in yms))
    return out


def patient_collection_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *,
    sums: tuple[int, int] | None = None,
) -> KPI:
    """Patient collection rate (MGMA): what patients paid / what payers' 835s assigned to them (deductibles,
    coinsurance, copays: the ``patient_responsibility`` moved to the patient), over the trailing
    ``collection_months`` months, same-period posting basis.

    Only insured claims count on both sides: a self-pay claim's charge is not an 835 assignment, so its
    payments are left out of the numerator too. Patient payments are net of refunds to patients. ``sums``: the
    month's (paid, assigned) when the caller has them (:func:`patient_sums` of many months)."""
    m = options.collection_months
    window = month_window(month, m)
    paid, assigned = patient_sums(tables, [month], options)[month] if sums is None else sums
    return KPI(
        "patient_collection_rate", f"Patient collection rate ({m} mo)", ratio(paid, assigned), "pct", paid / 100,
        assigned / 100,
        f"patient payments net of refunds on insured claims / patient responsibility assigned by payers (835 PR "
        f"adjustments), posted {window.start.date()}..{window.end.date()} (same-period posting basis)",
        "MGMA (patient collection rate)",
    )
