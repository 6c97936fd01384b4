"""The many-month sums behind kpi_trend (issue #15): each month's share of one pass equals that month alone, with
hand-computed values on the small practice (tests/small_practice.py) at the edges: a month with no activity, a
payer reversal posted in a later month than the payment it reverses, a claim charged on two days."""

from __future__ import annotations

import pandas as pd
import pytest

from small_practice import tables as small_tables

from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import MetricOptions, ar_balances, kpi_trend, monthly_kpis, month_window
from rcmkit.metrics.ar import aged_at, ar_aged_pct, balances_at, balances_frame, net_ar_at
from rcmkit.metrics.collections import patient_sums
from rcmkit.metrics.denials import clean_counts, denial_sums
from rcmkit.metrics.summary import prepare

MONTHS = ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]


@pytest.fixture(scope="module")
def t():
    return prepare(small_tables())


def _later_reversal():
    """The small practice with C07's reversal (R06) and corrected payment (R07) posted on 2026-04-10 instead of
    2026-03-20: the reversal lands a month after the payment it reverses (R05, March)."""
    tables = small_tables()
    remits = tables["remittances"].copy()
    remits.loc[remits["remit_id"].isin(["R06", "R07"]), "paid_on"] = pd.Timestamp("2026-04-10")
    tables = {**tables, "remittances": remits}
    return {**tables, "ledger": build_ledger(tables)}


def _two_charge_days():
    """The small practice with a second charge row of C01 (MCR, priced by its CO-45 on 01-20): +50 on 2026-02-03,
    so C01 is charged on two days (the per-date path of net_ar_at)."""
    tables = small_tables()
    ledger = build_ledger(tables)
    extra = ledger[(ledger["claim_id"] == "C01") & (ledger["kind"] == "charge")].copy()
    extra["posted_on"] = pd.Timestamp("2026-02-03")
    extra["amount_cents"] = 5000
    return {**tables, "ledger": pd.concat([ledger, extra], ignore_index=True)}


def test_cohort_counts_by_month_hand_computed(t):
    """First adjudications: January C01 (clean) and C11 (CO-16, denied, billed 500 of 700); February C02 (CO-16,
    denied and replaced, 300); March 2 of 5 clean, C06 and C08 denied (250 + 80 of 580); October 2025 and April
    2026 have none: (0, 0), never a missing month."""
    months = ["2025-10", "2026-01", "2026-02", "2026-03", "2026-04"]
    assert clean_counts(t, months) == {"2025-10": (0, 0), "2026-01": (1, 2), "2026-02": (0, 1), "2026-03": (2, 5),
                                       "2026-04": (0, 0)}
    assert denial_sums(t, months) == {"2025-10": (0, 0, 0, 0), "2026-01": (1, 2, 50000, 70000),
                                      "2026-02": (1, 1, 30000, 30000), "2026-03": (2, 5, 33000, 58000),
                                      "2026-04": (0, 0, 0, 0)}


def test_patient_sums_by_month_hand_computed(t):
    """12-month windows. Assigned by payers' 835s (PR): C01 20 (Jan), C06 30 and C07 16 (Mar), C07's taken back
    by its reversal R06 (Mar, -16). Paid by patients on insured claims: C01 20 (Feb), C12 5 (Mar); C05 is
    self-pay, left out. October 2025: nothing yet."""
    got = patient_sums(t, ["2025-10", "2026-01", "2026-02", "2026-03"], MetricOptions())
    assert got == {"2025-10": (0, 0), "2026-01": (0, 2000), "2026-02": (2000, 2000), "2026-03": (2500, 5000)}
    one_month = patient_sums(t, ["2026-03"], MetricOptions(collection_months=1))
    assert one_month == {"2026-03": (500, 3000)}  # March alone: C12 5 paid; 30 + 16 - 16 assigned


