"""Claims and denials: first adjudications, clean-claim rate, initial denial rate, denial reasons.

Sources: HFMA Claim Integrity Task Force (2020) initial denial rate, count and dollars; AAFP denial rate ($ denied /
$ submitted, < 5% desirable); HFMA MAP Key CL-1 clean claim rate is a *pre-submission scrubber* measure that 835s
cannot compute, so rcmkit's default is the payer first-pass variant (industry "clean claim" / first-pass
resolution); X12 CARC list and CAQH CORE business scenarios for the denial categories. See
../shared/reference/kpi-anchors.md sections 1.3, 1.4, 3.5 and 4.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from ..ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS
from ..reference import classify_adjustments
from ._common import KPI, MetricOptions, month_window, ratio

__all__ = ["first_adjudications", "clean_claim_rate", "initial_denial_rate", "denial_reasons"]

#: CLP02 = 4: denied (in 5010 only when the patient is not recognised).
DENIED_STATUS = "4"


def _remit_flags(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per adjudication (non-reversal, non-predetermination remittance): denial and duplicate flags."""
    remits = tables["remittances"]
    remits = remits[~remits["status_code"].isin((REVERSAL_STATUS, *NON_PAYMENT_STATUSES))]
    adj = classify_adjustments(tables["adjustments"])
    adj = adj[adj["remit_id"].isin(remits["remit_id"])]
    flags = pd.DataFrame(
        {
            "remit_id": adj["remit_id"],
            "any_denial": adj["treatment"].eq("denial") & adj["amount_cents"].gt(0),
            "duplicate": adj["treatment"].eq("duplicate"),
        }
    ).groupby("remit_id", as_index=False)[["any_denial", "duplicate"]].any()
    out = remits.merge(flags, on="remit_id", how="left")
    out[["any_denial", "duplicate"]] = out[["any_denial", "duplicate"]].fillna(False).astype(bool)
    out["any_denial"] |= out["status_code"].eq(DENIED_STATUS)
    out["full_denial"] = (out["any_denial"] & out["paid_cents"].eq(0)) | out["status_code"].eq(DENIED_STATUS)
    return out


