"""The explorer's "Claim checks" tab: the claim scrubber (issue #17, :mod:`rcmkit.scrub`) over a batch of stored
claims, their denial-risk scores, and the payer x code denial history behind them.

* The batch: each claim's first submission (not a void), when it went out in the selected period, among the
  claims the filters select (:func:`batch_submissions`).
* The findings: :func:`rcmkit.scrub.run_rules` with what was known before the batch (earlier submissions for
  duplicates and timely filing, the payer x code denial history from 835s dated before the period's first day),
  sorted by severity, then dollars at stake (:func:`findings_table`).
* The risk scores: :func:`rcmkit.scrub.batch.train_risk_model` trained on claims first adjudicated before the
  period's first day (no leakage), each score with its top reasons (:func:`risk_table`). Too little history: a
  plain sentence instead of scores.
* The drill-down: a payer x code's denial history before the batch (:func:`pair_history`: lines, denied, denial
  rate, top CARCs, in all and by month; :func:`rcmkit.scrub.risk.denial_history`).

Rules, model and sources: docs/scrub.md. No patient identifier is in any frame here (the findings' evidence holds
codes, dates and amounts only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from rcmkit.scrub.risk import denial_history
from rcmkit.scrub.rules import RULES, SEVERITIES

__all__ = ["ChecksView", "batch_submissions", "findings_table", "risk_table", "pair_choices", "pair_history",
           "FINDING_VIEW_COLUMNS", "RISK_VIEW_COLUMNS"]

#: The findings table's columns (what the export writes).
FINDING_VIEW_COLUMNS = ["severity", "check", "claim_id", "line_number", "payer_id", "payer_name", "procedure_code",
                        "evidence", "fix", "at_stake_cents", "service_date", "submitted_on", "rule"]
#: The risk table's columns.
RISK_VIEW_COLUMNS = ["claim_id", "payer_id", "payer_name", "charge_cents", "risk", "baseline", "reasons", "errors",
                     "warnings"]


@dataclass(frozen=True)
class ChecksView:
    """What the tab shows for a period and a selection.

    ``start``: the batch's first day (history and training come from before it); ``as_of``: the day the batch
    is checked (its last submission). ``risk`` is None when the model could not be trained; ``risk_note`` then
    says why in plain words.
    """

    start: pd.Timestamp
    as_of: pd.Timestamp | None
    claims: int
    charge_cents: int
    findings: pd.DataFrame
    risk: pd.DataFrame | None
    risk_note: str
    pairs: pd.DataFrame
    icd_label: str
    notes: list[str] = field(default_factory=list)


def batch_submissions(claims: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Each claim's first submission that is not a void, when it was sent on ``start`` .. ``end`` (inclusive)."""
    c = claims[claims["frequency_code"] != "8"]
    first = c.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort").drop_duplicates("claim_id")
    sent = first["submitted_on"]
    return first[(sent >= start) & (sent <= end)].reset_index(drop=True)


def findings_table(findings: pd.DataFrame, lines: pd.DataFrame, payer_names: Mapping[str, str]) -> pd.DataFrame:
    """The findings for people: severity (error, warning, info), the check's title, claim, line, payer, the line's
    procedure code, evidence, fix and dollars at stake; sorted by severity, then dollars (largest first), then
    claim and line."""
    if findings.empty:
        return pd.DataFrame(columns=FINDING_VIEW_COLUMNS)
    f = findings.copy()
    codes = lines.set_index(["submission_id", "line_number"])["procedure_code"]
    keys = pd.MultiIndex.from_arrays([f["submission_id"], f["line_number"].astype("float").fillna(-1).astype(int)])
    f["procedure_code"] = codes.reindex(keys).to_numpy() if len(codes) else None
    f["procedure_code"] = f["procedure_code"].where(f["line_number"].notna(), "")
    f["check"] = f["rule"].map(lambda r: RULES[r].title if r in RULES else r)
    f["payer_name"] = f["payer_id"].map(lambda p: payer_names.get(p, p))
    rank = f["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    order = np.lexsort((f["line_number"].astype("float").fillna(0).to_numpy(), f["claim_id"].to_numpy(),
                        -f["at_stake_cents"].to_numpy(), rank.to_numpy()))
    return f.iloc[order][FINDING_VIEW_COLUMNS].reset_index(drop=True)


