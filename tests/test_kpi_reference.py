"""The hand-written DuckDB SQL reference (benchmarks/kpi_reference.py) equals rcmkit's pandas metrics to the cent.

The SQL reference is the yardstick of benchmarks/kpi_scale.py; this proves it computes the same suite: every KPI's
numerator, denominator and value, aging buckets per payer, reimbursement cells and denial reasons, on a small demo
practice stored the way rcmkit stores one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rcmkit import demo, metrics

from rcmkit.core import store
from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import (
    MetricOptions, ar_aging, ar_balances, denial_reasons, last_full_month, monthly_kpis, reimbursement_by_payer_code,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from kpi_reference import TABLES, compare_suites, normalize_suite, reference_suite  # noqa: E402

#: 1,500-claim demo practices against the hand-written SQL: the slow tier
pytestmark = pytest.mark.slow

MID_MONTH = "2026-05"  # its month end has a credit balance; its 3-month window has reversals


@pytest.fixture(scope="module")
def practice(tmp_path_factory):
    """A 1,500-claim demo practice (seed 7) saved with its ledger; returns (root, loaded tables)."""
    root = tmp_path_factory.mktemp("kpi_reference")
    tables = demo.generate(seed=7, n_claims=1500)
    tables["ledger"] = build_ledger(tables)
    store.save_tables(root, "ref", tables)
    return root, store.load_tables(root, "ref", TABLES)


def _pandas_suite(tables, month, options):
    return {
        "kpis": monthly_kpis(tables, month, options),
        "aging": ar_aging(tables, month, options, by="payer"),
        "reimbursement": reimbursement_by_payer_code(tables, month, options),
        "denial_reasons": denial_reasons(tables, month, options, top=None),
    }


def test_the_demo_exercises_the_subtle_paths(practice):
    """The data holds what the SQL must get right: reversals, replacements and voids, duplicates (OA-18), denials,
    credit balances, suppressed and shown reimbursement cells, and remit lines without an allowed amount."""
    root, t = practice
    remits = t["remittances"]
    assert {"22", "4"} <= set(remits["status_code"])
    in_window = remits["paid_on"].between("2026-03-01", "2026-05-31")
    assert (remits.loc[in_window, "status_code"] == "22").any()
    assert {"7", "8"} <= set(t["claims"]["frequency_code"])
    assert ((t["adjustments"]["group_code"] == "OA") & (t["adjustments"]["reason_code"] == "18")).any()
    assert (ar_balances(t, "2026-05-31")["balance_cents"] < 0).any()
    cells = reimbursement_by_payer_code(t, MID_MONTH)
    assert cells["suppressed"].any() and not cells["suppressed"].all()
    assert len(denial_reasons(t, MID_MONTH, top=None)) > 0
    assert t["remit_lines"]["allowed_cents"].isna().any()


@pytest.mark.parametrize("month", [MID_MONTH, "last_full"])
def test_sql_reference_equals_pandas_to_the_cent(practice, month):
    root, tables = practice
    month = last_full_month(tables) if month == "last_full" else month
    options = MetricOptions()
    expected = _pandas_suite(tables, month, options)
    actual = reference_suite(root, "ref", month, options)
    assert compare_suites(expected, actual) == []
    # Money to the cent, counts exactly: every KPI numerator and denominator is identical, not merely close.
    for key, kpi in expected["kpis"].items():
        got = actual["kpis"][key]
        assert (kpi.numerator, kpi.denominator) == (got["numerator"], got["denominator"]), key
    e, a = normalize_suite(expected), normalize_suite(actual)
    assert e["aging"]["balance_cents"].sum() == a["aging"]["balance_cents"].sum() == round(
        expected["kpis"]["ar_total"].numerator * 100)
    assert len(a["reimbursement"]) and len(a["aging"]) == 5 * a["aging"]["payer_id"].nunique()
    # The one-call suite the benchmark times (rcmkit.metrics.kpi_suite) gives the same numbers.
    assert compare_suites(metrics.kpi_suite(tables, month, options), actual) == []


def test_sql_reference_follows_the_option_variants(practice):
    """The variants change the same numbers the same way: 12-month days in A/R, HFMA 12-month net days, aging from
    the bill date, 90 days, full denials only, 3-month collections, 12-month reimbursement, small-cell threshold."""
    root, tables = practice
    options = MetricOptions(days_in_ar="gross_12m", days_in_ar_net_months=12, aging_basis="submission_date",
                            aged_over_days=90, denial_scope="full", collection_months=3, reimbursement_months=12,
                            min_cell_count=2)
    expected = _pandas_suite(tables, MID_MONTH, options)
    actual = reference_suite(root, "ref", MID_MONTH, options)
    assert "ar_over_90_pct" in actual["kpis"]
    assert compare_suites(expected, actual) == []


@pytest.fixture(scope="module")
def odd_practice(tmp_path_factory):
    """The demo with what it never generates: claims known only from their 835 (no 837 row: aged from their first
    posting, counted as originals), the 4010 group CR, lower-case group codes and a CARC the crosswalk does not
    know (a denial in category Other). Returns (root, loaded tables, the claim_ids without an 837 row)."""
    root = tmp_path_factory.mktemp("kpi_reference_odd")
    tables = demo.generate(seed=11, n_claims=1500)
    claims, adj = tables["claims"], tables["adjustments"].copy()
    paid = tables["remittances"].loc[tables["remittances"]["paid_on"] >= "2026-04-01", "claim_id"]
    no_837 = set(paid.drop_duplicates().head(40))
    tables["claims"] = claims[~claims["claim_id"].isin(no_837)]
    co = adj.index[adj["group_code"] == "CO"]
    adj.loc[co[::7], "group_code"] = "CR"
    adj.loc[co[3::11], "group_code"] = "co"
    adj.loc[adj.index[adj["reason_code"] == "16"][::2], "reason_code"] = "ZZ9"
    tables["adjustments"] = adj
    tables["ledger"] = build_ledger(tables)
    store.save_tables(root, "odd", tables)
    return root, store.load_tables(root, "odd", TABLES), no_837


def test_sql_reference_equals_pandas_on_odd_data(odd_practice):
    root, tables, no_837 = odd_practice
    # April: open balances of claims without an 837 row (aged from their first posting).
    open_ = ar_balances(tables, "2026-04-30")
    assert (open_["claim_id"].isin(no_837) & (open_["balance_cents"] > 0)).any()
    expected = _pandas_suite(tables, "2026-04", MetricOptions())
    assert compare_suites(expected, reference_suite(root, "odd", "2026-04")) == []
    # August: denial reasons under CR, 'co' and an unknown CARC.
    actual = reference_suite(root, "odd", "2026-08")
    reasons = actual["denial_reasons"]
    assert {"CR", "co"} <= set(reasons["group_code"]) and (reasons["category"] == "Other").any()
    assert compare_suites(_pandas_suite(tables, "2026-08", MetricOptions()), actual) == []


def test_sql_reference_refuses_the_at_remit_policy(practice):
    root, _ = practice
    with pytest.raises(NotImplementedError):
        reference_suite(root, "ref", MID_MONTH, MetricOptions(denial_policy="at_remit"))
