"""Every metric on the hand-made practice of tests/small_practice.py, with the arithmetic done by hand here.

Open balances at 2026-03-31 (ledger sums per claim and responsible party):
  C03 MCD 150.00 (DOS 2025-11-20, 131 days: 120+)      C04 MCR 120.00 (DOS 03-25, 6 days: 0-30)
  C05 patient 60.00 (self-pay 100 - 40; 58 days)        C06 BCX 50.00 (CO-97 denial stays in A/R; 49 days)
  C06 patient 30.00 (PR-3 copay; 49 days)               C08 MCD 80.00 (CO-197 denial stays; 28 days)
  C12 patient -5.00 (overpayment: a credit balance, excluded)
  every other claim nets to zero (C07's reversal and correction included; C10 voided; C11 written off).
  Gross A/R = 150 + 120 + 60 + 50 + 30 + 80 = 490.00
Charges posted 2026-01-01..03-31: C01 200, C02 300, C05 100, C06 250, C07 100, C04 120, C08 80, C09 90 (once,
  the duplicate posts nothing), C12 60, C10 100 - 100 (void) = 1,300.00 over 90 days.
"""

from __future__ import annotations

import dataclasses

import narwhals as nw
import pandas as pd
import pytest

from rcmkit.core import engine
from rcmkit.core.ledger import build_ledger
from rcmkit.core.refdata import classify_adjustments
from rcmkit.metrics import (
    AGING_BUCKETS, MetricOptions, ar_aging, ar_balances, days_in_ar, days_in_ar_net, definitions_used,
    denial_reasons, first_adjudications, kpi_trend, last_full_month, latest_event, monthly_kpis,
    reimbursement_by_payer_code,
)

from small_practice import tables as small_tables

MONTH = "2026-03"


@pytest.fixture(scope="module")
def t():
    return small_tables()


def test_days_in_ar_gross_3_months(t):
    kpi = days_in_ar(t, MONTH)
    assert kpi.numerator == 490.00
    assert kpi.denominator == pytest.approx(1300 / 90)
    assert kpi.value == pytest.approx(490 * 90 / 1300)  # 33.923 days
    assert "90 days" in kpi.definition


def test_days_in_ar_mgma_12_months(t):
    """12 months 2025-04-01..2026-03-31 (365 days): 1,300 + C03 150 (Nov) + C11 500 (Dec) = 1,950."""
    kpi = days_in_ar(t, MONTH, MetricOptions(days_in_ar="gross_12m"))
    assert kpi.value == pytest.approx(490 * 365 / 1950)


def test_days_in_ar_net_hfma(t):
    """Net revenue = 1,300 - contractuals (C01 80, C02 120, C06 50, C07 20 - 20 + 20, C09 30, C12 15 = 315) = 985.

    Insurance balances the payer has not priced (no contractual posted) are netted at their payer's rate over
    the claims it priced in the trailing year:
    MCR: (80 + 20) / (200 + 100) = 1/3 -> C04 120 * 2/3 = 80.
    MCD: only C12 priced, 15/60 = 1/4 -> C03 150 * 3/4 = 112.50 and C08 (denied, unpriced) 80 * 3/4 = 60.
    C06's BCX 50 is priced (CO-45 posted) and patient balances are net: 60 + 50 + 30.
    Net A/R = 80 + 112.50 + 60 + 60 + 50 + 30 = 392.50 -> 392.50 / (985 / 90) days.
    """
    kpi = days_in_ar_net(t, MONTH)
    assert kpi.numerator == 392.50
    assert kpi.denominator == pytest.approx(985 / 90)
    assert kpi.value == pytest.approx(392.5 * 90 / 985)  # 35.863 days


def test_aging_by_payer_and_responsible(t):
    aging = ar_aging(t, MONTH).set_index(["payer_id", "bucket"])["balance_cents"]
    assert aging[("MCD", "120+")] == 15000
    assert aging[("MCD", "0-30")] == 8000
    assert aging[("MCR", "0-30")] == 12000
    assert aging[("BCX", "31-60")] == 5000
    assert aging[("patient", "31-60")] == 9000  # C05 60 + C06 30; C12's -5 credit is not A/R
    assert aging.sum() == 49000
    assert set(ar_aging(t, MONTH)["bucket"].astype(str)) == set(AGING_BUCKETS)
    split = ar_aging(t, MONTH, by="responsible").groupby("responsible")["balance_cents"].sum()
    assert split.to_dict() == {"insurance": 40000, "patient": 9000}


def test_aging_from_bill_date_variant(t):
    """From the first bill date C03 is 2025-11-21 -> 130 days, still 120+; C05 billed 02-02 -> 57 days."""
    bal = ar_balances(t, "2026-03-31", MetricOptions(aging_basis="submission_date")).set_index(
        ["claim_id", "responsible"])
    assert bal.loc[("C03", "MCD"), "age_days"] == 130
    assert bal.loc[("C05", "patient"), "age_days"] == 57


