"""The monthly report end to end (one executed report shared by the slow tests), plus the pieces it is made of."""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import rcmkit
from conftest import run_cli
from rcmkit.metrics import (KPI, MetricOptions, benchmark_status, definitions_used, denial_outcomes, denial_reasons,
                            denied_not_resubmitted, last_full_month, monthly_kpis, no_response, timely_filing_risk,
                            unapplied_postings, underpayment_summary)
from rcmkit.metrics.contracts import underpayment_totals
from rcmkit.metrics.payers import open_denials, payer_scorecard
from rcmkit.core.refdata import benchmarks
from rcmkit.present.narrative import data_through, executive_summary
from rcmkit.report import suite
from rcmkit.present import charts
from rcmkit.present import tiles
from rcmkit.present import format as fmt
from rcmkit.report.export import external_references, find_chromium, notebook_to_html
from rcmkit.report.record import write_metrics
from rcmkit.report.kernel import _runs_this_python
from rcmkit.report.run import default_notebook, publish_dir
from rcmkit.core import store
from rcmkit.core.store import load_tables
from small_practice import tables as small_tables

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "monthly_report.ipynb"


@pytest.fixture(scope="session")
def expected(demo_root):
    """The month's KPIs computed in the test process, independently of the notebook."""
    tables = load_tables(demo_root, "demo", required=False)
    month = last_full_month(tables)
    opts = MetricOptions()
    return {"month": month, "kpis": monthly_kpis(tables, month, opts), "definitions": definitions_used(opts, month)}


