"""The hand-computed metric tests on every local backend: pandas tables and DuckDB tables.

tests/test_metrics.py works out every metric of the small practice (tests/small_practice.py, 12 claims) by hand.
Here the practice is saved to a store (as ``rcmkit ingest`` leaves it) and opened with
:func:`rcmkit.core.engine.open_tables` on pandas and on DuckDB, and each of test_metrics.py's tests runs on those
tables: the same hand-computed numbers must come out of both engines. There is no list of metric names to keep:
a new test in test_metrics.py runs here on both backends by itself.

A few of test_metrics.py's tests handle the tables as pandas frames themselves (slice the ledger, ``.assign`` a
column, deep-copy) or call a pandas-only helper; they run on pandas only (``PANDAS_ONLY``, with the reason), and
the metric values they check are asserted on both backends by the explicit tests at the end of this file.
Spark runs the same metric code; its equality test (tests/test_engine.py) needs Java and is in the slow tier.
Tiers: the explicit tests at the end run on both backends in the fast tier (with tests/test_engine.py's DuckDB
suite equality on the same practice); every hand test on DuckDB runs in ``make test`` (a DuckDB query costs
milliseconds however small the data, and the trend tests issue hundreds); on the pandas tables from a store too.
"""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

import test_metrics as hand
from rcmkit.core import engine
from rcmkit.core.engine import collect
from rcmkit.core import store
from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import MetricOptions, ar_balances, kpi_suite, monthly_kpis
from small_practice import tables as small_tables

pytest.importorskip("duckdb")

BACKENDS = ["pandas", "duckdb"]
MONTH = hand.MONTH

#: test_metrics.py tests that treat the tables as pandas frames (not a metric's behaviour): pandas backend only.
PANDAS_ONLY = {
    "test_at_remit_variant_takes_denials_out_of_ar": "calls rcmkit.core.ledger.build_ledger (pandas) on the tables",
    "test_point_in_time_ar_equals_truncated_ledger": "slices t['ledger'] with a pandas boolean mask",
    "test_inputs_are_not_mutated": "deep-copies the tables with DataFrame.copy",
    "test_unbilled_charges": "moves a submission date with DataFrame.assign",
}

#: every test of test_metrics.py that takes the small practice's tables (fixture ``t``)
HAND_TESTS = sorted(name for name, func in vars(hand).items()
                    if name.startswith("test_") and callable(func) and "t" in inspect.signature(func).parameters)


def _cases():
    for backend in BACKENDS:
        for name in HAND_TESTS:
            if backend != "pandas" and name in PANDAS_ONLY:
                continue
            # pandas: test_metrics.py runs the same tests on pandas frames in the fast tier; these (from a store) and
            # the DuckDB runs in make test (see the module's docstring)
            marks = pytest.mark.slow
            yield pytest.param(backend, name, id=f"{backend}-{name.removeprefix('test_')}", marks=marks)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The small practice saved once, with its ledger, the way test_engine.py's stores are."""
    root = tmp_path_factory.mktemp("backends")
    tables = small_tables()
    tables.setdefault("ledger", build_ledger(tables))
    store.save_tables(root, "small", tables)
    return root


@pytest.fixture()
def tables(root, backend):
    """Fresh tables per test (a test must not see another's changes), on the test's backend."""
    t = engine.open_tables(root, "small", backend)
    assert all(engine.engine_of(v) == backend for v in t.values())
    return t


def test_every_hand_test_is_collected():
    """The discovery above finds test_metrics.py's tests (not an empty list that would pass vacuously)."""
    assert len(HAND_TESTS) >= 20 and "test_days_in_ar_gross_3_months" in HAND_TESTS
    assert set(PANDAS_ONLY) <= set(HAND_TESTS), "a PANDAS_ONLY test was renamed or removed in test_metrics.py"


@pytest.mark.parametrize("backend,name", list(_cases()))
def test_hand_computed_metric(tables, backend, name, monkeypatch):
    """test_metrics.py's test ``name``, its hand-computed values asserted on ``backend``'s tables."""
    func = getattr(hand, name)
    available = {"t": tables, "monkeypatch": monkeypatch}
    missing = set(inspect.signature(func).parameters) - set(available)
    assert not missing, f"{name} takes fixtures this runner does not provide: {sorted(missing)}"
    func(**{p: available[p] for p in inspect.signature(func).parameters})


