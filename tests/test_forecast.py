"""The cash forecast (issue #18) on a practice small enough to compute by hand.

Payers: A (commercial), B (medicare). As of 2026-03-01. Claims (charge date, then what happened; ages are days
since the charge):

| claim | payer | charged | what happens |
|---|---|---|---|
| X1 | A | 01-01 | 01-11 (age 10): paid 60, PR 10, CO 30; the patient pays 10 on 01-13 (age 12) |
| X2 | A | 01-01 | 01-11 (age 10): paid 80, PR 10, CO 10; the patient pays 10 on 02-10 (age 40) |
| X3 | A | 01-01 | 01-21 (age 20): paid 40, PR 10, CO 50; the patient's 10 is still open (age 59) |
| X4 | A | 02-14 | 200 billed, no answer yet (age 15): waiting for the payer |
| Y1 | B | 02-19 | 02-24 (age 5): denied (paid 0); 100 still open (age 10) |
| Y2 | B | 01-01 | 01-06 (age 5): denied; 01-26 (age 25): paid 100 |

With no smoothing and (almost) no shrinkage, the curves are the raw product-limit ones:
* A's time to first adjudication (Kaplan-Meier): X1, X2 at age 10 of 4 at risk (X4 is watched to age 15) -> 2/4;
  X3 at age 20 of 1 at risk -> 1. X4, waiting at age 15, is answered at age 20 for sure: day 5 after as_of.
* A's paid/billed at first adjudication: (60 + 80 + 40) / 300 = 0.6, so X4 is expected to bring 200 x 0.6 = 120;
  its patient share: (10 + 10 + 10) / 300 = 0.1 -> 20.
* The patients' curve: at age 12, 10 paid of 20 open (X1, X2) -> 1/2; at age 40, 10 of 20 (X2, X3) -> 1/2;
  nothing after. X4's 20 appears at age 20, so half of it, 10, comes at age 40: day 25 after as_of.
* B after adjudication: Y2's 100 paid at age 25 of 100 open -> 1. Y1 (age 10) is paid at age 25: day 15.
* X3's patient balance is at age 59: nothing was ever collected past age 40 -> 0.
So the open A/R (200 + 100 + 10 = 310) brings 120 (day 5) + 100 (day 15) + 10 (day 25) = 230 within 30 days.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcmkit.core import schema
from rcmkit.forecast import Book, ForecastOptions, actual_cash, forecast, point_forecast
from rcmkit.forecast import curves

AS_OF = pd.Timestamp("2026-03-01")
#: no smoothing, no shrinkage: the raw curves of the docstring
RAW = ForecastOptions(smooth_days=1, money_weight_cents=1e-6, claim_weight=1e-6, ratio_weight_cents=1e-6)


def tiny_tables() -> dict[str, pd.DataFrame]:
    payers = pd.DataFrame({"payer_id": ["A", "B"], "payer_name": ["Alpha Health", "Beta Care"],
                           "payer_class": ["commercial", "medicare"]})
    bills = [("X1", "A", "2026-01-01", 100), ("X2", "A", "2026-01-01", 100), ("X3", "A", "2026-01-01", 100),
             ("X4", "A", "2026-02-14", 200), ("Y1", "B", "2026-02-19", 100), ("Y2", "B", "2026-01-01", 100)]
    claims = pd.DataFrame([{
        "claim_id": c, "submission_id": c + "-1", "frequency_code": "1", "claim_type": "professional",
        "submitted_on": pd.Timestamp(d), "service_from": pd.Timestamp(d), "service_to": pd.Timestamp(d),
        "payer_id": p, "billing_npi": "1234567893", "rendering_npi": "1234567893", "place_of_service": "11",
        "patient_key": "K" + c, "total_charge_cents": amt * 100, "diagnosis_codes": ["I10"], "payer_claim_ref": None,
        "source": "test"} for c, p, d, amt in bills])
    lines = pd.DataFrame([{"submission_id": c + "-1", "line_number": 1, "procedure_code": "99213", "modifiers": "",
                           "units": 1.0, "charge_cents": amt * 100, "service_date": pd.Timestamp(d)}
                          for c, p, d, amt in bills])
    # remit, claim, payer, paid_on, billed, paid, patient responsibility
    remits = [("R1", "X1", "A", "2026-01-11", 100, 60, 10), ("R2", "X2", "A", "2026-01-11", 100, 80, 10),
              ("R3", "X3", "A", "2026-01-21", 100, 40, 10), ("R5", "Y1", "B", "2026-02-24", 100, 0, 0),
              ("R6", "Y2", "B", "2026-01-06", 100, 0, 0), ("R7", "Y2", "B", "2026-01-26", 100, 100, 0)]
    remittances = pd.DataFrame([{
        "remit_id": r, "claim_id": c, "payer_claim_id": "P" + r, "status_code": "1", "billed_cents": b * 100,
        "paid_cents": paid * 100, "patient_responsibility_cents": pr * 100, "payer_id": p,
        "paid_on": pd.Timestamp(d), "trace_number": "T" + r, "source": "test"} for r, c, p, d, b, paid, pr in remits])
    remit_lines = pd.DataFrame([{
        "remit_id": r, "line_number": 1, "procedure_code": "99213", "modifiers": "", "billed_cents": b * 100,
        "paid_cents": paid * 100, "allowed_cents": None, "units": 1.0, "service_date": pd.NaT}
        for r, c, p, d, b, paid, pr in remits])
    L = []  # claim, posted_on, kind, dollars, responsible

    def post(claim, day, kind, dollars, who):
        L.append((claim, pd.Timestamp(day), kind, int(round(dollars * 100)), who))

    for c, p, d, amt in bills:
        post(c, d, "charge", amt, p)
    for claim, day, paid, pr, co in (("X1", "2026-01-11", 60, 10, 30), ("X2", "2026-01-11", 80, 10, 10),
                                     ("X3", "2026-01-21", 40, 10, 50)):
        post(claim, day, "insurance_payment", -paid, "A")
        post(claim, day, "contractual", -co, "A")
        post(claim, day, "patient_responsibility", -pr, "A")
        post(claim, day, "patient_responsibility", pr, "patient")
    post("X1", "2026-01-13", "patient_payment", -10, "patient")
    post("X2", "2026-02-10", "patient_payment", -10, "patient")
    post("Y2", "2026-01-26", "insurance_payment", -100, "B")
    ledger = pd.DataFrame(L, columns=["claim_id", "posted_on", "kind", "amount_cents", "responsible"])
    return {"payers": payers, "claims": schema.conform("claims", claims),
            "claim_lines": schema.conform("claim_lines", lines),
            "remittances": schema.conform("remittances", remittances),
            "remit_lines": schema.conform("remit_lines", remit_lines), "ledger": schema.conform("ledger", ledger)}


@pytest.fixture(scope="module")
def tiny():
    return forecast(tiny_tables(), AS_OF, forecast_options=RAW)


def _total(fc, window, source="open A/R", col="expected_cents"):
    t = fc.totals
    return float(t.loc[(t["window"] == window) & (t["source"] == source), col].iloc[0])


def test_hand_computed_windows(tiny):
    # 120 (X4 from A, day 5) + 100 (Y1 from B, day 15) + 10 (X4's patient share, day 25); nothing after
    assert tiny.open_cents == pytest.approx(31000)
    for h in ("30 days", "60 days", "90 days"):
        assert _total(tiny, h) == pytest.approx(23000, abs=0.01)
    weeks = tiny.summary(kind="week").set_index("window")["expected_cents"]
    assert weeks["week 1"] == pytest.approx(12000)  # days 1-7 hold day 5
    assert weeks["week 3"] == pytest.approx(10000)  # days 15-21 hold day 15
    assert weeks["week 4"] == pytest.approx(1000)  # days 22-28 hold day 25
    assert weeks.drop(["week 1", "week 3", "week 4"]).abs().max() == pytest.approx(0, abs=1e-6)
    assert (weeks.index.str.startswith("week")).all() and len(weeks) == 13


def test_hand_computed_by_payer_and_part(tiny):
    d = tiny.detail[tiny.detail["window"] == "30 days"]
    by = d.groupby(["payer_id", "part"])["expected_cents"].sum()
    assert by[("A", "awaiting payer")] == pytest.approx(12000)  # 200 x 0.6
    assert by[("B", "payer balance after adjudication")] == pytest.approx(10000)
    assert by[("patient", "patient share of claims awaiting payer")] == pytest.approx(1000)  # 200 x 0.1 x 1/2
    assert by[("patient", "patient balance")] == pytest.approx(0)  # X3's 10 at age 59: nothing collected past 40
    classes = tiny.summary(by="class").query("window == '30 days'").set_index("payer_class")["expected_cents"]
    assert classes.to_dict() == pytest.approx({"commercial": 12000, "medicare": 10000, "patient": 1000})
    names = tiny.summary(by="payer").query("window == '30 days'").set_index("payer_id")["payer_name"]
    assert names.to_dict() == {"A": "Alpha Health", "B": "Beta Care", "patient": "Patients"}


def test_hand_computed_interval(tiny):
    # no earlier month end has 120 days of history: the interval is the spread of balances paid whole or not.
    # Only X4's patient share is uncertain: 2,000 cents collected with chance 1/2 -> sd = 2000 x 1/2 = 1000 cents;
    # 80%: z = 1.2816 -> 23000 -+ 1281.6
    z = 1.2815515655446004
    assert _total(tiny, "30 days", col="low_cents") == pytest.approx(23000 - z * 1000)
    assert _total(tiny, "30 days", col="high_cents") == pytest.approx(23000 + z * 1000)
    assert tiny.errors.empty


def test_hand_computed_writeoffs(tiny):
    w = tiny.writeoffs.set_index("bucket")
    # 0-30: X4 (200: 60 contractual, 120 + 10 cash, 10 never) and Y1 (100, all paid)
    assert w.loc["0-30", "open_cents"] == pytest.approx(30000)
    assert w.loc["0-30", "contractual_cents"] == pytest.approx(6000)  # 200 - 120 paid - 20 patient share
    assert w.loc["0-30", "not_collected_120_cents"] == pytest.approx(1000)
    # 31-60: X3's patient 10 at age 59, never collected
    assert w.loc["31-60", "not_collected_365_cents"] == pytest.approx(1000)
    assert w["open_cents"].sum() == pytest.approx(31000)


def test_actual_cash_splits_open_ar_and_new_charges():
    book = Book(tiny_tables())
    # cash in (01-10, 01-26]: X1 60 + 10, X2 80, X3 40, Y2 100 = 290; none of it on claims billed after 01-10
    got = actual_cash(book, "2026-01-10", 0, 16)
    assert got == pytest.approx({"open A/R": 29000, "new charges": 0, "all cash": 29000})
    # as of 2025-12-31 nothing was billed: all of it is new charges
    assert actual_cash(book, "2025-12-31", 0, 26)["new charges"] == pytest.approx(29000)


def test_kaplan_meier_matches_the_textbook():
    # 5 subjects: events at 2, 3, 5; censored at 3 and 6. S(2) = 1 - 1/5; at age 3 four are at risk (3, 3, 5, 6)
    # and one has its event: S(3) = 4/5 x 3/4; at 5 two are at risk: S(5) = 3/5 x 1/2
    d, n = curves.claim_hazards(np.zeros(5, dtype=np.int64), np.zeros(5, dtype=np.int64),
                                np.array([2, 3, 3, 5, 6]), np.array([1, 0, 1, 1, 0]), 1, 10)
    surv = np.cumprod(1 - np.nan_to_num(d[0] / np.where(n[0] > 0, n[0], np.nan)))
    assert surv[2] == pytest.approx(0.8)
    assert surv[3] == pytest.approx(0.6)
    assert surv[5] == pytest.approx(0.3)
    assert n[0, 4] == 2 and n[0, 6] == 1 and n[0, 7] == 0


def test_cumulative_share_is_aalen_johansen():
    # cash hazard 0.2 and exit hazard 0.5 at every age: share within L days = sum_{k<L} 0.5^k x 0.2
    g, dens = curves.cumulative_share(np.full(20, 0.2), np.full(20, 0.5), np.array([3]), 4)
    assert g[0].tolist() == pytest.approx([0, 0.2, 0.3, 0.35, 0.375])
    assert dens[0].tolist() == pytest.approx([0, 0.5, 0.25, 0.125, 0.0625])


def test_options_are_checked():
    with pytest.raises(ValueError, match="level"):
        ForecastOptions(level=1.2)
    with pytest.raises(ValueError, match="lookback_days"):
        ForecastOptions(lookback_days=0)


@settings(max_examples=int(os.environ.get("RCMKIT_FUZZ_EXAMPLES", "10")), deadline=None, derandomize=True)
@given(events=st.lists(st.tuples(st.sampled_from(["X1", "X2", "X3", "X4", "Y1", "Y2", "Z9"]), st.integers(1, 200),
                                 st.sampled_from(["charge", "insurance_payment", "patient_payment", "contractual",
                                                  "refund"]),
                                 st.integers(-50_000, 50_000), st.sampled_from(["A", "B", "patient"])),
                       min_size=1, max_size=12),
       remit_shift=st.integers(1, 90))
def test_no_leakage_events_after_as_of(events, remit_shift):
    """Ledger events posted after as_of (on a known claim or a new one) and second remittances dated after
    as_of: the forecast does not move."""
    base = tiny_tables()
    later = pd.DataFrame([(c, AS_OF + pd.Timedelta(days=d), k, a, r) for c, d, k, a, r in events],
                         columns=["claim_id", "posted_on", "kind", "amount_cents", "responsible"])
    remits = pd.concat([base["remittances"], base["remittances"].assign(
        remit_id=lambda r: r["remit_id"] + "L", paid_on=AS_OF + pd.Timedelta(days=remit_shift))], ignore_index=True)
    changed = {**base, "ledger": pd.concat([base["ledger"], later], ignore_index=True), "remittances": remits}
    a = forecast(base, AS_OF, forecast_options=RAW)
    b = forecast(changed, AS_OF, forecast_options=RAW)
    pd.testing.assert_frame_equal(a.detail, b.detail)
    pd.testing.assert_frame_equal(a.totals, b.totals)
    pd.testing.assert_frame_equal(a.writeoffs, b.writeoffs)


def test_an_event_on_as_of_does_count():
    """The property above cannot pass vacuously: X3's patient paying its 10 on as_of itself removes the balance."""
    base = tiny_tables()
    paid = pd.DataFrame({"claim_id": ["X3"], "posted_on": [AS_OF], "kind": ["patient_payment"],
                         "amount_cents": [-1000], "responsible": ["patient"]})
    after = forecast({**base, "ledger": pd.concat([base["ledger"], paid], ignore_index=True)}, AS_OF,
                     forecast_options=RAW)
    assert after.open_cents == pytest.approx(30000)  # 310 - 10


