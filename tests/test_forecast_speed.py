"""The fast cash forecast (issue #15: the monthly report in seconds) gives exactly the numbers of the straightforward
one: tests/forecast_reference.py keeps the implementation from before the speed-up (every as-of date
computed on its own, with its own Book and estimators), and every frame and value :func:`month_forecast` returns
must equal it, to 1e-9 relative (cents to far below a cent), on the small practice (tests/small_practice.py), the
hand-made practice of tests/test_forecast.py and a generated 1,000-claim demo at two month ends each.

The comparison could fail: :func:`test_the_comparison_sees_a_changed_number` changes one expected cent and checks
that :func:`assert_same` notices.

Every comparison with the reference is in the slow tier (``make test``: the reference is the slow code by
design); the fast tier keeps the estimators' hand-computed and property tests below, and tests/test_forecast.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcmkit.forecast import Book, ForecastOptions, MonthForecast, curves, forecast, month_forecast
import forecast_reference as reference

reference_tier = pytest.mark.slow  # the reference forecast computes every as-of date on its own

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


def assert_identical(got: MonthForecast, want: MonthForecast) -> None:
    """Two month forecasts equal bit for bit: the month's frames, the forecast's and the prior month's (for the
    code paths that must give exactly the same numbers: sums of whole cents in another order)."""
    for name in ("weeks", "horizons", "check"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
    assert (got.prior is None) == (want.prior is None)
    for forecast, expected in ((got.forecast, want.forecast), (got.prior, want.prior)):
        for name in ("detail", "totals", "writeoffs", "errors") if expected is not None else ():
            pd.testing.assert_frame_equal(getattr(forecast, name), getattr(expected, name), check_exact=True)


def _small_tables():
    from small_practice import tables

    return tables()


@reference_tier
def test_small_practice_equals_the_reference():
    """The 12-claim practice (November 2025 - March 2026): too short for calibration errors, so this compares
    the point forecasts, write-offs and last month's check."""
    tables = _small_tables()
    for month in ("2026-02", "2026-03"):
        got = month_forecast(tables, month)
        assert_same(got, reference.month_forecast(tables, month))
        assert got.prior is not None and len(got.check) == 2  # not vacuous: both months have a check
        assert got.forecast.detail["expected_cents"].sum() > 0


@reference_tier
def test_small_practice_equals_the_reference_at_its_edges():
    """Before its first charge (nothing known), its first month (no month before to check) and months after its
    data ends (no new events: the balances only age)."""
    tables = _small_tables()
    for month in ("2025-09", "2025-11", "2026-06"):
        assert_same(month_forecast(tables, month), reference.month_forecast(tables, month))
    assert month_forecast(tables, "2025-11").check.empty


@reference_tier
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


@reference_tier
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


# --------------------------------------------------------------------------------------------- the estimators
@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), horizon=st.integers(1, 40), length=st.integers(1, 30))
def test_cumulative_share_rows_is_cumulative_share_row_by_row(seed, horizon, length):
    """Many segments at once give each row exactly the numbers of the one-curve computation before the speed-up
    (tests/forecast_reference.py; ages past the curve's end read its last age's hazard, as it padded them)."""
    rng = np.random.default_rng(seed)
    exit_ = rng.uniform(0, 0.3, (3, length))
    cash = exit_ * rng.uniform(0, 1, (3, length))
    rows = rng.integers(0, 3, 12)
    ages = rng.integers(-1, length + 5, 12)
    g, d = curves.cumulative_share_rows(cash, exit_, rows, ages, horizon)
    cols = sorted({0, horizon, horizon // 2})
    g_at, none = curves.cumulative_share_rows(cash, exit_, rows, ages, horizon, columns=cols)
    assert none is None
    for i in range(len(ages)):
        want_g, want_d = reference.cumulative_share(cash[rows[i]], exit_[rows[i]], ages[i:i + 1], horizon)
        np.testing.assert_array_equal(g[i], want_g[0])
        np.testing.assert_array_equal(d[i], want_d[0])
        np.testing.assert_array_equal(g_at[i], want_g[0, cols])
    assert g[:, -1].max() > 0  # not vacuous: some cash is expected


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), width=st.integers(2, 30))
def test_chain_share_at_is_chain_share_at_those_columns(seed, width):
    rng = np.random.default_rng(seed)
    density = rng.uniform(0, 0.2, (7, width))
    density[:, 0] = 0.0
    table = np.cumsum(rng.uniform(0, 0.1, (60, width)), axis=1)  # a share table by age -1..58
    ages = rng.integers(-1, 40, 7)
    row = lambda a: np.minimum(np.maximum(a, -1), 58) + 1  # noqa: E731
    full = curves.chain_share(density, ages, lambda a: table[row(a)])
    cols = np.array(sorted(set(rng.integers(0, width, 4).tolist()) | {width - 1}))
    at = curves.chain_share_at(density, ages, lambda a, lag: table[row(a)[:, None], lag[None, :]], cols)
    np.testing.assert_array_equal(at, full[:, cols])
    assert full[:, -1].max() > 0


