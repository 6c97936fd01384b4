"""``rcmkit run-monthly`` end to end: three demo practices and one with missing data, run once per session with
``--jobs 2``; then the reports are checked in a browser (Playwright on the system's Chromium), as PDF text
(pdftotext), for patient identifiers, and for reproducibility."""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DEMO_CLAIMS, run_cli
from rcmkit.cli import main
from rcmkit.demo import patients, write_demo
from rcmkit.core.ledger import write_ledger
from rcmkit.metrics import MetricOptions, last_full_month, monthly_kpis
from rcmkit.report import load_params
from rcmkit.report.browser import chromium_path
from rcmkit.report.export import find_chromium
from rcmkit.report.runlog import fingerprint
from rcmkit.core import store
from rcmkit.core.store import load_tables

ROOT = Path(__file__).resolve().parent.parent
REPORT_FILES = ["metrics.json", "monthly_report.html", "monthly_report.ipynb", "monthly_report.pdf",
                "monthly_report.slides.html", "run.json"]
#: The practices of the run: (practice, profile, claims, seed); "demo" is conftest's session practice.
PRACTICES = [("demo", "family_medicine", DEMO_CLAIMS, 7), ("riverbend", "pediatrics", 900, 23),
             ("hillcrest", "family_medicine", 600, 37)]
NO_PDF = "PDF skipped: chromium not found"


@dataclass(frozen=True)
class PortfolioRun:
    project: Path
    proc: subprocess.CompletedProcess
    rerun: subprocess.CompletedProcess
    run_json_before: dict[str, bytes]


@pytest.fixture(scope="module")
def portfolio(demo_root, demo_report, tmp_path_factory) -> PortfolioRun:
    """One ``rcmkit run-monthly parameters/ --jobs 2`` over three practices and a fourth without data, then the
    same command again (nothing changed: everything is skipped)."""
    project = tmp_path_factory.mktemp("portfolio")
    data = project / "data"
    for name, profile, n, seed in PRACTICES[1:]:
        write_demo(data, name, seed=seed, n_claims=n, profile=profile)
        write_ledger(data, name)
    params = project / "parameters"
    params.mkdir()
    (project / "demo-data").symlink_to(demo_root, target_is_directory=True)  # paths stay inside the project
    # the same parameter text as conftest's demo_report: its outputs must be byte-identical to this run's
    (params / "demo.yaml").write_text("practice: demo\ndata_root: demo-data\nmonth: null\noutput_root: reports\n")
    (params / "riverbend.yaml").write_text(
        "practice: riverbend\npractice_name: Riverbend Pediatrics\ndata_root: data\noutput_root: reports\n")
    (params / "hillcrest.yaml").write_text(
        "practice: hillcrest\npractice_name: Hillcrest Family Practice\ndata_root: data\noutput_root: reports\n"
        "metrics:\n  days_in_ar: gross_12m\nbenchmarks:\n  days_in_ar: {good: 35, acceptable: 45}\n")
    (params / "ghost.yaml").write_text("practice: ghost\ndata_root: data\noutput_root: reports\n")
    proc = run_cli("run-monthly", "parameters", "--jobs", "2", "--no-progress", cwd=project, timeout=600)
    before = {p.parent.parent.name: p.read_bytes() for p in (project / "reports").glob("*/*/run.json")}
    rerun = run_cli("run-monthly", "parameters", "--jobs", "2", "--no-progress", cwd=project, timeout=600)
    return PortfolioRun(project, proc, rerun, before)


def _month(project: Path, practice: str) -> str:
    return load_params(project / "parameters" / f"{practice}.yaml", cwd=project).month


def _report_dir(run: PortfolioRun, practice: str) -> Path:
    return run.project / "reports" / practice / _month(run.project, practice)


def _lines(proc) -> dict[str, str]:
    """The end-of-run table's rows by practice."""
    return {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln and not ln.startswith(("practice ", "portfolio"))}