def first_adjudications(
    tables: Mapping[str, pd.DataFrame], options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Each claim's first adjudication: its earliest 835 claim payment that is not a reversal (CLP02 22), not a
    predetermination (25/27) and not a duplicate-claim rejection (OA-18). Ties on the payment date go to the
    lower remit_id. Claims whose first known submission is a replacement or void (7/8) are left out: those are
    not new claims in any denominator (DESIGN.md, 837 CLM05-3).

    Returns claim_id, remit_id, payer_id, paid_on, month ('YYYY-MM' of paid_on), billed_cents, paid_cents,
    any_denial, full_denial and ``denied`` (per ``options.denial_scope``).
    """
    adjudications = _remit_flags(tables)
    adjudications = adjudications[~adjudications["duplicate"]]
    first = adjudications.sort_values(["claim_id", "paid_on", "remit_id"], kind="mergesort").drop_duplicates(
        "claim_id", keep="first"
    )
    claims = tables["claims"].sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort")
    not_original = claims.drop_duplicates("claim_id", keep="first")
    not_original = set(not_original.loc[not_original["frequency_code"].isin(("7", "8")), "claim_id"])
    first = first[~first["claim_id"].isin(not_original)].copy()
    first["month"] = first["paid_on"].dt.to_period("M").astype(str)
    first["denied"] = first["any_denial"] if options.denial_scope == "any" else first["full_denial"]
    cols = ["claim_id", "remit_id", "payer_id", "paid_on", "month", "billed_cents", "paid_cents",
            "any_denial", "full_denial", "denied"]
    return first[cols].reset_index(drop=True)


def _in_month(first: pd.DataFrame, month: str) -> pd.DataFrame:
    window = month_window(month)
    return first[window.contains(first["paid_on"])]


def clean_claim_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    first: pd.DataFrame | None = None,
) -> KPI:
    """Clean-claim rate, payer first-pass variant (DESIGN default).

    Numerator: claims first adjudicated in ``month`` whose first adjudication carried no denial adjustment and
    that needed no resubmission (no later submission of the claim, of any frequency, by the month's end).
    Denominator: original claims first adjudicated in ``month``. HFMA CL-1 (scrubber edits passed with no
    manual touch) needs clearinghouse data an 835 does not carry, so it is not computed here.
    """
    first = first_adjudications(tables, options) if first is None else first
    cohort = _in_month(first, month)
    end = month_window(month).end
    claims = tables["claims"]
    submissions = claims[claims["submitted_on"] <= end].groupby("claim_id").size()
    resubmitted = cohort["claim_id"].map(submissions).fillna(1) > 1
    clean = ~cohort["any_denial"] & ~resubmitted
    n, d = int(clean.sum()), len(cohort)
    return KPI(
        "clean_claim_rate", "Clean-claim rate", ratio(n, d), "pct", n, d,
        "original claims first adjudicated in the month with no denial adjustment on that adjudication and no "
        "resubmission by month end / original claims first adjudicated in the month (payer first-pass variant; "
        "HFMA CL-1 scrubber variant not computable from 835s)",
        "Industry payer first-pass definition; HFMA MAP Key CL-1 (named, not computed)",
    )


def initial_denial_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    first: pd.DataFrame | None = None,
) -> tuple[KPI, KPI]:
    """Initial denial rate by claim count and by charge dollars (HFMA Claim Integrity Task Force; AAFP).

    Numerator: claims whose first adjudication (in ``month``) was a denial (``denial_scope="any"``: any denial
    adjustment on it; ``"full"``: nothing paid) — count, and their billed charges (CLP03). Denominator: claims
    first adjudicated in ``month`` — count, and billed charges. Duplicates (OA-18) and reversals are excluded.
    """
    first = first_adjudications(tables, options) if first is None else first
    cohort = _in_month(first, month)
    denied = cohort[cohort["denied"]]
    scope = "any denial adjustment" if options.denial_scope == "any" else "a full denial (nothing paid)"
    count = KPI(
        "initial_denial_rate", "Initial denial rate (claims)", ratio(len(denied), len(cohort)), "pct",
        len(denied), len(cohort),
        f"claims whose first adjudication in the month carried {scope} / claims first adjudicated in the month; "
        "duplicates (OA-18) and reversals excluded",
        "HFMA Claim Integrity Task Force (initial denial rate); AAFP",
    )
    dn, dd = int(denied["billed_cents"].sum()), int(cohort["billed_cents"].sum())
    dollars = KPI(
        "initial_denial_rate_dollars", "Initial denial rate (dollars)", ratio(dn, dd), "pct", dn / 100, dd / 100,
        f"billed charges of claims whose first adjudication in the month carried {scope} / billed charges of "
        "claims first adjudicated in the month",
        "AAFP ($ denied / $ submitted); HFMA Claim Integrity Task Force",
    )
    return count, dollars


def denial_reasons(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    top: int | None = 10, by: str | None = None,
) -> pd.DataFrame:
    """Denial adjustments on the claims initially denied in ``month``, by crosswalk category and CARC.

    Returns category, group_code, reason_code (with payer_id first when ``by="payer"``), claims (distinct
    claims), lines (adjustment rows) and denied_cents, largest dollars first; ``top`` rows at most.
    Categories come from the versioned crosswalk ``rcmkit/data/carc_crosswalk.csv``.
    """
    first = _in_month(first_adjudications(tables, options), month)
    first = first[first["denied"]]
    adj = classify_adjustments(tables["adjustments"])
    adj = adj[(adj["treatment"] == "denial") & adj["remit_id"].isin(first["remit_id"])]
    adj = adj.merge(first[["remit_id", "claim_id", "payer_id"]], on="remit_id")
    keys = (["payer_id"] if by == "payer" else []) + ["category", "group_code", "reason_code"]
    out = (
        adj.groupby(keys, as_index=False)
        .agg(claims=("claim_id", "nunique"), lines=("remit_id", "size"), denied_cents=("amount_cents", "sum"))
        .sort_values(["denied_cents", "claims"] + keys, ascending=[False, False] + [True] * len(keys))
    )
    out["denied_cents"] = out["denied_cents"].astype("int64")
    return (out.head(top) if top else out).reset_index(drop=True)