def test_credit_balance_is_returned_but_not_counted(t):
    bal = ar_balances(t, "2026-03-31").set_index(["claim_id", "responsible"])["balance_cents"]
    assert bal[("C12", "patient")] == -500
    assert monthly_kpis(t, MONTH)["ar_total"].value == 490.00


def test_first_adjudication_skips_duplicates_and_reversals(t):
    first = first_adjudications(t).set_index("claim_id")
    assert first.loc["C09", "remit_id"] == "R09"  # R10 (OA-18, earlier) is a duplicate rejection
    assert first.loc["C07", "remit_id"] == "R05"  # not the reversal R06
    assert first.loc["C02", "remit_id"] == "R02"  # the denial, not the paid resubmission
    assert "C03" not in first.index  # never adjudicated


def test_first_adjudications_of_a_month(t):
    """``month=``: the claims first adjudicated in it (test_clean_claim_and_denial_rates_march and
    test_rates_in_other_months list them), in claim_id order."""
    march = first_adjudications(t, month=MONTH)
    assert march["claim_id"].tolist() == ["C06", "C07", "C08", "C09", "C12"]
    assert march["remit_id"].tolist() == ["R04", "R05", "R08", "R09", "R12"]
    assert set(march["month"]) == {MONTH} and march["denied"].tolist() == [True, False, True, False, False]
    assert first_adjudications(t, month="2026-01")["claim_id"].tolist() == ["C01", "C11"]
    assert first_adjudications(t, month="2026-02")["claim_id"].tolist() == ["C02"]
    assert first_adjudications(t, month="2025-10").empty


def test_adjustments_classified_through_the_crosswalk(t):
    """The one CARC classification (rcmkit.core.refdata.classify_adjustments) on the tables' own engine: the
    small practice's 18 adjustments carry 8 (group, code) pairs, each looked up in rcmkit/data/carc_crosswalk.csv:
    CO-45 contractual (*,45); PR-1/2/3 patient (PR,*); CO-16, CO-97, CO-197 denials (*,16 / *,97 / *,197);
    OA-18 the duplicate-claim rejection (OA,18)."""
    adj = t["adjustments"]
    out = classify_adjustments(adj)
    assert engine.engine_of(out) == engine.engine_of(adj)  # pandas stays pandas, DuckDB stays DuckDB
    rows = engine.collect(engine.lazy(out))
    assert len(rows) == 18
    pairs = rows[["group_code", "reason_code", "treatment", "category"]].drop_duplicates()
    assert sorted(map(tuple, pairs.values.tolist())) == [
        ("CO", "16", "denial", "Missing information"),
        ("CO", "197", "denial", "Authorization / referral"),
        ("CO", "45", "contractual", "Contractual"),
        ("CO", "97", "denial", "Bundling / NCCI"),
        ("OA", "18", "duplicate", "Duplicate"),
        ("PR", "1", "patient", "Patient responsibility"),
        ("PR", "2", "patient", "Patient responsibility"),
        ("PR", "3", "patient", "Patient responsibility"),
    ]
    assert classify_adjustments(out) is out  # classified already: returned as it is


def test_classification_lookup_order_and_pandas_shape():
    """Exact (group, code) first, then (group, '*'), then ('*', code), else a denial in 'Other'; CR is looked up
    as CO and codes in any case. A pandas frame comes back with its rows, order and index, and is not changed."""
    adj = pd.DataFrame({
        "remit_id": ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"],
        "group_code": ["CR", "co", "PR", "OA", "OA", "PI", "XX", "PR"],
        "reason_code": ["45", "97", "999", "23", "18", "18", "1", "18"],
        "amount_cents": [1, 2, 3, 4, 5, 6, 7, 8],
    }, index=[70, 30, 10, 80, 20, 60, 50, 40])
    before = adj.copy()
    out = classify_adjustments(adj)
    pd.testing.assert_frame_equal(adj, before)
    pd.testing.assert_frame_equal(out[adj.columns], adj)
    assert list(zip(out["treatment"], out["category"])) == [
        ("contractual", "Contractual"),       # CR-45 as CO-45: (*, 45)
        ("denial", "Bundling / NCCI"),        # co-97: (*, 97)
        ("patient", "Patient responsibility"),  # PR-999: (PR, *)
        ("informational", "Prior payer"),     # OA-23: exact
        ("duplicate", "Duplicate"),           # OA-18: exact
        ("duplicate", "Duplicate"),           # PI-18: (*, 18)
        ("denial", "Other"),                  # XX-1: in no row
        ("patient", "Patient responsibility"),  # PR-18: (PR, *) before (*, 18)
    ]
    custom = pd.DataFrame({"group_code": ["*"], "reason_code": ["45"], "treatment": ["denial"],
                           "category": ["Custom"]})
    again = classify_adjustments(out, custom)  # a crosswalk given: classified again, under it
    assert again["category"].tolist() == ["Custom"] + ["Other"] * 7 and list(again.columns) == list(out.columns)
    empty = classify_adjustments(adj.iloc[:0])
    assert empty.empty and {"treatment", "category"} <= set(empty.columns)
    holes = pd.DataFrame({"group_code": ["CO", None, "PR"], "reason_code": [None, "45", "1"]}, dtype="str")
    assert classify_adjustments(holes)["treatment"].tolist() == ["denial", "denial", "patient"]  # no key: Other


