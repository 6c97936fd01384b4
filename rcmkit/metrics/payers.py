"""Payer-facing metrics: the payer scorecard and the open denials by category.

The scorecard puts one row per responsible party (each payer, then the patient) beside the numbers a consultant
compares payers by; every column is an existing definition split by payer, so the columns add up to the
practice's KPIs (charges, payments, open A/R). Open denials group the work list
:func:`rcmkit.metrics.worklists.denied_not_resubmitted` by the CARC crosswalk category of each claim's denial.

Sources: as for the underlying metrics (AAFP/MGMA for charges, payments and A/R aging; HFMA Claim Integrity Task
Force for the initial denial rate; industry payer lag for days to pay); CAQH CORE / X12 CARC for the categories.
"""

from __future__ import annotations

from typing import Mapping

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core.refdata import classify_adjustments
from rcmkit.metrics._common import MetricOptions, month_window, pandas_only, table_rows
from rcmkit.metrics.ar import ar_balances, posted_rows
from rcmkit.metrics.collections import PAYMENT_KINDS
from rcmkit.metrics.denials import first_adjudications, remit_flags
from rcmkit.metrics.lags import days_to_pay
from rcmkit.metrics.worklists import denied_not_resubmitted

__all__ = ["payer_scorecard", "open_denials", "SCORECARD_DEFINITIONS"]

#: What each scorecard column means (the report's methods section prints these).
SCORECARD_DEFINITIONS: dict[str, str] = {
    "charges_cents": "gross charges posted in the month on the payer's claims (self-pay claims under the patient)",
    "payments_cents": "payments posted in the month by the payer (835 CLP04, net of reversals); for the patient, "
                      "patient payments",
    "denial_rate": "claims whose first adjudication in the month carried a denial / claims first adjudicated in the "
                   "month by the payer (the initial denial rate, split by payer)",
    "median_days_to_pay": "median of (first adjudication's payment date - first submission date) for the claims "
                          "first adjudicated in the month",
    "open_ar_cents": "open balances owed by the payer at month end (credit balances excluded)",
    "ar_over_pct": "share of the payer's open balance older than the aged-over threshold (120 days by default), "
                   "by days since the date of service",
}

_COLUMNS = ["payer_id", "payer_name", "payer_class", "charges_cents", "payments_cents", "claims_adjudicated",
            "claims_denied", "denial_rate", "median_days_to_pay", "open_ar_cents", "ar_over_cents", "ar_over_pct"]