# --------------------------------------------------------------------------------------------- the run
@pytest.mark.slow
def test_three_reports_succeed_and_the_missing_practice_fails_alone(portfolio):
    proc = portfolio.proc
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one practice failed
    rows = _lines(proc)
    for name, *_ in PRACTICES:
        assert re.search(rf"^{name}\s+\d{{4}}-\d\d\s+ok\s", rows[name]), rows[name]
    assert re.search(r"^ghost\s+-\s+failed\s", rows["ghost"])
    assert "parameters/ghost.yaml:1: practice: no data for practice 'ghost'" in rows["ghost"]
    assert re.search(r"^3 succeeded, 1 failed in [\d.]+ s$", proc.stdout.splitlines()[-1])
    assert "Traceback" not in proc.stdout + proc.stderr
    files = list(REPORT_FILES)
    if find_chromium() is None:
        files.remove("monthly_report.pdf")
        assert NO_PDF in proc.stderr
    for name, *_ in PRACTICES:
        report_dir = _report_dir(portfolio, name)
        assert sorted(p.name for p in report_dir.iterdir()) == files, name
        run = json.loads((report_dir / "run.json").read_text())
        assert run["status"] == "ok" and run["practice"] == name
        manifest = store.manifest(run["parameters"]["data_root"], name)
        assert run["inputs"] == {table: t["sha256"] for table, t in manifest["tables"].items()}
    assert not (portfolio.project / "reports" / "ghost").exists()


@pytest.mark.slow
def test_rerun_skips_unchanged_practices(portfolio):
    rerun = portfolio.rerun
    assert rerun.returncode == 1  # the practice without data still fails
    rows = _lines(rerun)
    for name, *_ in PRACTICES:
        assert re.search(rf"^{name}\s+\S+\s+skipped\s", rows[name]), rows[name]
    assert "0 succeeded, 1 failed, 3 skipped (unchanged; --force reruns them)" in rerun.stdout
    after = {p.parent.parent.name: p.read_bytes() for p in (portfolio.project / "reports").glob("*/*/run.json")}
    assert after == portfolio.run_json_before  # nothing was rerun


def test_fingerprint_changes_with_parameters_and_inputs(tmp_path):
    (tmp_path / "a.yaml").write_text("practice: a\n")
    (tmp_path / "b.yaml").write_text("practice: a\ntitle: Other title\n")
    a = load_params(tmp_path / "a.yaml", check_data=False)
    b = load_params(tmp_path / "b.yaml", check_data=False)
    inputs = {"claims.parquet": "0" * 64}
    assert fingerprint(a, inputs, "nb") == fingerprint(a, dict(inputs), "nb")
    assert fingerprint(a, inputs, "nb") != fingerprint(b, inputs, "nb")
    assert fingerprint(a, inputs, "nb") != fingerprint(a, {"claims.parquet": "1" * 64}, "nb")
    assert fingerprint(a, inputs, "nb") != fingerprint(a, inputs, "nb2")


@pytest.mark.slow
def test_portfolio_page_lists_every_practice_with_relative_links(portfolio):
    months = {_month(portfolio.project, name) for name, *_ in PRACTICES}
    assert len(months) == 1
    month = months.pop()
    page = portfolio.project / "reports" / month / "index.html"
    assert f"portfolio: reports/{month}/index.html" in portfolio.proc.stdout
    text = page.read_text()
    assert text.count("<script") == 1 and "<script src" not in text  # the inline sorting script only
    for label in ("demo", "Riverbend Pediatrics", "Hillcrest Family Practice"):
        assert label in text
    # the practice without data has no month: it is in the end-of-run table only, on no month's page
    assert "ghost" not in text and "no data for practice" not in text
    links = re.findall(r'href="([^"]+)"', text)
    assert links and all(not re.match(r"^[a-z]+:|^/", link) for link in links)  # relative only
    for link in links:
        assert (page.parent / link).resolve().is_file(), link
    outputs = ["monthly_report.html", "monthly_report.slides.html", "metrics.json"]
    if find_chromium() is not None:
        outputs.append("monthly_report.pdf")
    for name, *_ in PRACTICES:
        for output in outputs:
            assert f"../{name}/{month}/{output}" in links, (name, output)
    # every headline value as the practice's own metrics.json has it, with its benchmark status colour
    doc = json.loads((_report_dir(portfolio, "hillcrest") / "metrics.json").read_text())
    assert doc["benchmarks"]["days_in_ar"]["good"] == 35  # the practice's override
    status = doc["benchmarks"]["days_in_ar"]["status"]
    from rcmkit.present.format import days

    value = days(doc["kpis"]["days_in_ar"]["value"])
    assert re.search(rf'class="num st-{status}"[^>]*>{re.escape(value)}<', text)