def test_hand_computed_share_rows():
    """Two segments, hazards by hand: segment 0 exits half its dollars each day, all as cash; segment 1 exits a
    quarter a day, half of it cash. A balance at age 0 over 2 days: segment 0 collects 0.5 + 0.5 x 0.5 = 0.75;
    segment 1 collects 0.125 + 0.75 x 0.125 = 0.21875."""
    exit_ = np.array([[0.5, 0.5, 0.5], [0.25, 0.25, 0.25]])
    cash = np.array([[0.5, 0.5, 0.5], [0.125, 0.125, 0.125]])
    g, d = curves.cumulative_share_rows(cash, exit_, np.array([0, 1]), np.array([0, 0]), 2)
    np.testing.assert_allclose(g[:, 2], [0.75, 0.21875])
    np.testing.assert_allclose(d[1], [0.0, 0.25, 0.1875])  # exits on day 1, then 0.75 x 0.25


def _contract_lines(rng, n):
    """``n`` claim lines over 3 payers x 4 codes x 3 modifier sets, with missing dates and units."""
    dates = pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(-40, 400, n), unit="D")
    lines = pd.DataFrame({
        "payer_id": pd.Series(rng.choice(["P1", "P2", "P3"], n), dtype="str"),
        "procedure_code": pd.Series(rng.choice(["99213", "99214", "80053", "J1100"], n), dtype="str"),
        "modifiers": pd.Series(rng.choice(["", "25", "59", None], n), dtype="str"),
        "service_date": pd.Series(dates).where(rng.random(n) > 0.05),
        "units": pd.Series(rng.choice([1.0, 2.0, 0.5, np.nan], n))})
    contracts = pd.DataFrame({
        "payer_id": pd.Series(["P1", "P1", "P1", "P1", "P2", "P2", "P3"], dtype="str"),
        "procedure_code": pd.Series(["99213", "99213", "99213", "99214", "99213", "80053", "J1100"], dtype="str"),
        "modifiers": pd.Series(["", "", "25", "", "25", "", ""], dtype="str"),
        "effective_from": pd.to_datetime(["2025-01-01", "2025-07-01", "2025-03-01", "2024-01-01", "2025-02-01",
                                          "2025-01-15", "2026-01-01"]),
        "allowed_cents": [7000, 7500, 9000, 11000, 8000, 1500, 300]})
    return lines, contracts


