"""One metric implementation, three engines: pandas, DuckDB and PySpark give the same KPI suite, to the cent.

The small hand-computed practice (tests/small_practice.py) and a generated demo practice are saved to a store,
then opened on each engine with :func:`rcmkit.core.engine.open_tables`; :func:`rcmkit.metrics.kpi_suite` must return
identical numbers. The Spark tests need Java 17 (``.ci/run`` installs Debian's openjdk-17-jre-headless where
``java`` is missing); without Java they skip and say why.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil

import narwhals as nw
import numpy as np
import pandas as pd
import pytest

from rcmkit import demo

from rcmkit.core import engine

from rcmkit.core import schema

from rcmkit.core import store
from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import MetricOptions, kpi_suite
from rcmkit.core.refdata import classify_adjustments
from small_practice import tables as small_tables

duckdb = pytest.importorskip("duckdb")
MONTH = "2026-03"  # the small practice's month
DEMO_MONTH = "2026-10"


def _save(root, practice, tables):
    tables = dict(tables)
    tables.setdefault("ledger", build_ledger(tables))
    store.save_tables(root, practice, tables)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A data root holding the small practice ('small')."""
    root = tmp_path_factory.mktemp("engines")
    _save(root, "small", small_tables())
    return root


@pytest.fixture(scope="module")
def demo_store(stores):
    """The same root with the 1,200-claim demo practice ('demo') added: built only when a (slow) test needs it."""
    _save(stores, "demo", demo.generate(n_claims=1200, seed=11))
    return stores


def _root(request, practice: str):
    return request.getfixturevalue("demo_store" if practice == "demo" else "stores")


def _assert_same_suite(expected: dict, got: dict, label: str) -> None:
    assert list(expected["kpis"]) == list(got["kpis"]), label
    for key, kpi in expected["kpis"].items():
        other = got["kpis"][key]
        for field in ("value", "numerator", "denominator"):
            a, b = getattr(kpi, field), getattr(other, field)
            if a is None or b is None:
                assert a is b, f"{label}: {key}.{field}: {a} vs {b}"
            else:  # cents are exact; ratios of exact cents agree to float rounding
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9), f"{label}: {key}.{field}: {a} vs {b}"
        assert kpi.definition == other.definition
    for name in ("aging", "reimbursement", "denial_reasons"):
        pd.testing.assert_frame_equal(expected[name], got[name], check_dtype=False, obj=f"{label}: {name}")


#: the 1,200-claim demo practice's comparisons are in the slow tier; the small practice's stay fast
DEMO_CASE = pytest.param("demo", DEMO_MONTH, marks=pytest.mark.slow, id="demo-" + DEMO_MONTH)


@pytest.mark.parametrize("practice,month", [("small", MONTH), DEMO_CASE])
@pytest.mark.parametrize("options", [MetricOptions(), MetricOptions(
    days_in_ar="gross_12m", aging_basis="submission_date", aged_over_days=90, denial_scope="full",
    reimbursement_months=12, min_cell_count=1)], ids=["defaults", "variants"])
def test_duckdb_equals_pandas(request, practice, month, options):
    stores = _root(request, practice)
    pandas_suite = kpi_suite(engine.open_tables(stores, practice, "pandas"), month, options)
    duck = engine.open_tables(stores, practice, "duckdb")
    assert all(engine.engine_of(v) == "duckdb" for v in duck.values())
    _assert_same_suite(pandas_suite, kpi_suite(duck, month, options), f"duckdb {practice}")


def test_small_practice_suite_has_the_hand_computed_numbers(stores):
    """The engine tests compare engines; this pins that they compare the right numbers (test_metrics.py derives
    them by hand): 12 claims, March 2026."""
    suite = kpi_suite(engine.open_tables(stores, "small", "duckdb"), MONTH)
    reference = kpi_suite(small_tables(), MONTH)
    _assert_same_suite(reference, suite, "duckdb vs in-memory fixture")
    assert suite["kpis"]["initial_denial_rate"].denominator > 0


