"""Cash forecasting of the open A/R (issue #18): payer lag curves, expected payments of claims waiting for the
payer, expected write-offs, intervals from past errors, and a backtest against naive baselines.

Layer: imports :mod:`rcmkit.core` and :mod:`rcmkit.metrics` only (tests/test_import_layers.py).
"""

from rcmkit.forecast.model import (
    CASH_KINDS, HORIZONS, WEEKS, Book, Forecast, ForecastOptions, actual_cash, calibration_errors, forecast,
    point_forecast, windows,
)
from rcmkit.forecast.report import MonthForecast, month_forecast

__all__ = ["CASH_KINDS", "HORIZONS", "WEEKS", "Book", "Forecast", "ForecastOptions", "MonthForecast", "actual_cash",
           "calibration_errors", "forecast", "month_forecast", "point_forecast", "windows"]
