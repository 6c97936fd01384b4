"""Accounts receivable: balances, aging and days in A/R, all point-in-time from the ledger.

Sources: AAFP, "Understanding Financial Benchmarks" / FPM practice-management KPIs (days in A/R = receivables
less credit balances / average daily charges; age from the date of service, never re-aged; % over 120 days);
MGMA Cost & Revenue survey glossary (days of gross FFS charges in A/R = total A/R / (annual gross charges / 365);
A/R aging buckets); HFMA MAP Keys "Net days in A/R" (net A/R / average daily net patient service revenue, 3-month
rolling for internal use, HFMA P&P Board Statement 16). Details: ../shared/reference/kpi-anchors.md, sections 1-2.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ._common import KPI, MetricOptions, Window, isin, ledger_for, month_window, ratio

__all__ = ["AGING_BUCKETS", "ar_balances", "ar_aging", "days_in_ar", "days_in_ar_net", "ar_total", "ar_aged_pct"]

AGING_BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")
_EDGES = [-np.inf, 30, 60, 90, 120, np.inf]  # right-closed: 0-30, 31-60, 61-90, 91-120, 121+


def _claim_dates(claims: pd.DataFrame) -> pd.DataFrame:
    """Per claim: its payer, date of service and first bill date, from its first non-void submission."""
    ordered = claims.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort")
    first = ordered[ordered["frequency_code"] != "8"].drop_duplicates("claim_id", keep="first")
    return first[["claim_id", "payer_id", "service_from", "submitted_on"]].rename(
        columns={"payer_id": "claim_payer_id", "submitted_on": "first_billed_on"}
    )


def ar_balances(
    tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Open balance of every (claim, responsible party) as of a date: the sum of its ledger rows posted by then.

    Returns claim_id, responsible ('patient' or a payer_id), balance_cents, claim_payer_id, service_from,
    first_billed_on, age_days and bucket, for every non-zero balance. Credit balances (negative) are returned
    too; :func:`ar_total` and :func:`ar_aging` exclude them (AAFP/MGMA: A/R less credit balances, shown apart).
    Age counts whole days from the date of service (``aging_basis="service_date"``, AAFP: never re-aged on a
    transfer to a secondary payer or the patient) or from the claim's first bill date (MGMA variant).
    """
    as_of = pd.Timestamp(as_of)
    ledger = ledger_for(tables, options)
    posted = ledger[ledger["posted_on"] <= as_of]
    bal = posted.groupby(["claim_id", "responsible"], as_index=False, sort=True)["amount_cents"].sum()
    bal = bal[bal["amount_cents"] != 0].rename(columns={"amount_cents": "balance_cents"})
    bal = bal.merge(_claim_dates(tables["claims"]), on="claim_id", how="left")
    # A claim known only from an 835 (no 837 loaded): age it from its first ledger posting.
    first_post = posted.groupby("claim_id", as_index=False)["posted_on"].min()
    bal = bal.merge(first_post.rename(columns={"posted_on": "first_posted_on"}), on="claim_id", how="left")
    start = bal["service_from"] if options.aging_basis == "service_date" else bal["first_billed_on"]
    bal["age_days"] = (as_of - start.fillna(bal["first_posted_on"])).dt.days.astype("int64")
    bal = bal.drop(columns="first_posted_on")
    bal["bucket"] = pd.cut(bal["age_days"], _EDGES, labels=list(AGING_BUCKETS))
    return bal.reset_index(drop=True)


def _open(balances: pd.DataFrame) -> pd.DataFrame:
    return balances[balances["balance_cents"] > 0]


def ar_total(balances: pd.DataFrame) -> int:
    """Gross A/R in cents: the sum of positive balances (credit balances excluded, AAFP/MGMA)."""
    return int(_open(balances)["balance_cents"].sum())


def ar_aging(
    tables: Mapping[str, pd.DataFrame],
    month: str,
    options: MetricOptions = MetricOptions(),
    by: str = "payer",
) -> pd.DataFrame:
    """Open A/R at the end of ``month`` by age bucket (0-30, 31-60, 61-90, 91-120, 120+ days).

    ``by="payer"``: one group per responsible party (each payer, and 'patient'); ``by="responsible"``:
    'insurance' vs 'patient'; ``by="payer_class"``: medicare, medicaid, commercial, ..., 'patient';
    ``by=None``: the practice total. Returns the group columns, bucket (ordered
    categorical, every bucket present for every group) and balance_cents. Source: AAFP; MGMA aging buckets.
    """
    balances = _open(ar_balances(tables, month_window(month).end, options))
    who = balances["responsible"]
    if by == "payer":
        names = tables["payers"].set_index("payer_id")["payer_name"] if "payers" in tables else pd.Series(dtype=str)
        groups = {"payer_id": who, "payer_name": who.map(names).where(who != "patient", "Patient").fillna(who)}
    elif by == "responsible":
        groups = {"responsible": who.where(who == "patient", "insurance")}
    elif by == "payer_class":
        classes = tables["payers"].set_index("payer_id")["payer_class"].to_dict() if "payers" in tables else {}
        groups = {"payer_class": who.map(classes).where(who != "patient", "patient").fillna("other")}
    elif by is None:
        groups = {"group": pd.Series("all", index=balances.index)}
    else:
        raise ValueError(f"by must be 'payer', 'responsible', 'payer_class' or None, got {by!r}")
    frame = pd.DataFrame({**groups, "bucket": balances["bucket"].astype(str), "balance_cents": balances["balance_cents"]})
    sums = frame.groupby(list(groups) + ["bucket"], sort=True)["balance_cents"].sum()
    wide = sums.unstack("bucket", fill_value=0).reindex(columns=list(AGING_BUCKETS), fill_value=0)
    out = wide.stack().rename("balance_cents").reset_index()
    out["bucket"] = pd.Categorical(out["bucket"], categories=list(AGING_BUCKETS), ordered=True)
    out["balance_cents"] = out["balance_cents"].astype("int64")
    return out