@pytest.mark.slow  # the 1,200-claim demo practice
@pytest.mark.usefixtures("demo_store")  # the demo practice saved beside the small one
def test_variant_ledger_on_duckdb(stores, monkeypatch):
    """A denial policy other than the stored ledger's rebuilds the ledger, once per KPI set, and hands it to
    the engine."""
    import rcmkit.metrics._common as common

    calls = []
    real = common.build_ledger
    monkeypatch.setattr(common, "build_ledger", lambda *a, **k: calls.append(1) or real(*a, **k))
    options = MetricOptions(denial_policy="at_remit")
    expected = kpi_suite(engine.open_tables(stores, "demo", "pandas"), DEMO_MONTH, options)
    got = kpi_suite(engine.open_tables(stores, "demo", "duckdb"), DEMO_MONTH, options)
    assert len(calls) == 2  # one per engine
    _assert_same_suite(expected, got, "at_remit")


def test_day_number_matches_the_calendar():
    days = [dt.date(1970, 1, 1), dt.date(1999, 12, 31), dt.date(2000, 2, 29), dt.date(2000, 3, 1),
            dt.date(2024, 12, 31), dt.date(2026, 11, 25), dt.date(2100, 3, 1)]
    frame = pd.DataFrame({"d": pd.to_datetime(days)})
    got = engine.collect(engine.lazy(frame).select(n=engine.day_number(nw.col("d"))))["n"].tolist()
    assert got == [(d - dt.date(1970, 1, 1)).days for d in days]
    rel = duckdb.from_arrow(__import__("pyarrow").table({"d": days}))
    assert engine.collect(engine.lazy(rel).select(n=engine.day_number(nw.col("d"))))["n"].tolist() == got