@pytest.mark.parametrize("way", ["table", "distinct", "chunks"])
@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 300))
def test_line_contracts_is_the_reference_merge_asof(way, seed, n):
    """The Book's contract match on integer keys (issue #15: no merge of 10 M lines' strings) gives each line the
    amount the straightforward pandas merge_asof by payer, code and modifiers gives (tests/forecast_reference.py):
    exact modifiers first, then the code's any-modifier rate, the latest effective_from on or before the service
    date (a missing date: 1970-01-01, before every rate), x units (1 when missing); NaN without a rate. Both ways
    of finding a line's key (a table of every payer x code x modifiers cell, or each distinct cell looked up), and
    the lines matched a few at a time."""
    from unittest import mock

    from rcmkit.forecast import model
    from rcmkit.forecast.model import _coded, _day_numbers, _floats, _line_contracts
    from rcmkit.core.frames import factorize_sorted

    lines, contracts = _contract_lines(np.random.default_rng(seed), n)
    want = reference._with_contract(lines, contracts, "payer_id")["contract"].to_numpy()
    rows = np.arange(n)
    payer, payer_names = factorize_sorted(lines["payer_id"])
    code, code_names = _coded(lines["procedure_code"], rows)
    mods, mod_names = _coded(lines["modifiers"], rows)
    with mock.patch.object(model, "_DENSE_KEYS", 0 if way == "distinct" else model._DENSE_KEYS), \
            mock.patch.object(model, "_CHUNK", 7 if way == "chunks" else model._CHUNK):
        got = _line_contracts(contracts, payer, payer_names, code, code_names, mods, mod_names,
                              _day_numbers(lines["service_date"], rows), _floats(lines["units"], rows, missing=1.0))
    np.testing.assert_array_equal(got, want)
    assert np.isfinite(want).any() or n < 20  # not vacuous: lines do meet contracts


def test_line_contracts_hand_computed():
    """Three lines by hand: P1 99213 mod 25 on 2025-04-01 takes the exact-modifier rate of 2025-03-01 (9000 x 2);
    P1 99213 mod 59 on 2025-08-01 the any-modifier rate of 2025-07-01 (7500 x 1); P3 J1100 before its first
    rate (2026-01-01) has none."""
    from rcmkit.forecast.model import _line_contracts

    _, contracts = _contract_lines(np.random.default_rng(0), 1)
    day = np.array([(pd.Timestamp(d) - pd.Timestamp("1970-01-01")).days
                    for d in ("2025-04-01", "2025-08-01", "2025-12-31")])
    got = _line_contracts(contracts, np.array([0, 0, 1]), ["P1", "P3"], np.array([0, 0, 1]), ["99213", "J1100"],
                          np.array([0, 1, -1]), ["25", "59"], day, np.array([2.0, 1.0, 1.0]))
    np.testing.assert_array_equal(got, [18000.0, 7500.0, np.nan])


def test_whole_sums_are_exact_in_any_order():
    from rcmkit.forecast.model import _whole

    assert _whole(np.array([7000.0, np.nan, 15000.0, -3.0]))
    assert _whole(np.zeros(0))
    assert not _whole(np.array([7000.0, 3500.5]))
    assert not _whole(np.array([2.0**52, 1.0]))