def test_clean_claim_and_denial_rates_march(t):
    """March first adjudications: C06 (R04, CO-97 on one line), C07 (R05), C08 (R08, CO-197, nothing paid),
    C09 (R09; it was submitted twice), C12 (R12). Clean: C07, C12 -> 2/5.
    Initial denials (any denial adjustment): C06, C08 -> 2/5; dollars (250 + 80) / (250 + 100 + 80 + 90 + 60).
    Full denials only: C08 -> 1/5, 80/580."""
    k = monthly_kpis(t, MONTH)
    assert (k["clean_claim_rate"].numerator, k["clean_claim_rate"].denominator) == (2, 5)
    assert (k["initial_denial_rate"].numerator, k["initial_denial_rate"].denominator) == (2, 5)
    assert k["initial_denial_rate_dollars"].value == pytest.approx(330 / 580)
    full = monthly_kpis(t, MONTH, MetricOptions(denial_scope="full"))
    assert full["initial_denial_rate"].value == pytest.approx(1 / 5)
    assert full["initial_denial_rate_dollars"].value == pytest.approx(80 / 580)


def test_rates_in_other_months(t):
    """January: C01 clean, C11 denied. February: only C02, denied (and replaced on 02-20)."""
    jan, feb = monthly_kpis(t, "2026-01"), monthly_kpis(t, "2026-02")
    assert jan["clean_claim_rate"].value == 0.5 and jan["initial_denial_rate"].value == 0.5
    assert jan["initial_denial_rate_dollars"].value == pytest.approx(500 / 700)
    assert feb["clean_claim_rate"].value == 0.0 and feb["initial_denial_rate"].value == 1.0


def test_month_without_adjudications_is_undefined_not_zero(t):
    k = monthly_kpis(t, "2025-10")
    assert k["clean_claim_rate"].value is None
    assert k["initial_denial_rate"].value is None
    assert k["days_in_ar"].value is None  # no charges in Aug-Oct 2025
    assert k["ar_total"].value == 0


def test_denial_reasons_march(t):
    reasons = denial_reasons(t, MONTH)
    assert reasons[["category", "group_code", "reason_code", "claims", "denied_cents"]].values.tolist() == [
        ["Authorization / referral", "CO", "197", 1, 8000],
        ["Bundling / NCCI", "CO", "97", 1, 5000],
    ]


def test_collections_march(t):
    """Payments Jan-Mar: insurance 100 + 180 + 120 + 64 - 64 + 80 + 60 + 45 = 585, patients 20 + 40 + 5 = 65.
    Net collection rate (3 months) = 650 / 985. Over the default 12 months (2025-04..2026-03) the charges add
    C03 150 and C11 500 (no payments): 650 / (1,950 - 315). March alone: charges 120 + 80 + 90 + 60 = 350;
    payments 485 + 45 = 530."""
    k = monthly_kpis(t, MONTH)
    assert k["net_collection_rate"].value == pytest.approx(650 / 1635)
    three = monthly_kpis(t, MONTH, MetricOptions(collection_months=3))["net_collection_rate"]
    assert three.value == pytest.approx(650 / 985)
    assert k["charges"].value == 350.00
    assert k["payments"].value == 530.00


def test_reimbursement_by_payer_and_code(t):
    """BCX 99214: R02 (denied, no AMT: allowed = paid + PR = 0), R03 (300/180/180), R04 line 1 (200/120/150):
    2 claims, 3 lines, billed 800, allowed 330, paid 300. MCR 99212: R05 + reversal R06 + R07 nets to one
    line, one unit, billed 100, allowed 80, paid 80. The OA-18 duplicate R10 is left out of BCX 99213."""
    r = reimbursement_by_payer_code(t, MONTH, MetricOptions(min_cell_count=1)).set_index(
        ["payer_id", "procedure_code"])
    bcx = r.loc[("BCX", "99214")]
    assert (bcx["claims"], bcx["lines"], bcx["units"]) == (2, 3, 3.0)
    assert (bcx["billed_cents"], bcx["allowed_cents"], bcx["paid_cents"]) == (80000, 33000, 30000)
    assert bcx["paid_to_allowed"] == pytest.approx(300 / 330)
    assert bcx["paid_per_unit_cents"] == 10000
    mcr = r.loc[("MCR", "99212")]
    assert (mcr["lines"], mcr["units"], mcr["billed_cents"], mcr["allowed_cents"], mcr["paid_cents"]) == (
        1, 1.0, 10000, 8000, 8000)
    assert r.loc[("BCX", "99213"), "billed_cents"] == 9000
    suppressed = reimbursement_by_payer_code(t, MONTH, MetricOptions(min_cell_count=2))
    assert suppressed.loc[suppressed["suppressed"], "paid_cents"].isna().all()
    assert suppressed.loc[~suppressed["suppressed"], "procedure_code"].tolist() == ["99214"]