def risk_table(scores: pd.DataFrame, findings: pd.DataFrame, payer_names: Mapping[str, str]) -> pd.DataFrame:
    """Per claim of the batch: its denial risk (0-1) with its top reasons, the payer x code baseline, and its
    error and warning findings; riskiest first."""
    s = scores.copy()
    n = findings.groupby(["submission_id", "severity"]).size().unstack(fill_value=0) if len(findings) else None
    for sev, col in (("error", "errors"), ("warning", "warnings")):
        s[col] = (s["submission_id"].map(n[sev]).fillna(0).astype(int) if n is not None and sev in n.columns
                  else 0)
    s["payer_name"] = s["payer_id"].map(lambda p: payer_names.get(p, p))
    s = s.sort_values(["risk", "charge_cents", "claim_id"], ascending=[False, False, True], kind="mergesort")
    return s[RISK_VIEW_COLUMNS].reset_index(drop=True)


def pair_choices(lines: pd.DataFrame, batch: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """The batch's payer x code pairs: payer_id, procedure_code, lines, findings (on those lines), charge_cents;
    the pairs with findings first (most dollars at stake), then by charge."""
    cols = ["payer_id", "procedure_code", "lines", "findings", "at_stake_cents", "charge_cents"]
    if batch.empty:
        return pd.DataFrame(columns=cols)
    ln = lines.merge(batch[["submission_id", "payer_id"]], on="submission_id")
    out = ln.groupby(["payer_id", "procedure_code"]).agg(lines=("line_number", "size"),
                                                          charge_cents=("charge_cents", "sum")).reset_index()
    f = findings[findings["line_number"].notna()]
    if len(f):
        f = f.merge(ln[["submission_id", "line_number", "procedure_code"]], on=["submission_id", "line_number"])
        g = f.groupby(["payer_id", "procedure_code"]).agg(findings=("rule", "size"),
                                                          at_stake_cents=("at_stake_cents", "sum")).reset_index()
        out = out.merge(g, on=["payer_id", "procedure_code"], how="left")
    else:
        out = out.assign(findings=0, at_stake_cents=0)
    out[["findings", "at_stake_cents"]] = out[["findings", "at_stake_cents"]].fillna(0).astype("int64")
    out = out.sort_values(["findings", "at_stake_cents", "charge_cents", "payer_id", "procedure_code"],
                          ascending=[False, False, False, True, True], kind="mergesort")
    return out[cols].reset_index(drop=True)


def pair_history(outcomes: pd.DataFrame, payer_id: str, code: str, before: pd.Timestamp, months: int = 12
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A payer x code's first-adjudication history before ``before``: (summary, by_month).

    ``summary``: one row per modifier set and an 'all' row (modifiers ''... shown as 'any'): lines, denied,
    denial_rate, top_carcs. ``by_month``: the ``months`` months before ``before`` by month of the 835: month,
    lines, denied, denial_rate (a month with no line: 0 lines, no rate)."""
    o = outcomes[(outcomes["payer_id"] == payer_id) & (outcomes["procedure_code"] == code)]
    o = o.assign(modifiers=o["modifiers"].fillna(""))
    total = denial_history(o, before=before, top=3)
    total = total.drop(columns=["payer_id", "procedure_code"], errors="ignore").assign(modifiers="any")
    by_mod = denial_history(o, before=before, by=("modifiers",), top=3)
    summary = pd.concat([total, by_mod], ignore_index=True) if len(by_mod) > 1 else total
    summary = summary[["modifiers", "lines", "denied", "denial_rate", "top_carcs"]].reset_index(drop=True)
    end = pd.Period(pd.Timestamp(before) - pd.Timedelta(days=1), freq="M")
    span = pd.period_range(end - (months - 1), end, freq="M")
    d = o[o["decided_on"].notna() & (o["decided_on"] < pd.Timestamp(before))]
    g = d.groupby(d["decided_on"].dt.to_period("M"))["denied"].agg(["size", "sum"])
    lines_ = g["size"].reindex(span, fill_value=0).astype(int)
    denied = g["sum"].reindex(span, fill_value=0).astype(int)
    by_month = pd.DataFrame({"month": [str(p) for p in span], "lines": lines_.to_numpy(),
                             "denied": denied.to_numpy()})
    by_month["denial_rate"] = np.where(by_month["lines"] > 0, by_month["denied"] / by_month["lines"].clip(lower=1),
                                       np.nan)
    return summary, by_month
