"""The report model (rcmkit.report.model): the hand-made practice's numbers in a MonthlyReport, metrics.json written
from it equal to what the notebook run writes, and a notebook that only renders the model."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import rcmkit.metrics
from rcmkit.metrics import MetricOptions
from rcmkit.metrics import Prepared
from rcmkit.present import format as fmt
from rcmkit.report import build_report, write_metrics
from rcmkit.report import model as model_module
from rcmkit.report.model import TREND_MONTHS, MonthlyReport
from rcmkit.report.record import METRICS_FILE
from rcmkit.report.suite import NO_RESPONSE_DAYS, WARN_DAYS
from rcmkit.core.store import load_tables
from small_practice import tables as small_tables

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "monthly_report.ipynb"
MONTH = "2026-03"


@pytest.fixture(scope="module")
def report(small_report) -> MonthlyReport:
    """The session's small-practice model (tests/conftest.py), built as here."""
    assert (small_report.month, small_report.practice, small_report.practice_name) == (MONTH, "small",
                                                                                        "Small Practice")
    return small_report


# --------------------------------------------------------------------------------------------- the model
def test_small_practice_headline_numbers(report):
    """tests/test_metrics.py's arithmetic: open A/R 150 + 120 + 60 + 50 + 30 + 80 = 490.00 against 1,300.00 of
    charges over 90 days (33.9 days); March first adjudications C06, C07, C08, C09, C12: clean C07 and C12 (2/5),
    initially denied C06 and C08 (2/5)."""
    k = report.kpis
    assert k["ar_total"].value == 490.00
    assert k["days_in_ar"].value == pytest.approx(490 * 90 / 1300) and fmt.kpi_value(k["days_in_ar"]) == "33.9 days"
    assert k["days_in_ar_net"].numerator == 392.50
    assert (k["clean_claim_rate"].numerator, k["clean_claim_rate"].denominator) == (2, 5)
    assert (k["initial_denial_rate"].numerator, k["initial_denial_rate"].denominator) == (2, 5)
    assert (report.month, report.as_of, report.data_through) == ("2026-03", "2026-03-31", "2026-03-31")
    assert isinstance(report.tables, Prepared) and report.tables.denial_policy == "keep_in_ar"
    # the trend's last month is the month itself
    assert len(report.trend) == TREND_MONTHS and report.trend["month"].iloc[-1] == MONTH
    assert report.trend["ar_total"].iloc[-1] == 490.00
    # targets: 33.9 days meets AAFP's 40; 30.6% over 120 days misses 25%
    status = report.status.set_index("key")["status"]
    assert (status["days_in_ar"], status["ar_over_120_pct"], status["charges"]) == ("meeting", "missing", "no target")