def test_at_remit_variant_takes_denials_out_of_ar(t):
    """C08's CO-197 (80) and C06's CO-97 (50) leave A/R at once: 490 - 130 = 360. C02's CO-16 credit is taken
    back when R03 pays (else it would show a -300 credit), and C11's practice write-off is not posted twice."""
    opts = MetricOptions(denial_policy="at_remit")
    assert monthly_kpis(t, MONTH, opts)["ar_total"].value == 360.00
    ledger = build_ledger(t, denial_policy="at_remit")
    c02 = ledger[(ledger["claim_id"] == "C02") & (ledger["kind"] == "denial")]
    assert c02["amount_cents"].tolist() == [-30000, 30000]
    assert ledger.loc[ledger["claim_id"] == "C11", "amount_cents"].sum() == 0


def test_point_in_time_ar_equals_truncated_ledger(t):
    """A/R as of a past date from the full ledger equals A/R computed from only the rows posted by then."""
    for as_of in ["2026-01-31", "2026-02-28", "2026-03-15"]:
        cut = dict(t, ledger=t["ledger"][t["ledger"]["posted_on"] <= as_of])
        full = ar_balances(t, as_of)
        assert full.equals(ar_balances(cut, as_of))
    feb = ar_balances(t, "2026-02-28")
    assert feb.loc[feb["balance_cents"] > 0, "balance_cents"].sum() == 140000  # see the trend test below


def test_trend_is_history_not_rebucketed(t):
    """At 2026-02-28: C02 300, C03 150, C05 100, C06 250, C07 100, C11 500 open = 1,400; C01's patient 20 was
    paid 02-10."""
    trend = kpi_trend(t, MONTH, months=3).set_index("month")
    assert trend.loc["2026-02", "ar_total"] == 1400.00
    assert trend.loc["2026-01", "ar_total"] == 970.00  # C01 patient 20, C02 300, C03 150, C11 500
    assert trend.loc["2026-03", "ar_total"] == 490.00
    # the months a caller already has are taken as given (the report hands over its month's suite)
    march = monthly_kpis(t, MONTH)
    again = kpi_trend(t, MONTH, months=3, known={MONTH: march}).set_index("month")
    pd.testing.assert_frame_equal(again, trend)
    marked = {**march, "ar_total": dataclasses.replace(march["ar_total"], value=-1.0)}
    taken = kpi_trend(t, MONTH, months=3, known={MONTH: marked}).set_index("month")
    assert (taken.loc["2026-03", "ar_total"], taken.loc["2026-02", "ar_total"]) == (-1.0, 1400.00)


TREND_VARIANTS = [MetricOptions(), MetricOptions(aging_basis="submission_date", aged_over_days=90,
                                                 days_in_ar="gross_12m", denial_policy="at_remit")]


def _demo_tables():
    from rcmkit import demo

    tables = demo.generate(n_claims=300, seed=5)
    return {**tables, "ledger": build_ledger(tables)}


def test_balances_of_many_dates_equal_each_date_alone(t):
    """balances_at (one pass over the ledger for every date) gives, for each date, exactly the balances of that
    date alone, which are the sums of the ledger rows posted by then (test above): month ends, mid-month days,
    a day before any posting and a day after the last."""
    for options in TREND_VARIANTS:
        _assert_balances_at(t, options, "small")


@pytest.mark.slow
@pytest.mark.parametrize("options", TREND_VARIANTS, ids=["default", "variant"])
def test_balances_of_many_dates_on_a_demo(options):
    """The same on a 300-claim demo, whose reversals close balances that later reopen (two of them)."""
    _assert_balances_at(_demo_tables(), options, "demo300")