def test_net_ar_of_many_dates_hand_computed(t):
    """January end: only C01 is priced (CO-45 80 of its 200 charge, MCR): MCR's rate and the practice's are 0.4.
    Unpriced insurance balances: C02 BCX 300, C11 BCX 500 (denied, kept in A/R), C03 MCD 150 -> BCX 800, MCD
    150, both at the practice rate (BCX and MCD priced nothing yet): expected 950 x 0.4 = 380.
    March end (test_metrics.test_days_in_ar_net_hfma): MCR 1/3 over C01 and C07, MCD 1/4 over C12; pending MCD
    C03 150 + C08 80, MCR C04 120: expected 230/4 + 120/3 = 97.50."""
    ends = [month_window(m).end for m in ("2026-01", "2026-02", "2026-03")]
    jan, _, mar = net_ar_at(t, ends, MetricOptions(), balances_at(t, ends, MetricOptions()))
    assert jan.pending == (("BCX", 80000), ("MCD", 15000))
    assert jan.rates == {"MCR": pytest.approx(0.4)} and jan.overall == pytest.approx(0.4)
    assert jan.expected() == pytest.approx(38000)
    assert mar.pending == (("MCD", 23000), ("MCR", 12000))
    assert mar.rates["MCR"] == pytest.approx(1 / 3) and mar.rates["MCD"] == pytest.approx(1 / 4)
    assert mar.expected() == pytest.approx(9750)


def _net_reference(tables, as_of: pd.Timestamp):
    """Net A/R's parts at one date straight from the definition, in pandas: what net_ar_at must give."""
    ledger = tables["ledger"]
    posted = ledger[ledger["posted_on"] <= as_of]
    contractual = posted[posted["kind"] == "contractual"].groupby("claim_id")["amount_cents"].sum()
    charges = posted[(posted["kind"] == "charge") & (posted["posted_on"] > as_of - pd.DateOffset(years=1))]
    per_claim = charges.groupby("claim_id").agg(payer=("responsible", "min"), charge=("amount_cents", "sum"))
    per_claim = per_claim.join(contractual.rename("contractual"), how="inner")
    by_payer = per_claim.groupby("payer")[["contractual", "charge"]].sum()
    overall = (-by_payer["contractual"].sum() / by_payer["charge"].sum()) if by_payer["charge"].sum() else 0.0
    priced = by_payer[by_payer["charge"] > 0]
    rates = dict(zip(priced.index, -priced["contractual"] / priced["charge"]))
    bal = ar_balances(tables, as_of)
    bal = bal[(bal["balance_cents"] > 0) & (bal["responsible"] != "patient") & ~bal["claim_id"].isin(contractual.index)]
    pending = tuple((p, int(v)) for p, v in bal.groupby("responsible")["balance_cents"].sum().sort_index().items())
    return pending, rates, overall


@pytest.mark.parametrize("variant", ["small", "later reversal", "two charge days"])
def test_net_ar_of_many_dates_equals_the_definition_at_each(variant):
    tables = prepare({"small": small_tables, "later reversal": _later_reversal,
                      "two charge days": _two_charge_days}[variant]())
    ends = [month_window(m).end for m in MONTHS]
    many = net_ar_at(tables, ends, MetricOptions(), balances_at(tables, ends, MetricOptions()))
    for end, got in zip(ends, many):
        pending, rates, overall = _net_reference(tables, end)
        assert got.pending == pending, (variant, end)
        assert got.rates == pytest.approx(rates) and got.overall == pytest.approx(overall), (variant, end)
    if variant == "two charge days":  # C01's 250 of charges in Feb and Mar: MCR (80 + 20) / (250 + 100) at March end
        assert many[MONTHS.index("2026-03")].rates["MCR"] == pytest.approx(100 / 350)


def test_aged_of_many_dates_equals_each_date_alone(t):
    ends = [month_window(m).end for m in MONTHS]
    many = aged_at(balances_at(t, ends, MetricOptions()), 90, len(ends))
    alone = [ar_aged_pct(balances_frame(t, end, MetricOptions()), 90) for end in ends]
    assert many == alone
    assert many[0] == (0, 0)  # October 2025: nothing billed yet
    assert many[MONTHS.index("2026-03")][1] == 49000  # the month-end gross A/R of test_days_in_ar_gross_3_months


_TREND_OPTIONS = {"default": MetricOptions(),
                  "variant": MetricOptions(denial_policy="at_remit", denial_scope="full", days_in_ar_net_months=12,
                                           collection_months=1)}