def test_small_practice_sections(report):
    aging = report.aging.set_index(["payer_id", "bucket"])["balance_cents"]
    assert aging.sum() == 49000 and aging[("MCD", "120+")] == 15000 and aging[("patient", "31-60")] == 9000
    # denials: C08 CO-197 80.00 and C06 CO-97 50.00, both initial denials of March, neither resubmitted
    expected = [["Authorization / referral", "CO", "197", 1, 8000], ["Bundling / NCCI", "CO", "97", 1, 5000]]
    for frame in (report.denial_reasons, report.denial_reasons_all):
        assert frame[["category", "group_code", "reason_code", "claims", "denied_cents"]].values.tolist() == expected
    assert report.open_denials.set_index("category")["balance_cents"].to_dict() == {
        "Authorization / referral": 8000, "Bundling / NCCI": 5000}
    codes = report.denial_rates_by_code.set_index("procedure_code")
    columns = ["claims", "denied", "billed_cents", "denied_billed_cents"]
    assert codes.loc["99212", columns].tolist() == [2, 1, 18000, 8000]
    # three months back: December 2025 had no first adjudication (C11 was denied on 2026-01-15)
    assert report.denial_cohort == "2025-12" and report.denial_outcomes["claims"].sum() == 0
    # collections: 650 paid against 1,950 charged over 12 months; March payments by class
    assert report.collection_kpis["gross_collection_rate"].value == pytest.approx(650 / 1950)
    assert report.collection_kpis["net_collection_rate"] is report.kpis["net_collection_rate"]
    assert set(report.collection_status["key"]) == {"gross_collection_rate", "net_collection_rate"}
    assert report.payments_by_class.set_index("payer_class")["payments_cents"].to_dict() == {
        "commercial": 36000, "medicare": 8000, "medicaid": 4500, "patient": 4500}
    assert report.adjustments.set_index("kind")["amount_cents"]["denial"] == 50000  # C11 written off
    # lags: March originals C04 2 days, C08, C09, C12 1 day; all four March services billed in March
    lag = report.lags.iloc[0]
    assert (lag["claims"], lag["median"], lag["p90"]) == (4, 1.0, pytest.approx(1.7))
    assert report.unbilled.iloc[0][["claims", "month_claims", "month_charge_cents"]].tolist() == [0, 4, 35000]
    assert report.unbilled_prior.iloc[0]["claims"] == 0
    # payers: the scorecard's open A/R adds up to the A/R total
    assert report.scorecard["open_ar_cents"].sum() == 49000
    # reimbursement, January-March: BCX 99214 paid on C02 (R03) and C06 (R04); every cell has fewer than 5 claims
    reimb = report.reimbursement.set_index(["payer_id", "procedure_code"])
    assert reimb.loc[("BCX", "99214"), "claims"] == 2 and reimb["suppressed"].all()
    # underpayments R04 30.00, R07 5.00, R09 5.00
    assert report.underpayments.set_index(["payer_id", "procedure_code"])["shortfall_cents"].to_dict() == {
        ("BCX", "99214"): 3000, ("BCX", "99213"): 500, ("MCR", "99212"): 500}
    # work lists at 2026-03-31: C03 waits 130 days; nothing near its filing limit at 30 days; C08 and C06 denied
    assert report.worklists["no_response"].rows["claim_id"].tolist() == ["C03"]
    assert report.worklists["timely_filing_risk"].claims == 0
    assert report.worklists.to_dict()["denied_not_resubmitted"] == {
        "name": "Denied, not resubmitted", "claims": 2, "balance_cents": 13000}
    assert report.suspense == {"count": 0, "payments_cents": 0, "other_cents": 0}
    # methods: the work lists' thresholds are the ones the lists used
    measures = report.measures.set_index("metric")["definition"]
    assert f"more than {NO_RESPONSE_DAYS} days" in measures["No payer response"]
    assert f"within {WARN_DAYS} days" in measures["Timely filing at risk"]
    assert "Options" in report.definitions["metric"].tolist()
    assert set(report.colors) >= {"MCR", "MCD", "BCX", "SELF"} and report.payers is report.tables["payers"]


def test_executive_summary_uses_the_models_numbers(report):
    s = report.summary
    assert (s.practice, s.month, s.prior_month) == ("small", MONTH, "2026-02")
    assert "Small Practice" in s.headline and "Open A/R at month end was $490" in s.headline
    assert s.status_counts == {st: int((report.status["status"] == st).sum()) for st in ("meeting", "near", "missing")}
    # C03's 150.00 owed by Medicaid over 120 days, then the denials not resubmitted: C08 80.00, C06 50.00
    assert [(o.kind, o.subject, o.cents) for o in s.opportunities] == [
        ("aged_ar", "State Medicaid", 15000), ("open_denials", "Authorization / referral", 8000),
        ("open_denials", "Bundling / NCCI", 5000)]


@pytest.mark.slow  # two report builds (~5 s); headline numbers stay fast above
def test_options_overrides_and_defaults():
    t = small_tables()
    by_hand = build_report(t, None, {"days_in_ar": "gross_12m"}, benchmark_overrides={
        "days_in_ar": {"good": 30, "acceptable": 35}})
    assert by_hand.month == MONTH  # the last full month of the data
    assert by_hand.options == MetricOptions(days_in_ar="gross_12m")
    assert by_hand.kpis["days_in_ar"].value == pytest.approx(490 * 365 / 1950)
    assert by_hand.targets.set_index("kpi").loc["days_in_ar", "good"] == 30
    assert by_hand.targets.set_index("kpi").loc["days_in_ar_net", "acceptable"] == 35  # net days follow
    with pytest.raises(ValueError, match=r"unknown metric option\(s\) \['colour'\]"):
        build_report(t, MONTH, {"colour": "red"})
    frozen = build_report(t, MONTH, MetricOptions(aged_over_days=90))
    assert "ar_over_90_pct" in frozen.kpis and frozen.practice == "" and frozen.title is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.month = "2026-02"


