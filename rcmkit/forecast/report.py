"""What the monthly report shows of the cash forecast: the forecast made at the report month's end (expected cash by
week for 13 weeks, with its range) and last month's forecast set against what came in during the report month.

The report model calls :func:`month_forecast`; :func:`rcmkit.present.charts.cash_forecast_chart` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from rcmkit.forecast.model import Book, Forecast, ForecastOptions, actual_cash, forecast
from rcmkit.metrics import MetricOptions, month_window

__all__ = ["MonthForecast", "month_forecast"]


@dataclass(frozen=True)
class MonthForecast:
    """The report month's cash forecast.

    * ``forecast``: the :class:`~rcmkit.forecast.Forecast` made at the month's last day.
    * ``weeks``: the 13 weeks from the open A/R: week_start, expected_cents, low_cents, high_cents.
    * ``horizons``: the next 30, 60 and 90 days, from the open A/R and with new charges (source column).
    * ``check``: the forecast made at the end of the month before, for the report month, against what came in:
      source ('open A/R': cash on the claims billed by then; 'all cash': every payment of the month),
      forecast_cents, low_cents, high_cents, actual_cents, inside (whether the actual fell in the range).
      Empty when the month before has no forecast (the data's first month).
    * ``prior``: that forecast made at the end of the month before (None in the data's first month): the explorer
      cuts it by payer.
    """

    month: str
    as_of: pd.Timestamp
    forecast: Forecast
    weeks: pd.DataFrame
    horizons: pd.DataFrame
    check: pd.DataFrame
    prior: Forecast | None = None


def month_forecast(tables: Mapping[str, Any] | Book, month: str, options: MetricOptions = MetricOptions(),
                   forecast_options: ForecastOptions = ForecastOptions()) -> MonthForecast:
    """The forecast at the end of ``month`` ('YYYY-MM') and the check of last month's forecast. Only events
    posted by the month's last day are read: the report of a month says the same whenever it is run."""
    book = tables if isinstance(tables, Book) else Book(tables, options)
    end = month_window(month).end
    fc = forecast(book, end, options, forecast_options)
    weeks = fc.summary(kind="week")[["week_start", "expected_cents", "low_cents", "high_cents"]]
    horizons = pd.concat([fc.summary(source=s).assign(source=s) for s in ("open A/R", "all cash")],
                         ignore_index=True)[["source", "window", "end_day", "expected_cents", "low_cents",
                                             "high_cents"]]
    before = month_window(month).start - pd.Timedelta(days=1)
    rows = []
    prior = None
    if before >= pd.Timestamp("1970-01-01") + pd.Timedelta(days=int(book.charge_day.min())):
        prior = forecast(book, before, options, forecast_options)
        got = actual_cash(book, before, 0, (end - before).days)
        for source in ("open A/R", "all cash"):
            t = prior.totals[(prior.totals["kind"] == "month") & (prior.totals["source"] == source)].iloc[0]
            rows.append((source, before, float(t["expected_cents"]), float(t["low_cents"]), float(t["high_cents"]),
                         got[source]))
    check = pd.DataFrame(rows, columns=["source", "made_on", "forecast_cents", "low_cents", "high_cents",
                                        "actual_cents"])
    check["inside"] = (check["actual_cents"] >= check["low_cents"]) & (check["actual_cents"] <= check["high_cents"])
    return MonthForecast(month, end, fc, weeks.reset_index(drop=True), horizons, check, prior)