def test_book_reads_a_window_of_lines_by_slice_or_by_mask_alike():
    """The Book keeps the first-adjudication lines by day (a date's look-back window: a slice) when their contract
    amounts are whole, else in their order (a mask): both give the same ratios and forecasts, bit for bit."""
    from unittest import mock

    from rcmkit.forecast import model

    tables = _small_tables()
    sliced = Book(tables)
    with mock.patch.object(model, "_whole", lambda values: False):
        masked = Book(tables)
    assert sliced._fl_by_day and not masked._fl_by_day
    assert len(sliced._fl["day"]) and not np.array_equal(sliced._fl["day"], masked._fl["day"])  # not vacuous
    fo = ForecastOptions()
    for end in ("2026-01-31", "2026-02-28", "2026-03-31"):
        T = model.day_number(end)
        a, b = model._ratios(sliced, T, T - fo.lookback_days + 1, fo), model._ratios(masked, T, T - fo.lookback_days
                                                                                         + 1, fo)
        for name in ("ratio", "code", "contract", "pr"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    got, want = month_forecast(sliced, "2026-03"), month_forecast(masked, "2026-03")
    assert_identical(got, want)


def test_book_window_sums_by_day_equal_the_sums_of_the_lines():
    """The ratios and month factors read from cumulative sums by day (model._DaySums, when the columns are whole
    cents) equal the sums over the window's lines and first adjudications, bit for bit, and so do the forecasts."""
    from unittest import mock

    from rcmkit.forecast import model

    tables = _small_tables()
    by_day = Book(tables)
    with mock.patch.object(model, "_exact", lambda *columns: False):
        by_line = Book(tables)
    assert by_day._fl_sums is not None and by_day._fc_sums is not None
    assert by_line._fl_sums is None and by_line._fc_sums is None
    fo = ForecastOptions()
    filled = []
    for end in ("2025-11-30", "2026-01-31", "2026-02-28", "2026-03-31"):
        T = model.day_number(end)
        for window_start in (T - fo.lookback_days + 1, T - 30, T + 1):
            a, b = model._ratios(by_day, T, window_start, fo), model._ratios(by_line, T, window_start, fo)
            for name in ("ratio", "code", "contract", "pr"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
            if window_start == T - fo.lookback_days + 1:
                filled.append((a.ratio > 0).any() and (a.pr > 0).any() and np.isfinite(a.contract).any())
        for x, y in zip(model._month_factors(by_day, T, fo), model._month_factors(by_line, T, fo)):
            np.testing.assert_array_equal(x, y)
    assert any(filled)  # not vacuous: windows with first adjudications, patient shares and contract lines
    for T in np.unique(by_day._fl["day"])[::7].tolist():  # windows that start and end on days with lines
        for window_start in (T - 30, T, T + 1):
            a, b = model._ratios(by_day, T, window_start, fo), model._ratios(by_line, T, window_start, fo)
            for name in ("ratio", "code", "contract", "pr"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    got, want = month_forecast(by_day, "2026-03"), month_forecast(by_line, "2026-03")
    assert_identical(got, want)


def test_day_sums_hand_computed():
    from rcmkit.forecast.model import _DaySums

    sums = _DaySums(np.array([10, 10, 12, 15]), np.array([0, 1, 1, 0]), 2, {"count": None,
                                                                           "x": np.array([1.0, 2.0, 4.0, 8.0])})
    got = sums.between(10, 12)
    np.testing.assert_array_equal(got["count"], [1, 2])
    np.testing.assert_array_equal(got["x"], [1.0, 6.0])
    np.testing.assert_array_equal(sums.between(11, 15)["x"], [8.0, 4.0])
    np.testing.assert_array_equal(sums.between(None, 11)["x"], [1.0, 2.0])
    np.testing.assert_array_equal(sums.between(16, 20)["x"], [0.0, 0.0])
    np.testing.assert_array_equal(sums.between(13, 14)["count"], [0, 0])
    # a table of (at most 6 days, 10..15, + 1) x cells x columns of 8 bytes: 550,000 cells of 8 columns take
    # 246.4 MB, within 256 MiB (268.4 MB); of 9 columns 277.2 MB, not
    days = np.array([10, 10, 12, 15])
    assert _DaySums.fits(days, 550_000, 8) and not _DaySums.fits(days, 550_000, 9)


def test_a_book_of_many_cells_sums_its_windows_by_line(monkeypatch):
    """A practice of thousands of codes and many payers would need gigabytes of cumulative sums by day: past
    _DaySums.MAX_BYTES the Book sums the window's lines at each date instead, with the same forecast."""
    from rcmkit.forecast import model

    tables = _small_tables()
    by_day = Book(tables)
    monkeypatch.setattr(model._DaySums, "MAX_BYTES", 0)
    by_line = Book(tables)
    assert by_day._fl_sums is not None and by_line._fl_sums is None and by_line._fc_sums is None
    got, want = month_forecast(by_day, "2026-03"), month_forecast(by_line, "2026-03")
    assert_identical(got, want)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_money_hazards_is_the_reference_on_whole_cents(seed):
    """curves.money_hazards (every row summed, the rows left out weighted 0) gives the reference's numbers
    (tests/forecast_reference.py: np.add.at over the rows kept), bit for bit, on whole cents: events before the
    window, after the as-of date, past the oldest age, credits and charges, balances never observed."""
    from rcmkit.forecast import curves

    rng = np.random.default_rng(seed)
    n, n_seg, max_age = 5000, 4, 60
    segment = rng.integers(0, n_seg, n)
    age = rng.integers(-3, max_age + 10, n)
    amount = rng.integers(-50_000, 80_000, n).astype(float)
    amount[amount == 0] = 1.0
    cash = np.where(rng.random(n) < 0.5, -amount, 0.0)
    lo = rng.integers(-5, max_age + 5, n)
    hi = lo + rng.integers(-10, 50, n)
    got = curves.money_hazards(segment, age, amount, cash, lo, hi, n_seg, max_age)
    want = reference.money_hazards(segment, age, amount, cash, lo, hi, n_seg, max_age)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert all(np.count_nonzero(g) > 50 for g in got)  # not vacuous


def test_merged_curve_events_give_the_same_forecast(demo_tables):
    """The Book merges the money curves' events that the curves cannot tell apart (model._merged: same day, charge
    day, segment or payer, first adjudication, age and sign of the amount; amounts and cash summed): fewer rows,
    the same curves and forecasts, bit for bit, as the events one by one."""
    from unittest import mock

    from rcmkit.forecast import model

    merged = Book(demo_tables)
    with mock.patch.object(model, "_merged", lambda events, keys: events):
        raw = Book(demo_tables)
    for name in ("_pat", "_ins"):
        m, r = getattr(merged, name), getattr(raw, name)
        assert len(m["key"]) < len(r["key"])  # not vacuous: rows were merged
        assert np.all(np.diff(m["key"]) >= 0)  # still by day: a date reads a prefix
        assert m["amount"].sum() == r["amount"].sum() and m["cash"].sum() == r["cash"].sum()
    got, want = month_forecast(merged, "2026-10"), month_forecast(raw, "2026-10")
    assert_identical(got, want)


def test_merged_hand_computed():
    from rcmkit.forecast.model import _merged

    events = {"key": np.array([3, 1, 1, 1, 2], dtype=np.int32), "seg": np.array([1, 2, 2, 2, 1]),
              "amount": np.array([5.0, 10.0, -4.0, 7.0, -1.0]), "cash": np.array([0.0, 0.0, 4.0, 0.0, 1.0])}
    got = _merged(events, ["key", "seg"])
    np.testing.assert_array_equal(got["key"], [1, 1, 2, 3])
    np.testing.assert_array_equal(got["seg"], [2, 2, 1, 1])
    np.testing.assert_array_equal(got["amount"], [17.0, -4.0, -1.0, 5.0])
    np.testing.assert_array_equal(got["cash"], [0.0, 4.0, 1.0, 0.0])
    halves = dict(events, amount=events["amount"] + 0.5)  # not whole cents: left as they are
    assert _merged(halves, ["key", "seg"]) is halves


@pytest.mark.parametrize("seed", [0, 1])
def test_merged_payer_events_give_the_same_hazards(seed):
    """money_hazards of the payers' curve events merged (model._merged on the Book's keys) equals that of the
    events one by one, bit for bit, at dates that read a prefix of each, with lo and hi as point_forecast sets
    them (the window's start or the day after the first adjudication; the as-of date): rows that differ in any
    key (first adjudication included) are not merged."""
    from rcmkit.forecast import curves, model

    rng = np.random.default_rng(seed)
    n = 20000
    charged = rng.integers(100, 110, n).astype(np.int32)
    day = charged + rng.integers(0, 12, n).astype(np.int32)
    fa = charged + rng.integers(1, 6, n).astype(np.int32)
    key = np.maximum(day, fa)
    order = np.argsort(key, kind="stable")
    amount = rng.integers(-9000, 9000, n).astype(float)
    amount[amount == 0] = 3.0
    events = {"key": key[order], "party": rng.integers(0, 3, n).astype(np.int32)[order], "charged": charged[order],
              "fa": fa[order], "age": (day - charged)[order],
              "amount": amount[order], "cash": np.where(rng.random(n) < 0.6, -amount, 0.0)[order]}
    merged = model._merged(events, ["key", "party", "charged", "fa", "age"])
    assert len(merged["key"]) < n / 2  # not vacuous
    for T in (104, 108, 112, 125):
        got = []
        for e in (events, merged):
            k = int(np.searchsorted(e["key"], T, side="right"))
            c = e["charged"][:k]
            got.append(curves.money_hazards(e["party"][:k].astype(np.int64), e["age"][:k], e["amount"][:k],
                                            e["cash"][:k], np.maximum(T - 6 + 1 - c, e["fa"][:k] - c + 1), T - c,
                                            3, 60))
        for a, b in zip(*got):
            np.testing.assert_array_equal(a, b)
