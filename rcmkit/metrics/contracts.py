"""Underpayments: service lines the payer allowed below its contract, beyond a tolerance.

Source: practice contract management (kpi-anchors.md section 5, "CPT/HCPCS reimbursement vs fee schedule /
underpayment flags"). The contract table (``contracts``: payer x code x modifiers, effective dated, allowed per
unit) is data the practice maintains; payers allow the lesser of the charge and the contract rate, so the
expected allowed amount of a line is min(contract rate x units, billed).
"""

from __future__ import annotations

from typing import Mapping

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core.engine import between
from rcmkit.core.ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS
from rcmkit.core.refdata import classify_adjustments
from rcmkit.core.frames import isin
from rcmkit.metrics._common import MetricOptions, month_window, pandas_only, table_rows

__all__ = ["contract_lines", "underpayments", "underpayment_summary", "underpayment_tolerance", "underpayment_totals",
           "TOLERANCE_PCT", "TOLERANCE_CENTS"]

#: The default tolerance of :func:`underpayments`: a line is underpaid when allowed below its contract amount by
#: more than this fraction of that amount ...
TOLERANCE_PCT = 0.02
#: ... or more than these cents, whichever is larger (smaller differences are rounding).
TOLERANCE_CENTS = 100


def _reversed_remits(remits: pd.DataFrame) -> pd.Index:
    """Remittances undone by a later reversal (CLP02 22) of the same claim and payer claim number with the
    negated payment: comparing them with the contract would count the corrected payment twice."""
    rev = remits[remits["status_code"] == REVERSAL_STATUS]
    cand = remits[remits["status_code"] != REVERSAL_STATUS].merge(
        rev[["claim_id", "payer_claim_id", "paid_cents", "paid_on"]], on=["claim_id", "payer_claim_id"],
        suffixes=("", "_rev"),
    )
    cand = cand[(cand["paid_cents"] == -cand["paid_cents_rev"]) & (cand["paid_on"] <= cand["paid_on_rev"])]
    return pd.Index(cand["remit_id"].unique())


def _expected_rate(lines: pd.DataFrame, contracts: pd.DataFrame) -> pd.Series:
    """Contract rate per unit in effect on each line's service date: exact modifiers first, then the '' row."""
    out = pd.Series(np.nan, index=lines.index, dtype="float64")
    probe = lines.assign(_row=lines.index, service_date=lines["service_date"].fillna(lines["paid_on"]))
    probe = probe.sort_values("service_date", kind="mergesort")
    for keys, rows in (
        (["payer_id", "procedure_code", "modifiers"], contracts),
        (["payer_id", "procedure_code"], contracts[contracts["modifiers"] == ""]),
    ):
        todo = probe[out.loc[probe["_row"]].isna().to_numpy()]
        if todo.empty or rows.empty:
            continue
        hit = pd.merge_asof(
            todo[["_row", "service_date", *keys]],
            rows.sort_values("effective_from", kind="mergesort")[[*keys, "effective_from", "allowed_cents"]],
            left_on="service_date", right_on="effective_from", by=keys, direction="backward",
        )
        found = hit.dropna(subset=["allowed_cents"])
        out.loc[found["_row"].to_numpy()] = found["allowed_cents"].to_numpy(dtype="float64")
    return out