@pytest.mark.slow  # a whole report build to count calls; the numbers stay fast above
def test_each_metric_is_called_once(monkeypatch):
    """build_report calls each metric of the report once (unbilled charges twice: the month and the one before)."""
    calls: dict[str, int] = {}
    names = ("prepare", "kpi_suite", "kpi_trend", "benchmark_status", "executive_summary", "open_denials",
             "denial_outcomes", "denial_rates_by", "gross_collection_rate", "adjustment_shares",
             "payments_by_payer_class", "charge_lag", "unbilled_charges", "payer_scorecard", "underpayment_summary",
             "worklist_summary", "unapplied_postings", "definitions_used", "measure_definitions", "data_through",
             "provider_summary")
    for name in names:
        real = getattr(model_module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(model_module, name, counted)
    build_report(small_tables(), MONTH)
    # unbilled: the month and the one before; benchmark status: KPIs and collections; payments by payer class:
    # once per trend month (the payer mix), the report month's reused for the collections chart
    assert calls == {**{n: 1 for n in names}, "unbilled_charges": 2, "benchmark_status": 2,
                     "payments_by_payer_class": TREND_MONTHS}


def test_metrics_document_has_every_part(report, tmp_path):
    doc = report.metrics_document()
    assert sorted(doc) == sorted([
        "practice", "month", "as_of", "rcmkit_version", "kpis", "definitions", "practice_name", "data_through",
        "benchmarks", "summary", "payer_scorecard", "worklists", "unapplied_postings", "underpayments", "measures",
        "cash_forecast"])
    # the forecast as the report shows it, in whole cents: the next 30/60/90 days and last month's check
    fc = doc["cash_forecast"]
    horizons = report.cash_forecast.horizons
    assert fc["as_of"] == "2026-03-31" and len(fc["horizons"]) == len(horizons) == 6
    first = horizons.iloc[0]
    assert fc["horizons"][0] == {"source": first["source"], "days": 30,
                                 "expected_cents": round(first["expected_cents"]),
                                 "low_cents": round(first["low_cents"]), "high_cents": round(first["high_cents"])}
    assert [c["made_on"] for c in fc["check"]] == ["2026-02-28", "2026-02-28"]
    # all cash that came in: March's payments, 530.00 (tests/test_metrics.py works it out by hand)
    assert [c["source"] for c in fc["check"]] == ["open A/R", "all cash"] and fc["check"][1]["actual_cents"] == 53000
    # the analyst's technical definitions stay in metrics.json (the client report gives them in words)
    assert {"metric": "Charge lag", "function": "rcmkit.metrics.charge_lag"}.items() <= next(
        m for m in doc["measures"] if m["metric"] == "Charge lag").items()
    options = doc["definitions"][-1]
    assert options["metric"] == "Options" and "days_in_ar=gross_3m" in options["definition"]
    assert doc["kpis"]["ar_total"]["value"] == 490.0 and doc["underpayments"]["shortfall_cents"] == 4000
    path = write_metrics(tmp_path, report)
    assert path == tmp_path / METRICS_FILE and json.loads(path.read_text(encoding="utf-8")) == json.loads(
        json.dumps(doc))
    assert write_metrics(None, report) is None  # a notebook run by hand writes nothing
    with pytest.raises(TypeError):
        write_metrics(tmp_path, report, "2026-03")


def test_forecast_document_leaves_an_unknown_range_empty():
    """A forecast without the history to set its range (NaN bounds) is written as null bounds, never as 0 cents,
    and a first month has no check; whole cents are rounded (100.4 -> 100, 100.6 -> 101)."""
    from types import SimpleNamespace

    from rcmkit.report.record import forecast_document

    nan = float("nan")
    fc = SimpleNamespace(as_of=pd.Timestamp("2026-03-31"), horizons=pd.DataFrame(
        {"source": ["open A/R", "all cash"], "end_day": [30, 30], "expected_cents": [100.4, 100.6],
         "low_cents": [nan, 90.0], "high_cents": [nan, 110.0]}), check=pd.DataFrame(
        columns=["source", "made_on", "forecast_cents", "low_cents", "high_cents", "actual_cents", "inside"]))
    assert forecast_document(fc) == {"as_of": "2026-03-31", "check": [], "horizons": [
        {"source": "open A/R", "days": 30, "expected_cents": 100, "low_cents": None, "high_cents": None},
        {"source": "all cash", "days": 30, "expected_cents": 101, "low_cents": 90, "high_cents": 110}]}


# --------------------------------------------------------------------------------------------- the notebook
def _code_cells() -> list[str]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _called_names(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            out.add(fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else "")
    return out


def test_no_notebook_cell_computes_a_metric():
    """The notebook renders the model: no cell imports rcmkit.metrics or calls one of its functions (or the report
    helpers that compute: the summary, work lists, definitions), and build_report is called once."""
    cells = _code_cells()
    computing = set(rcmkit.metrics.__all__) | {
        "executive_summary", "opportunities", "data_through", "worklist_summary", "measure_definitions",
        "denial_cohort_month", "benchmarks", "prepare", "open_denials", "payer_scorecard", "metrics_document"}
    calls: list[str] = []
    for src in cells[1:]:
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(("rcmkit.metrics", "rcmkit.core.refdata")), src
                assert not {a.name for a in node.names} & computing, src
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("rcmkit.metrics") for a in node.names), src
        called = _called_names(tree)
        assert not called & computing, (called & computing, src)
        calls += sorted(called)
    assert calls.count("build_report") == 1
    last = ast.parse(cells[-1])
    assert "write_metrics" in _called_names(last)
    call = next(n for n in ast.walk(last) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "write_metrics")
    assert [ast.unparse(a) for a in call.args] == ["output_dir", "report"] and not call.keywords


# --------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_metrics_json_of_the_notebook_is_the_models(demo_report, tmp_path):
    """The report the notebook ran (tests/conftest.py's demo report) wrote the model's metrics.json, byte for byte."""
    assert demo_report.returncode == 0, demo_report.stderr
    written = demo_report.report_dir / METRICS_FILE
    run = json.loads((demo_report.report_dir / "run.json").read_text(encoding="utf-8"))
    params = run["parameters"]
    tables = load_tables(Path(params["data_root"]), "demo", required=False)
    model = build_report(tables, params["month"], params.get("metric_options") or {},
                         benchmark_overrides=params.get("benchmark_overrides") or {}, practice="demo",
                         practice_name=params.get("practice_name"), title=params.get("title"))
    assert json.loads(written.read_text(encoding="utf-8")) == json.loads(json.dumps(model.metrics_document()))
    assert write_metrics(tmp_path, model).read_bytes() == written.read_bytes()


@pytest.mark.slow  # a whole report build to count calls; the numbers stay fast above
def test_aging_and_open_denials_are_computed_once(monkeypatch):
    """build_report computes the A/R aging, the open denials and the suspense once and hands them to the executive
    summary (issue #14), which would otherwise compute them again for its dollar opportunities."""
    import sys

    from rcmkit.metrics import ar, collections, payers

    calls = {"ar_aging": 0, "open_denials": 0, "unapplied_postings": 0}
    for module, name in ((ar, "ar_aging"), (payers, "open_denials"), (collections, "unapplied_postings")):
        real = getattr(module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        # every rcmkit module holding the function (imported by name) calls the counted one
        for mod in [m for n, m in list(sys.modules.items()) if n.startswith("rcmkit") and m is not None]:
            if getattr(mod, name, None) is real:
                monkeypatch.setattr(mod, name, counted)
    report = build_report(small_tables(), MONTH)
    assert calls == {"ar_aging": 1, "open_denials": 1, "unapplied_postings": 1}
    # and the summary's opportunities are the ones of the frames the report shows
    aging = report.aging
    mcd_over_120 = aging.loc[(aging["payer_id"] == "MCD") & (aging["bucket"] == "120+"), "balance_cents"].sum()
    assert report.summary.opportunities[0].cents == int(mcd_over_120) == 15000


# --------------------------------------------------------------------------------------------- issue #16
def test_comparison_prior_month_year_ago_and_year_to_date(report):
    """Charges by first submission: Jan 200 + 300 (C10's 100 voided) = 500, Feb 100 + 250 + 100 = 450, Mar
    120 + 80 + 90 + 60 = 350: year to date 1,300. Payments: Jan 100 (R01), Feb 20 (C01's patient), Mar 530:
    year to date 650. March 2025 is before the practice's first data (Nov 2025): unknown, not $0."""
    c = report.comparison.set_index("key")
    assert (c.loc["charges", "value"], c.loc["charges", "prior"], c.loc["charges", "ytd"]) == (350.0, 450.0, 1300.0)
    assert (c.loc["payments", "value"], c.loc["payments", "prior"], c.loc["payments", "ytd"]) == (530.0, 20.0, 650.0)
    assert c["year_ago"].isna().all()
    assert c.loc["ar_total", "prior"] == 1400.0 and fmt.is_missing(c.loc["ar_total", "ytd"])  # no sum of balances


def test_summary_mentions_cash_and_volume_with_large_changes(report):
    assert report.summary.cash == (
        "Payments were $530, up 2550% from February 2026 ($20).",
        "Charges were $350, down 22% from February 2026 ($450).",
        "Payments rose 2550% in a month.",
        "Charges fell 22% in a month: check for fewer visits or services not yet billed (charge lag and unbilled "
        "charges).")
    assert "Cash and volume" in report.summary.to_html() and report.summary.to_dict()["cash_and_volume"]
    assert "Better than February 2026" in report.summary.to_html()  # a month, never "Feb 26"


def test_payer_mix_and_providers(report):
    """March payments: BCX 360 (C06 120, C02 180, C09 60), MCR 80 (C07), MCD 45 (C12), patients 40 + 5 = 45."""
    mar = report.payer_mix[report.payer_mix["month"] == MONTH].set_index("payer_class")["payments_cents"]
    assert mar.to_dict() == {"commercial": 36000, "medicare": 8000, "medicaid": 4500, "patient": 4500}
    assert list(report.payer_mix["month"].unique()) == [m for m in report.trend["month"] if m >= "2026-01"]
    # one rendering provider: March's new claims C04, C08, C09, C12 (350.00); first adjudications as the KPIs
    p = report.providers.iloc[0]
    assert len(report.providers) == 1 and p["npi"] == "1234567893"
    assert (p["claims"], p["charges_cents"], p["adjudicated"], p["denied"], p["clean"]) == (4, 35000, 5, 2, 2)
    assert p["denial_rate"] == report.kpis["initial_denial_rate"].value == 0.4


def test_days_in_ar_override_applies_to_net_days():
    """A practice's days-in-A/R target applies to net days too (build_report hands its overrides to
    practice_targets: test_options_overrides_and_defaults checks that through a whole build)."""
    t = model_module.practice_targets({"days_in_ar": {"good": 35, "acceptable": 45}}).set_index("kpi")
    assert (t.loc["days_in_ar_net", "good"], t.loc["days_in_ar_net", "acceptable"]) == (35, 45)
    assert t.loc["days_in_ar", "source"] == "This practice's target"  # not credited to AAFP
    own = model_module.practice_targets({"days_in_ar": {"good": 35}, "days_in_ar_net": {"good": 60}})
    assert own.set_index("kpi").loc["days_in_ar_net", "good"] == 60
    assert model_module.practice_targets().set_index("kpi").loc["days_in_ar_net", "good"] == 40  # AAFP as packaged


def test_denied_not_resubmitted_order_puts_appealable_denials_first():
    from rcmkit.report.suite import APPEAL_WINDOW_DAYS, WorkList

    rows = pd.DataFrame({"claim_id": ["OLD", "FRESH", "MID", "OLDER"], "payer_id": ["A"] * 4,
                         "last_answer_on": pd.to_datetime(["2025-02-01"] * 4),
                         "days_since_denial": [579, 5, 60, 700], "balance_cents": [90000, 100, 5000, 1000]})
    wl = WorkList("denied_not_resubmitted", "Denied, not resubmitted", "", rows)
    assert list(wl.top()["claim_id"]) == ["MID", "FRESH", "OLD", "OLDER"]  # 60 then 5 days; then by balance
    assert f"last {APPEAL_WINDOW_DAYS} days first, oldest first" in wl.order
    other = WorkList("no_response", "No payer response", "", rows)
    assert list(other.ordered()["claim_id"]) == ["OLD", "FRESH", "MID", "OLDER"]  # as the metric returned it


def test_caught_denials_are_the_months_initial_denials(report):
    """The scrub section counts the claims the initial denial rate counts: March's C06 (250.00, CO-97) and C08
    (80.00, CO-197), first sent clean by every check (valid codes, NPI 1234567893): none caught."""
    c = report.caught_denials.set_index("rule")
    assert list(c.index) == ["any rule", "not caught"]
    assert (c.loc["any rule", "claims"], c.loc["not caught", "claims"]) == (0, 2)
    assert c.loc["not caught", "billed_cents"] == 25000 + 8000
    assert c["claims"].sum() == report.kpis["initial_denial_rate"].numerator


@pytest.mark.slow
def test_report_on_duckdb_equals_the_report_on_pandas(tmp_path):
    """The report model built on DuckDB tables (what a large practice's report runs on) carries the same numbers
    as on pandas: every KPI, the trend, metrics.json, and the sections computed in pandas from the tables
    collected once (work lists, scorecard, forecast, the scrub's caught denials) are there too."""
    pytest.importorskip("duckdb")
    from rcmkit.core import engine, store
    from rcmkit.core.ledger import build_ledger
    from rcmkit.metrics import _common

    tables = small_tables()
    tables["ledger"] = build_ledger(tables)
    store.save_tables(tmp_path, "small", tables)
    on_pandas = build_report(engine.open_tables(tmp_path, "small", "pandas"), MONTH, practice="small")
    collected = []
    real = _common.as_pandas

    def counted(t):
        out = real(t)
        if out is not t:
            collected.append(id(out))
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_common, "as_pandas", counted)
        mp.setattr(model_module, "as_pandas", counted)
        on_duckdb = build_report(engine.open_tables(tmp_path, "small", "duckdb"), MONTH, practice="small")
    assert collected and len(set(collected)) == 1  # the tables were collected to pandas once, for every section
    assert json.dumps(on_duckdb.metrics_document(), sort_keys=True, default=str) == json.dumps(
        on_pandas.metrics_document(), sort_keys=True, default=str)
    assert on_duckdb.kpis["ar_total"].value == 490.0
    pd.testing.assert_frame_equal(on_duckdb.trend, on_pandas.trend)
    for part in ("aging", "scorecard", "providers", "denial_rates_by_code", "payer_mix", "caught_denials"):
        pd.testing.assert_frame_equal(getattr(on_duckdb, part), getattr(on_pandas, part), check_dtype=False,
                                      obj=part)
    assert on_duckdb.cash_forecast is not None
    pd.testing.assert_frame_equal(on_duckdb.forecast_weeks, on_pandas.forecast_weeks, check_dtype=False)


def _assert_same_report(got: MonthlyReport, expected: MonthlyReport, label: str) -> None:
    """Every section of two report models equal, frame by frame (the tables they were computed from aside)."""
    assert json.dumps(got.metrics_document(), sort_keys=True, default=str) == json.dumps(
        expected.metrics_document(), sort_keys=True, default=str), label
    for field in dataclasses.fields(MonthlyReport):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if field.name == "tables":
            continue
        if field.name == "cash_forecast":
            assert (a is None) == (b is None), label
            a, b = (dataclasses.asdict(x) if x is not None else {} for x in (a, b))
            for key in ("weeks", "horizons", "check"):
                pd.testing.assert_frame_equal(a[key], b[key], obj=f"{label}: forecast {key}")
        elif isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, obj=f"{label}: {field.name}")
        else:
            assert repr(a) == repr(b), f"{label}: {field.name}"


