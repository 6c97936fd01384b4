"""Reimbursement by payer and procedure code, from 835 service lines.

Source: practice contract-management practice (kpi-anchors.md section 5: "CPT/HCPCS reimbursement vs fee
schedule"); DESIGN.md conventions: paid units are SVC05 (1 when absent) and a reversal's lines subtract their
units and amounts, so a reversed-and-corrected payment counts once.
"""

from __future__ import annotations

from typing import Mapping

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core.engine import between, collect, int_sum, lazy, lazy_tables
from rcmkit.core.ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS
from rcmkit.core.refdata import classify_adjustments
from rcmkit.metrics._common import MetricOptions, month_window

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
    t = lazy_tables(tables, ["remittances", "remit_lines", "adjustments"])
    adj = classify_adjustments(t["adjustments"])
    remits = t["remittances"]
    duplicates = adj.filter(nw.col("treatment") == "duplicate").select("remit_id").unique()
    remits = (remits.filter(~nw.col("status_code").is_in(list(NON_PAYMENT_STATUSES)),
                            between(remits, "paid_on", window.start, window.end))
              .join(duplicates, on="remit_id", how="anti"))
    lines = t["remit_lines"].join(remits.select("remit_id", "claim_id", "payer_id", "status_code"),
                                  on="remit_id", how="inner")
    pr = (adj.filter(nw.col("treatment") == "patient", ~nw.col("line_number").is_null())
          .with_columns(nw.col("line_number").cast(nw.Int32))
          .group_by("remit_id", "line_number").agg(int_sum("amount_cents", "pr_cents")))
    sign = nw.when(nw.col("status_code") == REVERSAL_STATUS).then(nw.lit(-1, nw.Int64)).otherwise(nw.lit(1, nw.Int64))
    lines = (lines.with_columns(nw.col("line_number").cast(nw.Int32))
             .join(pr, on=["remit_id", "line_number"], how="left")
             .with_columns(
                 allowed=nw.coalesce(nw.col("allowed_cents").cast(nw.Int64),
                                     nw.col("paid_cents") + nw.col("pr_cents").fill_null(0).cast(nw.Int64)),
                 sign=sign,
                 units=nw.col("units").abs() * sign.cast(nw.Float64)))
    out = collect(lines.group_by("payer_id", "procedure_code").agg(
        nw.col("claim_id").n_unique().alias("claims"),
        nw.col("sign").sum().alias("lines"),
        nw.col("units").sum(),
        int_sum("billed_cents"),
        int_sum("allowed", "allowed_cents"),
        int_sum("paid_cents"),
    ))
    for col in ("claims", "lines"):
        out[col] = out[col].astype("int64")
    out["units"] = out["units"].astype("float64")
    payers = tables.get("payers")
    if payers is not None:
        out = out.merge(collect(lazy(payers).select("payer_id", "payer_name")), on="payer_id", how="left")
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
