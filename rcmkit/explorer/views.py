"""The explorer's numbers: pure functions over (filtered) canonical tables, built on the metric functions.

Nothing here defines a KPI. A tile is the metric function's own :class:`~rcmkit.metrics.KPI`; over a period of
several months a flow KPI is *pooled* (:func:`pool`): the monthly numerators added up over the monthly denominators
added up, which for the initial denial rate is exactly "claims denied / claims first adjudicated in the period",
because a claim is first adjudicated in one month only. The claim lists behind a KPI carry the claims of its
numerator (tests check that a list adds up to its KPI and its breakdown row). No view shows a patient identifier:
claims are named by claim_id and payer only.

Money is integer cents in ``*_cents`` columns, as in the canonical tables.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from rcmkit.metrics import (
    KPI,
    MetricOptions,
    ar_aging,
    ar_balances,
    charges,
    clean_claim_rate,
    contract_lines,
    days_in_ar,
    first_adjudications,
    initial_denial_rate,
    ledger_for,
    month_window,
    net_collection_rate,
    payments,
    ratio,
    reimbursement_by_payer_code,
    with_tables,
)
from rcmkit.metrics.collections import PAYMENT_KINDS
from rcmkit.metrics.denials import clean_counts, denial_sums
from rcmkit.metrics.ar import AGING_BUCKETS, balances_frame
from rcmkit.metrics.registry import explorer_keys
from rcmkit.metrics.summary import ar_kpis, prepare
from rcmkit.core.engine import lazy
from rcmkit.core.refdata import classify_adjustments
from rcmkit.explorer.filters import Period

__all__ = [
    "FLOW_KEYS",
    "flow_kpis",
    "monthly_flow_kpis",
    "end_kpis",
    "pool",
    "period_kpis",
    "monthly_values",
    "payer_rows",
    "denial_lines",
    "denial_breakdown",
    "denied_claims",
    "not_clean_claims",
    "open_ar_claims",
    "activity_claims",
    "aging_table",
    "reimbursement_base",
    "reimbursement_cells",
    "reimbursement_matrix",
    "MEASURES",
    "PATIENT_COLUMNS",
]

#: KPIs that flow over a period (summed or pooled month by month), from the registry; the others are taken at the
#: period's end.
FLOW_KEYS = explorer_keys("flow")

#: Columns no view may ever carry (patient identifiers); :func:`rcmkit.explorer.export.export_frame` refuses them.
PATIENT_COLUMNS = ("patient_key",)

#: Reimbursement heat-map measures: key -> (label, unit).
MEASURES = {
    "paid_per_unit": ("Paid per unit", "usd"),
    "paid_to_allowed": ("Paid / allowed", "pct"),
    "allowed_to_contract": ("Allowed / contract", "pct"),
}


# --------------------------------------------------------------------------------------------- KPIs
def flow_kpis(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *,
    first: pd.DataFrame | None = None, keys: Sequence[str] = FLOW_KEYS,
    denials: tuple[int, int, int, int] | None = None, clean: tuple[int, int] | None = None,
) -> dict[str, KPI]:
    """The flow KPIs of one month (those in ``keys``), each from its metric function (``first``:
    :func:`first_adjudications` of ``tables``, computed when not given and needed). ``denials``, ``clean``: the
    month's :func:`rcmkit.metrics.denials.denial_sums` and :func:`rcmkit.metrics.denials.clean_counts` when the
    caller has them (:func:`monthly_flow_kpis` asks for all its months at once)."""
    rates = "initial_denial_rate" in keys or "initial_denial_rate_dollars" in keys
    if first is None and ((rates and denials is None) or ("clean_claim_rate" in keys and clean is None)):
        first = first_adjudications(tables, options)
    kpis: list[KPI] = []
    if "charges" in keys:
        kpis.append(charges(tables, month, options))
    if "payments" in keys:
        kpis.append(payments(tables, month, options))
    if rates:
        kpis.extend(initial_denial_rate(tables, month, options, first=first, sums=denials))
    if "clean_claim_rate" in keys:
        kpis.append(clean_claim_rate(tables, month, options, first=first, counts=clean))
    return {k.key: k for k in kpis if k.key in keys}


def monthly_flow_kpis(
    tables: Mapping[str, pd.DataFrame], months: Sequence[str], options: MetricOptions = MetricOptions(), *,
    first: pd.DataFrame | None = None, keys: Sequence[str] = FLOW_KEYS,
) -> dict[str, dict[str, KPI]]:
    """:func:`flow_kpis` for each of ``months``: the same KPIs, each from its metric function. The claim and denial
    counts of every month come from one query each (:func:`rcmkit.metrics.denials.denial_sums` and
    :func:`rcmkit.metrics.denials.clean_counts` of all the months: each claim counted in the month of its first
    adjudication, as the one-month call counts it), and charges and payments the ledger's monthly sums
    (:func:`rcmkit.metrics.prepare`), so the numbers are exactly the one-month calls' while a year of months costs
    little more than one."""
    months = list(months)
    first = first_adjudications(tables, options) if first is None else first
    if "charges" in keys or "payments" in keys:
        # charges and payments read the ledger's monthly sums (one group-by for every month; tables prepared
        # with them, as the explorer's selections are, are used as they are)
        tables = prepare(tables, options)
    rates = "initial_denial_rate" in keys or "initial_denial_rate_dollars" in keys
    # the months' cohorts (the first adjudications paid in them: what both queries keep), converted for the query
    # engine once; a short period converts a few of the selection's rows, not all
    paid_on = first["paid_on"].to_numpy()
    asked = np.zeros(len(first), dtype=bool)
    for m in months:
        w = month_window(m)
        asked |= (paid_on >= w.start.to_datetime64()) & (paid_on <= w.end.to_datetime64())
    cohorts = lazy(first[asked])
    denials = denial_sums(tables, months, options, cohorts) if rates and months else {}
    clean = clean_counts(tables, months, options, cohorts) if "clean_claim_rate" in keys and months else {}
    return {m: flow_kpis(tables, m, options, first=first, keys=keys, denials=denials.get(m), clean=clean.get(m))
            for m in months}


def _add(values: Sequence[float | int | None]) -> float | int:
    """Exact sum of KPI numerators: counts stay integers; dollar amounts are added in cents."""
    vals = [v for v in values if v is not None]
    if all(isinstance(v, (int, np.integer)) for v in vals):
        return int(sum(vals))
    return sum(round(float(v) * 100) for v in vals) / 100


def pool(kpis: Sequence[KPI], months: Sequence[str]) -> KPI:
    """One KPI over several months from the metric's monthly KPIs (one month: that KPI unchanged).

    An amount (no denominator: charges, payments) is the sum of the months. A rate is the sum of the monthly
    numerators over the sum of the monthly denominators; for rates over claims first adjudicated in a month this
    is the rate over the claims first adjudicated in the period. The definition says so."""
    if len(kpis) == 1:
        return kpis[0]
    last = kpis[-1]
    span = f"{months[0]}..{months[-1]}"
    if last.denominator is None:
        total = _add([k.value for k in kpis])
        return dataclasses.replace(last, value=float(total), numerator=float(total),
                                   definition=f"{last.definition}; the months {span} added up")
    num, den = _add([k.numerator for k in kpis]), _add([k.denominator for k in kpis])
    return dataclasses.replace(
        last, value=ratio(num, den), numerator=num, denominator=den,
        definition=f"{last.definition}; pooled over the months {span}: their numerators added up over their "
                   "denominators added up")


def end_kpis(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *, balances=None
) -> dict[str, KPI]:
    """The point-in-time KPIs at the end of ``month``: A/R total, A/R over N days, days in A/R, net collection rate
    (trailing ``options.collection_months``). ``balances``: :func:`rcmkit.metrics.ar.balances_frame` of ``tables``
    at the month's end when the caller has it (computed when not given)."""
    if balances is None:
        balances = balances_frame(tables, month_window(month).end, options)  # eager on pandas: computed once
    kpis = [*ar_kpis(tables, month, options, balances=balances), days_in_ar(tables, month, options, balances=balances),
            net_collection_rate(tables, month, options)]
    return {k.key: k for k in kpis}