def _assert_balances_at(tables, options, practice):
    from rcmkit.metrics.ar import balances_at

    dates = [pd.Timestamp(d) for d in ("2024-12-31", "2025-11-15", "2026-02-01", "2026-02-28", "2026-03-15",
                                       "2026-10-31", "2027-12-31")]
    many = engine.collect(balances_at(tables, dates, options))
    assert set(many.columns) >= {"as_of_index", "claim_id", "responsible", "balance_cents", "age_days", "bucket"}
    key = ["claim_id", "responsible"]
    seen_nonempty = 0
    for i, d in enumerate(dates):
        alone = ar_balances(tables, d, options).reset_index(drop=True)
        got = many[many["as_of_index"] == i].drop(columns="as_of_index").sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got[alone.columns.tolist()], alone, check_dtype=False, check_categorical=False,
                                      obj=f"{practice} {d.date()}")
        # and the balances are the truncated ledger's sums (independent of the one-pass bookkeeping)
        if options.denial_policy == "keep_in_ar":
            ledger = engine.collect(engine.lazy(tables["ledger"]))
            cut = ledger[ledger["posted_on"] <= d]
            sums = cut.groupby(key)["amount_cents"].sum()
            assert dict(zip(zip(got["claim_id"], got["responsible"]), got["balance_cents"])) == \
                {k: v for k, v in sums.items() if v != 0}
        seen_nonempty += len(got) > 0
    assert len(many[many["as_of_index"] == 0]) == 0 and seen_nonempty >= 4
    with pytest.raises(ValueError, match="ascending"):
        balances_at(tables, [dates[1], dates[0]], options)


@pytest.mark.slow  # the fast tier's trend equality: tests/test_trend_parts.py (to the bit, denial variants)
def test_trend_equals_each_month_alone(t):
    """kpi_trend (one pass for the month-end balances of all months) equals monthly_kpis called month by month,
    every KPI of every month from October 2025 (before the first claim: no activity) to April 2026 (after the
    last remittance), under the aging and days-in-A/R variants. tests/test_trend_parts.py checks each many-month
    sum by hand and to the bit, under the denial-policy variants."""
    for options in TREND_VARIANTS:
        _assert_trend_is_each_month(t, "2026-04", options, "small", months=7)


@pytest.mark.slow
@pytest.mark.parametrize("options", TREND_VARIANTS, ids=["default", "variant"])
def test_trend_equals_each_month_alone_on_a_demo(options):
    _assert_trend_is_each_month(_demo_tables(), "2026-10", options, "demo300", months=7)


def _assert_trend_is_each_month(tables, month, options, practice, months=4):
    from rcmkit.metrics.summary import prepare

    tables = prepare(tables, options)  # the ledger under the policy once; each month's balances stay its own
    trend = kpi_trend(tables, month, months=months, options=options).set_index("month")
    assert len(trend) == months
    for m in trend.index:
        alone = monthly_kpis(tables, m, options)
        for key, kpi in alone.items():
            got = trend.loc[m, key]
            if kpi.value is None or pd.isna(got):
                assert kpi.value is None and pd.isna(got), (m, key)
            else:
                assert got == pytest.approx(kpi.value, rel=1e-12, abs=1e-12), (practice, m, key)


def test_prepared_tables_derive_first_adjudications_once(t, monkeypatch):
    """The remittances' flags and each claim's first adjudication are computed once per prepared tables, however
    many KPIs and months read them (the report's trend reads them for every month), and the memo gives the
    hand-computed numbers (March: 2 of 5 clean, 2 of 5 initially denied)."""
    from rcmkit.metrics import denials
    from rcmkit.metrics.summary import kpi_suite, prepare

    from rcmkit.metrics import ar

    calls = {"flags": 0, "first": 0}
    flags, first = denials._remit_flags_frame, denials._first_adjudications_frame
    balances = ar._balances_at

    def counted_balances(*a, **k):
        calls["balances"] = calls.get("balances", 0) + 1
        return balances(*a, **k)

    monkeypatch.setattr(ar, "_balances_at", counted_balances)

    def counted_flags(*a, **k):
        calls["flags"] += 1
        return flags(*a, **k)

    def counted_first(*a, **k):  # every claim's ranking (a lone month's cohort on DuckDB is a query of its own)
        calls["first"] += k.get("month") is None
        return first(*a, **k)

    monkeypatch.setattr(denials, "_remit_flags_frame", counted_flags)
    monkeypatch.setattr(denials, "_first_adjudications_frame", counted_first)
    prepared = prepare(t, MetricOptions())
    suite = kpi_suite(prepared, MONTH)
    kpi_trend(prepared, MONTH, months=3, known={MONTH: suite["kpis"]})
    denial_reasons(prepared, MONTH)
    assert calls.pop("balances") == 2  # the month's end (KPIs, aging), then the trend's other months in one pass
    assert ar_balances(prepared, "2026-03-31")["balance_cents"].clip(lower=0).sum() == 49000  # the memo's
    assert "balances" not in calls
    assert calls == {"flags": 1, "first": 1}
    assert (suite["kpis"]["clean_claim_rate"].numerator, suite["kpis"]["clean_claim_rate"].denominator) == (2, 5)
    assert suite["kpis"]["initial_denial_rate"].numerator == 2
    # another denial scope is another intermediate; new tables start a new memo (trends: every claim's ranking)
    kpi_trend(prepared, MONTH, months=2, options=MetricOptions(denial_scope="full"))
    assert calls.pop("balances") == 1 and calls == {"flags": 1, "first": 2}  # February and March ends: one pass
    kpi_trend(prepare(t, MetricOptions()), MONTH, months=2)
    assert calls == {"flags": 2, "first": 3, "balances": 1}


