"""The scrubber's learned edits (issue #17): denial history by payer x code, and the risk model's time split
never sees the future."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit.demo import generate_with_truth
from rcmkit.scrub import risk

D = pd.Timestamp


def _outcomes(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["claim_id", "submission_id", "payer_id", "procedure_code", "modifiers",
                                       "submitted_on", "decided_on", "denied", "carcs"])


def test_denial_history_by_payer_and_code_only_from_the_past():
    o = _outcomes([
        ("A", "A1", "P1", "99213", "", D("2026-01-02"), D("2026-01-20"), True, "CO-16"),
        ("B", "B1", "P1", "99213", "", D("2026-01-03"), D("2026-01-21"), False, ""),
        ("C", "C1", "P1", "99213", "", D("2026-01-04"), D("2026-01-22"), True, "CO-16, CO-4"),
        ("D", "D1", "P1", "99213", "", D("2026-01-05"), D("2026-01-23"), False, ""),
        ("E", "E1", "P1", "99213", "", D("2026-02-01"), D("2026-02-20"), True, "CO-97"),  # after the cutoff
        ("F", "F1", "P2", "99213", "", D("2026-01-05"), pd.NaT, False, ""),  # not adjudicated yet
    ])
    h = risk.denial_history(o, before="2026-02-01").set_index(["payer_id", "procedure_code"])
    # P1 x 99213 before February: 4 lines, 2 denied (A, C) -> 50%; CARCs CO-16 twice, CO-4 once
    assert h.loc[("P1", "99213"), "lines"] == 4 and h.loc[("P1", "99213"), "denied"] == 2
    assert h.loc[("P1", "99213"), "denial_rate"] == 0.5
    assert h.loc[("P1", "99213"), "top_carcs"] == "CO-16 (2), CO-4 (1)"
    assert ("P2", "99213") not in h.index
    everything = risk.denial_history(o).set_index(["payer_id", "procedure_code"])
    assert everything.loc[("P1", "99213"), "lines"] == 5 and everything.loc[("P1", "99213"), "denied"] == 3


def test_claim_features_by_hand():
    """Claim X (P1, sent 2026-02-10, lines 99213 and 99214, no modifiers) against the four P1 x 99213 lines decided
    in January (A-D: 2 denied). By hand, smoothing with 10 pseudo-lines: the prior (2 + 1) / (4 + 10) = 3/14;
    P1's rate (2 + 10 x 3/14) / 14 = 29/98; P1 x 99213 (2 + 10 x 29/98) / 14 = 243/686, P1 x 99214 (no history)
    29/98; some line denied: 1 - (1 - 243/686)(1 - 29/98) = 36661/67228; with modifiers, 99213
    (2 + 10 x 243/686) / 14 = 3802/9604 is the largest."""
    o = _outcomes([
        ("A", "A1", "P1", "99213", "", D("2026-01-02"), D("2026-01-20"), True, "CO-16"),
        ("B", "B1", "P1", "99213", "", D("2026-01-03"), D("2026-01-21"), False, ""),
        ("C", "C1", "P1", "99213", "", D("2026-01-04"), D("2026-01-22"), True, "CO-16, CO-4"),
        ("D", "D1", "P1", "99213", "", D("2026-01-05"), D("2026-01-23"), False, ""),
        ("E", "E1", "P1", "99213", "", D("2026-02-01"), D("2026-02-20"), True, "CO-97"),  # decided in X's month
    ])
    claims = pd.DataFrame({"submission_id": ["X1"], "claim_id": ["X"], "payer_id": ["P1"],
                           "submitted_on": [D("2026-02-10")], "service_from": [D("2026-02-03")],
                           "total_charge_cents": [30000], "diagnosis_codes": [["I10", "E11.9"]]})
    lines = pd.DataFrame({"submission_id": ["X1", "X1"], "line_number": [1, 2], "procedure_code": ["99213", "99214"],
                          "modifiers": [None, None]})
    f = risk.claim_frame(claims, lines, o).iloc[0]
    assert f["payer_rate"] == pytest.approx(29 / 98, rel=1e-12)
    assert f["pc_rate_any"] == pytest.approx(36661 / 67228, rel=1e-12)
    assert f["pcm_rate_max"] == pytest.approx(3802 / 9604, rel=1e-12)
    assert (f["n_lines"], f["n_dx"], f["lag_days"]) == (2, 2, 7)


def test_the_model_gives_plain_reasons_from_its_features():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({f: rng.random(n) * 0.1 for f in risk.FEATURES})
    frame["rule_npi_invalid"] = (rng.random(n) < 0.1).astype(float)
    y = ((frame["rule_npi_invalid"] == 1) | (rng.random(n) < 0.03)).astype(int).to_numpy()
    model = risk.RiskModel().fit(frame, y)
    p = model.score(frame)
    flagged = frame["rule_npi_invalid"] == 1
    assert p[flagged.to_numpy()].min() > p[~flagged.to_numpy()].max()
    reasons = model.reasons(frame[flagged].head(3))
    assert all(r.startswith("NPI fails its check digit") for r in reasons)
    assert risk.FEATURE_WORDS["rule_dx_not_billable"] == "diagnosis is a header code, not billable"
    with pytest.raises(ValueError, match="one outcome only"):
        risk.RiskModel().fit(frame, np.zeros(n, dtype=int))


@pytest.fixture(scope="module")
def demo_history():
    tables, _ = generate_with_truth(seed=5, n_claims=1200, start="2025-07", end="2026-06")
    return tables, risk.line_outcomes(tables)


def _tamper_after(outcomes: pd.DataFrame, cutoff: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Outcomes decided on or after ``cutoff`` rewritten at random (denials flipped, CARCs and dates changed)."""
    rng = np.random.default_rng(seed)
    late = outcomes["decided_on"] >= cutoff
    out = outcomes.copy()
    flip = late & (rng.random(len(out)) < 0.5)
    out.loc[flip, "denied"] = ~out.loc[flip, "denied"]
    out.loc[late, "carcs"] = "CO-999"
    out.loc[late, "decided_on"] = out.loc[late, "decided_on"] + pd.to_timedelta(rng.integers(0, 30, int(late.sum())),
                                                                                unit="D")
    return out


