"""Backtest of the cash forecast (issue #18): forecast at every month end of the data's second year, then compare
with what actually came in, beside two naive baselines.

* **forecast**: the model's all-cash total (open A/R plus new charges, :mod:`rcmkit.forecast.model`), and its
  open-A/R part against the cash that came in on the claims billed by the month end;
* **last month**: the cash of the calendar month ending at the month end, per day, times the horizon's days;
* **same months last year**: the cash of the same window one year earlier.

Every method gets an 80% interval the same way (split-conformal on its own log errors at earlier month ends whose
windows had closed), so coverage compares like with like. Scores: MAPE (mean of |forecast - actual| / actual)
and coverage (share of month ends whose actual fell inside the interval), by horizon.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from rcmkit.forecast.model import (
    HORIZONS, Book, ForecastOptions, actual_cash, conformal_quantiles, day_number, forecast,
)
from rcmkit.metrics import MetricOptions

__all__ = ["backtest", "score", "backtest_month_ends", "backtest_by_class", "METHODS"]

METHODS = ("forecast", "last month", "same months last year", "forecast: open A/R")


def _cash_between(book: Book, first_day: int, last_day: int) -> float:
    """Cash posted on days first_day..last_day (inclusive)."""
    e = book.ev
    inside = (e["day"] >= first_day) & (e["day"] <= last_day)
    return float(e["cash"][inside].sum())


def baseline_last_month(book: Book, month_end: pd.Timestamp, horizon: int) -> float:
    """Last month's collections scaled to the horizon: the calendar month's cash / its days x ``horizon``."""
    start = month_end.to_period("M").start_time
    days = (month_end - start).days + 1
    return _cash_between(book, day_number(start), day_number(month_end)) / days * horizon


def baseline_last_year(book: Book, month_end: pd.Timestamp, horizon: int) -> float:
    """The same window one year earlier: cash posted in (month_end - 1 year, month_end - 1 year + horizon]."""
    then = day_number(month_end - pd.DateOffset(years=1))
    return _cash_between(book, then + 1, then + horizon)


def backtest_month_ends(book: Book, data_end: pd.Timestamp | None = None) -> list[pd.Timestamp]:
    """The month ends of the data's second year (months 13 to 24 counted from the month of the first charge),
    up to the data's end."""
    first = pd.Timestamp("1970-01-01") + pd.Timedelta(days=int(book.charge_day.min()))
    data_end = data_end if data_end is not None else pd.Timestamp("1970-01-01") + pd.Timedelta(
        days=int(book.ev["day"].max()))
    start = first.to_period("M") + 12
    ends = [(start + i).end_time.normalize() for i in range(12)]
    return [t for t in ends if t < data_end]


def backtest(tables: Mapping[str, Any] | Book, options: MetricOptions = MetricOptions(),
             forecast_options: ForecastOptions = ForecastOptions(), *, month_ends=None, data_end=None,
             progress: Callable | None = None) -> pd.DataFrame:
    """Forecast at each month end (default: :func:`backtest_month_ends`) and set it against what came in.

    Returns one row per month end x horizon x method: month_end, horizon, method, forecast_cents, low_cents,
    high_cents, actual_cents. A horizon is scored only when its window closed by ``data_end`` (default: the
    data's latest event). ``progress``: an optional wrapper for the month-end loop (tqdm)."""
    book = tables if isinstance(tables, Book) else Book(tables, options)
    fo = forecast_options
    data_end = pd.Timestamp(data_end) if data_end is not None else pd.Timestamp("1970-01-01") + pd.Timedelta(
        days=int(book.ev["day"].max()))
    ends = list(month_ends) if month_ends is not None else backtest_month_ends(book, data_end)
    baselines = {"last month": baseline_last_month, "same months last year": baseline_last_year}
    rows = []
    loop = progress(ends) if progress else ends
    for t in loop:
        t = pd.Timestamp(t).normalize()
        fc = forecast(book, t, options, fo)
        for h in HORIZONS:
            if day_number(t) + h > day_number(data_end):
                continue
            actual = actual_cash(book, t, 0, h)
            for source, method in (("all cash", "forecast"), ("open A/R", "forecast: open A/R")):
                row = fc.totals[(fc.totals["window"] == f"{h} days") & (fc.totals["source"] == source)].iloc[0]
                rows.append((t, h, method, row["expected_cents"], row["low_cents"], row["high_cents"],
                             actual[source]))
            for method, fn in baselines.items():
                point = fn(book, t, h)
                q = _baseline_quantiles(book, fn, t, h, fo)
                low, high = _interval(point, q)
                rows.append((t, h, method, point, low, high, actual["all cash"]))
    return pd.DataFrame(rows, columns=["month_end", "horizon", "method", "forecast_cents", "low_cents",
                                       "high_cents", "actual_cents"])