def test_first_ledger_month(t):
    """The small practice's first ledger row is posted on 2025-11-21 (tests/small_practice.py): November 2025,
    from the ledger or from prepared tables' monthly sums alike; no ledger rows, no month."""
    from rcmkit.metrics import first_ledger_month
    from rcmkit.metrics.summary import prepare

    assert first_ledger_month(t) == "2025-11"
    assert first_ledger_month(prepare(t, MetricOptions())) == "2025-11"
    ledger = engine.collect(engine.lazy(t["ledger"]))
    assert first_ledger_month({"ledger": ledger[ledger["posted_on"] > "2026-01-31"]}) == "2026-02"
    assert first_ledger_month({"ledger": ledger.iloc[:0]}) is None


def test_inputs_are_not_mutated(t):
    before = {k: v.copy(deep=True) for k, v in t.items()}
    monthly_kpis(t, MONTH, MetricOptions(denial_policy="at_remit"))
    reimbursement_by_payer_code(t, MONTH)
    denial_reasons(t, MONTH)
    for k in t:
        pd.testing.assert_frame_equal(t[k], before[k])


def test_last_full_month(t):
    """On the tables' engine (tests/test_backends.py runs it on DuckDB relations too)."""
    assert last_full_month(t) == "2026-03"  # the last event is C12's payment on 2026-03-31
    assert latest_event(t) == pd.Timestamp("2026-03-31")
    cut = {k: v for k, v in t.items() if k in ("claims",)}
    assert last_full_month(cut) == "2026-02"  # last submission Friday 2026-03-27: March's last weekday is the 31st
    claims = engine.lazy(t["claims"])
    friday = {"claims": claims.with_columns(
        submitted_on=engine.date_value(claims, "submitted_on", "2026-10-30")).to_native()}
    assert last_full_month(friday) == "2026-10"  # Saturday 10-31 needs no events for October to be complete
    with pytest.raises(ValueError, match="no dated events"):
        last_full_month({"claims": claims.filter(nw.col("claim_id") == "none").to_native()})


def test_options_are_validated():
    with pytest.raises(ValueError, match="days_in_ar"):
        MetricOptions(days_in_ar="weekly")
    with pytest.raises(ValueError, match=r"unknown metric option\(s\) \['colour'\]"):
        MetricOptions.from_dict({"colour": "red"})


def test_definitions_name_every_kpi_and_the_options():
    defs = definitions_used(MetricOptions(aged_over_days=90))
    assert "A/R over 90 days" in defs["metric"].tolist()
    assert defs["source"].str.len().gt(0).all()
    assert "aged_over_days=90" in defs.iloc[-1]["definition"]
    # computed once per options and month, handed out as a new frame each call: a caller's edit never shows again
    defs.loc[0, "definition"] = "edited"
    again = definitions_used(MetricOptions(aged_over_days=90))
    assert again.loc[0, "definition"] != "edited" and again is not defs
    assert "aged_over_days=120" in definitions_used(MetricOptions(aged_over_days=120)).iloc[-1]["definition"]


def test_metrics_reference_doc_is_current():
    """docs/metrics.md is generated from the metric docstrings; regenerate it when a definition changes."""
    from pathlib import Path

    from rcmkit.metrics.docs import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
    assert doc.read_text(encoding="utf-8") == render(), "run: python -m rcmkit.metrics.docs > docs/metrics.md"


def test_charge_lag_march(t):
    """First submissions in March (originals): C04 2 days, C08 1, C09 1 (its duplicate is not a new claim), C12 1.
    Median 1; p90 by linear interpolation on [1, 1, 1, 2]: position 0.9 * 3 = 2.7 -> 1 + 0.7 * (2 - 1) = 1.7."""
    from rcmkit.metrics import charge_lag

    lag = charge_lag(t, MONTH).iloc[0]
    assert (lag["claims"], lag["median"], lag["p90"]) == (4, 1.0, pytest.approx(1.7))


def test_days_to_pay_by_payer_march(t):
    """First adjudications in March, paid_on - first submission: BCX C06 22 (03-05 - 02-11), C09 17;
    MCD C08 21, C12 14; MCR C07 14. BCX median 19.5, p90 17 + 0.9 * 5 = 21.5; MCD 17.5 and 20.3."""
    from rcmkit.metrics import days_to_pay

    d = days_to_pay(t, MONTH).set_index("payer_id")
    assert d.loc["BCX", ["claims", "median", "p90"]].tolist() == [2, 19.5, pytest.approx(21.5)]
    assert d.loc["MCD", ["median", "p90"]].tolist() == [17.5, pytest.approx(20.3)]
    assert d.loc["MCR", ["claims", "median"]].tolist() == [1, 14.0]