@pytest.mark.slow
@pytest.mark.parametrize("options", [MetricOptions(), MetricOptions(
    days_in_ar="gross_12m", days_in_ar_net_months=12, aging_basis="submission_date", aged_over_days=90,
    denial_policy="at_remit", denial_scope="full", collection_months=3, reimbursement_months=12,
    min_cell_count=1)], ids=["defaults", "every-other-value"])
def test_the_report_on_duckdb_equals_the_report_on_pandas_under_every_option(tmp_path, options):
    """On DuckDB the KPI suite and trend run on the engine and the other sections on the tables collected once
    (rcmkit.metrics.as_pandas), their queries still on DuckDB: the report equals the one built on pandas (every
    section, the forecast, the scrub), on the small practice and a generated demo, under the default options and
    every option's other value."""
    from rcmkit import demo
    from rcmkit.core import engine, store
    from rcmkit.core.ledger import build_ledger

    cases = [("small", small_tables(), MONTH), ("demo", demo.generate(n_claims=400, seed=5), None)]
    for practice, tables, month in cases:
        tables["ledger"] = build_ledger(tables)
        store.save_tables(tmp_path, practice, tables)
        on_duckdb = build_report(engine.open_tables(tmp_path, practice, "duckdb"), month, options, practice=practice)
        assert on_duckdb.cash_forecast is not None and len(on_duckdb.caught_denials)
        on_pandas = build_report(engine.open_tables(tmp_path, practice, "pandas"), month, options, practice=practice)
        _assert_same_report(on_duckdb, on_pandas, f"{practice} {options}")