def period_kpis(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(), *,
    first: pd.DataFrame | None = None, monthly: Mapping[str, Mapping[str, KPI]] | None = None, balances=None,
) -> dict[str, KPI]:
    """The explorer's tiles for ``period``: the flow KPIs pooled over its months, then the point-in-time KPIs at its
    end. For a one-month period every value equals :func:`rcmkit.metrics.monthly_kpis` for that month.
    ``monthly``: flow KPIs already computed per month (:func:`flow_kpis`), reused when given; ``balances``: the
    open balances at the period's end (:func:`end_kpis`), when the caller has them."""
    first = first_adjudications(tables, options) if first is None else first
    months = period.month_list
    missing = [m for m in months if monthly is None or m not in monthly]
    computed = monthly_flow_kpis(tables, missing, options, first=first) if missing else {}
    per_month = [monthly[m] if m not in computed else computed[m] for m in months]
    out = {key: pool([k[key] for k in per_month], months) for key in FLOW_KEYS}
    out.update(end_kpis(tables, period.end, options, balances=balances))
    return out


def monthly_values(monthly: Mapping[str, Mapping[str, KPI]]) -> pd.DataFrame:
    """A trend frame (column ``month`` plus one column per KPI key) from per-month KPIs, for the report's charts."""
    rows = [{"month": m, **{k: v.value for k, v in kpis.items()}} for m, kpis in sorted(monthly.items())]
    return pd.DataFrame(rows)