def ar_aged_pct(balances: pd.DataFrame, over_days: int) -> tuple[int, int]:
    """(A/R older than ``over_days`` days, total A/R), in cents; positive balances only."""
    open_ = _open(balances)
    return int(open_.loc[open_["age_days"] > over_days, "balance_cents"].sum()), int(open_["balance_cents"].sum())


def _posted_in(ledger: pd.DataFrame, window: Window, kinds: tuple[str, ...]) -> int:
    rows = ledger[ledger["kind"].isin(kinds) & window.contains(ledger["posted_on"])]
    return int(rows["amount_cents"].sum())


def days_in_ar(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> KPI:
    """Days in A/R (gross): gross A/R at the end of ``month`` / average daily gross charges.

    Numerator: open A/R, credit balances excluded (AAFP: "total receivables less credit balances").
    Denominator (``gross_3m``, AAFP; DESIGN default): charges posted in the last 3 full months (``month`` and
    the two before) / their calendar days (90 for January-March 2026). ``gross_12m`` (MGMA): 12 months of
    charges / their days (365 or 366).
    """
    months = 3 if options.days_in_ar == "gross_3m" else 12
    window = month_window(month, months)
    ledger = ledger_for(tables, options)
    ar = ar_total(ar_balances(tables, window.end, options))
    charges = _posted_in(ledger, window, ("charge",))
    daily = charges / window.days
    src = "AAFP (days in A/R)" if months == 3 else "MGMA (days of gross FFS charges in A/R)"
    return KPI(
        "days_in_ar", "Days in A/R", ratio(ar, daily), "days", ar / 100, daily / 100,
        f"gross A/R at {window.end.date()} (credit balances excluded) / (gross charges posted "
        f"{window.start.date()}..{window.end.date()} / {window.days} days)",
        src,
    )


def _expected_contractual_rate(ledger: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.Series, float]:
    """Per payer: contractual adjustments / charges over the claims charged in the year before ``as_of`` that
    have a contractual adjustment posted by then (claims the payer has priced), and the practice-wide rate."""
    posted = ledger[ledger["posted_on"] <= as_of]
    charges = posted[(posted["kind"] == "charge") & (posted["posted_on"] > as_of - pd.DateOffset(years=1))]
    contractual = posted[posted["kind"] == "contractual"].groupby("claim_id")["amount_cents"].sum()
    priced = charges[isin(charges["claim_id"], contractual.index)]
    per_claim = priced.groupby("claim_id").agg(payer=("responsible", "first"), charge=("amount_cents", "sum"))
    per_claim["contractual"] = -contractual.reindex(per_claim.index)
    by_payer = per_claim.groupby("payer")[["contractual", "charge"]].sum()
    overall = ratio(by_payer["contractual"].sum(), by_payer["charge"].sum()) or 0.0
    return (by_payer["contractual"] / by_payer["charge"]).where(by_payer["charge"] > 0), overall


def days_in_ar_net(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> KPI:
    """Net days in A/R (HFMA MAP Key): net A/R / average daily net revenue of the last N full months.

    Net revenue = charges + contractual adjustments posted in the window (contractuals are credits). Net A/R =
    gross A/R (credit balances excluded) less the contractual allowance still expected on insurance balances
    the payer has not priced yet (no contractual adjustment posted: unadjudicated, or denied and still open),
    at each payer's rate over the trailing 12 months (contractual / charges of its priced claims; the
    practice-wide rate for a payer with none). Patient balances and priced claims are already net.
    HFMA P&P Board Statement 16: 3-month rolling average for internal use (``days_in_ar_net_months=3``), annual
    / 365 for external users (12).
    """
    window = month_window(month, options.days_in_ar_net_months)
    ledger = ledger_for(tables, options)
    balances = _open(ar_balances(tables, window.end, options))
    posted = ledger[ledger["posted_on"] <= window.end]
    priced = posted.loc[posted["kind"] == "contractual", "claim_id"].unique()
    rates, overall = _expected_contractual_rate(ledger, window.end)
    pending = (balances["responsible"] != "patient") & ~isin(balances["claim_id"], priced)
    rate = balances["responsible"].map(rates.to_dict()).astype("float64").fillna(overall).where(pending, 0.0)
    net_ar = float((balances["balance_cents"] * (1 - rate)).sum())
    net_revenue = _posted_in(ledger, window, ("charge", "contractual"))
    daily = net_revenue / window.days
    return KPI(
        "days_in_ar_net", "Net days in A/R", ratio(net_ar, daily), "days", round(net_ar) / 100, daily / 100,
        f"net A/R at {window.end.date()} (gross A/R less the expected contractual allowance on insurance "
        f"balances not yet priced by the payer) / (charges less contractual adjustments posted {window.start.date()}.."
        f"{window.end.date()} / {window.days} days)",
        "HFMA MAP Keys (net days in A/R); HFMA P&P Board Statement 16",
    )
