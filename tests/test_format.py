"""rcmkit.present.format: the one place for how numbers read (issue #14), each shape checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rcmkit.metrics import KPI
from rcmkit.present import format as fmt


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA, pd.NaT])
def test_every_formatter_reads_a_missing_value_the_same(missing):
    assert fmt.MISSING == "n/a"
    for f in (fmt.usd, fmt.usd_cents, fmt.usd_whole, fmt.usd_short, fmt.pct, fmt.days, fmt.count, fmt.plain):
        assert f(missing) == fmt.MISSING, f.__name__
    for unit in ("usd", "pct", "days", ""):
        assert fmt.by_unit(missing, unit) == fmt.delta(missing, unit) == fmt.MISSING
        assert fmt.threshold(missing, unit) == fmt.chart_label(missing, unit) == fmt.MISSING
    assert fmt.decimal_dollars(missing) == ""  # a spreadsheet's empty cell


def test_money():
    assert fmt.usd(1234567.8) == "$1,234,568" and fmt.usd(1234567.8, cents=True) == "$1,234,567.80"
    assert fmt.usd(-12.4) == "-$12" and fmt.usd(-0.4) == "$0"  # no "-$0"
    assert fmt.usd_cents(123456) == "$1,234.56" and fmt.usd_cents(-5) == "-$0.05"
    assert fmt.usd_whole(123450) == "$1,235" and fmt.usd_whole(123449) == "$1,234"  # half a dollar rounds up
    assert fmt.usd_whole(-30) == "$0" and fmt.usd_whole(-150) == "-$2"
    assert fmt.usd_cents(1234.5) == "$12.35"  # a per-unit average: half a cent rounds up
    # spreadsheet cells: exact decimal text from integer cents
    assert fmt.decimal_dollars(123456) == "1234.56" and fmt.decimal_dollars(-5) == "-0.05"
    assert fmt.decimal_dollars(np.int64(100)) == "1.00" and fmt.decimal_dollars(250.0) == "2.50"


def test_chart_shapes():
    assert fmt.usd_short(850) == "$850" and fmt.usd_short(12_345) == "$12k" and fmt.usd_short(2_345_678) == "$2.3M"
    # an axis scales every tick by its largest value
    assert fmt.usd_short(500, scale=20_000) == "$0k" and fmt.usd_short(1_500_000, scale=3_000_000) == "$1.5M"
    assert fmt.usd_short(-12_345) == "-$12k"
    assert fmt.chart_label(0.9351, "pct") == "93.5%" and fmt.chart_label(12_345, "usd") == "$12k"
    assert fmt.chart_label(17.5, "days") == "17.5" and fmt.chart_label(18.0, "days") == "18"


def test_units_deltas_and_thresholds():
    assert fmt.pct(0.9351) == "93.5%" and fmt.pct(0.5, 0) == "50%"
    assert fmt.days(42.06) == "42.1 days" and fmt.count(1234.4) == "1,234"
    assert fmt.plain(17.5) == "17.5" and fmt.plain(18.0) == "18" and fmt.plain(1234.0) == "1,234"
    assert [fmt.by_unit(v, u) for v, u in ((33.9, "days"), (0.306, "pct"), (490.0, "usd"), (7, "claims"))] == [
        "33.9 days", "30.6%", "$490", "7"]
    assert fmt.delta(-53.04, "days") == "-53.0 days" and fmt.delta(0.306, "pct") == "+30.6 pts"
    assert fmt.delta(-910, "usd") == "-$910" and fmt.delta(0, "days") == "±0.0 days"
    assert fmt.threshold(40, "days") == "40 days" and fmt.threshold(0.12, "pct") == "12%"
    assert fmt.threshold(0.925, "pct") == "92.5%" and fmt.threshold(0.07, "pct") == "7%"  # 7.000000000000001
    assert fmt.threshold(1000, "usd") == "$1,000"


def test_kpi_value_is_by_unit_of_the_kpi():
    kpi = KPI("days_in_ar", "Days in A/R", 490 * 90 / 1300, "days", 490.0, 1300 / 90, "", "")
    assert fmt.kpi_value(kpi) == "33.9 days"
    undefined = KPI("clean_claim_rate", "Clean-claim rate", None, "pct", 0, 0, "", "")
    assert fmt.kpi_value(undefined) == "n/a"
    assert not hasattr(kpi, "display")  # metrics compute, present formats
    assert math.isclose(kpi.value, 33.923, rel_tol=1e-4)


def test_months():
    assert fmt.month_label("2026-09") == "September 2026" and fmt.short_month("2026-09") == "Sep 2026"
    assert fmt.month_end("2028-02") == "2028-02-29" and fmt.previous_month("2026-01") == "2025-12"
    assert fmt.day_label("2026-09-30") == "Sep 30, 2026" and fmt.day_label("2026-03-01") == "Mar 1, 2026"
    assert fmt.day_label(None) == fmt.MISSING
