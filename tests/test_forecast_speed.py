"""The fast cash forecast (issue #15: the monthly report in seconds) gives exactly the numbers of the straightforward
one: :mod:`rcmkit.forecast._reference` keeps the implementation from before the speed-up (every as-of date
computed on its own, with its own Book and estimators), and every frame and value :func:`month_forecast` returns
must equal it, to 1e-9 relative (cents to far below a cent), on the small practice (tests/small_practice.py), the
hand-made practice of tests/test_forecast.py and a generated 1,000-claim demo at two month ends each.

The comparison could fail: :func:`test_the_comparison_sees_a_changed_number` changes one expected cent and checks
that :func:`assert_same` notices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from rcmkit.forecast import Book, ForecastOptions, MonthForecast, forecast, month_forecast
from rcmkit.forecast import _reference as reference

RTOL = 1e-9  # relative: 1e-9 of a $100,000 total is a ten-thousandth of a cent
ATOL = 1e-6  # cents, for values that are zero in one and a rounding residue in the other


def assert_frames(got: pd.DataFrame | None, want: pd.DataFrame | None, what: str) -> None:
    if want is None:
        assert got is None, what
        return
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=RTOL, atol=ATOL, obj=what)


def assert_forecast(got, want, what: str) -> None:
    if want is None:
        assert got is None, what
        return
    assert got.as_of == want.as_of, what
    assert got.options == want.options, what
    assert got.open_cents == pytest.approx(want.open_cents, rel=RTOL, abs=ATOL), what
    for name in ("detail", "totals", "writeoffs", "errors"):
        assert_frames(getattr(got, name), getattr(want, name), f"{what}.{name}")


def assert_same(got: MonthForecast, want: MonthForecast) -> None:
    """Every field of two month forecasts equal: frames column by column (names, dtypes, order), numbers to 1e-9."""
    assert [f.name for f in dataclasses.fields(got)] == [f.name for f in dataclasses.fields(want)]
    assert (got.month, got.as_of) == (want.month, want.as_of)
    for name in ("weeks", "horizons", "check"):
        assert_frames(getattr(got, name), getattr(want, name), name)
    assert_forecast(got.forecast, want.forecast, "forecast")
    assert_forecast(got.prior, want.prior, "prior")


def _small_tables():
    from small_practice import tables

    return tables()


def test_small_practice_equals_the_reference():
    """The 12-claim practice (November 2025 - March 2026): too short for calibration errors, so this compares
    the point forecasts, write-offs and last month's check."""
    tables = _small_tables()
    for month in ("2026-02", "2026-03"):
        got = month_forecast(tables, month)
        assert_same(got, reference.month_forecast(tables, month))
        assert got.prior is not None and len(got.check) == 2  # not vacuous: both months have a check
        assert got.forecast.detail["expected_cents"].sum() > 0


def test_hand_made_practice_equals_the_reference_under_raw_options():
    """The raw (unsmoothed, unshrunk) curves of tests/test_forecast.py's practice, and a reused Book."""
    from test_forecast import RAW, tiny_tables

    tables = tiny_tables()
    book = Book(tables)
    for month in ("2026-01", "2026-02"):
        assert_same(month_forecast(book, month, forecast_options=RAW),
                    reference.month_forecast(tables, month, forecast_options=RAW))


@pytest.fixture(scope="module")
def demo_tables():
    from rcmkit.core.ledger import build_ledger
    from rcmkit.demo.practice import generate

    tables = generate(seed=5, n_claims=1000)  # January 2025 - October 2026
    tables["ledger"] = build_ledger(tables)
    return tables


@pytest.mark.slow  # the reference takes about 3 s a month on the 1,000-claim demo
@pytest.mark.parametrize("month", ["2026-04", "2026-10"])
def test_demo_equals_the_reference(demo_tables, month):
    got = month_forecast(demo_tables, month)
    want = reference.month_forecast(demo_tables, month)
    assert_same(got, want)
    # not vacuous: the intervals come from past errors, of the practice and of payer classes
    assert len(got.forecast.errors) > 50 and set(got.forecast.errors["payer_class"]) > {"all", "patient"}
    assert len(got.prior.errors) > 50


@pytest.mark.slow  # two forecasts of the 1,000-claim demo
def test_demo_equals_the_reference_under_other_options(demo_tables):
    """Other smoothing, shrinkage, look-back and calibration choices, and no seasonal factors."""
    fo = ForecastOptions(lookback_days=200, smooth_days=3, money_weight_cents=50_000.0, claim_weight=5.0,
                         new_charge_days=60, seasonal=False, level=0.9, calibration_months=5, min_history_days=90)
    as_of = pd.Timestamp("2026-08-31")
    want = reference.forecast(demo_tables, as_of, forecast_options=fo)
    got = forecast(demo_tables, as_of, forecast_options=fo)
    assert_forecast(got, want, "forecast")
    assert len(got.errors) > 0


def test_the_comparison_sees_a_changed_number():
    """assert_same could fail: a cent more in one expected value of the detail is caught."""
    tables = _small_tables()
    got = month_forecast(tables, "2026-03")
    detail = got.forecast.detail.copy()
    i = int(np.argmax(detail["expected_cents"].to_numpy()))
    detail.loc[i, "expected_cents"] += 1.0
    changed = dataclasses.replace(got, forecast=dataclasses.replace(got.forecast, detail=detail))
    with pytest.raises(AssertionError):
        assert_same(changed, reference.month_forecast(tables, "2026-03"))