def _baseline_quantiles(book: Book, fn, t: pd.Timestamp, h: int, fo: ForecastOptions):
    """The conformal quantiles of a baseline's log errors at the month ends before ``t`` whose window closed
    by ``t`` (the same rule as the forecast's calibration)."""
    errors = []
    for k in range(1, fo.calibration_months + 4):
        tk = (t.to_period("M") - k).end_time.normalize()
        if day_number(tk) + h > day_number(t) or day_number(tk) < int(book.charge_day.min()) + fo.min_history_days:
            continue
        point = fn(book, tk, h)
        actual = actual_cash(book, tk, 0, h)["all cash"]
        if point > 0 and actual > 0:
            errors.append(math.log(actual / point))
        if len(errors) >= fo.calibration_months:
            break
    return conformal_quantiles(np.array(errors, dtype=float), fo.level)


def _interval(point: float, q) -> tuple[float, float]:
    if q is None:
        return float("nan"), float("nan")
    return point * math.exp(min(q[0], 0.0)), point * math.exp(max(q[1], 0.0))


def score(results: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """MAPE and interval coverage by horizon and ``by`` (method; payer_class for :func:`backtest_by_class`):
    horizon, method, months, mape, coverage (the share of month ends whose actual fell inside the interval; NaN
    when a method had no interval)."""
    r = results.assign(ape=(results["forecast_cents"] - results["actual_cents"]).abs() / results["actual_cents"],
                       inside=(results["actual_cents"] >= results["low_cents"])
                       & (results["actual_cents"] <= results["high_cents"]),
                       has=results["low_cents"].notna())
    out = r.groupby(["horizon", by], sort=False).apply(
        lambda g: pd.Series({"months": len(g), "mape": g["ape"].mean(),
                             "coverage": g.loc[g["has"], "inside"].mean() if g["has"].any() else np.nan,
                             "with_interval": int(g["has"].sum())}), include_groups=False)
    out = out.reset_index()
    out["months"] = out["months"].astype(int)
    out["with_interval"] = out["with_interval"].astype(int)
    if by != "method":
        return out.sort_values(["horizon", by]).reset_index(drop=True)
    order = {m: i for i, m in enumerate(METHODS)}
    return out.sort_values(["horizon", "method"], key=lambda s: s.map(order) if s.name == "method" else s
                           ).reset_index(drop=True)


def backtest_by_class(tables: Mapping[str, Any] | Book, options: MetricOptions = MetricOptions(),
                      forecast_options: ForecastOptions = ForecastOptions(), *, month_ends=None, data_end=None
                      ) -> pd.DataFrame:
    """The open-A/R forecast by payer class (and 'patient') against the cash that came in from each on the
    claims billed by the month end: month_end, horizon, payer_class, forecast_cents, low_cents, high_cents,
    actual_cents. How well the by-class rows and their ranges hold, not only the practice total."""
    book = tables if isinstance(tables, Book) else Book(tables, options)
    data_end = pd.Timestamp(data_end) if data_end is not None else pd.Timestamp("1970-01-01") + pd.Timedelta(
        days=int(book.ev["day"].max()))
    ends = list(month_ends) if month_ends is not None else backtest_month_ends(book, data_end)
    party_class = np.array([book.class_of(p) for p in book.parties], dtype=object)
    e = book.ev
    rows = []
    for t in ends:
        t = pd.Timestamp(t).normalize()
        fc = forecast(book, t, options, forecast_options)
        T = day_number(t)
        for h in HORIZONS:
            if T + h > day_number(data_end):
                continue
            inside = (e["day"] > T) & (e["day"] <= T + h) & (book.charge_day[e["claim"]] <= T)
            actual = pd.Series(e["cash"][inside]).groupby(party_class[e["party"][inside]]).sum()
            s = fc.summary(by="class").query(f"window == '{h} days'").groupby("payer_class")[
                ["expected_cents", "low_cents", "high_cents"]].sum()
            for cls, r in s.iterrows():
                rows.append((t, h, cls, r["expected_cents"], r["low_cents"], r["high_cents"],
                             float(actual.get(cls, 0.0))))
    return pd.DataFrame(rows, columns=["month_end", "horizon", "payer_class", "forecast_cents", "low_cents",
                                       "high_cents", "actual_cents"])
