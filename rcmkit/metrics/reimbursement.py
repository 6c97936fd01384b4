"""Reimbursement by payer and procedure code, from 835 service lines.

Source: practice contract-management practice (kpi-anchors.md section 5: "CPT/HCPCS reimbursement vs fee
schedule"); DESIGN.md conventions: paid units are SVC05 (1 when absent) and a reversal's lines subtract their
units and amounts, so a reversed-and-corrected payment counts once.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS
from ..reference import classify_adjustments
from ._common import MetricOptions, isin, month_window

__all__ = ["reimbursement_by_payer_code"]


def reimbursement_by_payer_code(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Lines paid in the ``reimbursement_months`` full months ending with ``month``, by payer x procedure code.

    Columns: payer_id, payer_name, procedure_code, claims (distinct claims), lines, units, billed_cents,
    allowed_cents, paid_cents, paid_to_allowed, paid_per_unit_cents, suppressed. ``allowed`` is AMT*B6 when the
    payer sent it, else paid + patient responsibility on the line (the allowed amount's definition). Reversal
    lines (CLP02 22) carry negative amounts and units and net against the original; duplicate-claim rejections
    (OA-18) are left out. A cell with fewer than
    ``min_cell_count`` claims is ``suppressed``: its money columns are blanked (small cells identify
    patients and swing too much to read). Ordered by paid dollars, largest first.
    """
    window = month_window(month, options.reimbursement_months)
    adj = classify_adjustments(tables["adjustments"])
    remits = tables["remittances"]
    duplicates = adj.loc[adj["treatment"] == "duplicate", "remit_id"]
    remits = remits[~remits["status_code"].isin(NON_PAYMENT_STATUSES) & window.contains(remits["paid_on"])
                    & ~isin(remits["remit_id"], duplicates)]
    lines = tables["remit_lines"].merge(
        remits[["remit_id", "claim_id", "payer_id", "status_code"]], on="remit_id", how="inner"
    )
    pr = (
        adj[(adj["treatment"] == "patient") & adj["line_number"].notna()]
        .groupby(["remit_id", "line_number"])["amount_cents"].sum()
        .rename("pr_cents").reset_index()
    )
    pr["line_number"] = pr["line_number"].astype("int32")
    lines = lines.merge(pr, on=["remit_id", "line_number"], how="left")
    derived = lines["paid_cents"] + lines["pr_cents"].fillna(0).astype("int64")
    lines = lines.assign(
        allowed=lines["allowed_cents"].astype("float64").fillna(derived.astype("float64")).astype("int64"),
        sign=np.where(lines["status_code"] == REVERSAL_STATUS, -1, 1),
    )
    lines["units"] = lines["units"].abs() * lines["sign"]
    out = lines.groupby(["payer_id", "procedure_code"], as_index=False).agg(
        claims=("claim_id", "nunique"),
        lines=("sign", "sum"),
        units=("units", "sum"),
        billed_cents=("billed_cents", "sum"),
        allowed_cents=("allowed", "sum"),
        paid_cents=("paid_cents", "sum"),
    )
    names = tables["payers"][["payer_id", "payer_name"]] if "payers" in tables else None
    if names is not None:
        out = out.merge(names, on="payer_id", how="left")
    out["payer_name"] = out.get("payer_name", out["payer_id"]).fillna(out["payer_id"])
    out["paid_to_allowed"] = (out["paid_cents"] / out["allowed_cents"].where(out["allowed_cents"] != 0)).astype(float)
    out["paid_per_unit_cents"] = (out["paid_cents"] / out["units"].where(out["units"] != 0)).astype(float)
    out["suppressed"] = out["claims"] < options.min_cell_count
    money = ["billed_cents", "allowed_cents", "paid_cents", "paid_to_allowed", "paid_per_unit_cents"]
    out[money] = out[money].astype("float64")
    out.loc[out["suppressed"], money] = np.nan
    cols = ["payer_id", "payer_name", "procedure_code", "claims", "lines", "units", *money, "suppressed"]
    return out.sort_values(["paid_cents", "payer_id", "procedure_code"], ascending=[False, True, True],
                           na_position="last")[cols].reset_index(drop=True)
