"""Report parameter files: every invalid case is one clear stderr line and exit 2, before any kernel starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import rcmkit.report
from rcmkit.core import store
from rcmkit.cli import main
from rcmkit.report import ParamError, load_params
from rcmkit.report.kernel import WarmKernel
from small_practice import tables as small_tables

# The small practice's ledger runs from 2025-11 to 2026-03 (its last full month).


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder: data/small (the hand-made practice) and data/partial (only a payers table)."""
    root = tmp_path_factory.mktemp("proj")
    t = small_tables()
    store.save_tables(root / "data", "small", t)
    store.save_tables(root / "data", "partial", {"payers": t["payers"]})
    return root


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if the CLI gets as far as running the notebook; the kernels the command starts early are
    recorded, not started (the list returned)."""

    def boom(*a, **k):
        raise AssertionError("run_report was called: validation did not stop the command")

    started = []

    def start(self):
        started.append(self)
        raise RuntimeError("not started in this test")  # the command then goes on without a warm kernel

    monkeypatch.setattr(rcmkit.report, "run_report", boom)
    monkeypatch.setattr(WarmKernel, "start", start)
    return started


def invoke(project: Path, text: str | None, *extra: str, name: str = "p.yaml", monkeypatch=None):
    if text is not None:
        (project / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(project)
    return CliRunner().invoke(main, ["report", name, *extra])


BASE = "practice: small\ndata_root: data\n"

CASES = [
    # id, file text, extra args, expected fragments of the one-line message
    ("unknown-key", BASE + "practise: small\n", (), ["p.yaml:3: practise:", "unknown parameter", "expected one of practice, data_root, month"]),
    ("month-format", BASE + "month: 2026-9\n", (), ["p.yaml:3: month:", 'expected a quoted "YYYY-MM" month', "'2026-9'"]),
    ("month-a-date", BASE + "month: 2026-03-01\n", (), ["p.yaml:3: month:", "'2026-03-01'"]),
    ("month-a-number", BASE + "month: 202603\n", (), ["p.yaml:3: month:", "'202603'"]),
    ("month-after-data", BASE + 'month: "2026-04"\n', (), ["p.yaml:3: month:", "2026-04 is not a full month in the data", "2025-11 to 2026-03"]),
    ("month-before-data", BASE + 'month: "2024-12"\n', (), ["p.yaml:3: month:", "2024-12 is before the data"]),
    ("cli-month-format", BASE, ("--month", "2026-13"), ["--month:", "expected a \"YYYY-MM\" month", "'2026-13'"]),
    ("cli-month-not-in-data", BASE, ("--month", "2027-01"), ["--month:", "2027-01 is not a full month"]),
    ("no-data-root", "practice: small\ndata_root: nowhere\n", (), ["p.yaml:2: data_root:", "nowhere does not exist"]),
    ("no-practice-folder", "practice: other\ndata_root: data\n", (), ["p.yaml:1: practice:", "no data for practice 'other'", "rcmkit demo --practice other"]),
    ("missing-tables", "practice: partial\ndata_root: data\n", (), ["p.yaml:1: practice:", "lacks the table(s) claims, claim_lines"]),
    ("bad-practice-name", "practice: ../etc\n", (), ["p.yaml:1: practice:", "expected a practice name", "'../etc'"]),
    ("practice-missing", "data_root: data\n", (), ["p.yaml: practice: required"]),
    ("practice-a-list", "practice: [a, b]\n", (), ["p.yaml:1: practice:", "got a YAML list"]),
    ("metrics-unknown", BASE + "metrics:\n  bogus: 1\n", (), ["p.yaml:3: metrics:", "unknown metric option(s) ['bogus']"]),
    ("metrics-bad-value", BASE + "metrics:\n  days_in_ar: weekly\n", (), ["p.yaml:3: metrics:", "'days_in_ar' must be one of", "'weekly'"]),
    ("metrics-not-mapping", BASE + "metrics: [1, 2]\n", (), ["p.yaml:3: metrics:", "expected a mapping of metric options"]),
    ("not-yaml", BASE + "month: [2026\n", (), ["p.yaml", "not valid YAML"]),
    ("not-a-mapping", "- practice\n- demo\n", (), ["p.yaml:1:", "expected a YAML mapping"]),
    ("duplicate-key", BASE + "practice: demo\n", (), ["p.yaml:3: practice:", "duplicate key"]),
    ("output-root-a-file", BASE + "output_root: p.yaml\n", (), ["p.yaml:3: output_root:", "is not a folder"]),
    ("benchmarks-unknown-kpi", BASE + "benchmarks:\n  days_in_rx: {good: 30}\n", (),
     ["p.yaml:3: benchmarks:", "benchmark override for unknown KPI 'days_in_rx'"]),
    ("benchmarks-bad-field", BASE + "benchmarks:\n  days_in_ar: {target: 30}\n", (),
     ["p.yaml:3: benchmarks:", "unknown field(s) ['target']"]),
    ("benchmarks-not-a-number", BASE + "benchmarks:\n  days_in_ar: {good: soon}\n", (),
     ["p.yaml:3: benchmarks:", "days_in_ar.good: expected a number, got 'soon'"]),
    ("benchmarks-not-mapping", BASE + "benchmarks: [1]\n", (), ["p.yaml:3: benchmarks:", "expected a mapping of KPI"]),
    # paths stay inside the project folder (the current directory) unless RCMKIT_ALLOW_OUTSIDE_ROOTS=1
    ("data-root-dotdot", "practice: small\ndata_root: ../data\n", (),
     ["p.yaml:2: data_root: '../data' contains '..'", "inside the project folder", "RCMKIT_ALLOW_OUTSIDE_ROOTS=1"]),
    ("output-root-outside", BASE + "output_root: /\n", (), ["p.yaml:3: output_root: '/' is outside the project folder"]),
    ("cli-output-root-dotdot", BASE, ("--output-root", "../out"), ["--output-root: '../out' contains '..'"]),
    ("practice-trailing-newline", 'practice: "small\\n"\n', (), ["p.yaml:1: practice:", "expected a practice name"]),
]


#: the cases found only by reading the tables' dates: the kernel may already be starting (it boots meanwhile)
READ_TABLES = {"month-after-data", "month-before-data", "cli-month-not-in-data"}


@pytest.mark.parametrize("case,text,extra,fragments", CASES, ids=[c[0] for c in CASES])
def test_invalid_parameters_exit_2_with_one_line(project, monkeypatch, no_kernel, case, text, extra, fragments):
    monkeypatch.delenv("RCMKIT_ALLOW_OUTSIDE_ROOTS", raising=False)
    result = invoke(project, text, *extra, monkeypatch=monkeypatch)
    assert result.exit_code == 2, result.output
    # a bad file or a missing folder, table or snapshot stops the command before any kernel starts
    assert len(no_kernel) == (case in READ_TABLES)
    err = result.stderr
    assert err.endswith("\n") and err.count("\n") == 1, f"expected exactly one line, got {err!r}"
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert result.stdout == ""


def test_missing_parameter_file(project, monkeypatch, no_kernel):
    result = invoke(project, None, name="absent.yaml", monkeypatch=monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == "error: absent.yaml: no such parameter file\n"
    assert no_kernel == []


def test_valid_file_passes_and_resolves_defaults(project, monkeypatch):
    (project / "ok.yaml").write_text("practice: small\ndata_root: data\nmonth: null\n", encoding="utf-8")
    monkeypatch.chdir(project)
    p = load_params("ok.yaml")
    assert p.practice == "small"
    assert p.month == "2026-03" and p.month_is_default  # the last full month of the small practice
    assert p.data_root == (project / "data").resolve()
    assert p.output_root == (project / "reports").resolve()
    assert p.report_dir == (project / "reports" / "small" / "2026-03").resolve()
    assert p.metric_options == {}
    # an explicit month inside the data, and the command-line overrides
    p2 = load_params("ok.yaml", month="2026-01", output_root="out")
    assert (p2.month, p2.month_is_default, p2.output_root) == ("2026-01", False, (project / "out").resolve())


def test_ids_and_months_stay_strings(tmp_path):
    # YAML 1.1 reads 00123 as the octal integer 83 and would make 2026-03-01 a date: we keep the text.
    (tmp_path / "ids.yaml").write_text(
        "practice: 00123\nmonth: 2026-03\ntitle: 2026\nmetrics:\n  reimbursement_months: 6\n", encoding="utf-8")
    p = load_params(tmp_path / "ids.yaml", check_data=False)
    assert p.practice == "00123"
    assert p.month == "2026-03"
    assert p.title == "2026"
    assert p.metric_options == {"reimbursement_months": 6}  # option values keep their YAML types
    nb = p.notebook_parameters("/out")
    assert nb == {
        "practice": "00123",
        "data_root": str(p.data_root),
        "month": "2026-03",
        "output_dir": "/out",
        "title": "2026",
        "practice_name": None,
        "metric_options": {"reimbursement_months": 6},
        "benchmark_overrides": {},
        "store_version": None,  # the newest snapshot (run_report pins it; --as-of-version N)
    }
    assert all(isinstance(v, (str, type(None))) for k, v in nb.items() if k not in ("metric_options", "benchmark_overrides"))


def test_param_error_names_file_line_and_key():
    err = ParamError("parameters/x.yaml", "month", "expected something", line=4)
    assert str(err) == "parameters/x.yaml:4: month: expected something"
    assert (err.source, err.key, err.line) == ("parameters/x.yaml", "month", 4)


def test_cli_runs_report_after_validation(project, monkeypatch):
    """A valid file reaches run_report with the validated parameters and the kernel started meanwhile; the CLI
    prints the HTML path last and discards the kernel."""
    seen = {}

    class Warm:
        discarded = False

        def discard(self):
            Warm.discarded = True

    monkeypatch.setattr(WarmKernel, "start", lambda self: Warm())

    class Result:
        report_dir = project / "reports" / "small" / "2026-03"
        html = report_dir / "monthly_report.html"
        seconds = 1.0

    def fake_run(params, **kw):
        seen["params"], seen["kw"] = params, kw
        return Result()

    monkeypatch.setattr(rcmkit.report, "run_report", fake_run)
    result = invoke(project, BASE + 'month: "2026-02"\n', monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(Result.html.resolve())
    assert seen["params"].month == "2026-02" and seen["params"].practice == "small"
    assert isinstance(seen["kw"]["kernel_manager"], Warm) and Warm.discarded


def test_practice_name_and_benchmark_overrides(tmp_path):
    (tmp_path / "b.yaml").write_text(
        "practice: lakeside\npractice_name: Lakeside Family Medicine\nbenchmarks:\n"
        "  days_in_ar: {good: 35, acceptable: 45, source: client goal}\n", encoding="utf-8")
    p = load_params(tmp_path / "b.yaml", check_data=False)
    assert p.practice_name == "Lakeside Family Medicine"
    assert p.benchmark_overrides == {"days_in_ar": {"good": 35, "acceptable": 45, "source": "client goal"}}
    nb = p.notebook_parameters(".")
    assert nb["practice_name"] == "Lakeside Family Medicine" and nb["benchmark_overrides"] == p.benchmark_overrides
    assert p.fingerprint_fields()["benchmark_overrides"] == p.benchmark_overrides


def test_shipped_portfolio_parameter_files_are_valid():
    folder = Path(__file__).resolve().parent.parent / "parameters" / "portfolio"
    files = sorted(folder.glob("*.yaml"))
    assert len(files) == 3
    practices = {load_params(f, check_data=False).practice for f in files}
    import runpy

    script = runpy.run_path(str(folder.parent.parent / "scripts" / "portfolio_demo.py"))
    assert practices == {name for name, *_ in script["PRACTICES"]}  # the script makes what the files name