@pandas_only
def contract_lines(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Paid service lines of the ``reimbursement_months`` window ending with ``month`` next to their contract.

    Lines of reversed payments, reversals, duplicates and denied lines (a denial adjustment on the line, or
    nothing allowed) are left out: they are denials or corrections, not underpayments. Columns: remit_id,
    line_number, claim_id, payer_id, procedure_code, modifiers, service_date, units, billed_cents,
    allowed_cents (AMT*B6, else paid + patient responsibility), paid_cents, contract_rate_cents (per unit,
    NaN when no contract applies), expected_cents = min(rate x units, billed), shortfall_cents.
    """
    window = month_window(month, options.reimbursement_months)
    # the window's payments, their claims' reversals, lines and adjustments: queried on the engine (a large
    # practice's tables are never collected whole)
    remits = table_rows(tables, "remittances", query=lambda f: f.filter(
        ~nw.col("status_code").is_in([REVERSAL_STATUS, *NON_PAYMENT_STATUSES]),
        between(f, "paid_on", window.start, window.end)))
    reversals = table_rows(tables, "remittances", among=remits[["claim_id"]],
                           query=lambda f: f.filter(nw.col("status_code") == REVERSAL_STATUS))
    among = remits[["remit_id"]]
    adj = table_rows(tables, "adjustments", ["remit_id", "line_number", "treatment", "amount_cents"], among=among,
                     query=lambda f: classify_adjustments(f).filter(
                         nw.col("treatment").is_in(["duplicate", "denial", "patient"])))
    skip = set(_reversed_remits(pd.concat([remits, reversals], ignore_index=True))) | set(
        adj.loc[adj["treatment"] == "duplicate", "remit_id"])
    remits = remits[~isin(remits["remit_id"], skip)]
    lines = table_rows(tables, "remit_lines", among=remits[["remit_id"]])
    # in the lines' key order: the same rows in the same order on every engine
    lines = lines.assign(line_number=lines["line_number"].astype("int32")).sort_values(
        ["remit_id", "line_number"], kind="mergesort", ignore_index=True)
    lines = lines.merge(remits[["remit_id", "claim_id", "payer_id", "paid_on"]], on="remit_id")
    line_adj = adj[adj["line_number"].notna()].assign(line_number=lambda d: d["line_number"].astype("int32"))
    denied = line_adj[line_adj["treatment"] == "denial"][["remit_id", "line_number"]].drop_duplicates()
    pr = line_adj[line_adj["treatment"] == "patient"].groupby(["remit_id", "line_number"], as_index=False)[
        "amount_cents"].sum().rename(columns={"amount_cents": "pr_cents"})
    lines = lines.merge(denied.assign(_denied=True), on=["remit_id", "line_number"], how="left")
    lines = lines.merge(pr, on=["remit_id", "line_number"], how="left")
    allowed = lines["allowed_cents"].astype("float64").fillna(lines["paid_cents"] + lines["pr_cents"].fillna(0))
    lines = lines.assign(allowed_cents=allowed)
    lines = lines[lines["_denied"].isna() & (lines["allowed_cents"] > 0)].reset_index(drop=True)
    contracts = tables.get("contracts")
    rate = _expected_rate(lines, contracts) if contracts is not None else pd.Series(np.nan, index=lines.index)
    expected = np.minimum(rate * lines["units"].abs(), lines["billed_cents"].astype("float64"))
    cols = ["remit_id", "line_number", "claim_id", "payer_id", "procedure_code", "modifiers", "service_date",
            "units", "billed_cents", "allowed_cents", "paid_cents"]
    return lines[cols].assign(contract_rate_cents=rate, expected_cents=expected.round(),
                              shortfall_cents=(expected.round() - lines["allowed_cents"]))


@pandas_only
def underpayments(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    tolerance_pct: float = TOLERANCE_PCT, tolerance_cents: int = TOLERANCE_CENTS,
) -> pd.DataFrame:
    """Lines allowed below contract by more than max(``tolerance_pct`` x expected, ``tolerance_cents``): the
    rows of :func:`contract_lines` a biller appeals, largest shortfall first (claim_id and payer only, no
    patient identifiers)."""
    lines = contract_lines(tables, month, options)
    limit = np.maximum(lines["expected_cents"] * tolerance_pct, tolerance_cents)
    flagged = lines[lines["shortfall_cents"] > limit]
    return flagged.sort_values(["shortfall_cents", "claim_id", "line_number"], ascending=[False, True, True],
                               kind="mergesort").reset_index(drop=True)


@pandas_only
def underpayment_summary(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    tolerance_pct: float = TOLERANCE_PCT, tolerance_cents: int = TOLERANCE_CENTS,
) -> pd.DataFrame:
    """Underpaid lines by payer x procedure code: lines, expected_cents, allowed_cents, shortfall_cents (the
    dollars at stake), largest first."""
    flagged = underpayments(tables, month, options, tolerance_pct, tolerance_cents)
    out = flagged.groupby(["payer_id", "procedure_code"], as_index=False).agg(
        lines=("remit_id", "size"), expected_cents=("expected_cents", "sum"),
        allowed_cents=("allowed_cents", "sum"), shortfall_cents=("shortfall_cents", "sum"))
    return out.sort_values(["shortfall_cents", "payer_id", "procedure_code"], ascending=[False, True, True]
                           ).reset_index(drop=True)


def underpayment_tolerance() -> tuple[float, int]:
    """The tolerance :func:`underpayments` and :func:`underpayment_summary` apply by default: (fraction, cents)."""
    return float(TOLERANCE_PCT), int(TOLERANCE_CENTS)


def underpayment_totals(summary: pd.DataFrame | None) -> dict[str, int]:
    """Totals of an :func:`underpayment_summary` frame: lines, expected, allowed and shortfall cents (whole cents),
    for the report table's total row and metrics.json; all zero for an empty or missing frame."""
    if summary is None or not len(summary):
        return {"lines": 0, "expected_cents": 0, "allowed_cents": 0, "shortfall_cents": 0}
    return {"lines": int(summary["lines"].sum()),
            **{k: int(round(float(summary[k].sum()))) for k in ("expected_cents", "allowed_cents", "shortfall_cents")}}
