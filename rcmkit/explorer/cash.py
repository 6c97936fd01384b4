"""The explorer's "Cash forecast" tab: the cash forecast of :mod:`rcmkit.forecast` (issue #18) for the period's
end month, narrowed to the payers the payer and payer-class filters select.

The forecast itself is the monthly report's (:func:`rcmkit.forecast.month_forecast`: made at the month's last day
from what was posted by then, 80% ranges from the errors of earlier month ends' forecasts); this module only
cuts it by payer and lays it out. Method and sources: docs/forecast.md.

* No payer filter: the practice's own totals (ranges computed on the total) and the report's check of last
  month's forecast.
* A payer or payer-class filter: the rows of the payers selected (who owes the balance: a patient's balance is
  not a payer's, so patients drop out), the total of their rows with their ranges summed (a conservative band,
  as :meth:`rcmkit.forecast.Forecast.summary` sums a group's rows), and last month's forecast for those payers
  against what they paid (:func:`rcmkit.forecast.model.actual_cash_by_payer`).
* The provider and procedure-code filters do not cut the forecast: it is by payer (said on the page).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from rcmkit.explorer.filters import Filters
from rcmkit.forecast import Forecast, MonthForecast
from rcmkit.forecast.model import HORIZONS

__all__ = ["CashView", "cash_view", "TABLE_COLUMNS"]

_MONEY = ("expected", "low", "high")
#: The by-payer table's columns (also what the export writes): the payer, then expected, low and high cents for each
#: of the next 30, 60 and 90 days.
TABLE_COLUMNS = ["payer_id", "payer_name", "payer_class", "responsibility"] + [
    f"{m}_{h}d_cents" for h in HORIZONS for m in _MONEY]


@dataclass(frozen=True)
class CashView:
    """What the tab shows for a month and a payer selection.

    * ``table``: one row per payer (open A/R: expected, low, high cash in the next 30, 60 and 90 days, cents), most
      expected in 90 days first, then a ``payer_id`` '' row named 'Total'.
    * ``weeks``: week_start, expected_cents, low_cents, high_cents (13 rows; the chart's bars).
    * ``check``: last month's forecast for this month against what came in (source, made_on, forecast_cents,
      low_cents, high_cents, actual_cents, inside); empty in the data's first month.
    * ``notes``: plain sentences on what the numbers cover.
    """

    month: str
    as_of: pd.Timestamp
    open_cents: float
    table: pd.DataFrame
    weeks: pd.DataFrame
    check: pd.DataFrame
    level: float
    notes: list[str] = field(default_factory=list)


def _keep(detail: pd.DataFrame, filters: Filters) -> pd.Series:
    keep = pd.Series(True, index=detail.index)
    if filters.payers:
        keep &= detail["payer_id"].isin(filters.payers)
    if filters.payer_classes:
        keep &= detail["payer_class"].isin(filters.payer_classes)
    return keep


def _wide(rows: pd.DataFrame) -> pd.DataFrame:
    """Horizon rows (window x payer) to one row per payer with expected/low/high per horizon."""
    keys = ["payer_id", "payer_name", "payer_class", "responsibility"]
    if rows.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    wide = rows.pivot_table(index=keys, columns="end_day", values=[f"{m}_cents" for m in _MONEY], aggfunc="sum",
                            sort=False)
    out = pd.DataFrame(index=wide.index)
    for h in HORIZONS:
        for m in _MONEY:
            out[f"{m}_{h}d_cents"] = wide[(f"{m}_cents", h)] if (f"{m}_cents", h) in wide.columns else 0.0
    out = out.reset_index()
    return out.sort_values([f"expected_{HORIZONS[-1]}d_cents", "payer_name"], ascending=[False, True],
                           kind="mergesort").reset_index(drop=True)[TABLE_COLUMNS]


def _total_row(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"payer_id": "", "payer_name": "Total", "payer_class": "", "responsibility": "", **values}],
                        columns=TABLE_COLUMNS)


def cash_view(mf: MonthForecast, filters: Filters = Filters(), *, prior: Forecast | None = None,
              actual: pd.DataFrame | None = None) -> CashView:
    """The tab for the month of ``mf`` (:func:`rcmkit.forecast.month_forecast`) and ``filters``' payers.

    With a payer or payer-class filter, ``prior`` (the forecast made at the end of the month before, None in the
    data's first month) and ``actual`` (:func:`rcmkit.forecast.model.actual_cash_by_payer` over that forecast's
    'next month' window) give the check for the payers selected."""
    fc = mf.forecast
    horizon = fc.summary(by="payer")  # open A/R, horizons: window x payer rows
    by_payer = filters.payers or filters.payer_classes
    notes = []
    if filters.providers or filters.codes:
        notes.append("The forecast is by payer: the provider and procedure code filters do not change it.")
    if not by_payer:
        table = _wide(horizon)
        totals = fc.summary()
        values = {f"{m}_{int(r['end_day'])}d_cents": float(r[f"{m}_cents"]) for _, r in totals.iterrows()
                  for m in _MONEY}
        table = pd.concat([table, _total_row(values)], ignore_index=True) if len(table) else _total_row(values)
        return CashView(mf.month, mf.as_of, float(fc.open_cents), table, mf.weeks.copy(), mf.check.copy(),
                        fc.options.level, notes)
    notes.append("Only the payers selected: balances patients owe are not a payer's, so they are left out, and "
                 "each range is the sum of the payers' ranges (wider than the practice's own).")
    rows = horizon[_keep(horizon, filters)]
    table = _wide(rows)
    values = {c: float(table[c].sum()) for c in TABLE_COLUMNS[4:]}
    table = pd.concat([table, _total_row(values)], ignore_index=True) if len(table) else _total_row(values)
    d = fc.detail[(fc.detail["kind"] == "week") & (fc.detail["source"] == "open A/R")]
    d = d[_keep(d, filters)]
    weeks = mf.weeks[["week_start"]].merge(
        d.groupby("week_start")[["expected_cents", "low_cents", "high_cents"]].sum().reset_index(),
        on="week_start", how="left").fillna(0.0)
    open_cents = float("nan")
    check = mf.check.iloc[0:0].copy()
    if prior is not None and actual is not None:
        pd_ = prior.detail[prior.detail["kind"] == "month"]
        pd_ = pd_[_keep(pd_, filters)]
        got = actual[actual["payer_id"].isin(set(pd_["payer_id"]) | set(_chosen_ids(actual, filters, prior)))]
        rows_ = []
        for source in ("open A/R", "all cash"):
            part = pd_ if source == "all cash" else pd_[pd_["source"] == source]
            a = float(got.loc[got["source"] == source, "actual_cents"].sum())
            rows_.append((source, prior.as_of, float(part["expected_cents"].sum()), float(part["low_cents"].sum()),
                          float(part["high_cents"].sum()), a))
        check = pd.DataFrame(rows_, columns=["source", "made_on", "forecast_cents", "low_cents", "high_cents",
                                             "actual_cents"])
        got_ = check["actual_cents"]
        check["inside"] = (got_ >= check["low_cents"]) & (got_ <= check["high_cents"])
    return CashView(mf.month, mf.as_of, open_cents, table, weeks, check, fc.options.level, notes)


def _chosen_ids(actual: pd.DataFrame, filters: Filters, prior: Forecast) -> list[str]:
    """The payer IDs of ``actual`` the filters select (a payer that paid without a forecast row counts too)."""
    classes = dict(zip(prior.detail["payer_id"], prior.detail["payer_class"]))
    ids = []
    for pid in actual["payer_id"].unique():
        if pid == "patient":
            continue
        if filters.payers and pid not in filters.payers:
            continue
        if filters.payer_classes and classes.get(pid) not in filters.payer_classes:
            continue
        ids.append(pid)
    return ids