@pytest.mark.slow
def test_a_month_outside_the_data_writes_no_page(portfolio):
    """A mistyped --month fails every practice before any report, and no portfolio page of empty rows is written."""
    proc = run_cli("run-monthly", "parameters", "--month", "2031-01", "--jobs", "2", "--no-progress",
                   cwd=portfolio.project, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2031-01 is not a full month in the data for 'riverbend'" in proc.stdout
    assert "no portfolio page for 2031-01" in proc.stderr and "portfolio:" not in proc.stdout
    assert not (portfolio.project / "reports" / "2031-01").exists()


# --------------------------------------------------------------------------------------------- reproducibility
@pytest.mark.slow
def test_same_inputs_give_identical_metrics_and_figures(portfolio, demo_report):
    """conftest's ``rcmkit report`` and this ``run-monthly`` ran the same practice and parameters separately."""
    one, two = demo_report.report_dir, _report_dir(portfolio, "demo")
    assert one != two
    assert (one / "metrics.json").read_bytes() == (two / "metrics.json").read_bytes()
    assert (one / "monthly_report.html").read_bytes() == (two / "monthly_report.html").read_bytes()
    nb1, nb2 = (json.loads((d / "monthly_report.ipynb").read_text()) for d in (one, two))
    for nb in (nb1, nb2):
        nb["metadata"]["papermill"].pop("output_path")
    assert nb1 == nb2  # the executed notebooks too, once their own paths are set aside
    r1, r2 = (json.loads((d / "run.json").read_text()) for d in (one, two))
    assert r1["fingerprint"] == r2["fingerprint"] and r1["inputs"] == r2["inputs"]
    wall_clock = {"started_at", "finished_at", "seconds", "timings"}
    same = {k for k in r1 if k not in wall_clock | {"parameter_file", "parameters"}}
    assert {k: r1[k] for k in same} == {k: r2[k] for k in same}


# --------------------------------------------------------------------------------------------- browser and PDF
def _browser():
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium not found at /usr/bin/chromium: browser checks need Debian's chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    from rcmkit.report.browser import open_browser

    return open_browser(exe)


@pytest.mark.slow
def test_reports_render_in_chromium_with_every_chart(portfolio):
    with _browser() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for name, *_ in PRACTICES:
            html = _report_dir(portfolio, name) / "monthly_report.html"
            page.goto(html.as_uri(), wait_until="load")
            images = page.evaluate("() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
            assert len(images) >= 9, name
            assert all(done and width > 0 for done, width in images), (name, images)
            text = page.inner_text("body")
            for bad in ("Traceback", "Error", "Warning", "NaN", "nan%", "undefined", "None"):
                assert bad not in text, (name, bad)
            assert "Executive summary" in text and "Payer scorecard" in text
        month = _month(portfolio.project, "demo")
        page.goto((portfolio.project / "reports" / month / "index.html").as_uri(), wait_until="load")
        hrefs = page.evaluate("() => Array.from(document.links).map(a => a.href)")
        assert hrefs and all(h.startswith("file://") and Path(h[len("file://"):]).is_file() for h in hrefs)
        assert errors == []


def _pdftotext(pdf: Path, *args: str) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext not found (Debian's poppler-utils)")
    return subprocess.run([exe, "-layout", *args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_pdf_pages_show_the_kpis_and_no_chart_is_cut(portfolio):
    if find_chromium() is None:
        pytest.skip(NO_PDF)
    for name, *_ in PRACTICES[:2]:
        report_dir = _report_dir(portfolio, name)
        pdf = report_dir / "monthly_report.pdf"
        doc = json.loads((report_dir / "metrics.json").read_text())
        text = _pdftotext(pdf)
        from rcmkit.present.format import by_unit, day_label

        for key, kpi in doc["kpis"].items():
            assert by_unit(kpi["value"], kpi["unit"]) in text, (name, key)
            assert kpi["label"] in text, (name, key)
        first = _pdftotext(pdf, "-f", "1", "-l", "1")
        assert "Monthly revenue-cycle report" in first and "Executive summary" in first
        assert "Report date " + day_label(doc["data_through"]) in first
        pages = text.count("\f")
        assert 6 <= pages <= 30
        lister = shutil.which("pdfimages")
        if lister:  # each chart is drawn once, on one page: a chart cut by a page break would be drawn twice
            listing = subprocess.run([lister, "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
            placements = [ln.split() for ln in listing.splitlines()[2:] if ln.strip()]
            n_img = (report_dir / "monthly_report.html").read_text().count("<img ")
            assert len(placements) == n_img
            assert len({p[10] for p in placements}) == n_img  # distinct image objects


# --------------------------------------------------------------------------------------------- de-identification
def _identifiers(profile: str, n: int, seed: int) -> dict[str, set[str]]:
    roster = patients(seed, n_claims=n, profile=profile)
    births = roster["birth_date"].dropna()
    return {
        "name": {f"{f} {l}" for f, l in zip(roster["first_name"], roster["last_name"])}
        | {f"{l}, {f}" for f, l in zip(roster["first_name"], roster["last_name"])},
        "member_id": {m for m in roster["member_id"].dropna() if m},
        "birth_date": {d.strftime(fmt) for d in births for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")},
        "patient_key": set(roster["patient_key"]),
    }


def _visible(text: str) -> str:
    """A document's text with embedded images (base64 data URIs) taken out: they are pictures, not text."""
    return re.sub(r"data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+", "data:", text)


@pytest.mark.slow
def test_reports_hold_no_patient_identifiers(portfolio):
    month = _month(portfolio.project, "demo")
    portfolio_page = (portfolio.project / "reports" / month / "index.html").read_text()
    for name, profile, n, seed in PRACTICES:
        ids = _identifiers(profile, n, seed)
        assert all(len(v) > 50 for v in ids.values()), name  # the scan looks for something real
        report_dir = _report_dir(portfolio, name)
        docs = {f: _visible(htmllib.unescape((report_dir / f).read_text())) for f in
                ("monthly_report.html", "monthly_report.slides.html", "metrics.json")}
        docs["portfolio"] = _visible(htmllib.unescape(portfolio_page))
        pdf = report_dir / "monthly_report.pdf"
        if pdf.exists() and shutil.which("pdftotext"):
            docs["pdf"] = _pdftotext(pdf)
        for doc_name, text in docs.items():
            words = set(re.findall(r"[A-Za-z0-9/-]+", text))
            for kind, values in ids.items():
                if kind == "name":
                    found = [v for v in values if v in text]
                else:
                    found = sorted(values & words)
                assert not found, f"{name} {doc_name}: {kind} {found[:3]}"


# --------------------------------------------------------------------------------------------- command line
def test_run_monthly_usage_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run-monthly", "nowhere.yaml"])
    assert result.exit_code == 2 and result.stderr == "error: nowhere.yaml: no such parameter file or folder\n"
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["run-monthly", "empty"])
    assert result.exit_code == 2 and "no parameter files (*.yaml) in this folder" in result.stderr
    (tmp_path / "p.yaml").write_text("practice: a\n")
    result = CliRunner().invoke(main, ["run-monthly", "p.yaml", "--month", "2026-13"])
    assert result.exit_code == 2 and result.stderr.startswith("error: --month: expected a \"YYYY-MM\" month")
    result = CliRunner().invoke(main, ["run-monthly", "p.yaml", "--jobs", "0"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_screenshot_script_and_readme(portfolio, tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "![" in readme and "docs/report.png" in readme and "## Monthly runs for many practices" in readme
    png = (ROOT / "docs" / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") >= 1000
    if chromium_path() is None:
        pytest.skip("chromium not found at /usr/bin/chromium: the screenshot script needs it")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    out = tmp_path / "shot.png"
    html = _report_dir(portfolio, "riverbend") / "monthly_report.html"
    proc = subprocess.run([os.fspath(Path(os.sys.executable)), str(ROOT / "scripts" / "screenshot_report.py"),
                           str(html), str(out), "--width", "1000", "--height", "700"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1000, 700)


@pytest.mark.slow
def test_kpis_of_the_session_demo_are_what_the_report_shows(demo_root, portfolio):
    """Guard for the reproducibility test: the demo practice the portfolio ran is conftest's."""
    tables = load_tables(demo_root, "demo", required=False)
    month = last_full_month(tables)
    doc = json.loads((_report_dir(portfolio, "demo") / "metrics.json").read_text())
    assert doc["month"] == month
    kpis = monthly_kpis(tables, month, MetricOptions())
    assert {k: v["value"] for k, v in doc["kpis"].items()} == {k: v.value for k, v in kpis.items()}


@pytest.mark.slow
def test_a_warm_kernel_runs_each_report_on_a_clean_namespace(tmp_path):
    """run-monthly's workers keep one kernel (rcmkit.report.run.WarmKernel): the second practice's notebook runs
    in the same kernel process, in its own folder, and sees nothing the first one defined; a kernel that died
    is replaced, and the report still runs. Report kernels, kept or not, keep no IPython history database."""
    from nbformat.v4 import new_code_cell, new_notebook
    import nbformat

    from rcmkit.report.run import WarmKernel, run_report

    for name, seed in (("alpha", 3), ("beta", 5)):
        write_demo(tmp_path / "data", name, seed=seed, n_claims=60)
        write_ledger(tmp_path / "data", name)
        (tmp_path / f"{name}.yaml").write_text(f"practice: {name}\ndata_root: data\noutput_root: out\n")
    nb = new_notebook(metadata={"kernelspec": {"name": "rcmkit", "language": "python", "display_name": "rcmkit"}},
                      cells=[
        new_code_cell("practice = data_root = month = output_dir = title = practice_name = store_version = None\n"
                      "metric_options = benchmark_overrides = {}\nslides = True", metadata={"tags": ["parameters"]}),
        new_code_cell("assert 'seen' not in globals(), 'a previous report left its variables behind'\n"
                      "seen = practice\nimport os\nfrom rcmkit.report import write_metrics\n"
                      "write_metrics(output_dir, practice, month, {})\n"
                      "print(os.getpid(), os.getcwd(), get_ipython().history_manager.enabled)"),
    ])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    warm = WarmKernel("rcmkit")

    def run(name, kernel_manager=warm):
        result = run_report(load_params(tmp_path / f"{name}.yaml", cwd=tmp_path), notebook=tmp_path / "tiny.ipynb",
                            progress=False, pdf=False, slides=False, log=lambda m: None, kernel_manager=kernel_manager)
        assert json.loads(result.metrics.read_text())["practice"] == name
        out = nbformat.read(result.notebook, as_version=4).cells[-1].outputs[0]["text"].split()
        assert out[2] == "False"  # no history database
        return int(out[0]), out[1]

    import papermill.engines

    saves = []
    real_write = papermill.engines.write_ipynb
    papermill.engines.write_ipynb = lambda nb, path: (saves.append(path), real_write(nb, path))
    try:
        pid_a, cwd_a = run("alpha")
        # the executed notebook is written once at the end, not at each cell's start and end (papermill's 6 here)
        assert len(saves) == 1
        pid_b, cwd_b = run("beta")
        assert pid_a == pid_b and cwd_a != cwd_b  # one kernel; each report in its own staging folder
        warm.manager.provisioner.process.kill()
        warm.manager.provisioner.process.wait()
        pid_c, _ = run("alpha")
        assert pid_c != pid_a
        pid_d, _ = run("beta", kernel_manager=None)  # papermill's own kernel
        assert pid_d not in (pid_a, pid_c)
    finally:
        papermill.engines.write_ipynb = real_write
        warm.discard()


def test_each_worker_gets_its_share_of_the_cores_for_queries(tmp_path, monkeypatch):
    """run-monthly's workers split the cores for their kernels' Polars queries (2 workers on 2 cores: 1 each, 8 on
    2: still 1, 1 on 8: 8, 3 on 8: 2), and a worker sets it in the environment its kernels inherit."""
    from rcmkit.report.batch import query_threads, run_one

    assert [query_threads(w, cores) for w, cores in ((2, 2), (8, 2), (1, 8), (3, 8), (0, 4))] == [1, 1, 8, 2, 4]
    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    outcome = run_one(str(tmp_path / "missing.yaml"), threads=3)  # fails on the file, after the setting
    assert outcome.status == "failed" and os.environ["POLARS_MAX_THREADS"] == "3"


def test_a_warm_worker_launches_its_browser_before_its_first_report(tmp_path, monkeypatch):
    """The worker's printer starts with its kernel, so the browser launches while the first notebook runs and not in
    that report's PDF step; without PDFs no browser starts, and one that cannot start fails nothing here."""
    from rcmkit.report import batch
    from rcmkit.report.export import ChromiumNotFound

    started = []

    class Kernel:
        def start(self):
            started.append("kernel")

    class Browser:
        def __init__(self, error=None):
            self.error = error

        def start(self):
            started.append("printer")
            if self.error:
                raise self.error
            return self

    monkeypatch.setattr(batch, "_warm_kernel", lambda kernel: Kernel())
    missing = str(tmp_path / "missing.yaml")
    for pdf, printer, expected in [(True, Browser(), ["kernel", "printer"]), (False, Browser(), ["kernel"]),
                                   (True, Browser(ChromiumNotFound()), ["kernel", "printer"])]:
        started.clear()
        monkeypatch.setattr(batch, "_printer", lambda printer=printer: printer)
        out = batch.run_one(missing, warm=True, pdf=pdf)
        assert started == expected
        assert out.status == "failed" and "missing.yaml" in out.error  # the parameter file's own error
    started.clear()
    batch.run_one(missing, warm=False, pdf=True)
    assert started == []
