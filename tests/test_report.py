"""The monthly report end to end (one executed report shared by the slow tests), plus the pieces it is made of."""

from __future__ import annotations

import base64
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
from rcmkit.metrics import KPI, MetricOptions, definitions_used, last_full_month, monthly_kpis
from rcmkit.report import charts, tiles
from rcmkit.report.export import external_references, notebook_to_html
from rcmkit.report.record import write_metrics
from rcmkit.report.run import _runs_this_python, default_notebook, publish_dir
from rcmkit.store import load_tables

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
    manifest = json.loads((folder / "_manifest.json").read_text())
    for name in ("payers", "claims", "claim_lines", "remittances", "remit_lines", "adjustments", "ledger"):
        rows = manifest["tables"][name]["rows"]
        assert rows > 0 and re.search(rf"{name}\.parquet\s+{rows:,} rows", proc.stdout), name
    claims = load_tables(root, "demo", ["claims"])["claims"]
    assert 1400 <= claims["claim_id"].nunique() <= 1500  # originals; visits not yet billed at the end are left out


@pytest.mark.slow
def test_report_publishes_three_files(demo_report, expected):
    assert demo_report.returncode == 0, demo_report.stderr
    month = expected["month"]
    report_dir = demo_report.report_dir
    assert report_dir == (demo_report.project / "reports" / "demo" / month).resolve()
    assert sorted(p.name for p in report_dir.iterdir()) == ["metrics.json", "monthly_report.html", "monthly_report.ipynb"]
    assert [p.name for p in report_dir.parent.iterdir()] == [month]  # no staging or failure folders left
    last = demo_report.stdout.strip().splitlines()[-1]
    assert Path(last).is_absolute() and Path(last) == report_dir / "monthly_report.html"
    executed = nbformat.read(report_dir / "monthly_report.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["month"] == month  # resolved before the kernel started
    assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code")


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
        assert htmllib.escape(kpi.display()) in report_html, (kpi.key, kpi.display())
    for section in ("Key indicators", "Twelve-month trends", "A/R aging by payer", "Denial reasons",
                    "Reimbursement by payer and procedure code", "Methods"):
        assert section in report_html
    for d in expected["definitions"].itertuples():
        assert htmllib.escape(d.source) in report_html  # the methods section cites every source


@pytest.mark.slow
def test_html_embeds_its_charts(report_html):
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', report_html)
    assert len(srcs) >= 7  # 4 trend charts, aging, denials, paid per unit
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    png = base64.b64decode(srcs[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") >= 800  # width in pixels: readable, not a thumbnail
    assert external_references(report_html) == []


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
    # deterministic: the same inputs give the same bytes (no wall-clock time inside)
    again = write_metrics(tmp_path, "demo", month, expected["kpis"], expected["definitions"])
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_failing_notebook_keeps_partial_and_publishes_nothing(demo_report, expected, tmp_path):
    month = expected["month"]
    out = tmp_path / "reports"
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
    assert params == {"practice", "data_root", "month", "output_dir", "title", "metric_options"}
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 6  # prose between the sections


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
    assert "Aug 26: 40.0 days" in out and "Aug 26: 93.0%" in out
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


def test_title_block_names_month_as_of_and_non_default_options():
    out = tiles.title_block("demo", "2026-09", options=MetricOptions(days_in_ar="gross_12m"))
    assert "September 2026" in out and "Balances as of 2026-09-30" in out
    assert "Metric options: days_in_ar = &#x27;gross_12m&#x27;." in out
    assert "the defaults" in tiles.title_block("demo", "2026-09", options=MetricOptions())