def test_classify_matches_the_pandas_crosswalk():
    """The CARC classification (rcmkit.core.refdata.classify_adjustments) on DuckDB equals its pandas result on
    every code the crosswalk names, wildcard cases, the 4010 group CR, lower case and an unknown code."""
    from rcmkit.core.refdata import carc_crosswalk

    xw = carc_crosswalk()
    pairs = [(g if g != "*" else "CO", r if r != "*" else "999") for g, r in zip(xw["group_code"], xw["reason_code"])]
    pairs += [("PR", "3"), ("CR", "45"), ("co", "97"), ("OA", "ZZ9"), ("PI", "18"), ("XX", "1")]
    adj = pd.DataFrame({"remit_id": [f"R{i}" for i in range(len(pairs))], "group_code": [g for g, _ in pairs],
                        "reason_code": [r for _, r in pairs], "amount_cents": 1})
    expected = classify_adjustments(adj)[["treatment", "category"]]
    # pandas in (classified in pandas), a query over pandas (in Polars), DuckDB: one classification
    for frame in (adj, engine.lazy(adj), duckdb.from_df(adj)):
        got = engine.collect(engine.lazy(classify_adjustments(frame)).sort("remit_id"))
        got = got.set_index("remit_id").loc[adj["remit_id"], ["treatment", "category"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_classified_pandas_frames_keep_their_rows_order_and_index():
    """pandas in, pandas out: every row in its place and index (ledger code merges on it), codes looked up once
    per distinct pair (CO-45 contractual, PR-1 patient, CO-97 denial, an unknown CO-ZZ9 a denial 'Other')."""
    adj = pd.DataFrame({"remit_id": ["R1", "R2", "R3", "R4", "R5"], "group_code": ["PR", "CO", "CO", "CO", "PR"],
                        "reason_code": ["1", "45", "ZZ9", "97", "1"], "amount_cents": [5, 6, 7, 8, 9]},
                       index=[40, 30, 20, 10, 0])
    out = classify_adjustments(adj)
    assert out.index.tolist() == [40, 30, 20, 10, 0] and out["remit_id"].tolist() == ["R1", "R2", "R3", "R4", "R5"]
    assert out["treatment"].tolist() == ["patient", "contractual", "denial", "denial", "patient"]
    assert out.loc[20, "category"] == "Other"
    assert "treatment" not in adj.columns  # pure


def test_pandas_tables_run_in_polars_and_come_back_as_pandas():
    """A query over pandas tables runs in Polars (rcmkit.core.engine.lazy) and its result is pandas in canonical
    dtypes; the frame is read when the query runs (a frame changed in place is seen), prepared tables are
    converted once."""
    from rcmkit.metrics import Prepared

    frame = pd.DataFrame({"k": ["b", "a", "b"], "v": [1, 2, 3]})
    query = engine.lazy(frame)
    assert engine.engine_of(query) == "polars" and engine.engine_of(frame) == "pandas"
    out = engine.collect(query.group_by("k").agg(engine.int_sum("v")).sort("k"))
    assert isinstance(out, pd.DataFrame) and out.to_dict("list") == {"k": ["a", "b"], "v": [2, 4]}  # 1 + 3
    assert out["v"].dtype == "int64"
    frame.loc[0, "v"] = 10
    assert engine.collect(engine.lazy(frame).select(engine.int_sum("v")))["v"].iloc[0] == 15  # 10 + 2 + 3
    prepared = Prepared({"claims": frame}, "keep_in_ar")
    assert engine.lazy_tables(prepared, ["claims"])["claims"] is engine.lazy_tables(prepared, ["claims"])["claims"]
    assert engine.lazy_tables({"claims": frame}, ["claims"])["claims"] is not query


def test_metric_aggregations_stay_plain():
    """rcmkit.core.engine's rule: no when/then inside group_by().agg() (narwhals 2.29's pandas backend computes it
    wrongly: a conditional sum over {a: 100, 200} came out 300, not 200). Derived values go in with_columns."""
    import inspect
    import re

    import rcmkit.metrics as metrics

    for module in {inspect.getmodule(f) for f in vars(metrics).values() if callable(f)}:
        source = inspect.getsource(module)
        for match in re.finditer(r"\.agg\(", source):
            depth, i = 1, match.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(source[i], 0)
                i += 1
            assert "when(" not in source[match.end():i], f"{module.__name__}: when/then inside agg()"


def test_open_tables_rejects_bad_names(stores):
    with pytest.raises(store.StoreError):
        engine.open_tables(stores, "../small", "duckdb")
    with pytest.raises(ValueError, match="engine must be one of"):
        engine.open_tables(stores, "small", "polars")


# --------------------------------------------------------------------------------------------- Spark

@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[test]')")
    if shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the Spark tests: .ci/run installs openjdk-17-jre-headless as root")
        pytest.skip("Spark needs Java 17: `apt-get install openjdk-17-jre-headless` (.ci/run does this as root)")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("rcmkit-tests")
               .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "1g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.spark
@pytest.mark.parametrize("practice,month", [("small", MONTH), DEMO_CASE])
def test_spark_equals_pandas(request, spark, practice, month):
    stores = _root(request, practice)
    options = MetricOptions()
    pandas_suite = kpi_suite(engine.open_tables(stores, practice, "pandas"), month, options)
    tables = engine.open_tables(stores, practice, "spark", spark=spark)
    assert all(engine.engine_of(v) == "spark" for v in tables.values())
    _assert_same_suite(pandas_suite, kpi_suite(tables, month, options), f"spark {practice}")


@pytest.mark.slow  # stores and opens a partial practice on both engines (~2 s); test_backends covers DuckDB fast
def test_practice_without_some_tables(tmp_path):
    """A practice holding only 837 and 835 tables (no postings, payers or stored ledger) gives the same suite
    on DuckDB as on pandas: missing tables are the canonical empty tables, the ledger is derived."""
    full = small_tables()
    store.save_tables(tmp_path, "bare", {k: full[k] for k in ("claims", "claim_lines", "remittances",
                                                              "remit_lines", "adjustments")})
    expected = kpi_suite(engine.open_tables(tmp_path, "bare", "pandas"), MONTH)
    duck = engine.open_tables(tmp_path, "bare", "duckdb")
    assert "postings" not in duck and "ledger" not in duck
    _assert_same_suite(expected, kpi_suite(duck, MONTH), "bare practice")
    assert expected["kpis"]["charges"].value > 0


@pytest.mark.slow  # the 1,200-claim demo practice
@pytest.mark.parametrize("policy", ["keep_in_ar", "at_remit"])
@pytest.mark.usefixtures("demo_store")  # the demo practice saved beside the small one
def test_suite_needs_only_its_columns(stores, policy):
    """kpi_suite runs on the columns SUITE_COLUMNS names (what pandas loads at scale) and gives the same
    numbers as on the full tables; without the stored ledger it rebuilds it from those columns too."""
    from rcmkit.metrics import SUITE_COLUMNS

    options = MetricOptions(denial_policy=policy)
    full = kpi_suite(engine.open_tables(stores, "demo", "pandas"), DEMO_MONTH, options)
    narrow = engine.open_tables(stores, "demo", "pandas", names=list(SUITE_COLUMNS), columns=SUITE_COLUMNS)
    assert all(list(narrow[n].columns) == [c for c in schema.TABLES[n].names if c in SUITE_COLUMNS[n]]
               for n in narrow)
    _assert_same_suite(full, kpi_suite(narrow, DEMO_MONTH, options), "narrow columns")
    without_ledger = {k: v for k, v in narrow.items() if k != "ledger"}
    _assert_same_suite(full, kpi_suite(without_ledger, DEMO_MONTH, options), "narrow, ledger rebuilt")


@pytest.mark.slow  # the 1,200-claim demo practice
@pytest.mark.usefixtures("demo_store")  # the demo practice saved beside the small one
def test_cli_kpis_on_each_engine(stores):
    """`rcmkit kpis` prints the month's KPIs computed on the chosen engine: the same numbers as monthly_kpis on
    pandas; bad practice names and incomplete months are one-line errors (exit 2)."""
    import json as _json

    from click.testing import CliRunner

    from rcmkit.cli import main
    from rcmkit.metrics import monthly_kpis

    expected = monthly_kpis(engine.open_tables(stores, "demo", "pandas"), DEMO_MONTH)
    for name in ("duckdb", "pandas"):
        out = CliRunner().invoke(main, ["kpis", "--practice", "demo", "--data-root", str(stores), "--engine", name,
                                        "--month", DEMO_MONTH, "--json"])
        assert out.exit_code == 0, out.output
        got = _json.loads(out.output)["kpis"]
        assert {k: v["numerator"] for k, v in got.items()} == {k: v.numerator for k, v in expected.items()}
    table = CliRunner().invoke(main, ["kpis", "--practice", "demo", "--data-root", str(stores)])
    assert table.exit_code == 0 and "Days in A/R" in table.output and table.output.startswith("demo 2026-10")
    for args, message in ((["--practice", "../demo"], "invalid practice name"),
                          (["--practice", "demo", "--month", "2031-01"], "not complete in the data")):
        bad = CliRunner().invoke(main, ["kpis", "--data-root", str(stores), *args])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_lazy_tables_read_one_version_while_commits_land(tmp_path):
    """A DuckDB scan opened before a commit keeps reading the version it opened (the files of a Delta version
    never change), so a KPI run that spans many queries never mixes versions; a new open sees the new version,
    and an open of an older snapshot reads that one. Table files are private."""
    t = small_tables()
    store.save_tables(tmp_path, "p", t)
    before = engine.open_tables(tmp_path, "p", "duckdb", names=["claims"])["claims"]
    store.save_tables(tmp_path, "p", {"claims": t["claims"].iloc[:3]})
    assert len(before.fetchall()) == len(t["claims"]) > 3
    after = engine.open_tables(tmp_path, "p", "duckdb", names=["claims"])["claims"]
    assert len(after.fetchall()) == 3 and after.columns == schema.TABLES["claims"].names
    again = engine.open_tables(tmp_path, "p", "duckdb", names=["claims"], version=1)["claims"]
    assert len(again.fetchall()) == len(t["claims"])
    files = [f for f in (tmp_path / "p" / "tables" / "claims").rglob("*") if f.is_file()]
    assert files and all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files)


@pytest.mark.slow  # the 1,200-claim demo practice
@pytest.mark.parametrize("name", ["payer_scorecard", "open_denials", "no_response", "timely_filing_risk",
                                  "denied_not_resubmitted", "contract_lines", "underpayment_summary", "charge_lag",
                                  "days_to_pay", "unbilled_charges", "denial_rates_by", "denial_outcomes",
                                  "payments_by_payer_class", "adjustment_shares", "gross_collection_rate",
                                  "first_adjudications", "ar_balances"])
@pytest.mark.usefixtures("demo_store")  # the demo practice saved beside the small one
def test_every_public_metric_runs_on_duckdb_tables(stores, name):
    """The metrics outside the KPI suite (pandas-only ones collect the tables first) give the same answer for
    DuckDB tables as for pandas tables."""
    from rcmkit import metrics

    func = getattr(metrics, name)
    arg = pd.Timestamp("2026-10-31") if name == "ar_balances" else DEMO_MONTH
    args = (arg,) if name != "first_adjudications" else ()
    kwargs = {"warn_days": 400} if name == "timely_filing_risk" else {}  # the demo has no claim near its limit
    expected = func(engine.open_tables(stores, "demo", "pandas"), *args, **kwargs)
    got = func(engine.open_tables(stores, "demo", "duckdb"), *args, **kwargs)
    if isinstance(expected, pd.DataFrame):
        assert len(expected) > 0, name
        pd.testing.assert_frame_equal(expected.reset_index(drop=True), got.reset_index(drop=True),
                                      check_dtype=False, check_categorical=False, obj=name)
    else:
        assert expected == got, name


@pytest.mark.slow  # the CLI once per metric option (~2 s); the suite's numbers stay fast
def test_cli_kpis_takes_every_metric_option_and_prints_the_report_tables(stores):
    """`rcmkit kpis --option KEY=VALUE` gives the numbers of MetricOptions(KEY=VALUE), and --table prints the
    aging, payer and reimbursement tables the report shows: an analyst needs no Python for them."""
    import json as _json

    from click.testing import CliRunner

    from rcmkit.cli import main
    from rcmkit.metrics import ar_aging, monthly_kpis, payer_scorecard

    small = engine.open_tables(stores, "small", "pandas")
    opts = MetricOptions(denial_policy="at_remit", aged_over_days=90, days_in_ar="gross_12m")
    expected = monthly_kpis(small, MONTH, opts)
    out = CliRunner().invoke(main, ["kpis", "--practice", "small", "--data-root", str(stores), "--engine", "pandas",
                                    "--month", MONTH, "--option", "denial_policy=at_remit", "--option",
                                    "aged_over_days=90", "--option", "days-in-ar=gross_12m", "--table", "all",
                                    "--json"])
    assert out.exit_code == 0, out.output
    got = _json.loads(out.output)
    assert got["options"]["denial_policy"] == "at_remit" and got["options"]["aged_over_days"] == 90
    assert {k: v["numerator"] for k, v in got["kpis"].items()} == {k: v.numerator for k, v in expected.items()}
    assert got["kpis"]["ar_total"]["value"] == 360.00  # by hand: tests/test_metrics.py, the at_remit variant
    assert expected["ar_total"].numerator != monthly_kpis(small, MONTH)["ar_total"].numerator  # the option mattered
    aging = ar_aging(small, MONTH, opts, by="payer")
    assert sum(r["balance_cents"] for r in got["tables"]["aging"]) == int(aging["balance_cents"].sum())
    scorecard = payer_scorecard(store.load_tables(stores, "small", required=False), MONTH, opts)
    assert [r["payer_id"] for r in got["tables"]["payers"]] == scorecard["payer_id"].tolist()
    assert set(got["tables"]) == {"aging", "payers", "reimbursement", "denials"}
    text = CliRunner().invoke(main, ["kpis", "--practice", "small", "--data-root", str(stores), "--month", MONTH,
                                     "--option", "aged_over_days=90", "--table", "aging"])
    assert "options: aged_over_days=90" in text.output and "\naging:\n" in text.output and "balance" in text.output
    for bad, message in ((["--option", "denial_policy=sometimes"], "must be one of"),
                         (["--option", "aged_over_days=ninety"], "expected a whole number"),
                         (["--option", "nonsense"], "expected KEY=VALUE")):
        result = CliRunner().invoke(main, ["kpis", "--practice", "small", "--data-root", str(stores), *bad])
        assert result.exit_code == 2 and message in result.output, result.output


def test_duckdb_reads_a_store_written_before_a_column_existed(tmp_path):
    """A store from an older rcmkit lacks a column the schema gained since (claim_line_details.diagnosis_pointers
    came with the scrubber): DuckDB reads it as typed NULLs, as the pandas loader does, instead of failing to
    bind the column."""
    import pyarrow.parquet as pq

    practice = demo.generate(n_claims=40, seed=3)
    details = practice["claim_lines"][["submission_id", "line_number"]].copy()
    for col in ("procedure_qualifier", "revenue_code", "unit_basis", "place_of_service", "line_control_number"):
        details[col] = None
    details["rendering_npi"], details["diagnosis_pointers"] = "1234567893", "1"
    practice["claim_line_details"] = schema.conform("claim_line_details", details)
    _save(tmp_path, "old", practice)
    files = store.committed_paths(tmp_path, "old", ["claim_line_details"])["claim_line_details"]
    assert files
    for f in files:  # the file as the older version wrote it: without the newer column
        table = pq.read_table(f)
        assert "diagnosis_pointers" in table.column_names
        pq.write_table(table.drop_columns(["diagnosis_pointers"]), f)
    rel = engine.open_tables(tmp_path, "old", "duckdb", names=["claim_line_details"])["claim_line_details"]
    assert rel.columns == schema.TABLES["claim_line_details"].names
    frame = rel.df()
    assert len(frame) == len(practice["claim_line_details"]) > 0
    assert frame["diagnosis_pointers"].isna().all()
    assert frame["rendering_npi"].notna().any()  # the other columns are read as written


@pytest.mark.slow  # the demo store
@pytest.mark.usefixtures("demo_store")  # the demo practice saved beside the small one
def test_pandas_tables_of_duckdb_are_the_stored_tables(stores):
    """rcmkit.core.engine.pandas_tables collects DuckDB's tables (arrow to the canonical pandas form in one
    conversion) into the rows the pandas engine reads (DuckDB scans the files in its own order), with the same
    values, dtypes and column order."""
    collected = engine.pandas_tables(engine.open_tables(stores, "demo", "duckdb"))
    stored = engine.open_tables(stores, "demo", "pandas")
    assert set(collected) == set(stored) and len(collected["ledger"]) > 1000

    def ordered(frame):
        scalar = [c for c in frame.columns if not frame[c].map(lambda v: isinstance(v, (list, np.ndarray))).any()]
        return frame.sort_values(scalar, kind="mergesort").reset_index(drop=True)

    for name, frame in stored.items():
        if frame is None:
            assert collected[name] is None, name
        else:
            assert list(collected[name].columns) == list(frame.columns), name
            pd.testing.assert_frame_equal(ordered(collected[name]), ordered(frame), obj=name)


@pytest.mark.slow  # the demo store
@pytest.mark.usefixtures("demo_store")  # the demo practice saved beside the small one
def test_collected_prepared_tables_query_the_engine(stores):
    """Prepared tables collected for the pandas-only metrics (rcmkit.metrics.as_pandas) keep their queries on the
    engine (no Polars copy of the collected tables) and share the engine's intermediates."""
    from rcmkit.metrics import as_pandas
    from rcmkit.metrics.denials import first_adjudications, first_adjudications_frame
    from rcmkit.metrics.summary import prepare

    prepared = prepare(engine.open_tables(stores, "demo", "duckdb"))
    first = first_adjudications_frame(prepared)
    pt = as_pandas(prepared)
    assert as_pandas(prepared) is pt  # collected once
    assert all(isinstance(pt[n], pd.DataFrame) for n in ("ledger", "postings"))
    queries = engine.lazy_tables(pt, ["ledger", "postings"])
    assert {engine.engine_of(q) for q in queries.values()} == {"duckdb"}
    assert "amount_cents" in queries["postings"].columns  # the engine's table, whole
    assert first_adjudications_frame(pt) is first
    pt.forget_engine_copies()  # only Polars copies go: a DuckDB query frame holds no copy of the data
    assert engine.lazy_tables(pt, ["ledger"])["ledger"] is queries["ledger"]
    on_pandas = prepare(engine.open_tables(stores, "demo", "pandas"))
    pd.testing.assert_frame_equal(first_adjudications(pt), first_adjudications(on_pandas), check_dtype=False)