def test_benchmark_status(t):
    """Days in A/R 33.9 <= 40 (AAFP): meeting; A/R over 120 days 30.6% > 25%: missing; charges: no target.
    With the practice's own target of 30 (acceptable 35), 33.9 is near."""
    from rcmkit.metrics import benchmark_status
    from rcmkit.core.refdata import benchmarks

    kpis = monthly_kpis(t, MONTH)
    status = benchmark_status(kpis).set_index("key")["status"]
    assert status["days_in_ar"] == "meeting"
    assert status["ar_over_120_pct"] == "missing"
    assert status["charges"] == "no target"
    own = benchmarks(overrides={"days_in_ar": {"good": 30, "acceptable": 35}})
    assert benchmark_status(kpis, own).set_index("key").loc["days_in_ar", "status"] == "near"
    empty = monthly_kpis(t, "2025-10")
    assert benchmark_status(empty).set_index("key").loc["clean_claim_rate", "status"] == "n/a"


def test_underpayments_against_contract(t):
    """Contract rates (tests/small_practice.py CONTRACTS); lines paid Jan-Mar 2026 (remit line dates = paid dates):
    BCX 99214 R04 (03-05): the 03-01 rate 180 applies, expected min(180, billed 200) = 180, allowed 150 -> 30 short.
    BCX 99214 R03 (03-10): 180 allowed, on contract. R02 is a denial, not an underpayment.
    BCX 99213 R09: no '25' modifier, so the '' row 65 applies; allowed 60 -> 5 short (> max(2% x 65, 1.00)).
    MCR 99212: R05 was reversed (excluded); R07 allowed 80 vs 85 -> 5 short. MCR 99213/36415 on contract.
    MCD 99213 R12: 45 allowed vs 44: paid above contract, not flagged. R10 (duplicate) and denied lines left out."""
    from rcmkit.metrics import underpayment_summary, underpayments

    flagged = underpayments(t, MONTH)
    assert flagged[["remit_id", "procedure_code", "expected_cents", "allowed_cents", "shortfall_cents"]].values.tolist() == [
        ["R04", "99214", 18000, 15000, 3000],
        ["R07", "99212", 8500, 8000, 500],
        ["R09", "99213", 6500, 6000, 500],
    ]
    assert "R05" not in set(flagged["remit_id"])
    assert underpayments(t, MONTH, tolerance_cents=600)["remit_id"].tolist() == ["R04"]
    summary = underpayment_summary(t, MONTH).set_index(["payer_id", "procedure_code"])["shortfall_cents"]
    assert summary.to_dict() == {("BCX", "99214"): 3000, ("BCX", "99213"): 500, ("MCR", "99212"): 500}


def test_work_lists(t):
    """At 2026-03-31. No answer for more than 30 days: only C03 (MCD, billed 2025-11-21: 130 days; C04 waits 4).
    Timely filing, MCD 180 days (data file): C03 DOS 2025-11-20 + 180 = 2026-05-19, 49 days left -> on the list at
    warn_days=60, not at 30; C04 (MCR, 365 days) has until 2027-03-25. A per-payer override of 120 days puts C03
    past its deadline (2026-03-20: -11). Denied and not resubmitted: C08 (CO-197, 80.00), then C06 (CO-97 line,
    50.00 open); C02 was resubmitted and paid, C11 written off."""
    from rcmkit.metrics import denied_not_resubmitted, no_response, timely_filing_risk

    assert no_response(t, MONTH)[["claim_id", "payer_id", "days_waiting", "balance_cents"]].values.tolist() == [
        ["C03", "MCD", 130, 15000]]
    assert timely_filing_risk(t, MONTH, warn_days=30).empty
    risk = timely_filing_risk(t, MONTH, warn_days=60)
    assert risk[["claim_id", "deadline", "days_left"]].values.tolist() == [["C03", pd.Timestamp("2026-05-19"), 49]]
    assert timely_filing_risk(t, MONTH, limits={"MCD": 120}).iloc[0]["days_left"] == -11
    denied = denied_not_resubmitted(t, MONTH)
    assert denied[["claim_id", "payer_id", "balance_cents"]].values.tolist() == [["C08", "MCD", 8000],
                                                                                 ["C06", "BCX", 5000]]


def test_collections_in_depth(t):
    """Gross collection rate (12 mo): 650 / 1,950. Adjustments Jan-Mar as a share of the 1,300 charges:
    contractual 315 (24.2%), denial write-offs C11 500 (38.5%). March payments by class: commercial R03 180 + R04
    120 + R09 60 = 360; medicare R05 64 - 64 (reversal) + R07 80 = 80; medicaid R12 45; patients 40 + 5 = 45."""
    from rcmkit.metrics import adjustment_shares, gross_collection_rate, payments_by_payer_class

    assert gross_collection_rate(t, MONTH).value == pytest.approx(650 / 1950)
    shares = adjustment_shares(t, MONTH, MetricOptions(collection_months=3)).set_index("kind")
    assert shares["amount_cents"].to_dict() == {"contractual": 31500, "denial": 50000, "other_adjustment": 0}
    assert shares.loc["contractual", "share_of_charges"] == pytest.approx(315 / 1300)
    by_class = payments_by_payer_class(t, MONTH).set_index("payer_class")["payments_cents"]
    assert by_class.to_dict() == {"commercial": 36000, "medicare": 8000, "medicaid": 4500, "patient": 4500}