@pytest.mark.slow
def test_the_report_on_duckdb_collects_no_large_table_whole(tmp_path, monkeypatch):
    """On DuckDB the pandas-only sections read their share of the large tables through engine queries
    (rcmkit.metrics.table_rows, rcmkit.metrics.ar.posted_rows, Prepared.read: the month's ledger rows, the
    cohort's remittances, lines and adjustments, the forecast's columns), so the ledger, the adjustments, the
    postings, the remittances, the claims and the claim and remittance lines are never collected whole (issue #15:
    the 10 M-line report's memory); only the small reference tables are. The sections' numbers are the pandas
    report's (the option tests above)."""
    import narwhals as nw

    from rcmkit import demo
    from rcmkit.core import engine, store
    from rcmkit.core.ledger import build_ledger

    tables = demo.generate(n_claims=400, seed=5)
    tables["ledger"] = build_ledger(tables)
    store.save_tables(tmp_path, "demo", tables)
    # a practice without a providers table (the work lists' provider labels once collected every table for it)
    store.save_tables(tmp_path, "unnamed", {k: v for k, v in tables.items() if k != "providers"})
    whole, real = [], engine.pandas_table

    def counted(name, frame):
        if not isinstance(frame, (nw.LazyFrame, nw.DataFrame, pd.DataFrame, type(None))):
            whole.append(name)  # a table's native frame: collected whole
        return real(name, frame)

    monkeypatch.setattr(engine, "pandas_table", counted)
    for practice, expected in (("demo", ["contracts", "payers", "providers"]), ("unnamed", ["contracts", "payers"])):
        whole.clear()
        report = build_report(engine.open_tables(tmp_path, practice, "duckdb"), None, practice=practice)
        assert report.cash_forecast is not None and len(report.caught_denials) and len(report.underpayments)
        assert len(report.open_denials) and report.denial_outcomes["claims"].sum() > 0
        assert sorted(whole) == expected, practice  # once each