def payer_rows(per_payer: Mapping[str, Mapping[str, KPI]], metric: str, payers: pd.DataFrame | None) -> pd.DataFrame:
    """A by-payer breakdown from each payer's period KPIs (``{payer_id: period_kpis(...)}``): one row per payer
    with the metric's numerator, denominator and value. ``metric``: ``initial_denial_rate``, ``clean_claim_rate``
    or ``charges_payments``."""
    names = _payer_names(payers)
    rows = []
    for pid, k in per_payer.items():
        row = {"payer_id": pid, "payer_name": names.get(pid, pid)}
        if metric == "initial_denial_rate":
            c, d = k["initial_denial_rate"], k["initial_denial_rate_dollars"]
            row.update(claims_adjudicated=c.denominator, claims_denied=c.numerator, denial_rate=c.value,
                       billed_cents=_cents(d.denominator), denied_billed_cents=_cents(d.numerator),
                       denial_rate_dollars=d.value)
        elif metric == "clean_claim_rate":
            c = k["clean_claim_rate"]
            row.update(claims_adjudicated=c.denominator, clean_claims=c.numerator,
                       not_clean=None if c.denominator is None else c.denominator - c.numerator,
                       clean_claim_rate=c.value)
        elif metric == "charges_payments":
            row.update(charges_cents=_cents(k["charges"].value), payments_cents=_cents(k["payments"].value))
        else:
            raise ValueError(f"no by-payer breakdown for metric {metric!r}")
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    sort = {"initial_denial_rate": "claims_adjudicated", "clean_claim_rate": "claims_adjudicated",
            "charges_payments": "charges_cents"}[metric]
    return out.sort_values([sort, "payer_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def _cents(dollars: float | None) -> int | None:
    return None if dollars is None else int(round(float(dollars) * 100))


def _payer_names(payers: pd.DataFrame | None) -> dict[str, str]:
    names = {} if payers is None or not len(payers) else dict(zip(payers["payer_id"], payers["payer_name"]))
    names.setdefault("patient", "Patient")
    return names


# --------------------------------------------------------------------------------------------- denials
def _in_period(first: pd.DataFrame, period: Period) -> pd.DataFrame:
    return first[period.window.contains(first["paid_on"])]


def denial_lines(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(), *,
    first: pd.DataFrame | None = None, adjustments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The denial adjustments behind the initial denial rate of ``period``: those on the first adjudication of each
    claim initially denied in it (what :func:`rcmkit.metrics.denial_reasons` groups, month by month).

    One row per adjustment: claim_id, remit_id, payer_id, category, group_code, reason_code, amount_cents.
    ``adjustments``: ``tables["adjustments"]`` already classified (:func:`rcmkit.core.refdata.classify_adjustments`)."""
    first = first_adjudications(tables, options) if first is None else first
    denied = _in_period(first, period)
    denied = denied[denied["denied"]]
    adj = classify_adjustments(tables["adjustments"]) if adjustments is None else adjustments
    adj = adj[(adj["treatment"] == "denial") & adj["remit_id"].isin(denied["remit_id"])]
    adj = adj.merge(denied[["remit_id", "claim_id", "payer_id"]], on="remit_id")
    cols = ["claim_id", "remit_id", "payer_id", "category", "group_code", "reason_code", "amount_cents"]
    return adj[cols].reset_index(drop=True)


def denial_breakdown(lines: pd.DataFrame, by: str = "category", *, category: str | None = None) -> pd.DataFrame:
    """Denial adjustments (:func:`denial_lines`) by ``"category"`` or by ``"code"`` (category, group and CARC),
    optionally within one category: claims (distinct), lines and denied_cents, largest dollars first. Per month and
    by code this is :func:`rcmkit.metrics.denial_reasons` with ``top=None``."""
    if category is not None:
        lines = lines[lines["category"] == category]
    keys = {"category": ["category"], "code": ["category", "group_code", "reason_code"]}.get(by)
    if keys is None:
        raise ValueError(f"by must be 'category' or 'code', got {by!r}")
    # one aggregation per column (pandas' named aggregation costs three times as much on these few lines; the
    # frame is the same), in the order of the groups found: the sort below orders them
    g = lines.groupby(keys, sort=False)
    out = pd.concat({"claims": g["claim_id"].nunique(), "lines": g.size(), "denied_cents": g["amount_cents"].sum()},
                    axis=1).reset_index()
    out["denied_cents"] = out["denied_cents"].astype("int64")
    return out.sort_values(["denied_cents", "claims", *keys], ascending=[False, False] + [True] * len(keys),
                           kind="mergesort").reset_index(drop=True)


def code_label(group_code: str, reason_code: str) -> str:
    """``"CO-16"``."""
    return f"{group_code}-{reason_code}"


def _claim_facts(tables: Mapping[str, pd.DataFrame], claim_ids: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per claim: its first submission's payer, date of service and date, and its submission dates (sorted)."""
    claims = tables["claims"]
    claims = claims[claims["claim_id"].isin(claim_ids)].sort_values(["claim_id", "submitted_on", "submission_id"],
                                                                     kind="mergesort")
    first = claims.drop_duplicates("claim_id", keep="first")[["claim_id", "service_from", "submitted_on"]]
    return first, claims[["claim_id", "submitted_on"]]


def _open_balance(tables: Mapping[str, pd.DataFrame], claim_ids: pd.Series, as_of: pd.Timestamp,
                  options: MetricOptions, balances: pd.DataFrame | None = None) -> pd.Series:
    """Open A/R per claim at ``as_of`` (positive balances of every responsible party; credits excluded), from
    :func:`rcmkit.metrics.ar_balances` on the tables narrowed to these claims (balances are per claim), or from
    ``balances`` (:func:`rcmkit.metrics.ar.balances_frame` of ``tables`` at ``as_of``) when given."""
    ids = pd.Index(pd.unique(claim_ids))
    if balances is not None:
        bal = balances[(balances["balance_cents"] > 0) & balances["claim_id"].isin(ids)]
        return bal.groupby("claim_id")["balance_cents"].sum().reindex(ids, fill_value=0).astype("int64")
    narrowed = {name: tables[name][tables[name]["claim_id"].isin(ids)]
                for name in ("claims", "remittances", "postings", "ledger") if name in tables}
    if "remittances" in narrowed and "adjustments" in tables:
        narrowed["adjustments"] = tables["adjustments"][tables["adjustments"]["remit_id"].isin(
            narrowed["remittances"]["remit_id"])]
    narrowed = with_tables(tables, **narrowed)
    bal = ar_balances(narrowed, as_of, options)
    bal = bal[bal["balance_cents"] > 0]
    return bal.groupby("claim_id")["balance_cents"].sum().reindex(ids, fill_value=0).astype("int64")


def _resubmitted_on(submissions: pd.DataFrame, after: pd.Series, until: pd.Timestamp) -> pd.Series:
    """Per claim (index of ``after``): its first submission after the date in ``after``, on or before ``until``."""
    s = submissions.merge(after.rename("after").reset_index(), on="claim_id")
    s = s[(s["submitted_on"] > s["after"]) & (s["submitted_on"] <= until)]
    return s.groupby("claim_id")["submitted_on"].min().reindex(after.index)


def denied_claims(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(), *,
    first: pd.DataFrame | None = None, adjustments: pd.DataFrame | None = None, category: str | None = None,
    code: tuple[str, str] | None = None, balances: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The claims in the numerator of the period's initial denial rate: the work list a biller appeals or corrects.

    Optionally only those with a denial in ``category`` or with the denial ``code`` (group, CARC). Columns:
    claim_id, payer_id, payer_name, service_from, submitted_on (first submission), adjudicated_on (first 835),
    billed_cents and paid_cents (that 835's CLP03/CLP04), status (denied or partially denied), reasons (every
    denial code on it with its category), denied_cents (its denial adjustments in the category / code shown, so
    the list adds up to the breakdown row), resubmitted_on (next submission by the period's end) and open_cents
    (its open A/R at the period's end). Largest denial first. Without ``category`` and ``code`` the list has
    exactly as many claims as the KPI's numerator. ``balances``: the open balances at the period's end
    (:func:`rcmkit.metrics.ar.balances_frame` of ``tables``), when known."""
    first = first_adjudications(tables, options) if first is None else first
    denied = _in_period(first, period)
    denied = denied[denied["denied"]]
    lines = denial_lines(tables, period, options, first=first, adjustments=adjustments)
    shown = lines
    if category is not None:
        shown = shown[shown["category"] == category]
    if code is not None:
        shown = shown[(shown["group_code"] == code[0]) & (shown["reason_code"] == code[1])]
    if category is not None or code is not None:
        denied = denied[denied["claim_id"].isin(shown["claim_id"])]
    reasons = (lines.assign(label=lines["group_code"] + "-" + lines["reason_code"] + " " + lines["category"])
               .sort_values(["claim_id", "amount_cents", "label"], ascending=[True, False, True], kind="mergesort")
               .drop_duplicates(["claim_id", "label"]).groupby("claim_id")["label"].agg("; ".join))
    facts, submissions = _claim_facts(tables, denied["claim_id"])
    end = period.window.end
    out = denied.merge(facts, on="claim_id", how="left")
    out = out.assign(
        payer_name=out["payer_id"].map(_payer_names(tables.get("payers"))).fillna(out["payer_id"]),
        adjudicated_on=out["paid_on"],
        status=np.where(out["full_denial"], "denied", "partially denied"),
        reasons=out["claim_id"].map(reasons).fillna("no denial adjustment (CLP02 4: denied)"),
        denied_cents=out["claim_id"].map(shown.groupby("claim_id")["amount_cents"].sum()).fillna(0).astype("int64"),
        resubmitted_on=_resubmitted_on(submissions, out.set_index("claim_id")["paid_on"], end).to_numpy(),
        open_cents=_open_balance(tables, out["claim_id"], end, options, balances).reindex(out["claim_id"]).to_numpy(),
    )
    cols = ["claim_id", "payer_id", "payer_name", "service_from", "submitted_on", "adjudicated_on", "billed_cents",
            "paid_cents", "status", "reasons", "denied_cents", "resubmitted_on", "open_cents"]
    return out.sort_values(["denied_cents", "billed_cents", "claim_id"], ascending=[False, False, True],
                           kind="mergesort")[cols].reset_index(drop=True)


def not_clean_claims(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(), *,
    first: pd.DataFrame | None = None, adjustments: pd.DataFrame | None = None, balances: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The claims first adjudicated in the period that were not clean (the clean-claim rate's denominator less its
    numerator): denied on the first adjudication, or submitted again by the end of that month. Same columns as
    :func:`denied_claims` (denied_cents: all its denial adjustments); status says which."""
    first = first_adjudications(tables, options) if first is None else first
    cohort = _in_period(first, period)
    month_end = cohort["paid_on"].dt.to_period("M").dt.end_time.dt.normalize()
    subs = tables["claims"][["claim_id", "submitted_on"]].merge(
        pd.DataFrame({"claim_id": cohort["claim_id"].to_numpy(), "month_end": month_end.to_numpy()}), on="claim_id")
    n_subs = subs[subs["submitted_on"] <= subs["month_end"]].groupby("claim_id").size()
    resubmitted = cohort["claim_id"].map(n_subs).fillna(1) > 1
    cohort = cohort.assign(_resubmitted=resubmitted.to_numpy())
    cohort = cohort[cohort["any_denial"] | cohort["_resubmitted"]]
    adj = classify_adjustments(tables["adjustments"]) if adjustments is None else adjustments
    lines = adj[(adj["treatment"] == "denial") & adj["remit_id"].isin(cohort["remit_id"])]
    reasons = (lines.assign(label=lines["group_code"] + "-" + lines["reason_code"] + " " + lines["category"])
               .merge(cohort[["remit_id", "claim_id"]], on="remit_id")
               .drop_duplicates(["claim_id", "label"]).groupby("claim_id")["label"].agg("; ".join))
    per_claim = lines.merge(cohort[["remit_id", "claim_id"]], on="remit_id")
    denied_cents = per_claim.groupby("claim_id")["amount_cents"].sum()
    facts, submissions = _claim_facts(tables, cohort["claim_id"])
    end = period.window.end
    out = cohort.merge(facts, on="claim_id", how="left")
    status = np.where(out["full_denial"], "denied", np.where(out["any_denial"], "partially denied", "paid"))
    status = np.where(out["_resubmitted"], np.char.add(status.astype(str), ", resubmitted"), status)
    out = out.assign(
        payer_name=out["payer_id"].map(_payer_names(tables.get("payers"))).fillna(out["payer_id"]),
        adjudicated_on=out["paid_on"], status=status,
        reasons=out["claim_id"].map(reasons).fillna(""),
        denied_cents=out["claim_id"].map(denied_cents).fillna(0).astype("int64"),
        resubmitted_on=_resubmitted_on(submissions, out.set_index("claim_id")["paid_on"], end).to_numpy(),
        open_cents=_open_balance(tables, out["claim_id"], end, options, balances).reindex(out["claim_id"]).to_numpy(),
    )
    cols = ["claim_id", "payer_id", "payer_name", "service_from", "submitted_on", "adjudicated_on", "billed_cents",
            "paid_cents", "status", "reasons", "denied_cents", "resubmitted_on", "open_cents"]
    return out.sort_values(["billed_cents", "claim_id"], ascending=[False, True], kind="mergesort")[cols].reset_index(
        drop=True)


# --------------------------------------------------------------------------------------------- A/R, activity
def open_ar_claims(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(), *,
    balances: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The open balances behind the A/R total at the period's end (:func:`rcmkit.metrics.ar_balances`, credit
    balances excluded): claim_id, responsible (payer ID or 'patient'), responsible_name, payer_id (the claim's),
    service_from, first_billed_on, age_days, bucket, balance_cents. Oldest and largest first."""
    bal = ar_balances(tables, period.window.end, options) if balances is None else _balance_rows(balances)
    bal = bal[bal["balance_cents"] > 0]
    names = _payer_names(tables.get("payers"))
    out = bal.assign(responsible_name=bal["responsible"].map(names).fillna(bal["responsible"]),
                     payer_id=bal["claim_payer_id"], bucket=bal["bucket"].astype(str))
    cols = ["claim_id", "responsible", "responsible_name", "payer_id", "service_from", "first_billed_on", "age_days",
            "bucket", "balance_cents"]
    return out.sort_values(["age_days", "balance_cents", "claim_id"], ascending=[False, False, True],
                           kind="mergesort")[cols].reset_index(drop=True)


def _balance_rows(balances: pd.DataFrame) -> pd.DataFrame:
    """:func:`rcmkit.metrics.ar_balances`' frame from :func:`rcmkit.metrics.ar.balances_frame`'s rows (collected):
    the same columns, types and order."""
    out = balances.sort_values(["claim_id", "responsible"], kind="mergesort")
    out = out[["claim_id", "responsible", "balance_cents", "claim_payer_id", "service_from", "first_billed_on",
               "age_days", "bucket"]].copy()
    out["balance_cents"] = out["balance_cents"].astype("int64")
    out["age_days"] = out["age_days"].astype("int64")
    out["bucket"] = pd.Categorical(out["bucket"], categories=list(AGING_BUCKETS), ordered=True)
    return out


def aging_table(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(), *, balances=None,
    aging: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Open A/R at the period's end by responsible party and aging bucket (:func:`rcmkit.metrics.ar_aging`), wide:
    payer_id, payer_name, one ``*_cents`` column per bucket, total_cents. Largest total first, the patient last.
    ``balances``: the balances at the period's end (:func:`rcmkit.metrics.ar.balances_frame`), when known;
    ``aging``: that ``ar_aging`` of the tables at the period's end, when the caller has it (the explorer's chart
    reads the same), not modified."""
    aging = ar_aging(tables, period.end, options, balances=balances) if aging is None else aging
    if aging.empty:
        return pd.DataFrame(columns=["payer_id", "payer_name", "total_cents"])
    wide = aging.pivot_table(index=["payer_id", "payer_name"], columns="bucket", values="balance_cents",
                             aggfunc="sum", observed=False).fillna(0).astype("int64")
    wide.columns = [f"{str(b).replace('-', '_').replace('+', '_plus')}_cents" for b in wide.columns]
    wide["total_cents"] = wide.sum(axis=1)
    out = wide.reset_index()
    out = out[out["total_cents"] != 0]
    out["_patient"] = out["payer_id"] == "patient"
    return out.sort_values(["_patient", "total_cents", "payer_id"], ascending=[True, False, True],
                           kind="mergesort").drop(columns="_patient").reset_index(drop=True)


def activity_claims(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """The claims behind the period's charges and payments: every claim with a charge or a payment posted in the
    period (the ledger rows :func:`rcmkit.metrics.charges` and :func:`rcmkit.metrics.payments` add up).
    Columns: claim_id, payer_id, payer_name, service_from, submitted_on, charges_cents, payments_cents."""
    ledger = ledger_for(tables, options)
    rows = ledger[period.window.contains(ledger["posted_on"])]
    charged = rows[rows["kind"] == "charge"].groupby("claim_id")["amount_cents"].sum()
    paid = -rows[rows["kind"].isin(PAYMENT_KINDS)].groupby("claim_id")["amount_cents"].sum()
    out = pd.DataFrame({"charges_cents": charged, "payments_cents": paid}).fillna(0).astype("int64")
    out.index.name = "claim_id"
    out = out[(out["charges_cents"] != 0) | (out["payments_cents"] != 0)].reset_index()
    facts, _ = _claim_facts(tables, out["claim_id"])
    claims = tables["claims"].sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort")
    payer = claims.drop_duplicates("claim_id").set_index("claim_id")["payer_id"]
    out = out.merge(facts, on="claim_id", how="left")
    out["payer_id"] = out["claim_id"].map(payer)
    out["payer_name"] = out["payer_id"].map(_payer_names(tables.get("payers"))).fillna(out["payer_id"])
    cols = ["claim_id", "payer_id", "payer_name", "service_from", "submitted_on", "charges_cents", "payments_cents"]
    return out.sort_values(["charges_cents", "payments_cents", "claim_id"], ascending=[False, False, True],
                           kind="mergesort")[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------- reimbursement
def reimbursement_base(tables: Mapping[str, pd.DataFrame], period: Period,
                       options: MetricOptions = MetricOptions()) -> pd.DataFrame:
    """The period's payer x procedure code cells (:func:`rcmkit.metrics.reimbursement_by_payer_code` over its
    months): what every measure of :func:`reimbursement_cells` starts from."""
    return reimbursement_by_payer_code(tables, period.end, dataclasses.replace(
        options, reimbursement_months=period.months))


def reimbursement_cells(
    tables: Mapping[str, pd.DataFrame], period: Period, options: MetricOptions = MetricOptions(),
    measure: str = "paid_per_unit", *, cells: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Payer x procedure code cells of the period (:func:`rcmkit.metrics.reimbursement_by_payer_code` over the
    period's months, or ``cells`` when the caller has them: :func:`reimbursement_base`) with ``value``, the chosen
    measure:

    * ``paid_per_unit``: paid / paid units, in cents (the metric's ``paid_per_unit_cents``);
    * ``paid_to_allowed``: paid / allowed (the metric's ``paid_to_allowed``);
    * ``allowed_to_contract``: allowed / expected under the contract, over the cell's paid lines that have a
      contract rate (:func:`rcmkit.metrics.contract_lines`); 1.0 is paid as contracted.

    A cell with fewer than ``options.min_cell_count`` claims is ``suppressed`` (value NaN), as in the report.
    Columns: payer_id, payer_name, procedure_code, claims, lines, units, billed_cents, allowed_cents, paid_cents,
    suppressed, value (and expected_cents, contract_lines for the contract measure)."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    opts = dataclasses.replace(options, reimbursement_months=period.months)
    if cells is None:
        cells = reimbursement_base(tables, period, options)
    if measure == "paid_per_unit":
        cells = cells.assign(value=cells["paid_per_unit_cents"])
    elif measure == "paid_to_allowed":
        cells = cells.assign(value=cells["paid_to_allowed"])
    else:
        lines = contract_lines(tables, period.end, opts)
        lines = lines[lines["contract_rate_cents"].notna()]
        agg = lines.groupby(["payer_id", "procedure_code"], as_index=False).agg(
            contract_lines=("remit_id", "size"), contract_claims=("claim_id", "nunique"),
            contract_allowed=("allowed_cents", "sum"), expected_cents=("expected_cents", "sum"))
        cells = cells.merge(agg, on=["payer_id", "procedure_code"], how="left")
        value = cells["contract_allowed"] / cells["expected_cents"].where(cells["expected_cents"] > 0)
        small = cells["contract_claims"].fillna(0) < options.min_cell_count
        cells = cells.assign(value=value.where(~(cells["suppressed"] | small)).astype("float64"),
                             contract_lines=cells["contract_lines"].fillna(0).astype("int64")).drop(
            columns=["contract_allowed", "contract_claims"])
    return cells.reset_index(drop=True)


def reimbursement_matrix(
    cells: pd.DataFrame, *, rank_by: str = "units", top: int = 12, sort_payers: str = "name",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The heat map's grid: (values, cells shown). Codes are the ``top`` codes by ``rank_by`` (``"units"``: paid
    units over every payer, volume; ``"paid"``: paid dollars), most first, as columns; payers are rows, sorted by
    ``"name"``, ``"units"`` or ``"paid"`` (largest first). ``values`` is payers x codes of ``cells["value"]``
    (NaN: suppressed, or the payer was not paid for the code)."""
    if rank_by not in ("units", "paid"):
        raise ValueError(f"rank_by must be 'units' or 'paid', got {rank_by!r}")
    if sort_payers not in ("name", "units", "paid"):
        raise ValueError(f"sort_payers must be 'name', 'units' or 'paid', got {sort_payers!r}")
    if cells.empty:
        return pd.DataFrame(), cells
    col = "units" if rank_by == "units" else "paid_cents"
    rank = cells.groupby("procedure_code")[col].sum(min_count=1).fillna(0).rename_axis("procedure_code")
    rank = rank.reset_index().sort_values([col, "procedure_code"], ascending=[False, True], kind="mergesort")
    codes = list(rank["procedure_code"].head(max(int(top), 1)))
    shown = cells[cells["procedure_code"].isin(codes)]
    if sort_payers == "name":
        payer_order = shown.drop_duplicates("payer_id").sort_values(["payer_name", "payer_id"])["payer_id"].tolist()
    else:
        pcol = "units" if sort_payers == "units" else "paid_cents"
        totals = shown.groupby("payer_id")[pcol].sum(min_count=1).fillna(0)
        payer_order = sorted(totals.index, key=lambda p: (-totals[p], p))
    values = shown.pivot_table(index="payer_id", columns="procedure_code", values="value", aggfunc="first",
                               dropna=False).reindex(index=payer_order, columns=codes)
    return values, shown.reset_index(drop=True)