def test_aging_by_payer_class(t):
    """Medicaid: C03 150 + C08 80; medicare C04 120; commercial C06 50; patients 90."""
    by_class = ar_aging(t, MONTH, by="payer_class").groupby("payer_class")["balance_cents"].sum()
    assert by_class.to_dict() == {"commercial": 5000, "medicaid": 23000, "medicare": 12000, "patient": 9000}


def test_unbilled_charges(t):
    """All four March services were billed in March; if C04 (DOS 03-25, 120.00) had gone out on 04-02, it would
    be March's one unbilled claim out of four (charges 120 of 350)."""
    from rcmkit.metrics import unbilled_charges

    assert unbilled_charges(t, MONTH).iloc[0].to_dict() == {
        "claims": 0, "charge_cents": 0, "month_claims": 4, "month_charge_cents": 35000}
    late = t["claims"].assign(submitted_on=t["claims"]["submitted_on"].where(
        t["claims"]["claim_id"] != "C04", pd.Timestamp("2026-04-02")))
    assert unbilled_charges(dict(t, claims=late), MONTH).iloc[0][["claims", "charge_cents"]].tolist() == [1, 12000]


def test_denial_rates_by_payer_and_code(t):
    """March cohort. By payer: BCX C06 (250, denied) + C09 (90); MCD C08 (80, denied) + C12 (60); MCR C07.
    By code, line level: 81002 (C06 line 2, CO-97) denied; 99214 (C06 line 1) not; 99212 C07 + C08 (CO-197 on its
    line) -> 1 of 2, 80 of 180 billed; 99213 C09 + C12, none."""
    from rcmkit.metrics import denial_rates_by

    payer = denial_rates_by(t, MONTH).set_index("payer")
    assert payer.loc["BCX", ["claims", "denied", "billed_cents", "denied_billed_cents"]].tolist() == [2, 1, 34000, 25000]
    assert payer["denied"].sum() == monthly_kpis(t, MONTH)["initial_denial_rate"].numerator
    code = denial_rates_by(t, MONTH, by="procedure_code").set_index("procedure_code")
    assert code.loc["99212", ["claims", "denied", "billed_cents", "denied_billed_cents"]].tolist() == [2, 1, 18000, 8000]
    assert code.loc["81002", "rate"] == 1.0 and code.loc["99214", "denied"] == 0 and code.loc["99213", "denied"] == 0


def test_denial_outcomes(t):
    """January's denial C11 was written off (03-15); February's C02 was overturned: R03 paid 180 on resubmission;
    March's C06 and C08 are still open. As of 2026-03-01 C02 was still open."""
    from rcmkit.metrics import denial_outcomes

    def table(month, as_of=None):
        return denial_outcomes(t, month, as_of=as_of).set_index("outcome")[["claims", "recovered_cents"]]

    assert table("2026-01").loc["written off"].tolist() == [1, 0]
    assert table("2026-02").loc["overturned"].tolist() == [1, 18000]
    assert table("2026-02", "2026-03-01").loc["still open"].tolist() == [1, 0]
    assert table("2026-03").loc["still open", "claims"] == 2


def test_claim_paid_in_two_partial_payments():
    """One 100.00 claim (MCR, DOS 2026-01-05, billed 01-06) paid 30.00 on 01-20 and 50.00 on 02-10 (CO-45 20.00
    with the second): A/R 70.00 at January's end and 0 at February's; the first payment is its first adjudication;
    February's payments are 50.00."""
    from small_practice import one_claim_tables

    t = one_claim_tables(payments=[("2026-01-20", 30, []), ("2026-02-10", 50, [("CO", "45", 20)])])
    assert monthly_kpis(t, "2026-01")["ar_total"].value == 70.00
    assert monthly_kpis(t, "2026-02")["ar_total"].value == 0
    assert first_adjudications(t)["paid_on"].tolist() == [pd.Timestamp("2026-01-20")]
    assert monthly_kpis(t, "2026-02")["payments"].value == 50.00


def test_variant_ledger_is_built_once_per_kpi_set(t, monkeypatch):
    """Under at_remit, monthly_kpis builds the variant ledger once and every metric reuses it."""
    import rcmkit.metrics._common as common

    calls = []
    real = common.build_ledger
    monkeypatch.setattr(common, "build_ledger", lambda *a, **k: calls.append(1) or real(*a, **k))
    monthly_kpis(t, MONTH, MetricOptions(denial_policy="at_remit"))
    assert len(calls) == 1