def _check_no_leakage(tables, outcomes, month: str, seed: int) -> None:
    start = pd.Period(month, "M").start_time
    tampered = _tamper_after(outcomes, start, seed)
    assert not tampered.equals(outcomes)  # the future really changed
    claims, lines = tables["claims"], tables["claim_lines"]
    a = risk.claim_frame(claims, lines, outcomes)
    b = risk.claim_frame(claims, lines, tampered)
    upto = (a["submitted_on"] < (pd.Period(month, "M") + 1).start_time).to_numpy()
    pd.testing.assert_frame_equal(a[upto].reset_index(drop=True), b[upto].reset_index(drop=True))
    ea, eb = risk.evaluate(claims, lines, outcomes, month), risk.evaluate(claims, lines, tampered, month)
    assert ea["train_claims"] == eb["train_claims"] > 100
    np.testing.assert_array_equal(ea["test_submissions"], eb["test_submissions"])
    np.testing.assert_allclose(ea["test_scores"], eb["test_scores"])  # the model for M never saw M or later


def test_the_time_split_does_not_see_the_scored_month_or_later(demo_history):
    tables, outcomes = demo_history
    _check_no_leakage(tables, outcomes, "2026-04", seed=1)


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", 6)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(month=st.sampled_from(["2026-02", "2026-03", "2026-05", "2026-06"]), seed=st.integers(0, 10_000))
def test_no_leakage_property(demo_history, month, seed):
    tables, outcomes = demo_history
    _check_no_leakage(tables, outcomes, month, seed)


def test_line_outcomes_label_the_first_adjudication(demo_history):
    tables, outcomes = demo_history
    # one row per line of each claim's first submission
    first = tables["claims"].sort_values(["claim_id", "submitted_on"]).drop_duplicates("claim_id")
    assert len(outcomes) == tables["claim_lines"]["submission_id"].isin(first["submission_id"]).sum()
    # a claim denied CO-16 on every line has every line denied with CO-16 among its CARCs
    adj = tables["adjustments"]
    co16 = set(adj.loc[(adj["group_code"] == "CO") & (adj["reason_code"] == "16"), "remit_id"])
    remits = tables["remittances"]
    claims16 = set(remits.loc[remits["remit_id"].isin(co16), "claim_id"])
    o16 = outcomes[outcomes["claim_id"].isin(claims16)]
    assert len(o16) and o16["denied"].all() and o16["carcs"].str.contains("CO-16").all()
    # self-pay claims are never adjudicated by an 835
    self_pay = set(tables["claims"].loc[tables["claims"]["payer_id"] == "SELF", "claim_id"])
    assert outcomes.loc[outcomes["claim_id"].isin(self_pay), "decided_on"].isna().all()