# ------------------------------------------------------------- the PANDAS_ONLY tests' metric values, on each backend

@pytest.mark.parametrize("backend", BACKENDS)
def test_at_remit_ar_on_each_backend(tables, backend):
    """test_metrics.py: under at_remit C08's CO-197 (80) and C06's CO-97 (50) leave A/R at once: 490 - 130 = 360."""
    assert monthly_kpis(tables, MONTH, MetricOptions(denial_policy="at_remit"))["ar_total"].value == 360.00
    assert monthly_kpis(tables, MONTH)["ar_total"].value == 490.00


@pytest.mark.parametrize("backend", BACKENDS)
def test_point_in_time_ar_on_each_backend(tables, backend):
    """test_metrics.py: open A/R 970.00 at January's end, 1,400.00 at February's (C01's patient 20 paid 02-10),
    490.00 at March's; C12's -5.00 credit is returned but not counted."""
    for as_of, total in (("2026-01-31", 97000), ("2026-02-28", 140000), ("2026-03-31", 49000)):
        bal = ar_balances(tables, as_of)
        assert bal.loc[bal["balance_cents"] > 0, "balance_cents"].sum() == total, as_of
    march = ar_balances(tables, "2026-03-31").set_index(["claim_id", "responsible"])["balance_cents"]
    assert march[("C12", "patient")] == -500


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbilled_charges_on_each_backend(tables, backend):
    """test_metrics.py: all four March services (350.00) were billed in March."""
    from rcmkit.metrics import unbilled_charges

    assert unbilled_charges(tables, MONTH).iloc[0].to_dict() == {
        "claims": 0, "charge_cents": 0, "month_claims": 4, "month_charge_cents": 35000}


@pytest.mark.parametrize("backend", BACKENDS)
def test_ledger_months_by_hand_on_each_backend(tables, backend):
    """The ledger's monthly sums (what every money window of a KPI set reads), ordered by kind and month on every
    backend: March (month 2026 * 12 + 2) holds test_metrics.py's charges 350.00 and payments 530.00 (insurance
    549.00 and patient 45.00 less C07's reversed 64.00, all credits but the reversal)."""
    from rcmkit.metrics.ar import ledger_months

    months = engine.collect(ledger_months(tables["ledger"]))
    keys = list(zip(months["kind"], months["_ym"]))
    assert keys == sorted(keys)
    march = months[months["_ym"] == 2026 * 12 + 2].set_index("kind")["amount_cents"]
    assert march["charge"] == 35000
    assert (march["insurance_payment"], march["patient_payment"], march["reversal"]) == (-54900, -4500, 6400)
    assert -(march["insurance_payment"] + march["patient_payment"] + march["reversal"]) == 53000