def test_same_inputs_same_numbers():
    a = point_forecast(Book(tiny_tables()), AS_OF, RAW)["detail"]
    b = point_forecast(Book(tiny_tables()), AS_OF, RAW)["detail"]
    pd.testing.assert_frame_equal(a, b)
    assert math.isclose(a["expected_cents"].sum(), b["expected_cents"].sum())


def test_month_forecast_checks_last_month_against_what_came_in():
    from rcmkit.forecast.report import month_forecast
    from rcmkit.present.charts import cash_forecast_chart
    from test_client_words import figure_text, scan

    m = month_forecast(tiny_tables(), "2026-02", forecast_options=RAW)
    assert m.as_of == pd.Timestamp("2026-02-28")
    assert len(m.weeks) == 13 and m.weeks["week_start"].iloc[0] == pd.Timestamp("2026-03-01")
    check = m.check.set_index("source")
    # February's cash: X2's patient pays 10 on 02-10, a claim billed on 01-01 (before the 01-31 forecast)
    assert check.loc["all cash", "actual_cents"] == 1000
    assert check.loc["open A/R", "actual_cents"] == 1000
    assert (check["made_on"] == pd.Timestamp("2026-01-31")).all()
    assert (check["low_cents"] <= check["forecast_cents"]).all()
    assert check["inside"].tolist() == ((check["actual_cents"] >= check["low_cents"])
                                        & (check["actual_cents"] <= check["high_cents"])).tolist()
    fig = cash_forecast_chart(m.weeks, m.check)
    text = figure_text(fig)
    assert "Cash expected from the open balances" in text and "Last month's forecast" in text
    assert scan(text) == []
    # the data's first month has nothing before it to check
    assert month_forecast(tiny_tables(), "2026-01", forecast_options=RAW).check.empty