@pandas_only
def payer_scorecard(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """One row per payer with activity or an open balance, then ``patient``; money in integer cents.

    Columns: payer_id, payer_name, payer_class, charges_cents, payments_cents, claims_adjudicated, claims_denied,
    denial_rate (None-like NaN without adjudications), median_days_to_pay, open_ar_cents, ar_over_cents,
    ar_over_pct (older than ``options.aged_over_days``). Insurers are ordered by open A/R, largest first; the
    patient row comes last. Sums over the rows equal :func:`charges`, :func:`payments` and :func:`ar_total`.
    """
    window = month_window(month)
    in_month = posted_rows(tables, options, window, ("charge", *PAYMENT_KINDS))
    charged = in_month[in_month["kind"] == "charge"].groupby("responsible")["amount_cents"].sum()
    paid = -in_month[in_month["kind"].isin(PAYMENT_KINDS)].groupby("responsible")["amount_cents"].sum()

    first = first_adjudications(tables, options, month=month)
    adjudicated = first.groupby("payer_id").size()
    denied = first[first["denied"]].groupby("payer_id").size()
    lag = days_to_pay(tables, month, options, by="payer").set_index("payer_id")["median"]

    balances = ar_balances(tables, window.end, options)
    balances = balances[balances["balance_cents"] > 0]
    open_ar = balances.groupby("responsible")["balance_cents"].sum()
    over = balances[balances["age_days"] > options.aged_over_days].groupby("responsible")["balance_cents"].sum()

    payers = tables["payers"][["payer_id", "payer_name", "payer_class"]] if "payers" in tables else None
    ids = set(charged.index) | set(paid.index) | set(adjudicated.index) | set(open_ar.index)
    ids.discard("patient")
    frame = pd.DataFrame({"payer_id": sorted(ids) + ["patient"]})
    if payers is not None:
        frame = frame.merge(payers, on="payer_id", how="left")
    else:
        frame = frame.assign(payer_name=frame["payer_id"], payer_class=None)
    is_patient = frame["payer_id"] == "patient"
    frame["payer_name"] = frame["payer_name"].where(~is_patient, "Patient").fillna(frame["payer_id"])
    frame["payer_class"] = frame["payer_class"].where(~is_patient, "patient")

    def col(series: pd.Series) -> np.ndarray:
        return frame["payer_id"].map(series.to_dict()).fillna(0).astype("int64").to_numpy()

    frame["charges_cents"] = col(charged)
    frame["payments_cents"] = col(paid)
    frame["claims_adjudicated"] = col(adjudicated)
    frame["claims_denied"] = col(denied)
    frame["denial_rate"] = (frame["claims_denied"] / frame["claims_adjudicated"].where(
        frame["claims_adjudicated"] > 0)).astype("float64")
    frame["median_days_to_pay"] = frame["payer_id"].map(lag.to_dict()).astype("float64")
    frame["open_ar_cents"] = col(open_ar)
    frame["ar_over_cents"] = col(over)
    frame["ar_over_pct"] = (frame["ar_over_cents"] / frame["open_ar_cents"].where(
        frame["open_ar_cents"] > 0)).astype("float64")
    money = ["charges_cents", "payments_cents", "claims_adjudicated", "open_ar_cents"]
    active = frame[money].ne(0).any(axis=1) | is_patient
    frame = frame[active]
    insurers = frame[frame["payer_id"] != "patient"].sort_values(
        ["open_ar_cents", "payer_id"], ascending=[False, True], kind="mergesort")
    return pd.concat([insurers, frame[frame["payer_id"] == "patient"]])[_COLUMNS].reset_index(drop=True)


@pandas_only
def open_denials(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    by: str | None = "category",
) -> pd.DataFrame:
    """Denied dollars not yet resubmitted at the end of ``month``, by denial category.

    The claims are those of :func:`~rcmkit.metrics.worklists.denied_not_resubmitted` (an open insurance balance
    whose latest payer answer carried a denial, with no submission since); the dollars are their open
    balances. Each claim counts once, under the CARC crosswalk category of the largest denial adjustment on that
    latest answer (ties: the category that sorts first). ``by="category"`` (default): category, claims,
    balance_cents, largest first; ``by="payer"``: payer_id, category, claims, balance_cents; ``by=None``: one
    row per claim (claim_id, payer_id, category, balance_cents).
    """
    claims = denied_not_resubmitted(tables, month, options)
    if by not in ("category", "payer", None):
        raise ValueError(f"by must be 'category', 'payer' or None, got {by!r}")
    remits = remit_flags(tables, claims)  # the listed claims' answers, filtered on the engine
    answers = claims[["claim_id", "payer_id", "last_answer_on"]].merge(
        remits.loc[remits["any_denial"], ["claim_id", "paid_on", "remit_id"]],
        left_on=["claim_id", "last_answer_on"], right_on=["claim_id", "paid_on"], how="inner")
    # the denial adjustments of those answers, queried on the engine (classified: prepare())
    adj = table_rows(tables, "adjustments", ["remit_id", "category", "amount_cents"], among=answers[["remit_id"]],
                     query=lambda f: classify_adjustments(f).filter(nw.col("treatment") == "denial"))
    adj = adj.merge(answers[["remit_id", "claim_id"]], on="remit_id")
    per_cat = adj.groupby(["claim_id", "category"], as_index=False)["amount_cents"].sum()
    per_cat = per_cat.sort_values(["claim_id", "amount_cents", "category"], ascending=[True, False, True],
                                  kind="mergesort").drop_duplicates("claim_id")
    detail = claims.merge(per_cat[["claim_id", "category"]], on="claim_id", how="left")
    detail["category"] = detail["category"].fillna("Other")  # a CLP02 4 denial without a denial CAS
    detail = detail[["claim_id", "payer_id", "category", "balance_cents"]]
    if by is None:
        return detail.reset_index(drop=True)
    keys = ["payer_id", "category"] if by == "payer" else ["category"]
    out = detail.groupby(keys, as_index=False).agg(claims=("claim_id", "nunique"),
                                                   balance_cents=("balance_cents", "sum"))
    out["balance_cents"] = out["balance_cents"].astype("int64")
    return out.sort_values(["balance_cents"] + keys, ascending=[False] + [True] * len(keys),
                           kind="mergesort").reset_index(drop=True)