@pytest.mark.parametrize("backend", BACKENDS)
def test_kpi_suite_hand_computed_on_each_backend(tables, backend):
    """The KPI suite (what the report and `rcmkit kpis` compute) carries test_metrics.py's March numbers:
    A/R 490.00, days in A/R 490 x 90 / 1,300, clean claims 2/5, initial denials 2/5 (330/580 of the dollars),
    net collection rate 650 / 1,635, charges 350.00, payments 530.00; aging 49,000 cents, MCD 120+ 15,000."""
    suite = kpi_suite(tables, MONTH)
    k = suite["kpis"]
    assert k["ar_total"].value == 490.00
    assert k["days_in_ar"].value == pytest.approx(490 * 90 / 1300)
    assert (k["clean_claim_rate"].numerator, k["clean_claim_rate"].denominator) == (2, 5)
    assert (k["initial_denial_rate"].numerator, k["initial_denial_rate"].denominator) == (2, 5)
    assert k["initial_denial_rate_dollars"].value == pytest.approx(330 / 580)
    assert k["net_collection_rate"].value == pytest.approx(650 / 1635)
    assert (k["charges"].value, k["payments"].value) == (350.00, 530.00)
    aging = suite["aging"]
    assert int(aging["balance_cents"].sum()) == 49000
    assert isinstance(aging, pd.DataFrame)
    reasons = suite["denial_reasons"]
    assert reasons[["reason_code", "denied_cents"]].values.tolist() == [["197", 8000], ["97", 5000]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_last_full_month_on_each_backend(tables, backend):
    """The last full month of data from each dated table alone (issue #14: it read ``len()`` and ``[col].max()``
    of pandas frames, which DuckDB relations do not have). Remittances end Monday 2026-03-30 (R12), before
    March's last weekday (Tuesday the 31st): February. Postings and the ledger reach 03-31 (C12's patient
    payment): March. All together: March."""
    from rcmkit.metrics import last_full_month, latest_event

    assert last_full_month({"remittances": tables["remittances"]}) == "2026-02"
    assert latest_event({"remittances": tables["remittances"]}) == pd.Timestamp("2026-03-30")
    assert last_full_month({"postings": tables["postings"]}) == "2026-03"
    assert last_full_month({"ledger": tables["ledger"]}) == "2026-03"
    assert last_full_month(tables) == "2026-03"
    with pytest.raises(ValueError, match="no dated events"):
        last_full_month({"payers": tables["payers"]})


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_first_adjudications_are_the_querys_rows_computed_once(tables, backend):
    """The report model computes the first adjudications once before its sections (issue #15: on DuckDB each
    reader ran the query again): pinned, every later reader gets the one materialized frame, whose rows are the
    query's; March's cohort is test_metrics.py's hand-computed one (5 claims, 2 denied)."""
    from rcmkit.metrics.denials import first_adjudications_frame, in_month, pinned_first_adjudications
    from rcmkit.metrics.summary import prepare

    prepared = prepare(tables)
    query = collect(first_adjudications_frame(prepared).sort("claim_id"))
    pinned = pinned_first_adjudications(prepared)
    assert first_adjudications_frame(prepared) is pinned and pinned_first_adjudications(prepared) is pinned
    assert engine.engine_of(pinned) == ("polars" if backend == "pandas" else backend)
    pd.testing.assert_frame_equal(collect(pinned.sort("claim_id")), query)
    march = collect(in_month(pinned, MONTH))
    assert (len(march), int(march["denied"].sum())) == (5, 2)
    assert monthly_kpis(prepared, MONTH)["initial_denial_rate"].value == pytest.approx(2 / 5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lags_read_each_claims_first_submission_once(tables, backend, monkeypatch):
    """On prepared tables the lags compute each claim's first submission once and filter it (issue #15: a report
    read it four times, 3.3 s of DuckDB each at 10 M claim lines); the numbers are test_metrics.py's hand-computed
    ones: March's charge lag 4 claims, median 1, p90 1.7; days to pay BCX 2 claims, 19.5, 21.5; MCD median 17.5;
    nothing of March unbilled (4 claims, 350.00), nor of February."""
    import rcmkit.metrics.ar as ar
    from rcmkit.metrics import as_pandas, charge_lag, days_to_pay, unbilled_charges
    from rcmkit.metrics.summary import prepare

    calls = []
    first = ar.claim_first_submissions
    monkeypatch.setattr(ar, "claim_first_submissions", lambda f, **k: calls.append(1) or first(f, **k))
    pt = as_pandas(prepare(tables))
    lag = charge_lag(pt, MONTH).iloc[0]
    assert (lag["claims"], lag["median"], lag["p90"]) == (4, 1.0, pytest.approx(1.7))
    d = days_to_pay(pt, MONTH).set_index("payer_id")
    assert d.loc["BCX", ["claims", "median", "p90"]].tolist() == [2, 19.5, pytest.approx(21.5)]
    assert d.loc["MCD", "median"] == 17.5
    assert unbilled_charges(pt, MONTH).iloc[0].to_dict() == {
        "claims": 0, "charge_cents": 0, "month_claims": 4, "month_charge_cents": 35000}
    assert unbilled_charges(pt, "2026-02").iloc[0][["claims", "charge_cents"]].tolist() == [0, 0]
    assert len(calls) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_remit_flags_of_some_claims_are_those_claims_rows_of_every_flag(tables, backend):
    """remit_flags(claims=...) flags those claims' remittances only on DuckDB (issue #15: not every remittance's
    adjustments grouped, then joined): the rows are the same as every remittance's flags kept for those claims; and
    open_denials on each backend is tests/test_payers.py's hand-computed March (C08 MCD 80.00, C06 BCX 50.00)."""
    from rcmkit.metrics import as_pandas, open_denials
    from rcmkit.metrics.denials import remit_flags
    from rcmkit.metrics.summary import prepare

    pt = as_pandas(prepare(tables))
    every = remit_flags(pt)
    some = remit_flags(pt, pd.DataFrame({"claim_id": ["C06", "C08", "C06"]}), as_of=pd.Timestamp("2026-03-31"))
    expected = every[every["claim_id"].isin(["C06", "C08"]) & (every["paid_on"] <= "2026-03-31")]
    pd.testing.assert_frame_equal(some, expected.reset_index(drop=True))
    assert some["claim_id"].nunique() == 2 and some["any_denial"].any()
    per_claim = open_denials(pt, MONTH, by=None).set_index("claim_id")
    assert per_claim[["payer_id", "balance_cents"]].to_dict("index") == {
        "C08": {"payer_id": "MCD", "balance_cents": 8000}, "C06": {"payer_id": "BCX", "balance_cents": 5000}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_balances_of_several_dates_serve_each_date_alone(tables, backend, monkeypatch):
    """On prepared tables the balances of several dates are also each date's balances (issue #15: the report's
    KPI suite takes its month end from the trend's pass instead of a pass of its own): no second computation,
    and the rows of one date's own computation; March's open A/R is test_metrics.py's 490.00 (C12's -5.00 credit
    kept as a row, not counted), January's 970.00."""
    import rcmkit.metrics.ar as ar
    from rcmkit.metrics.ar import balances_at, balances_frame
    from rcmkit.metrics.summary import prepare

    dates = [pd.Timestamp("2026-01-31"), pd.Timestamp("2026-02-28"), pd.Timestamp("2026-03-31")]
    cols = ["claim_id", "responsible", "balance_cents", "age_days", "bucket"]

    def rows(frame):
        return collect(frame).sort_values(cols[:2], ignore_index=True)[cols]

    alone = [rows(balances_frame(prepare(tables), d, MetricOptions())) for d in dates]  # each date's own pass
    prepared = prepare(tables)
    balances_at(prepared, dates, MetricOptions())
    monkeypatch.setattr(ar, "_balances_at", lambda *a: pytest.fail("the balances were computed again"))
    for d, own, total in zip(dates, alone, (97000, 140000, 49000)):
        view = rows(balances_frame(prepared, d, MetricOptions()))
        pd.testing.assert_frame_equal(view, own)
        assert view.loc[view["balance_cents"] > 0, "balance_cents"].sum() == total


@pytest.mark.parametrize("backend", BACKENDS)
def test_net_ar_of_one_date_is_that_dates_share_of_several(tables, backend):
    """Net A/R has one definition computed two ways: a trend's dates share passes over the ledger (ranges summed by
    date), a month alone reads it in four queries (metrics.ar._net_ar_one, the hand-written SQL's shape). Each
    date's pending balances, payer rates and practice-wide rate must be the same either way, on each backend."""
    from rcmkit.metrics.ar import balances_at, net_ar_at
    from rcmkit.metrics.summary import prepare

    dates = [pd.Timestamp("2026-01-31"), pd.Timestamp("2026-02-28"), pd.Timestamp("2026-03-31")]
    prepared = prepare(tables)
    several = net_ar_at(prepared, dates, MetricOptions(), balances_at(prepared, dates, MetricOptions()))
    for i, d in enumerate(dates):
        alone = net_ar_at(prepared, [d], MetricOptions(), balances_at(prepared, [d], MetricOptions()))[0]
        assert alone == several[i], d
    assert any(n.pending for n in several) and any(n.rates for n in several)  # not vacuous


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scope", ["any", "full"])
def test_a_months_first_adjudications_ranked_on_their_first_day_are_the_full_ranking_filtered(tables, backend,
                                                                                                scope):
    """A lone KPI set on DuckDB ranks only the claims whose earliest adjudication day falls in its month, on
    that day's rows (issue #15); every month's cohort equals the full ranking's rows paid in that month (March:
    test_metrics.py's hand-computed 5 claims, 2 denied)."""
    from rcmkit.metrics.denials import _first_adjudications_frame, first_adjudications_in_month, in_month
    from rcmkit.metrics.summary import prepare

    options = MetricOptions(denial_scope=scope)
    full = _first_adjudications_frame(tables, options)
    paid = collect(engine.lazy(tables["remittances"]).select("paid_on"))["paid_on"]
    months = sorted({str(p) for p in paid.dt.to_period("M")})
    assert len(months) >= 3
    for month in months:
        want = collect(in_month(full, month).sort("claim_id"))
        got = collect(_first_adjudications_frame(tables, options, month=month).sort("claim_id"))
        pd.testing.assert_frame_equal(got, want, obj=month)
        pd.testing.assert_frame_equal(collect(first_adjudications_in_month(prepare(tables, options), month, options)
                                              .sort("claim_id")), want, obj=f"{month} prepared")
    march = collect(first_adjudications_in_month(prepare(tables, options), MONTH, options))
    assert len(march) == 5 and (scope != "any" or int(march["denied"].sum()) == 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_months_first_adjudication_ties_on_the_first_day_go_to_the_earlier_event(tmp_path, backend):
    """Two adjudications of one claim on its first day: the month path ranks them in event order as the full
    ranking does (segment 92 before 102, though 'R2-102' < 'R2-92' as text; the denial at segment 92 wins)."""
    from rcmkit.metrics.denials import _first_adjudications_frame, in_month

    t = small_tables()
    r = t["remittances"]
    base = r[r["remit_id"] == "R04"].iloc[0]  # C06, paid 2026-03-05
    twins = pd.DataFrame([{**base.to_dict(), "remit_id": "R2-102", "source": "b.835#102", "paid_cents": 12000},
                          {**base.to_dict(), "remit_id": "R2-92", "source": "b.835#92", "paid_cents": 0,
                           "status_code": "4"}])
    t["remittances"] = pd.concat([r[r["remit_id"] != "R04"], twins], ignore_index=True)
    t["adjustments"] = t["adjustments"][t["adjustments"]["remit_id"] != "R04"]
    t["ledger"] = build_ledger(t)
    store.save_tables(tmp_path, "ties", t)
    tables = engine.open_tables(tmp_path, "ties", backend)
    want = collect(in_month(_first_adjudications_frame(tables, MetricOptions()), MONTH).sort("claim_id"))
    got = collect(_first_adjudications_frame(tables, MetricOptions(), month=MONTH).sort("claim_id"))
    pd.testing.assert_frame_equal(got, want)
    c06 = got[got["claim_id"] == "C06"].iloc[0]
    assert c06["remit_id"] == "R2-92" and bool(c06["denied"])


@pytest.mark.parametrize("basis", ["service_date", "submission_date"])
def test_one_dates_balances_on_duckdb_are_the_general_paths(root, basis):
    """One date's balances on DuckDB are computed in the hand-written SQL's shape (one ledger pass whose sums
    and first postings are shared, the claims' dates ranked for claims with a balance): every column of every
    row equals the general path's, which pandas tables take, at three month ends and on both aging bases."""
    from rcmkit.metrics.ar import _balances_at

    options = MetricOptions(aging_basis=basis)
    duck, pand = (engine.open_tables(root, "small", b) for b in ("duckdb", "pandas"))
    for d in (pd.Timestamp("2026-01-31"), pd.Timestamp("2026-02-28"), pd.Timestamp("2026-03-31")):
        want, got = (collect(_balances_at(t, [d], options)) for t in (pand, duck))
        cols = sorted(want.columns)
        assert sorted(got.columns) == cols and len(want) > 3
        key = ["claim_id", "responsible"]
        pd.testing.assert_frame_equal(got[cols].sort_values(key, ignore_index=True),
                                      want[cols].sort_values(key, ignore_index=True), check_dtype=False, obj=str(d))