@pytest.fixture(scope="session")
def report_html(demo_report) -> str:
    assert demo_report.returncode == 0, demo_report.stderr
    return (demo_report.report_dir / "monthly_report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_demo_command_writes_tables_and_ledger(demo_cli):
    root, proc = demo_cli
    folder = root / "demo"
    assert f"to {folder.resolve()}" in proc.stdout
    manifest = store.manifest(root, "demo")
    for name in ("payers", "claims", "claim_lines", "remittances", "remit_lines", "adjustments", "ledger"):
        rows = manifest["tables"][name]["rows"]
        assert rows > 0 and re.search(rf"{name}\s+{rows:,} rows", proc.stdout), name
    claims = load_tables(root, "demo", ["claims"])["claims"]
    assert 1400 <= claims["claim_id"].nunique() <= 1500  # originals; visits not yet billed at the end are left out


@pytest.mark.slow
def test_report_publishes_its_files(demo_report, expected):
    assert demo_report.returncode == 0, demo_report.stderr
    month = expected["month"]
    report_dir = demo_report.report_dir
    assert report_dir == (demo_report.project / "reports" / "demo" / month).resolve()
    files = ["metrics.json", "monthly_report.html", "monthly_report.ipynb", "monthly_report.pdf",
             "monthly_report.slides.html", "run.json"]
    if find_chromium() is None:  # without Chromium the report says so in one line and skips the PDF
        files.remove("monthly_report.pdf")
        assert "PDF skipped: chromium not found" in demo_report.stderr.splitlines()
    assert sorted(p.name for p in report_dir.iterdir()) == files
    assert [p.name for p in report_dir.parent.iterdir()] == [month]  # no staging or failure folders left
    last = demo_report.stdout.strip().splitlines()[-1]
    assert Path(last).is_absolute() and Path(last) == report_dir / "monthly_report.html"
    executed = nbformat.read(report_dir / "monthly_report.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["month"] == month  # resolved before the kernel started
    assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code")


@pytest.mark.slow
def test_executed_notebook_and_run_log(demo_report, expected):
    """Wall-clock times live in run.json only: the executed notebook has none, nor the staging folder's path."""
    report_dir = demo_report.report_dir
    text = (report_dir / "monthly_report.ipynb").read_text(encoding="utf-8")
    for needle in ('"start_time"', '"end_time"', '"duration"', '"iopub.execute_input"', ".tmp-"):
        assert needle not in text, needle
    nb = nbformat.read(report_dir / "monthly_report.ipynb", as_version=4)
    assert nb.metadata.papermill.output_path == str(report_dir / "monthly_report.ipynb")
    run = json.loads((report_dir / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "ok" and run["practice"] == "demo" and run["month"] == expected["month"]
    assert run["rcmkit_version"] == rcmkit.__version__ and run["kernel"]
    manifest = store.manifest(run["parameters"]["data_root"], "demo")
    assert run["inputs"] == {name: t["sha256"] for name, t in manifest["tables"].items()}
    assert run["store"] == {"store_snapshot": manifest["snapshot"],
                            "tables": {name: t["version"] for name, t in manifest["tables"].items()}}
    assert run["notebook"]["sha256"] == hashlib.sha256(NOTEBOOK.read_bytes()).hexdigest()
    assert run["started_at"] <= run["finished_at"] and run["started_at"].endswith("Z")
    assert run["outputs"]["html"] == "monthly_report.html" and run["outputs"]["slides"] == "monthly_report.slides.html"
    # where the time went; the packaged notebook writes the deck from its model, so the runner builds no second
    # model for it (no "slides" step)
    assert {"notebook", "html"} <= set(run["timings"]) and "slides" not in run["timings"]
    assert 0 < run["timings"]["notebook"] <= run["seconds"]
    assert re.fullmatch(r"[0-9a-f]{64}", run["fingerprint"])


@pytest.mark.slow
def test_slides_are_a_short_deck_without_code(demo_report):
    """The deck (rcmkit.report.deck; tests/test_deck.py checks it in Chromium): <= 12 slides, four charts embedded,
    no code, nothing from a CDN."""
    slides = (demo_report.report_dir / "monthly_report.slides.html").read_text(encoding="utf-8")
    markup = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", slides).lower()  # the charts are not markup
    assert "reveal" not in markup and "cdn" not in markup and "http" not in markup
    assert 8 <= len(re.findall(r'<section class="slide\b', slides)) <= 12
    for code in ("load_tables(", "monthly_kpis(", "setup_notebook(", "write_metrics(", "Traceback"):
        assert code not in slides, code
    assert len(re.findall(r'<img[^>]*\ssrc="data:image/png;base64,', slides)) == 4


@pytest.mark.slow
def test_html_has_no_code_prompts_or_noise(report_html):
    # elements (the template's CSS names these classes, so look at class attributes)
    classes = " ".join(re.findall(r'class="([^"]*)"', report_html)).split()
    for cls in ("jp-InputArea", "jp-InputArea-editor", "input_area", "jp-InputPrompt", "jp-OutputPrompt",
                "jp-CodeMirrorEditor", "highlight", "jp-RenderedText"):
        assert cls not in classes, cls
    for needle in ("In [", "Out[", "Traceback", "Warning", "warnings.", "<script", "patient_key"):
        assert needle not in report_html, needle
    for code in ("load_tables(", "monthly_kpis(", "setup_notebook(", "metric_options", "write_metrics("):
        assert code not in report_html, f"notebook code leaked into the HTML: {code}"
    assert "<pre>" not in report_html  # no text/plain reprs (a DataFrame or a Figure repr would be one)


@pytest.mark.slow
def test_html_shows_the_kpis_as_displayed(report_html, expected):
    kpis = expected["kpis"]
    assert len(kpis) >= 9
    for kpi in kpis.values():
        assert htmllib.escape(kpi.label) in report_html, kpi.label
        assert htmllib.escape(fmt.kpi_value(kpi)) in report_html, (kpi.key, fmt.kpi_value(kpi))
    for section in ("Executive summary", "Key indicators", "Twelve-month trends", "A/R aging by payer",
                    "Denials by category", "Denial reasons", "Payer scorecard",
                    "Reimbursement by payer and procedure code", "How these numbers are defined", "Providers",
                    "Payer mix", "The month beside last year"):
        assert section in report_html
    for d in expected["definitions"].itertuples():
        if d.metric != "Options":  # the options are the analyst's (metrics.json); the appendix says them in words
            assert htmllib.escape(d.source) in report_html  # the appendix cites every source


@pytest.mark.slow
def test_html_embeds_its_charts(report_html):
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', report_html)
    assert len(srcs) >= 9  # 4 trend charts, aging, denial categories, denial reasons, payer scorecard, paid per unit
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    png = base64.b64decode(srcs[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") >= 800  # width in pixels: readable, not a thumbnail
    assert external_references(report_html) == []


@pytest.fixture(scope="session")
def demo_tables(demo_root):
    return load_tables(demo_root, "demo", required=False)


def _table(report_html: str, caption_start: str) -> str:
    """The HTML of the report table whose caption starts with ``caption_start``."""
    m = re.search(r"<table[^>]*><caption>" + re.escape(htmllib.escape(caption_start)) + r".*?</table>", report_html,
                  re.S)
    assert m, f"no table captioned {caption_start!r}"
    return m.group(0)


def _rows(table_html: str) -> list[list[str]]:
    """The text of each body row's cells (tags removed, entities unescaped)."""
    body = table_html.split("<tbody>", 1)[1]
    return [[htmllib.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


@pytest.mark.slow
def test_html_shows_the_rest_of_the_kpi_suite(report_html, expected):
    for section in ("Collections and lags", "Charge lag and unbilled charges", "Underpayments", "Work lists",
                    "What became of the denials of three months ago", "Denials by procedure code",
                    "Other measures in this report"):
        assert f">{section}" in report_html, section  # a heading (or caption) of its own
    month = expected["month"]
    assert "Gross collection rate (12 mo)" in report_html and "Net collection rate (12 mo)" in report_html
    assert f"posted {fmt.span_label(month, 12)} (12 months)" in report_html  # the trailing window, named
    cohort = fmt.months_back(month, 3)
    assert f"Initial denials of {fmt.month_label(cohort)}, as of " in report_html


@pytest.mark.slow
def test_underpayment_total_equals_the_metric(report_html, demo_tables, expected):
    summary = underpayment_summary(demo_tables, expected["month"])
    assert "55120" in set(summary["payer_id"])  # the demo's payer that allows below its contract
    rows = _rows(_table(report_html, "Underpayments against contract"))
    assert rows[-1][0] == "All payers"
    assert rows[-1][-1] == fmt.usd_cents(summary["shortfall_cents"].sum())  # the report's money format
    assert len(rows) == len(summary) + 1 and any(r[0] == "Northstar Health" for r in rows)
    assert "Tolerance: a line counts as underpaid only when" in report_html


@pytest.mark.slow
def test_worklist_counts_equal_the_metrics(report_html, demo_tables, expected):
    month = expected["month"]
    metrics = {"No payer response": no_response(demo_tables, month, days=30),
               "Timely filing at risk": timely_filing_risk(demo_tables, month, warn_days=30),
               "Denied, not resubmitted": denied_not_resubmitted(demo_tables, month)}
    rows = {r[0]: r for r in _rows(_table(report_html, "Work lists at the end of"))}
    assert set(rows) == set(metrics)
    for name, frame in metrics.items():
        assert rows[name][2] == fmt.count(len(frame)), name
        assert rows[name][3] == fmt.usd_cents(int(frame["balance_cents"].sum()), cents_shown=False), name
        top = _rows(_table(report_html, f"{name}: "))
        key = {"No payer response": "no_response", "Timely filing at risk": "timely_filing_risk",
               "Denied, not resubmitted": "denied_not_resubmitted"}[name]
        order = list(suite.WorkList(key, name, "", frame).ordered()["claim_id"].head(10))  # the report's order
        assert [r[0] for r in top] == order or (not len(frame) and len(top) == 1)
    assert sum(len(f) for f in metrics.values()) > 0  # the demo has work to do


@pytest.mark.slow
def test_denial_outcomes_shown_are_the_metric(report_html, demo_tables, expected):
    month = expected["month"]
    out = denial_outcomes(demo_tables, fmt.months_back(month, 3), as_of=str(pd.Period(month, "M").end_time.date()))
    rows = _rows(_table(report_html, "Initial denials of "))
    assert [r[0] for r in rows] == ["Overturned", "Written off", "Still open", "All initial denials"]
    assert [r[1] for r in rows[:3]] == [fmt.count(n) for n in out["claims"]]
    assert rows[-1][-1] == fmt.usd_cents(int(out["recovered_cents"].sum()))


@pytest.mark.slow
def test_no_patient_keys_in_the_report(report_html, demo_report, demo_tables):
    keys = set(demo_tables["claims"]["patient_key"].astype(str))
    assert keys and all(re.fullmatch(r"P[0-9a-f]{16}", k) for k in keys)  # how the demo's pseudonyms look
    for path in ("monthly_report.html", "monthly_report.slides.html"):
        text = (demo_report.report_dir / path).read_text(encoding="utf-8")
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)  # embedded charts are not text
        assert not re.findall(r"P[0-9a-f]{16}", text), path
        assert not re.findall(r"\bP\d{6}\b", text), path  # the generator's roster keys
        assert not keys & set(re.findall(r"P\w+", text)), path


@pytest.mark.slow
def test_metrics_json_equals_monthly_kpis(demo_report, expected, tmp_path):
    path = demo_report.report_dir / "metrics.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    month = expected["month"]
    assert (doc["practice"], doc["month"], doc["rcmkit_version"]) == ("demo", month, rcmkit.__version__)
    assert doc["as_of"] == str(pd.Period(month, freq="M").end_time.date())
    assert list(doc["kpis"]) == sorted(expected["kpis"])  # sorted keys
    for key, kpi in expected["kpis"].items():
        got = doc["kpis"][key]
        for field in ("value", "unit", "numerator", "denominator", "definition", "source", "label"):
            assert got[field] == getattr(kpi, field), (key, field)  # exact: floats survive JSON unchanged
    assert doc["definitions"] == expected["definitions"].to_dict(orient="records")
    # the report's other parts, computed here independently of the notebook
    tables = load_tables(Path(json.loads((demo_report.report_dir / "run.json").read_text())["parameters"]["data_root"]),
                         "demo", required=False)
    status = benchmark_status(expected["kpis"])
    from rcmkit.forecast.report import month_forecast
    from rcmkit.metrics import kpi_trend
    from rcmkit.report.model import kpi_comparison

    first = pd.Timestamp(tables["ledger"]["posted_on"].min()).strftime("%Y-%m")
    comparison = kpi_comparison(expected["kpis"], kpi_trend(tables, month, months=13), month, first_month=first)
    summary = executive_summary(tables, month, MetricOptions(), kpis=expected["kpis"], status=status, practice="demo",
                                comparison=comparison)
    scorecard = payer_scorecard(tables, month)
    worklists = suite.worklist_summary(tables, month, no_response_days=30, warn_days=30)
    underpaid = underpayment_summary(tables, month)
    assert doc["summary"] == json.loads(json.dumps(summary.to_dict()))
    assert doc["worklists"]["no_response"]["claims"] == len(no_response(tables, month, days=30))
    assert doc["worklists"]["denied_not_resubmitted"]["balance_cents"] == int(
        denied_not_resubmitted(tables, month)["balance_cents"].sum())
    assert doc["underpayments"]["shortfall_cents"] == round(underpaid["shortfall_cents"].sum()) > 0
    assert doc["benchmarks"]["days_in_ar"]["status"] == status.set_index("key").loc["days_in_ar", "status"]
    assert sum(r["open_ar_cents"] for r in doc["payer_scorecard"]) == round(doc["kpis"]["ar_total"]["value"] * 100)
    # deterministic: the same inputs give the same bytes (no wall-clock time inside)
    again = write_metrics(tmp_path, "demo", month, expected["kpis"], expected["definitions"], status=status,
                          summary=summary, scorecard=scorecard, data_through=data_through(tables), practice_name=None,
                          worklists=worklists, underpayments=underpaid,
                          suspense=unapplied_postings(tables, month),
                          measures=suite.measure_definitions(MetricOptions(), no_response_days=30, warn_days=30),
                          cash_forecast=month_forecast(tables, month))
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_failing_notebook_keeps_partial_and_publishes_nothing(demo_report, expected, tmp_path):
    month = expected["month"]
    out = demo_report.project / f"reports-{tmp_path.name}"  # --output-root stays inside the project
    good = out / "demo" / month
    shutil.copytree(demo_report.report_dir, good)  # an older, complete report that must survive
    good_html = (good / "monthly_report.html").read_bytes()
    nb = new_notebook(metadata={"kernelspec": {"name": "rcmkit", "language": "python", "display_name": "rcmkit"}},
                      cells=[
        new_code_cell("practice = data_root = month = output_dir = title = None\nmetric_options = {}",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("x = 1"),
        new_code_cell('raise ValueError("boom in the third cell\\n" + "second" + "line")'),
        new_code_cell('print("never ran")'),
    ])
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    proc = run_cli("report", str(demo_report.params), "--notebook", str(broken), "--output-root", str(out),
                   "--no-progress", cwd=demo_report.project)
    assert proc.returncode == 1
    assert proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the report notebook failed at In [4]")  # the injected-parameters cell ran as In [2]
    assert "ValueError: boom in the third cell;" in last and "secondline" not in last  # the error's first line
    failed = out / "demo" / f"{month}.failed" / "monthly_report.ipynb"
    assert str(failed) in last
    partial = nbformat.read(failed, as_version=4)
    errors = [o for c in partial.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].evalue.startswith("boom in the third cell")
    assert partial.cells[-1].outputs == [] and partial.cells[-1].execution_count is None  # stopped at the error
    assert (good / "monthly_report.html").read_bytes() == good_html  # the older report is untouched
    assert sorted(p.name for p in (out / "demo").iterdir()) == [month, f"{month}.failed"]


# --------------------------------------------------------------------------------------------- the pieces
def test_committed_notebook_is_clean_and_thin():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert default_notebook() == NOTEBOOK
    assert nb.metadata.kernelspec.name == "rcmkit"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for c in code:
        assert c.outputs == [] and c.execution_count is None, "commit the notebook without outputs"
        src = "\n".join(ln.split("#")[0] for ln in c.source.splitlines())  # code without comments
        for op in (".groupby(", ".sum(", ".mean(", ".merge(", "pd.", "np.", ".loc[", "for ", "lambda"):
            assert op not in src, f"computation in the notebook ({op!r}); move it into rcmkit: {c.source!r}"
    params = {ln.split(":")[0].split("=")[0].strip() for ln in code[0].source.splitlines() if ln and ln[0].isalpha()}
    assert params == {"practice", "data_root", "month", "output_dir", "title", "practice_name", "metric_options",
                      "benchmark_overrides", "store_version", "slides"}
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 10  # prose between the sections
    # slide metadata on every cell: setup cells skipped, one KPI view per slide
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert all(k in ("slide", "subslide", "-", "skip") for k in kinds), kinds
    assert kinds[:3] == ["skip", "skip", "skip"] and kinds[-1] == "skip"
    assert all(c.cell_type == "markdown" for c, k in zip(nb.cells, kinds) if k == "slide" and c is not nb.cells[3])
    assert len({c.id for c in nb.cells}) == len(nb.cells)  # stable, unique cell ids


def test_publish_dir_replaces_an_older_folder(tmp_path):
    final = tmp_path / "2026-03"
    final.mkdir()
    (final / "old.txt").write_text("old")
    staging = tmp_path / ".2026-03.tmp-1"
    staging.mkdir()
    (staging / "new.txt").write_text("new")
    publish_dir(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-03"]
    staging2 = tmp_path / ".2026-04.tmp-2"
    staging2.mkdir()
    publish_dir(staging2, tmp_path / "2026-04")  # no older folder: a plain rename
    assert (tmp_path / "2026-04").is_dir() and not staging2.exists()


def test_payer_colors_are_stable_and_patient_grey():
    payers = pd.DataFrame({"payer_id": ["MCR", "BCX", "SELF", "MCD"],
                           "payer_class": ["medicare", "commercial", "self_pay", "medicaid"]})
    a = charts.payer_colors(payers)
    b = charts.payer_colors(payers.iloc[::-1])
    assert a == b
    assert a["SELF"] == a["patient"] == charts.PATIENT_COLOR
    insurers = [a[p] for p in ("BCX", "MCD", "MCR")]
    assert len(set(insurers)) == 3 and charts.PATIENT_COLOR not in insurers
    assert charts.payer_order(["patient", "MCR", "BCX"], a) == ["BCX", "MCR", "patient"]


def _kpi(key, value, unit):
    return KPI(key, key.replace("_", " "), value, unit, None, None, f"definition of {key}", "source")


def test_kpi_tiles_show_value_prior_month_and_direction():
    kpis = {"days_in_ar": _kpi("days_in_ar", 42.0, "days"), "clean_claim_rate": _kpi("clean_claim_rate", 0.95, "pct")}
    trend = pd.DataFrame({"month": ["2026-07", "2026-08", "2026-09"], "days_in_ar": [38.0, 40.0, 42.0],
                          "clean_claim_rate": [0.9, 0.93, 0.95]})
    out = tiles.kpi_tiles(kpis, trend, month="2026-09")
    assert "42.0 days" in out and "95.0%" in out
    assert "Aug 2026: 40.0 days" in out and "Aug 2026: 93.0%" in out
    assert '<span class="rcm-bad">▲ +2.0 days</span>' in out  # more days in A/R is worse
    assert '<span class="rcm-good">▲ +2.0 pts</span>' in out  # a higher clean-claim rate is better
    assert out.count("<svg") == 2 and "<polyline" in out


def test_tables_format_exact_cents_and_escape():
    reimb = pd.DataFrame([{
        "payer_id": "BCX", "payer_name": "Blue <Cross> & Co", "procedure_code": "99213", "claims": 12, "lines": 12,
        "units": 12.0, "billed_cents": 123456.0, "allowed_cents": 100001.0, "paid_cents": 80000.0,
        "paid_to_allowed": 0.8, "paid_per_unit_cents": 6666.67, "suppressed": False}])
    out = tiles.reimbursement_table(reimb, charts.payer_colors(["BCX"]))
    assert "Blue &lt;Cross&gt; &amp; Co" in out and "<Cross>" not in out
    for text in ("$1,234.56", "$1,000.01", "$800.00", "80.0%", "$66.67"):
        assert text in out
    # the paid/allowed bar: a solid fill 80% wide, not a gradient with a hard stop (a dark hairline in the PDF)
    assert 'style="background: linear-gradient(#e3eef8, #e3eef8) left / 80% 100% no-repeat">80.0%' in out
    assert "transparent" not in out
    aging = pd.DataFrame({"payer_id": ["BCX"] * 5, "payer_name": ["BCX"] * 5, "bucket": charts.BUCKETS,
                          "balance_cents": [100, 200, 300, 400, 1001]})
    a = tiles.aging_table(aging, charts.payer_colors(["BCX"]))
    assert "$20.01" in a and "50.0%" in a  # total and share over 120 days (1001 / 2001)


def test_html_export_hides_code_and_stderr():
    nb = new_notebook(cells=[new_code_cell("secret_code = 1", outputs=[
        new_output("stream", name="stderr", text="UserWarning: noisy\n"),
        new_output("display_data", data={"text/html": "<b>shown</b>"}),
    ], execution_count=1)])
    out, n_stderr = notebook_to_html(nb, title="t")
    assert n_stderr == 1
    assert "<b>shown</b>" in out and "secret_code" not in out and "noisy" not in out
    assert external_references(out) == []


def test_kernel_interpreter_check():
    assert _runs_this_python(["python", "-m", "ipykernel_launcher"])
    assert _runs_this_python([sys.executable, "-m", "ipykernel_launcher"])
    assert not _runs_this_python(["/somewhere/else/bin/python", "-m", "ipykernel_launcher"])


@pytest.mark.slow
def test_html_is_a_pure_function_of_the_executed_notebook(demo_report, report_html):
    """Re-exporting the published notebook gives the published bytes: no timestamps or random ids in the HTML."""
    nb = nbformat.read(demo_report.report_dir / "monthly_report.ipynb", as_version=4)
    again, n_stderr = notebook_to_html(nb, title="demo monthly report " + demo_report.report_dir.name)
    assert n_stderr == 0  # the notebook printed no warnings
    assert again == report_html


def test_title_block_names_month_and_as_of_but_no_developer_options():
    out = tiles.title_block("demo", "2026-09", options=MetricOptions(days_in_ar="gross_12m"))
    assert "September 2026" in out and "Balances as of Sep 30, 2026" in out
    # the variant goes to the appendix in words (rcmkit.present.appendix), not to the heading as option names
    for dev in ("Metric options", "days_in_ar", "gross_12m", "rcmkit", "<code>"):
        assert dev not in out, dev


# --------------------------------------------------------------------------------------------- consultant pieces
def test_kpi_tiles_are_coloured_by_benchmark_status():
    kpis = {"days_in_ar": _kpi("days_in_ar", 45.0, "days"), "clean_claim_rate": _kpi("clean_claim_rate", 0.96, "pct"),
            "net_collection_rate": _kpi("net_collection_rate", 0.90, "pct"), "charges": _kpi("charges", 1000.0, "usd")}
    status = benchmark_status(kpis)
    out = tiles.kpi_tiles(kpis, None, month="2026-09", status=status)
    assert '<div class="rcm-tile rcm-st-near"' in out and "Near target" in out  # 45 days: between 40 and 50
    assert '<div class="rcm-tile rcm-st-meeting"' in out and "Meets target" in out  # 96% >= 95%
    assert '<div class="rcm-tile rcm-st-missing"' in out and "Misses target" in out  # 90% < 95%
    assert '<div class="rcm-tile" ' in out  # charges: no target, no colour
    assert "Target ≤ 40 days; near ≤ 50 days" in out and "Target ≥ 95%; near ≥ 93%" in out
    assert "Source: AAFP: 30-40 days preferable, under 50 minimum, evidence grade A" in out
    overridden = benchmark_status(kpis, benchmarks(overrides={"days_in_ar": {"good": 46, "acceptable": 55}}))
    assert '<div class="rcm-tile rcm-st-meeting" title="definition of days_in_ar"' in tiles.kpi_tiles(
        kpis, None, status=overridden)


def test_target_text_directions_and_units():
    assert tiles.target_text("ar_over_120_pct", "pct", 0.12, 0.25) == "Target ≤ 12%; near ≤ 25%"
    assert tiles.target_text("net_collection_rate", "pct", 0.99, 0.95) == "Target ≥ 99%; near ≥ 95%"
    assert tiles.target_text("days_in_ar", "days", 40, 40) == "Target ≤ 40 days"
    assert tiles.target_text("charges", "usd", None, None) == ""


def test_executive_summary_of_the_small_practice():
    t = small_tables()
    es = executive_summary(t, "2026-03", MetricOptions(), practice="small", practice_name="Small Clinic")
    assert es.prior_month == "2026-02"
    assert es.headline.startswith("In March 2026 Small Clinic billed $350 and collected $530. Open A/R at month end "
                                  "was $490, 33.9 days of charges.")
    improved = {c.key for c in es.improved}
    assert {"days_in_ar", "clean_claim_rate", "initial_denial_rate"} <= improved
    # C03 turned 131 days old; patients paid $20 of $20 assigned by February's end, $25 of $50 by March's
    assert [c.key for c in es.worsened] == ["ar_over_120_pct", "patient_collection_rate"]
    assert all(c.key not in {"charges", "payments", "ar_total"} for c in es.improved + es.worsened)
    # opportunities: MCD's C03 (150 over 120 days), then the open denials C08 (80) and C06 (50); MCD's A/R past
    # 60 days (the same C03) is not counted twice
    assert [(o.kind, o.cents) for o in es.opportunities] == [("aged_ar", 15000), ("open_denials", 8000),
                                                              ("open_denials", 5000)]
    assert es.opportunities[0].text.startswith("$150 owed by State Medicaid is over 120 days old (65% of its open")
    text = es.to_text()
    assert ("Worse than February 2026: A/R over 120 days from 0.0% to 30.6% (+30.6 pts); patient collection rate "
            "(12 mo) from 100.0% to 50.0% (-50.0 pts).") in text
    assert "2. $80 on 1 claim denied for authorization / referral, not yet resubmitted" in text
    html_out = es.to_html()
    assert "<ol class=\"rcm-opps\">" in html_out and html_out.count("<li>") == len(es.improved) + len(es.worsened) + 3
    assert es.to_dict()["opportunities"][0]["label"] == "State Medicaid A/R over 120 days"
    # the same inputs give the same words
    assert executive_summary(t, "2026-03", practice="small", practice_name="Small Clinic") == es


def test_executive_summary_without_a_prior_month():
    es = executive_summary(small_tables(), "2025-11")
    assert es.prior_month is None and not es.improved and not es.worsened
    assert "There is no prior month in the data to compare with." in es.to_text()
    assert es.headline.startswith("In November 2025 the practice billed $150")


def test_data_through_is_the_latest_event_not_today():
    assert data_through(small_tables()) == "2026-03-31"  # C12's patient payment
    out = tiles.title_block("demo", "2026-03", data_through="2026-03-31")
    assert "Report date Mar 31, 2026" in out


def test_scorecard_and_open_denials_tables():
    t = small_tables()
    colors = charts.payer_colors(t["payers"])
    out = tiles.scorecard_table(payer_scorecard(t, "2026-03"), colors)
    for text in ("State Medicaid", "$140", "$360", "50.0%", "17.5", "65.2%", "All payers and patients", "$490"):
        assert text in out, text
    assert tiles.open_denials_table(open_denials(t, "2026-03")).count("<tr") == 4  # header, 2 categories, total
    fig = charts.payer_scorecard_chart(payer_scorecard(t, "2026-03"), colors)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["Initial denial rate", "Median days to pay",
                                                             "A/R over 120 days"]
    fig = charts.denials_by_category(denial_reasons(t, "2026-03", top=None), open_denials(t, "2026-03"),
                                     month="2026-03")
    assert [lbl.get_text() for lbl in fig.axes[0].get_yticklabels()] == ["Authorization / referral", "Bundling / NCCI"]


def test_portfolio_page_is_static_and_links_relatively(tmp_path):
    from rcmkit.report.portfolio import write_portfolio

    doc = {"practice": "p1", "month": "2026-03", "practice_name": "Clinic <One>", "data_through": "2026-03-31",
           "kpis": {"days_in_ar": {"value": 45.0, "unit": "days"}, "charges": {"value": 1234.5, "unit": "usd"}},
           "benchmarks": {"days_in_ar": {"status": "near", "good": 40, "acceptable": 50, "source": "AAFP",
                                         "grade": "A"}},
           "summary": {"opportunities": [{"label": "Patient balances over 120 days", "cents": 123456}]}}
    folder = tmp_path / "p1" / "2026-03"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(doc))
    (folder / "monthly_report.html").write_text("x")  # the page links to the outputs that exist
    page = write_portfolio(tmp_path, "2026-03", {"p2": "p2.yaml:1: practice: no data"})
    html_out = page.read_text()
    assert page == tmp_path / "2026-03" / "index.html"
    assert html_out.count("<script") == 1 and "<script src" not in html_out and "Clinic &lt;One&gt;" in html_out
    assert 'href="../p1/2026-03/monthly_report.html"' in html_out and "monthly_report.pdf" not in html_out
    assert 'class="num st-near"' in html_out and "45.0 days" in html_out
    assert "Patient balances over 120 days: $1,235" in html_out
    assert "p2.yaml" not in html_out and html_out.index("Clinic") < html_out.index("p2</strong>")
    assert "Report could not be produced; see the run log." in html_out  # the reason is for the run log only
    assert write_portfolio(tmp_path, "2026-03", {"p2": "p2.yaml:1: practice: no data"}).read_text() == html_out


def test_months_back_and_span_label():
    assert fmt.months_back("2026-10", 3) == "2026-07" and fmt.months_back("2026-02", 3) == "2025-11"
    assert fmt.span_label("2026-10", 12) == "Nov 2025 to Oct 2026" and fmt.span_label("2026-10", 1) == "Oct 2026"
    assert suite.denial_cohort_month("2026-01") == "2025-10"


def test_worklists_and_underpayments_of_the_small_practice():
    t = small_tables()
    colors = charts.payer_colors(t["payers"])
    wl = suite.worklist_summary(t, "2026-03")
    assert [(w.key, w.claims) for w in wl] == [("no_response", len(no_response(t, "2026-03"))),
                                              ("timely_filing_risk", len(timely_filing_risk(t, "2026-03"))),
                                              ("denied_not_resubmitted", len(denied_not_resubmitted(t, "2026-03")))]
    assert wl.to_dict()["denied_not_resubmitted"] == {"name": "Denied, not resubmitted", "claims": 2,
                                                      "balance_cents": 13000}
    summary_html = tiles.worklist_summary_table(wl)
    assert "Work lists at the end of March 2026" in summary_html and "$130" in summary_html
    rows = tiles.worklist_table(wl["denied_not_resubmitted"], t["payers"], colors)
    assert "Denied, not resubmitted: 2 claims" in rows and "patient" not in rows.lower()
    assert list(wl["no_response"].top(10).columns) == list(suite.WORKLIST_COLUMNS["no_response"])
    assert "No claims on this list." in tiles.worklist_table(wl["timely_filing_risk"], t["payers"], colors)
    under = underpayment_summary(t, "2026-03")
    out = tiles.underpayment_table(under, t["payers"], colors, month="2026-03", options=MetricOptions())
    assert "BlueCross X" in out and "$40.00" in out  # 3000 + 500 + 500 cents short
    assert "more than 2% of that amount or $1.00" in out
    # BCX 99214 180.00 vs 150.00 allowed, BCX 99213 65.00 vs 60.00, MCR 99212 85.00 vs 80.00
    assert underpayment_totals(under) == {"lines": 3, "expected_cents": 33000, "allowed_cents": 29000,
                                          "shortfall_cents": 4000}
    assert underpayment_totals(None) == {"lines": 0, "expected_cents": 0, "allowed_cents": 0, "shortfall_cents": 0}
    no_contracts = tiles.underpayment_table(under.head(0), t["payers"], colors, contracts=t["contracts"].head(0))
    assert "No contract rates are loaded" in no_contracts
    outcomes = tiles.denial_outcomes_table(denial_outcomes(t, "2026-01", as_of="2026-03-31"), cohort_month="2026-01",
                                           as_of="2026-03-31")
    assert "Initial denials of January 2026, as of Mar 31, 2026" in outcomes and "All initial denials" in outcomes
    defs = suite.measure_definitions()
    assert len(defs) == 11 and not defs["definition"].str.contains("``|:func:").any()
    assert "more than 30 days" in defs.set_index("metric").loc["No payer response", "definition"]


# --------------------------------------------------------------------------------------------- PDF
@pytest.mark.browser
def test_pdf_is_printed_on_letter_pages(tmp_path):
    from rcmkit.report.export import html_to_pdf

    if find_chromium() is None:
        pytest.skip("PDF skipped: chromium not found")
    page = tmp_path / "r.html"
    page.write_text("<html><head><style>@page { size: Letter; margin: .5in; }</style></head>"
                    "<body><h1>Days in A/R 42.0 days</h1></body></html>")
    pdf = html_to_pdf(page, tmp_path / "r.pdf")
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and b"/MediaBox [0 0 612 792]" in data  # US Letter, in points
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.pdf"]  # no temporary files left


def test_pdf_errors_are_one_line(tmp_path, monkeypatch):
    from rcmkit.report import export

    page = tmp_path / "r.html"
    page.write_text("<p>x</p>")
    monkeypatch.setenv("RCMKIT_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(export.ChromiumNotFound, match="^chromium not found$"):
        export.html_to_pdf(page, tmp_path / "r.pdf")
    sleeper = tmp_path / "slow-chromium"
    sleeper.write_text("#!/bin/sh\nsleep 30\n")
    sleeper.chmod(0o755)
    # the command-line engine's errors (Playwright's own: test_pdf.py's hanging-print test)
    with pytest.raises(export.PdfError, match="did not finish printing r.html within 1 s"):
        export.html_to_pdf(page, tmp_path / "r.pdf", chromium=str(sleeper), timeout=1, engine="cli")
    failing = tmp_path / "bad-chromium"
    failing.write_text("#!/bin/sh\necho 'first\nlast words' >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(export.PdfError, match=r"could not print r.html \(exit 3\): last words$"):
        export.html_to_pdf(page, tmp_path / "r.pdf", chromium=str(failing), engine="cli")
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.slow
@pytest.mark.notebook
def test_report_without_chromium_still_publishes_html(demo_root, tmp_path, monkeypatch):
    from rcmkit.report import export, load_params, run_report

    nb = new_notebook(metadata={"kernelspec": {"name": "rcmkit", "language": "python", "display_name": "rcmkit"}},
                      cells=[
        new_code_cell("practice = data_root = month = output_dir = title = practice_name = None\n"
                      "metric_options = benchmark_overrides = {}", metadata={"tags": ["parameters"]}),
        new_code_cell("from rcmkit.report import write_metrics\nwrite_metrics(output_dir, practice, month, {})"),
        new_code_cell("from IPython.display import HTML\nHTML('<p>tiny report</p>')"),
    ])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    (tmp_path / "demo-data").symlink_to(demo_root, target_is_directory=True)  # paths stay inside the project
    (tmp_path / "p.yaml").write_text("practice: demo\ndata_root: demo-data\noutput_root: out\n")
    monkeypatch.setattr(export, "find_chromium", lambda: None)
    lines: list[str] = []
    result = run_report(load_params(tmp_path / "p.yaml", cwd=tmp_path), notebook=tmp_path / "tiny.ipynb",
                        progress=False, log=lines.append)
    assert lines.count("PDF skipped: chromium not found") == 1
    assert result.pdf is None and result.notes == ("PDF skipped: chromium not found",)
    assert "tiny report" in result.html.read_text()
    assert not (result.report_dir / "monthly_report.pdf").exists()
    run = json.loads(result.run.read_text())
    assert run["outputs"]["pdf"] is None and run["notes"] == ["PDF skipped: chromium not found"]
    # a custom notebook that writes no deck: the runner builds one from the report model
    assert run["outputs"]["slides"] == "monthly_report.slides.html" and "slides" in run["timings"]


# --------------------------------------------------------------------------------------------- issue #16: client pieces
def _body_rows(out: str) -> list[list[str]]:
    return [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", out.split("<tbody>")[1], re.S)]


def test_denial_table_has_carc_text_dollars_and_action():
    reasons = pd.DataFrame({"group_code": ["CO", "CO"], "reason_code": ["197", "97"],
                            "category": ["Authorization / referral", "Bundling / NCCI"], "claims": [1, 1],
                            "denied_cents": [8000, 5000]})
    rows = _body_rows(tiles.denial_table(reasons))
    assert rows[0][:5] == ["Authorization / referral", "CO-197",
                           "Precertification/authorization/notification/pre-treatment absent", "1", "$80"]
    assert rows[0][5].startswith("Obtain the authorization or referral")
    assert rows[1][5].startswith("Check the NCCI edits")
    assert "Other" in __import__("rcmkit.present.narrative", fromlist=["x"]).denial_actions()  # unknown categories
    assert "CMS National Correct Coding Initiative" in tiles.denial_table(reasons)  # the action's source, cited


def test_timely_filing_days_left_reads_overdue():
    fmt_days = tiles._WORKLIST_HEADERS["days_left"][1]
    assert [fmt_days(v) for v in (-31, -1, 0, 12)] == ["overdue 31 days", "overdue 1 day", "due today", "12"]


def test_unbilled_shown_only_when_it_can_be_known():
    lag = pd.DataFrame({"claims": [4], "median": [1.0], "p90": [1.7]})
    unbilled = pd.DataFrame({"claims": [0], "charge_cents": [0], "month_charge_cents": [35000]})
    prior = pd.DataFrame({"claims": [1], "charge_cents": [10000], "month_charge_cents": [45000]})
    early = tiles.lags_table(lag, unbilled, month="2026-03", unbilled_prior=prior, data_through="2026-03-31")
    assert "services of Mar 2026" not in early and "services of Feb 2026" in early and "cannot be known yet" in early
    later = tiles.lags_table(lag, unbilled, month="2026-03", unbilled_prior=prior, data_through="2026-04-20")
    assert "Unbilled at month end, services of Mar 2026" in later and "cannot be known" not in later


def test_comparison_and_provider_tables_render_the_model(small_report):
    r = small_report
    rows = {row[0]: row for row in _body_rows(tiles.comparison_table(r.comparison, month=r.month))}
    assert rows["Charges"] == ["Charges", "$350", "$450", "-22%", "n/a", "n/a", "$1,300"]
    assert rows["Days in A/R"][1:4] == ["33.9 days", "86.9 days", "-53.0 days"] and rows["Days in A/R"][6] == "n/a"
    assert "Mar 2025" in tiles.comparison_table(r.comparison, month=r.month)
    prov = _body_rows(tiles.provider_table(r.providers, month=r.month, status=r.status))
    assert prov[0] == ["1234567893", "4", "$350", "5", "40.0%", "40.0%"] and prov[-1][0] == "All providers"
    # 40% denials is beyond AAFP's 10% "near" threshold: marked red
    assert 'style="color: #c0392b; font-weight: 600">40.0%' in tiles.provider_table(r.providers, month=r.month,
                                                                                     status=r.status)


def test_aging_rows_in_payer_order():
    aging = pd.DataFrame({"payer_id": ["patient", "MCR", "BCX", "MCD"], "payer_name": ["Patient", "M", "B", "D"],
                          "bucket": ["0-30"] * 4, "balance_cents": [100, 400, 300, 200]})
    colors = charts.payer_colors(["MCR", "BCX", "MCD"])
    names = [r[0] for r in _body_rows(tiles.aging_table(aging, colors))]
    assert names == ["B", "D", "M", "Patient", "All payers and patients"]  # payer ID order, patient last, total


def test_trend_charts_draw_targets():
    trend = pd.DataFrame({"month": ["2026-02", "2026-03"], "days_in_ar": [45.0, 38.0], "days_in_ar_net": [50.0, 41.0],
                          "ar_over_120_pct": [0.1, 0.2], "ar_total": [100.0, 90.0], "clean_claim_rate": [0.9, 0.96],
                          "initial_denial_rate": [0.04, 0.08], "initial_denial_rate_dollars": [0.05, 0.07]})
    status = benchmark_status({k: _kpi(k, 0.5, "pct") for k in ("days_in_ar", "ar_over_120_pct", "clean_claim_rate",
                                                               "initial_denial_rate")}, benchmarks())

    def targets(fig) -> list[str]:
        return sorted(t.get_text() for ax in fig.axes for t in ax.texts if t.get_text().startswith("Target"))

    def dashed(fig) -> list[float]:
        return sorted(float(l.get_ydata()[0]) for ax in fig.axes for l in ax.lines if l.get_linestyle() == "--"
                      and len(set(l.get_ydata())) == 1)

    fig = charts.kpi_trend_chart(trend, [_kpi("days_in_ar", 38.0, "days"), _kpi("days_in_ar_net", 41.0, "days")],
                                 title="Days in A/R", status=status)
    assert targets(fig) == ["Target ≤ 40 days (AAFP); shaded: near, to 50 days"] and dashed(fig) == [40.0]
    fig = charts.ar_balance_trend(trend, status=status)
    assert targets(fig) == ["Target ≤ 12% (AAFP); shaded: near, to 25%"]
    fig = charts.claim_quality_trend(trend, status=status)
    assert len(targets(fig)) == 2 and dashed(fig) == [0.05, 0.95]
    assert targets(charts.claim_quality_trend(trend)) == []  # no status, no target


def test_provider_table_says_when_a_provider_number_is_mistyped(small_report):
    """A rendering NPI failing its check digit (1234567890; the real one is 1234567893) is a typing error on the
    claims, not a provider: the row says so and the note says what to do. The practice's own NPI is left alone."""
    providers = small_report.providers
    typo = providers.iloc[[0]].assign(npi="1234567890", provider="SMITH, JANE (1234567890)", claims=1)
    page = tiles.provider_table(pd.concat([providers, typo], ignore_index=True), month="2026-03")
    assert "SMITH, JANE (1234567890): provider number mistyped (fails its check digit)" in page
    assert "1234567893): provider number mistyped" not in page and "typed wrong on those claims" in page
    assert "typed wrong" not in tiles.provider_table(providers, month="2026-03")


def test_percent_ticks_show_the_decimals_a_tick_needs():
    """97.5% was printed "98%" on a zoomed axis; whole percents stay whole."""
    ticks = charts.PctTicks()
    ticks.set_locs([0.96, 0.965, 0.97, 0.975])
    assert [ticks(v) for v in (0.96, 0.975)] == ["96.0%", "97.5%"]
    ticks.set_locs([0.9, 0.95, 1.0])
    assert [ticks(v) for v in (0.9, 1.0)] == ["90%", "100%"]
    ticks.set_locs([0.0, 0.0025, 0.005])
    assert ticks(0.0025) == "0.25%"


def test_trend_legend_sits_under_the_chart_and_end_labels_do_not_collide():
    """Two lines ending 0.2 days apart had their numbers printed over each other, and the legend could cover the
    target's label inside the chart."""
    trend = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-03"], "days_in_ar": [50.0, 45.0, 38.4],
                          "days_in_ar_net": [52.0, 44.0, 38.6]})
    fig = charts.kpi_trend_chart(trend, [_kpi("days_in_ar", 38.4, "days"), _kpi("days_in_ar_net", 38.6, "days")],
                                 title="Days in A/R")
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1
    fig.canvas.draw()
    labels = {t.get_text(): t.get_window_extent() for t in fig.axes[0].texts}
    low, high = labels["38.4"], labels["38.6"]
    assert high.y0 >= low.y1 - 1  # stacked, the higher value above (1 pixel of rounding)
    legend = fig.legends[0].get_window_extent()
    assert legend.y1 <= fig.axes[0].get_window_extent().y0  # under the plot


def test_payer_mix_chart_stacks_shares():
    mix = pd.DataFrame({"month": ["2026-03", "2026-03", "2026-02"],
                        "payer_class": ["commercial", "patient", "medicare"],
                        "payments_cents": [300, 100, 50]})
    fig = charts.payer_mix_trend(mix, ["2026-01", "2026-02", "2026-03"])
    heights = {(round(p.get_x() + p.get_width() / 2), round(p.get_height(), 2)) for p in fig.axes[0].patches
               if p.get_height() > 0}
    assert heights == {(1, 1.0), (2, 0.75), (2, 0.25)}  # Feb all Medicare; Mar 75% commercial, 25% patients
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Jan 2026", "Feb 2026", "Mar 2026"]