#: each fixture under one of the options in the fast tier, all six in `make test`
_TREND_FAST = {("default", "small"), ("variant", "later reversal"), ("default", "two charge days")}


@pytest.mark.parametrize("options_id, variant", [
    pytest.param(o, v, id=f"{o}-{v}", marks=() if (o, v) in _TREND_FAST else pytest.mark.slow)
    for v in ("small", "later reversal", "two charge days") for o in _TREND_OPTIONS])
def test_trend_is_exactly_each_month_alone(options_id, variant):
    """Every KPI of every trend month, to the last bit, against monthly_kpis of that month alone: including the
    months without activity (2025-10 before the first claim, 2026-04 after the last remittance of the small
    practice) and the month a reversal lands in."""
    options = _TREND_OPTIONS[options_id]
    tables = prepare({"small": small_tables, "later reversal": _later_reversal,
                      "two charge days": _two_charge_days}[variant](), options)
    trend = kpi_trend(tables, MONTHS[-1], months=len(MONTHS), options=options).set_index("month")
    assert list(trend.index) == MONTHS
    for m in MONTHS:
        for key, kpi in monthly_kpis(tables, m, options).items():
            got = trend.loc[m, key]
            assert (kpi.value is None and pd.isna(got)) or got == kpi.value, (variant, m, key, got, kpi.value)


def test_reversal_in_a_later_month_moves_the_payment_out_of_march():
    """With C07's reversal and corrected payment in April: March payments lose R07's 80 and R06's -64 (the
    small practice's March payments are 483.00: test_collections_march), April's are 80 - 64 = 16.00, and C07's
    first adjudication stays R05 in March (March cohort unchanged: 2 of 5 clean)."""
    tables = prepare(_later_reversal())
    trend = kpi_trend(tables, "2026-04", months=2).set_index("month")
    base = monthly_kpis(prepare(small_tables()), "2026-03")
    assert trend.loc["2026-03", "payments"] == pytest.approx(base["payments"].value - 80 + 64)
    assert trend.loc["2026-04", "payments"] == pytest.approx(16.00)
    assert trend.loc["2026-03", "clean_claim_rate"] == pytest.approx(2 / 5)


def test_forgetting_the_intermediates_keeps_the_numbers_and_the_collected_tables():
    """Before the forecast the report model drops the memo's intermediates too (issue #15: memory at 10 M lines):
    first adjudications, balances and the claims' dates go, the collected tables (as_pandas) stay the same object,
    and the KPIs computed again are the same."""
    from rcmkit.metrics import as_pandas

    tables = prepare(small_tables())
    before = monthly_kpis(tables, "2026-03")
    pt = as_pandas(tables)
    assert ("first_adjudications", "any") in tables._memo and "claim_dates" in tables._memo
    tables.forget_intermediates()
    left = set(tables._memo)
    assert left <= {"pandas"} and as_pandas(tables) is pt  # no lazy copy, no intermediate; the collected stay
    assert monthly_kpis(tables, "2026-03") == before
    k = before["initial_denial_rate"]
    assert (k.numerator, k.denominator) == (2, 5)  # test_metrics: March's first adjudications, by hand


def test_forgetting_the_engine_copies_keeps_the_numbers():
    """The report model drops the Polars copies of prepared tables before the forecast (issue #15: memory): the
    copies go, the intermediates stay, and a query afterwards converts again and gives the same KPIs."""
    tables = prepare(small_tables())
    before = monthly_kpis(tables, "2026-03")
    copies = [k for k in tables._memo if isinstance(k, tuple) and k[0] == "lazy"]
    assert ("lazy", "ledger") in copies and ("lazy", "claims") in copies
    tables.forget_engine_copies()
    assert not [k for k in tables._memo if isinstance(k, tuple) and k[0] == "lazy"]
    assert "remit_flags" in tables._memo  # an intermediate computed from the copies stays
    assert monthly_kpis(tables, "2026-03") == before
    assert before["days_in_ar_net"].numerator == 392.50  # test_metrics.test_days_in_ar_net_hfma