def test_the_forecast_on_duckdb_sums_the_ledger_in_the_engine(tmp_path, monkeypatch):
    """On DuckDB tables as the report hands them on (prepared, then as_pandas: tables left on the engine), the Book
    asks the engine for the ledger's events summed by claim, party, day and sign and never collects the ledger
    (issue #15: 31 M rows at 10 M claim lines); the forecast is the pandas one bit for bit (sums of whole cents).
    Tiny's ledger plus both signs on one (claim, party, day): a payment reversed and paid again, a refund beside
    a patient payment, and an event of a claim whose charge posts after as_of."""
    from rcmkit.core import engine, store
    from rcmkit.forecast.report import month_forecast
    from rcmkit.metrics import MetricOptions, as_pandas, prepare

    tables = tiny_tables()
    extra = [("X3", "2026-02-02", "insurance_payment", -1500, "A"), ("X3", "2026-02-02", "reversal", 1500, "A"),
             ("X3", "2026-02-02", "insurance_payment", -1400, "A"), ("X1", "2026-02-05", "patient_payment", -300,
                                                                      "patient"),
             ("X1", "2026-02-05", "refund", 200, "patient"), ("X4", "2026-02-20", "refund", 0, "A")]
    tables["ledger"] = schema.conform("ledger", pd.concat([tables["ledger"], pd.DataFrame(
        extra, columns=["claim_id", "posted_on", "kind", "amount_cents", "responsible"]).assign(
        posted_on=lambda d: pd.to_datetime(d["posted_on"]))], ignore_index=True))
    store.save_tables(tmp_path, "tiny", tables)
    collected, real = [], engine.pandas_table

    def counted(name, frame):
        collected.append(name)
        return real(name, frame)

    monkeypatch.setattr(engine, "pandas_table", counted)
    options = MetricOptions()
    on_duckdb = as_pandas(prepare(engine.open_tables(tmp_path, "tiny", "duckdb"), options))
    got = month_forecast(on_duckdb, "2026-02", options, RAW)
    assert "ledger" not in collected, collected
    # nor a pandas frame of the claims, remittances or their lines: their columns come as arrow (issue #15)
    assert not {"claims", "remittances", "claim_lines", "remit_lines"} & set(collected), collected
    expected = month_forecast(engine.open_tables(tmp_path, "tiny", "pandas"), "2026-02", options, RAW)
    for name in ("weeks", "horizons", "check"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True)
    for name in ("detail", "totals", "writeoffs", "errors"):
        pd.testing.assert_frame_equal(getattr(got.forecast, name), getattr(expected.forecast, name),
                                      check_exact=True)
    assert got.forecast.detail["expected_cents"].sum() > 0 and len(got.check)