@pytest.mark.slow  # ~1.5 s: the small practice's KPIs in Polars
def test_table_rows_and_posted_rows_are_the_tables_rows():
    """table_rows (a table's rows matching a small frame and a query) and posted_rows (the ledger rows of a
    window) give the rows a pandas filter of the table gives, in the stored dtypes."""
    import narwhals as nw

    from rcmkit.core.ledger import build_ledger
    from rcmkit.metrics import month_window, prepare, table_rows
    from rcmkit.metrics.ar import posted_rows

    def monthly_charges(t):
        return rcmkit.metrics.monthly_kpis(t, MONTH)["charges"].numerator * 100

    tables = small_tables()
    tables["ledger"] = build_ledger(tables)
    prepared = prepare(tables)
    remits = tables["remittances"]
    claims = remits["claim_id"].drop_duplicates().iloc[:2].to_frame()
    got = table_rows(prepared, "remittances", among=claims, query=lambda f: f.filter(nw.col("paid_cents") > 0))
    expected = remits[remits["claim_id"].isin(claims["claim_id"]) & (remits["paid_cents"] > 0)]
    assert len(expected) > 0
    pd.testing.assert_frame_equal(got.sort_values("remit_id", ignore_index=True),
                                  expected.sort_values("remit_id", ignore_index=True))
    window = month_window(MONTH)
    ledger = tables["ledger"]
    got = posted_rows(prepared, MetricOptions(), window, ("charge",))
    expected = ledger[(ledger["kind"] == "charge") & window.contains(ledger["posted_on"])]
    assert len(expected) > 0
    # March's four charges: 120 + 80 + 90 + 60 (the charges KPI's 350.00)
    assert got["amount_cents"].sum() == expected["amount_cents"].sum() == 35000
    assert monthly_charges(prepared) == 35000
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)
