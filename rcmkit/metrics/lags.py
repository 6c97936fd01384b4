"""Lags: how long the cycle takes from service to bill (charge lag) and from bill to payment (days to pay).

Sources: HFMA physician-practice MAP Key "total charge lag days" (named; equation member-gated); industry
definitions of claim lag and payer lag (kpi-anchors.md 1.3: DOS -> claim sent; claim sent -> payment). Medians and
90th percentiles rather than means, because payment lags have long tails.
"""

from __future__ import annotations

from typing import Mapping

import narwhals as nw
import pandas as pd

from rcmkit.core.engine import between
from rcmkit.metrics._common import MetricOptions, month_window, pandas_only, table_rows
from rcmkit.metrics.ar import first_submissions_frame
from rcmkit.metrics.denials import first_adjudications

__all__ = ["charge_lag", "days_to_pay", "unbilled_charges"]


def _summary(days: pd.Series, keys: list[pd.Series] | None) -> pd.DataFrame:
    frame = pd.DataFrame({"days": days.astype("float64")})
    if keys:
        for k in keys:
            frame[k.name] = k.to_numpy()
        grouped = frame.groupby([k.name for k in keys], sort=True)["days"]
    else:
        grouped = frame.assign(group="all").groupby("group")["days"]
    out = grouped.agg(claims="size", median="median", p90=lambda s: s.quantile(0.9, interpolation="linear"))
    return out.reset_index()


def _first_submissions(tables: Mapping[str, pd.DataFrame], columns: list[str], query=None, among=None
                       ) -> pd.DataFrame:
    """Columns of each claim's first submission (:func:`rcmkit.metrics.ar.first_submissions_frame`) that pass
    ``query`` (or whose claim is ``among``'s), queried on the tables' engine: a month's few claims, not the
    practice's every claim sorted in pandas. On prepared tables the first submissions are computed once and every
    lag filters them."""
    first = first_submissions_frame(tables)
    return table_rows(tables, "claims", columns, among=among, base=first if query is None else query(first))


@pandas_only
def charge_lag(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), by: str | None = None
) -> pd.DataFrame:
    """Charge lag of the claims first submitted in ``month``: first submission date - date of service, in days.

    One row per group (``by=None``: the practice; ``"payer"``) with claims, median and p90 (linear
    interpolation between order statistics, numpy's default). Replacements and voids are not new claims.
    """
    window = month_window(month)
    first = _first_submissions(tables, ["submitted_on", "service_from", "payer_id"], lambda f: f.filter(
        nw.col("frequency_code") == "1", between(f, "submitted_on", window.start, window.end)))
    days = (first["submitted_on"] - first["service_from"]).dt.days
    return _summary(days, [first["payer_id"]] if by == "payer" else None)


@pandas_only
def days_to_pay(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), by: str | None = "payer"
) -> pd.DataFrame:
    """Days to pay of the claims first adjudicated in ``month``: first adjudication's payment date (BPR16) -
    the claim's first submission date. By payer (default) or for the practice (``by=None``); claims, median,
    p90. Denied first adjudications count too: the payer took that long to answer.
    """
    first = first_adjudications(tables, options, month=month)
    submitted = _first_submissions(tables, ["claim_id", "submitted_on"], among=first[["claim_id"]])
    first = first.merge(submitted, on="claim_id", how="inner")
    days = (first["paid_on"] - first["submitted_on"]).dt.days
    return _summary(days, [first["payer_id"]] if by == "payer" else None)


@pandas_only
def unbilled_charges(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Services of ``month`` not yet billed at its end: claims whose date of service is in the month and whose
    first submission came after the month's end (point in time, from the claims table). One row: claims,
    charge_cents, and the same for all services of the month (``month_claims``, ``month_charge_cents``), so
    the share is visible. HFMA calls the hospital version DNFB (discharged not final billed)."""
    window = month_window(month)
    served = _first_submissions(tables, ["submitted_on", "total_charge_cents"], lambda f: f.filter(
        between(f, "service_from", window.start, window.end), nw.col("frequency_code") != "8"))
    late = served[served["submitted_on"] > window.end]
    return pd.DataFrame([{
        "claims": len(late), "charge_cents": int(late["total_charge_cents"].sum()),
        "month_claims": len(served), "month_charge_cents": int(served["total_charge_cents"].sum()),
    }])
