"""The KPI registry: each headline KPI declared once, and everything that lists KPIs derives from it (issue #14).

The patient collection rate was added the registry's way: one function (rcmkit.metrics.collections), one
KpiSpec, and the hand-computed test below.
"""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from rcmkit.core import engine

from rcmkit.core import store
from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import KPI, MetricOptions, monthly_kpis, patient_collection_rate, registry
from rcmkit.metrics.docs import FAMILIES, family_functions, render
from small_practice import tables as small_tables

MONTH = "2026-03"


@pytest.fixture(scope="module")
def small():
    return small_tables()


@pytest.mark.parametrize("backend", ["pandas", "duckdb"])
def test_patient_collection_rate_by_hand(small, tmp_path_factory, backend):
    """Patient responsibility assigned on 835s in the 12 months to March 2026: C01 PR-2 $20 (Jan), C06 PR-1 $30
    (Mar), C07 PR-3 $16 (Mar) and its reversal -$16 (Mar) = $50. Patients paid on insured claims: C01 $20 (Feb)
    and C12 $5 (Mar) = $25; C05's $40 is a self-pay claim's (no 835 assignment) and is left out. 25 / 50 = 50%.
    By February's end: $20 paid of $20 assigned = 100%."""
    root = tmp_path_factory.mktemp(backend)
    store.save_tables(root, "small", {**small, "ledger": build_ledger(small)})
    t = engine.open_tables(root, "small", backend)
    kpi = patient_collection_rate(t, MONTH)
    assert (kpi.numerator, kpi.denominator, kpi.value) == (25.00, 50.00, 0.5)
    assert patient_collection_rate(t, "2026-02").value == 1.0
    assert patient_collection_rate(t, MONTH, MetricOptions(collection_months=1)).denominator == 30.00  # March only
    assert "MGMA" in kpi.source and "insured claims" in kpi.definition


def test_monthly_kpis_are_the_registry_in_its_order(small):
    for n in (90, 120):
        options = MetricOptions(aged_over_days=n)
        assert list(monthly_kpis(small, MONTH, options)) == registry.headline_keys(options)
    assert "patient_collection_rate" in registry.headline_keys()


def test_every_list_of_kpis_derives_from_the_registry():
    from rcmkit.explorer.views import FLOW_KEYS
    from rcmkit.report.portfolio import HEADLINE_KPIS
    from rcmkit.present.tiles import BETTER

    assert HEADLINE_KPIS == registry.portfolio_keys()
    assert FLOW_KEYS == registry.explorer_keys("flow")
    for s in registry.KPIS:
        for n in (90, 120):
            assert BETTER[s.key_for(MetricOptions(aged_over_days=n))] == s.better
    documented = {fn for title, _, functions in FAMILIES for fn in family_functions(title, functions)}
    assert {s.family for s in registry.KPIS} <= {title for title, _, _ in FAMILIES}  # every KPI has its section
    text = render()
    assert all(f"| `{s.key}` | {s.label} |" in text for s in registry.KPIS)
    assert all(s.function in documented for s in registry.KPIS if s.function is not None)


def test_benchmark_directions_agree_with_the_registry():
    with resources.files("rcmkit").joinpath("data/benchmarks.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        spec = registry.spec(row["kpi"])
        assert {"lower": -1, "higher": 1}[row["direction"]] == spec.better, row["kpi"]


def test_a_function_that_drifts_from_its_entry_fails_loudly(small):
    wrong = registry.KpiSpec("charges", "Charges", "pct", 0, "Collections",
                             lambda c: KPI("charges", "Charges", 1.0, "usd", 1.0, None, "", ""))
    with pytest.raises(AssertionError, match="does not match its registry entry"):
        registry.compute(registry.MonthContext(small, MONTH, MetricOptions()), (wrong,))
    with pytest.raises(KeyError, match="unknown KPI"):
        registry.spec("days_in_arr")
    assert registry.spec("ar_over_90_pct").better == -1 and registry.better("nonsense") == 0


def test_the_prepared_context_declares_its_ledger_policy(small):
    """No magic keys, no DataFrame.attrs, no options that pretend another policy: a Prepared mapping says which
    policy its ledger was built under, and a plain mapping's ledger is the stored (default-policy) one."""
    import inspect

    import rcmkit.explorer.data as explorer_data
    import rcmkit.explorer.views as explorer_views
    import rcmkit.metrics as metrics_pkg
    from rcmkit.metrics import ledger_for
    from rcmkit.metrics import Prepared, with_tables
    from rcmkit.metrics.summary import prepare

    at_remit = MetricOptions(denial_policy="at_remit")
    p = prepare(small, at_remit)
    assert isinstance(p, Prepared) and p.denial_policy == "at_remit" and p.ledger_months is not None
    assert ledger_for(p, at_remit) is p["ledger"]  # reused, not rebuilt
    # hand-computed A/R (tests/test_metrics.py): $360 under at_remit, $490 by default (the ledger rebuilt)
    assert monthly_kpis(p, MONTH, at_remit)["ar_total"].value == 360.00
    assert monthly_kpis(p, MONTH)["ar_total"].value == 490.00
    assert ledger_for(p, MetricOptions()) is not p["ledger"]
    sliced = with_tables(p, ledger=p["ledger"].iloc[:3])
    assert isinstance(sliced, Prepared) and sliced.denial_policy == "at_remit" and sliced.ledger_months is None
    assert "_ledger_policy" not in p and not any(k.startswith("_") for k in p)
    assert build_ledger(small, denial_policy="at_remit").attrs == {}
    sources = [inspect.getsource(m) for m in (explorer_data, explorer_views)] + [
        inspect.getsource(inspect.getmodule(getattr(metrics_pkg, n))) for n in ("ledger_for", "monthly_kpis", "ar_aging")]
    assert not any('denial_policy="keep_in_ar")' in s or "_ledger_policy" in s or ".attrs" in s for s in sources)


def test_the_methods_section_under_the_at_remit_policy():
    """The definitions a report prints are computed on an empty practice: under at_remit that used to crash
    (an empty ledger variant), so an at_remit report could not run."""
    from rcmkit.metrics import definitions_used

    defs = definitions_used(MetricOptions(denial_policy="at_remit"))
    assert len(defs) == len(registry.headline_keys()) + 1
    assert "denial_policy=at_remit" in defs.iloc[-1]["definition"]
