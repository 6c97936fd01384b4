"""rcmkit.metrics.payers on the hand-made small practice (tests/small_practice.py), every number worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rcmkit.metrics import MetricOptions, ar_balances, ar_total, charges, payments
from rcmkit.metrics.payers import SCORECARD_DEFINITIONS, open_denials, payer_scorecard
from small_practice import tables as small_tables


@pytest.fixture(scope="module")
def t():
    return small_tables()


def _rows(frame: pd.DataFrame) -> dict[str, dict]:
    return {r["payer_id"]: r for r in frame.to_dict("records")}


def test_scorecard_march_by_hand(t):
    sc = payer_scorecard(t, "2026-03")
    # Insurers by open A/R (largest first), the patient last.
    assert list(sc["payer_id"]) == ["MCD", "MCR", "BCX", "patient"]
    rows = _rows(sc)
    # Charges posted in March: C04 MCR 120 (03-27); C08 MCD 80 (03-04) + C12 MCD 60 (03-16); C09 BCX 90 (03-11,
    # its duplicate of 03-12 posts nothing); no self-pay claim in March.
    assert {k: r["charges_cents"] for k, r in rows.items()} == {"MCD": 14000, "MCR": 12000, "BCX": 9000, "patient": 0}
    # Payments in March: BCX R03 180 + R04 120 + R09 60 = 360; MCR R05 64 - R06 64 (reversal) + R07 80 = 80;
    # MCD R12 45; patient C05 40 (03-01) + C12 5 (03-31) = 45.
    assert {k: r["payments_cents"] for k, r in rows.items()} == {"MCD": 4500, "MCR": 8000, "BCX": 36000, "patient": 4500}
    # First adjudications in March: BCX C06 (R04, CO-97 denial) and C09 (R09; R10 is an OA-18 duplicate, not an
    # adjudication); MCR C07 (R05); MCD C08 (R08, CO-197 denial) and C12 (R12).
    assert {k: (r["claims_adjudicated"], r["claims_denied"]) for k, r in rows.items()} == {
        "MCD": (2, 1), "MCR": (1, 0), "BCX": (2, 1), "patient": (0, 0)}
    assert rows["MCD"]["denial_rate"] == 0.5 and rows["MCR"]["denial_rate"] == 0.0 and rows["BCX"]["denial_rate"] == 0.5
    assert math.isnan(rows["patient"]["denial_rate"])
    # Days to pay (first adjudication - first submission): BCX C06 03-05 - 02-11 = 22, C09 03-28 - 03-11 = 17 ->
    # median 19.5; MCR C07 03-02 - 02-16 = 14; MCD C08 03-25 - 03-04 = 21, C12 03-30 - 03-16 = 14 -> 17.5.
    assert (rows["BCX"]["median_days_to_pay"], rows["MCR"]["median_days_to_pay"],
            rows["MCD"]["median_days_to_pay"]) == (19.5, 14.0, 17.5)
    # Open A/R at 03-31: MCD C03 150 (131 days old) + C08 80 = 230; MCR C04 120; BCX C06 line 2 (CO-97, kept in
    # A/R) 50; patient C05 60 + C06's PR-3 30 = 90 (C12's 5 credit balance is excluded).
    assert {k: r["open_ar_cents"] for k, r in rows.items()} == {"MCD": 23000, "MCR": 12000, "BCX": 5000, "patient": 9000}
    assert {k: r["ar_over_cents"] for k, r in rows.items()} == {"MCD": 15000, "MCR": 0, "BCX": 0, "patient": 0}
    assert rows["MCD"]["ar_over_pct"] == pytest.approx(150 / 230)
    assert rows["patient"]["payer_name"] == "Patient"
    assert set(SCORECARD_DEFINITIONS) <= set(sc.columns)


def test_scorecard_adds_up_to_the_practice_kpis(t):
    for month in ("2026-01", "2026-02", "2026-03"):
        sc = payer_scorecard(t, month)
        assert sc["charges_cents"].sum() == round(charges(t, month).value * 100)
        assert sc["payments_cents"].sum() == round(payments(t, month).value * 100)
        end = pd.Period(month, freq="M").end_time.normalize()
        assert sc["open_ar_cents"].sum() == ar_total(ar_balances(t, end))


def test_scorecard_february_and_the_90_day_option(t):
    rows = _rows(payer_scorecard(t, "2026-02"))
    # BCX: C02's first adjudication R02 (02-15, CO-16) is a denial, 34 days after its 01-12 submission.
    assert (rows["BCX"]["claims_adjudicated"], rows["BCX"]["claims_denied"], rows["BCX"]["median_days_to_pay"]) == (1, 1, 34.0)
    # Open at 02-28: BCX C02 300 (denied, kept in A/R) + C06 250 + C11 500; MCD C03 150 (100 days: not over 120).
    assert rows["BCX"]["open_ar_cents"] == 105000 and rows["MCD"]["ar_over_cents"] == 0
    rows90 = _rows(payer_scorecard(t, "2026-02", MetricOptions(aged_over_days=90)))
    assert rows90["MCD"]["ar_over_cents"] == 15000  # 100 days > 90


def test_open_denials_by_hand(t):
    # March: C06 (BCX, CO-97 on R04, never resubmitted, 50 open) and C08 (MCD, CO-197, 80 open). C02 was
    # resubmitted (02-20) after its denial and then paid; C11 was written off on 03-15.
    march = open_denials(t, "2026-03")
    assert march.to_dict("records") == [
        {"category": "Authorization / referral", "claims": 1, "balance_cents": 8000},
        {"category": "Bundling / NCCI", "claims": 1, "balance_cents": 5000},
    ]
    per_claim = open_denials(t, "2026-03", by=None)
    assert per_claim.set_index("claim_id")["payer_id"].to_dict() == {"C08": "MCD", "C06": "BCX"}
    by_payer = open_denials(t, "2026-03", by="payer")
    assert list(zip(by_payer["payer_id"], by_payer["balance_cents"])) == [("MCD", 8000), ("BCX", 5000)]
    # February: C11 (CO-16 on R11, 500) is still open; C02's replacement of 02-20 follows its 02-15 denial.
    assert open_denials(t, "2026-02").to_dict("records") == [
        {"category": "Missing information", "claims": 1, "balance_cents": 50000}]
    with pytest.raises(ValueError, match="by must be"):
        open_denials(t, "2026-03", by="provider")


def test_payer_metrics_do_not_mutate_their_inputs(t):
    before = {k: v.copy() for k, v in t.items()}
    payer_scorecard(t, "2026-03")
    open_denials(t, "2026-03")
    for name, frame in t.items():
        pd.testing.assert_frame_equal(frame, before[name])
