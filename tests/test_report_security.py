"""Report security: private report files (0600/0700 or RCMKIT_FILE_MODE), paths and names from parameter files and
the command line confined to the project, and free text (title, practice name) treated as data, never as markup
or code."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook, new_output

from rcmkit.core import store
from rcmkit.cli import main
from rcmkit.report import ParamError, load_params
from rcmkit.report.params import ALLOW_OUTSIDE_ENV, ReportParams
from small_practice import tables as small_tables

NASTY = '</title><script>alert(1)</script>{{ 7*7 }}"; import os; os.system("id") #'


@pytest.fixture(autouse=True)
def _defaults(monkeypatch):
    """Every test starts from the defaults: owner-only modes, paths confined to the project."""
    monkeypatch.delenv(store.FILE_MODE_ENV, raising=False)
    monkeypatch.delenv(ALLOW_OUTSIDE_ENV, raising=False)


@pytest.fixture()
def open_umask():
    old = os.umask(0o002)  # a permissive umask: the modes must not depend on it
    yield
    os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        out[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return out


def _assert_private(folder: Path, file_mode: int = 0o600, dir_mode: int = 0o700) -> dict[str, int]:
    modes = _modes(folder)
    for rel, mode in modes.items():
        want = dir_mode if (folder / rel).is_dir() else file_mode
        assert mode == want, f"{folder / rel}: {oct(mode)}, expected {oct(want)}"
    return modes


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder holding data/small (the hand-made practice, last full month 2026-03)."""
    root = tmp_path_factory.mktemp("secproj")
    store.save_tables(root / "data", "small", small_tables())
    return root


def _params_file(project: Path, text: str, name: str = "p.yaml") -> Path:
    path = project / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- gap 1: file modes
def test_publish_dir_makes_the_report_private_whatever_the_umask(tmp_path, open_umask):
    from rcmkit.report.run import publish_dir

    final = tmp_path / "reports" / "p" / "2026-03"
    for round_ in (1, 2):  # a first publish (rename) and a replacement (exchange) of an older report
        staging = final.with_name(f".2026-03.tmp-{round_}")
        (staging / "sub").mkdir(parents=True)
        for name in ("monthly_report.html", "metrics.json", "sub/figure.png"):
            (staging / name).write_text(f"{name} {round_}")
        assert stat.S_IMODE((staging / "metrics.json").stat().st_mode) == 0o664  # as the umask made it
        publish_dir(staging, final)
        assert not staging.exists()
        assert (final / "metrics.json").read_text() == f"metrics.json {round_}"
        modes = _assert_private(final)
        assert len(modes) == 5


def test_file_mode_environment_variable_shares_reports_with_a_group(tmp_path, open_umask, monkeypatch):
    from rcmkit.report.portfolio import write_portfolio
    from rcmkit.report.run import publish_dir
    from rcmkit.report.runlog import write_run

    monkeypatch.setenv(store.FILE_MODE_ENV, "0640")
    staging = tmp_path / "out" / ".m.tmp"
    staging.mkdir(parents=True)
    (staging / "monthly_report.html").write_text("x")
    write_run(staging, {"status": "ok"})
    publish_dir(staging, tmp_path / "out" / "m")
    _assert_private(tmp_path / "out" / "m", 0o640, 0o750)
    write_portfolio(tmp_path / "shared", "2026-03")
    _assert_private(tmp_path / "shared", 0o640, 0o750)
    monkeypatch.setenv(store.FILE_MODE_ENV, "0777")
    with pytest.raises(store.StoreError, match="RCMKIT_FILE_MODE='0777' is not a file mode"):
        write_portfolio(tmp_path / "bad", "2026-03")


def test_portfolio_run_log_and_failed_notebook_are_private(tmp_path, open_umask):
    from rcmkit.report.portfolio import write_portfolio
    from rcmkit.report.run import _keep_failed
    from rcmkit.report.runlog import write_run

    page = write_portfolio(tmp_path / "reports", "2026-03", {"p": "p.yaml:1: practice: no data"})
    _assert_private(tmp_path / "reports")
    assert page.name == "index.html"
    folder = tmp_path / "open"
    folder.mkdir()
    assert stat.S_IMODE(write_run(folder, {"status": "ok"}).stat().st_mode) == 0o600
    # a failed run keeps its partial notebook in <month>.failed/: private too
    final = tmp_path / "reports" / "p" / "2026-03"
    store.make_dirs(final.parent)
    staging = final.with_name(".2026-03.tmp-x")
    staging.mkdir()
    (staging / "monthly_report.ipynb").write_text("{}")
    kept = _keep_failed(staging, final, staging / "monthly_report.ipynb", {"status": "failed"})
    assert kept == final.with_name("2026-03.failed") / "monthly_report.ipynb"
    staging.rmdir()  # run_report removes its (now empty) staging folder
    _assert_private(tmp_path / "reports")
    assert sorted(p.name for p in kept.parent.iterdir()) == ["monthly_report.ipynb", "run.json"]


def test_pdf_printed_by_chromium_is_private(tmp_path, open_umask):
    from rcmkit.report.export import html_to_pdf

    fake = tmp_path / "fake-chromium"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do case "$a" in --print-to-pdf=*) '
                    'printf "%%PDF-1.4 fake" > "${a#--print-to-pdf=}";; esac; done\n')
    fake.chmod(0o755)
    (tmp_path / "r.html").write_text("<p>x</p>")
    pdf = html_to_pdf(tmp_path / "r.html", tmp_path / "r.pdf", chromium=str(fake), engine="cli")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600


@pytest.mark.slow
@pytest.mark.notebook
def test_published_report_folder_is_private(project, tmp_path, open_umask, monkeypatch):
    """One real (tiny) report run, kernel and all: every folder it creates is 0700 and every file 0600, including
    metrics.json (written by the kernel), the executed notebook (papermill), HTML, slides, PDF and run.json."""
    from rcmkit.report import run_report

    fake = tmp_path / "fake-chromium"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do case "$a" in --print-to-pdf=*) '
                    'printf "%%PDF-1.4 fake" > "${a#--print-to-pdf=}";; esac; done\n')
    fake.chmod(0o755)
    monkeypatch.setenv("RCMKIT_CHROMIUM", str(fake))
    nb = new_notebook(metadata={"kernelspec": {"name": "rcmkit", "language": "python", "display_name": "rcmkit"}},
                      cells=[
        new_code_cell("practice = data_root = month = output_dir = title = practice_name = None\n"
                      "metric_options = benchmark_overrides = {}", metadata={"tags": ["parameters"]}),
        new_code_cell("from rcmkit.report import write_metrics\nwrite_metrics(output_dir, practice, month, {})"),
        new_code_cell("from IPython.display import HTML\nfrom rcmkit.present import tiles\n"
                      "HTML(tiles.title_block(practice, month, title=title, practice_name=practice_name))"),
    ])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    out = f"out-{tmp_path.name}"  # a fresh output root inside the project
    _params_file(project, f'practice: small\ndata_root: data\nmonth: "2026-03"\noutput_root: {out}\n'
                          f"title: {json.dumps(NASTY)}\n", name="tiny.yaml")
    params = load_params(project / "tiny.yaml", cwd=project)
    result = run_report(params, notebook=tmp_path / "tiny.ipynb", progress=False, log=lambda m: None)
    assert result.pdf is not None and result.slides is not None
    modes = _assert_private(project / out)
    assert {"small", "small/2026-03", "small/2026-03/metrics.json", "small/2026-03/run.json",
            "small/2026-03/monthly_report.ipynb", "small/2026-03/monthly_report.html",
            "small/2026-03/monthly_report.pdf", "small/2026-03/monthly_report.slides.html"} <= set(modes)
    # the title is shown, escaped, in the tile header and the page title; never as markup
    for page in (result.html, result.slides):
        text = page.read_text()
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # the injected parameters are literals: the title reached the kernel as the same string
    executed = nbformat.read(result.notebook, as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert _literal_assignments(injected.source)["title"] == NASTY


# --------------------------------------------------------------------------------------------- gap 2: paths, names
def _error(project: Path, text: str, **kw) -> str:
    _params_file(project, text)
    with pytest.raises(ParamError) as info:
        load_params("p.yaml", cwd=project, check_data=False, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("practice", ["a..b", "..", "../etc", "demo/x", ".hidden", '"demo\\n"', "x" * 65])
def test_practice_names_that_could_escape_are_rejected(project, practice):
    message = _error(project, f"practice: {practice}\n")
    assert message.startswith("p.yaml:1: practice: expected a practice name")
    assert "got " in message


@pytest.mark.parametrize("key,value", [
    ("data_root", "../elsewhere"), ("data_root", "data/../../elsewhere"), ("output_root", "../reports"),
    ("output_root", "reports/.."), ("data_root", "./.."),
])
def test_dotdot_in_paths_is_rejected(project, key, value):
    message = _error(project, f"practice: small\n{key}: {value}\n")
    assert message.startswith(f"p.yaml:2: {key}: {value!r} contains '..'; expected a folder path inside the project "
                              f"folder {project}")
    assert f"{ALLOW_OUTSIDE_ENV}=1" in message


def test_absolute_path_outside_the_project_is_rejected(project, tmp_path, monkeypatch):
    outside = Path(tmp_path.anchor) / "elsewhere"  # short: a long tmp path (pytest-xdist's) is cut in the message
    message = _error(project, f"practice: small\ndata_root: {outside}\n")
    assert message.startswith(f"p.yaml:2: data_root: {str(outside)!r} is outside the project folder; expected a "
                              f"folder path inside the project folder {project}")
    assert _error(project, "practice: small\noutput_root: /etc\n").startswith(
        "p.yaml:2: output_root: '/etc' is outside the project folder")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert "'~/reports' is outside the project folder" in _error(project, "practice: small\noutput_root: ~/reports\n")


def test_command_line_output_root_is_confined(project, tmp_path):
    text = "practice: small\n"
    assert _error(project, text, output_root="../out").startswith("--output-root: '../out' contains '..'")
    assert _error(project, text, output_root=str(tmp_path)).startswith(
        f"--output-root: {str(tmp_path)!r} is outside the project folder")


def test_legit_paths_are_accepted(project):
    p = load_params(_params_file(project, f"practice: small\ndata_root: ./data\noutput_root: out/reports\n"),
                    cwd=project, check_data=False)
    assert p.data_root == (project / "data").resolve()
    assert p.output_root == (project / "out" / "reports").resolve()
    p = load_params(_params_file(project, f"practice: small\ndata_root: {project / 'data'}\n"), cwd=project,
                    month="2026-03")
    assert p.data_root == (project / "data").resolve() and p.month == "2026-03"
    assert p.report_dir == (project / "reports" / "small" / "2026-03").resolve()
    p = load_params(_params_file(project, "practice: small\n"), cwd=project, output_root="elsewhere",
                    check_data=False)
    assert p.output_root == (project / "elsewhere").resolve()


def test_symlinks_inside_the_project_are_followed(project, tmp_path):
    """A link the project's owner made (data on another volume) is the owner's choice: it is followed."""
    target = tmp_path / "volume"
    target.mkdir()
    link = project / f"linked-{tmp_path.name}"
    link.symlink_to(target, target_is_directory=True)
    p = load_params(_params_file(project, f"practice: small\ndata_root: {link.name}\n"), cwd=project,
                    check_data=False)
    assert p.data_root == target.resolve()


def test_environment_variable_allows_outside_roots(project, tmp_path, monkeypatch):
    monkeypatch.setenv(ALLOW_OUTSIDE_ENV, "1")
    p = load_params(_params_file(project, f"practice: small\ndata_root: ../shared\noutput_root: {tmp_path}\n"),
                    cwd=project, check_data=False)
    assert p.data_root == (project.parent / "shared").resolve()
    assert p.output_root == tmp_path.resolve()
    # practice names stay plain folder names whatever the variable says
    assert _error(project, "practice: ../etc\n").startswith("p.yaml:1: practice:")


def test_output_root_cannot_be_the_data_root(project):
    message = _error(project, "practice: small\ndata_root: data\noutput_root: ./data\n")
    assert message.startswith("p.yaml:3: output_root: ") and "is the data_root" in message


def test_cli_prints_one_line_and_exits_2(project, monkeypatch):
    import rcmkit.report

    monkeypatch.setattr(rcmkit.report, "run_report", lambda *a, **k: pytest.fail("validation did not stop it"))
    monkeypatch.chdir(project)
    _params_file(project, "practice: small\ndata_root: data\noutput_root: ../../tmp/x\n")
    result = CliRunner().invoke(main, ["report", "p.yaml"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: p.yaml:3: output_root: '../../tmp/x' contains '..'")
    result = CliRunner().invoke(main, ["report", "p.yaml", "--output-root", "/tmp"])
    assert result.exit_code == 2 and "--output-root: '/tmp' is outside the project folder" in result.stderr


def test_hand_built_parameters_and_helpers_refuse_escaping_names(tmp_path):
    from rcmkit.report.portfolio import collect_rows, write_portfolio
    from rcmkit.report.runlog import input_hashes

    bad = ReportParams(source="x.yaml", practice="../x", data_root=tmp_path, month="2026-03", output_root=tmp_path)
    with pytest.raises(ParamError, match="x.yaml: practice: invalid practice name '../x'"):
        bad.report_dir
    with pytest.raises(ParamError, match='x.yaml: month: expected a quoted "YYYY-MM" month'):
        ReportParams(source="x.yaml", practice="p", data_root=tmp_path, month="../..", output_root=tmp_path).report_dir
    with pytest.raises(store.StoreError, match="invalid practice name"):
        input_hashes(tmp_path, "../x")
    with pytest.raises(ValueError, match="portfolio month"):
        write_portfolio(tmp_path, "../2026-03")
    # a metrics.json naming another folder does not steer the portfolio's links
    folder = tmp_path / "real" / "2026-03"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"practice": "../../evil", "month": "2026-03", "kpis": {}}))
    assert [r.practice for r in collect_rows(tmp_path, "2026-03")] == ["real"]


# --------------------------------------------------------------------------------------------- free text
def test_title_block_escapes_title_and_practice_name():
    from rcmkit.present import tiles
    out = tiles.title_block("small", "2026-03", title=NASTY, practice_name="<img src=x onerror=alert(2)>")
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;img src=x onerror=alert(2)&gt;" in out
    assert "{{ 7*7 }}" in out  # shown as text; nothing renders templates in it


def test_executive_summary_escapes_the_practice_name():
    from rcmkit.present.narrative import executive_summary

    summary = executive_summary(small_tables(), "2026-03", practice="small",
                                practice_name="<script>alert(1)</script>")
    out = summary.to_html()
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_portfolio_page_escapes_practice_names(tmp_path):
    from rcmkit.report.portfolio import collect_rows, portfolio_html

    folder = tmp_path / "p1" / "2026-03"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"practice": "p1", "month": "2026-03", "kpis": {},
                                                     "practice_name": "<script>alert(1)</script>"}))
    out = portfolio_html(collect_rows(tmp_path, "2026-03", {"<b>boom</b>": "<b>boom</b>"}), "2026-03", title=NASTY)
    assert "<script>alert" not in out and "<b>boom" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;b&gt;boom&lt;/b&gt;" in out


def test_exported_page_title_is_escaped():
    from rcmkit.report.export import notebook_to_html

    nb = new_notebook(cells=[new_code_cell("x", outputs=[new_output("display_data", data={"text/plain": "x"})])])
    escaped = '&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}"; import os; os.system("id") #'
    out = notebook_to_html(nb, title=NASTY)[0]
    start = out.index("<title>")
    assert out[start:out.index("</title>", start) + len("</title>")] == f"<title>{escaped}</title>"
    assert "<script>alert(1)" not in out


def _literal_assignments(source: str) -> dict:
    """The injected-parameters cell as {name: value}; fails unless every statement assigns a plain literal."""
    values = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            ast.dump(node)
        values[node.targets[0].id] = ast.literal_eval(node.value)  # raises for anything but a literal
    return values


@pytest.mark.parametrize("text", [NASTY, '\\"); import os #', "\\\\\" + __import__('os').getcwd() + \"",
                                  "line\nbreak\r\t\x0b'''\"\"\"", "émoji ✓ \u2028 {x}", ""])
def test_papermill_injects_parameters_as_literals(project, text):
    """papermill writes the parameters as Python source: every string must come out as a literal equal to it."""
    from papermill.parameterize import parameterize_notebook

    path = _params_file(project, f"practice: small\ntitle: {json.dumps(text)}\npractice_name: {json.dumps(text)}\n"
                                 f"benchmarks:\n  days_in_ar: {{good: 35, source: {json.dumps(text)}}}\n")
    params = load_params(path, cwd=project, month="2026-03")
    assert params.title == text and params.practice_name == text
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "py"}},
                      cells=[new_code_cell("title = None", metadata={"tags": ["parameters"]})])
    nb.metadata["papermill"] = {}  # as papermill.execute_notebook prepares it
    parameters = params.notebook_parameters(".")
    out = parameterize_notebook(nb, parameters)
    injected = next(c for c in out.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert _literal_assignments(injected.source) == parameters


def test_notebooks_are_still_validated_without_the_slow_iri_module():
    """rcmkit.startup keeps rfc3987_syntax (2-4 s of Lark grammars at import, jsonschema#1428) out of the test
    and CLI processes; nbformat still rejects an invalid notebook and reads a valid one."""
    import subprocess
    import sys

    code = ("import sys; from rcmkit.startup import skip_slow_iri_checks; assert skip_slow_iri_checks(); "
            "import nbformat; from nbformat.v4 import new_notebook, new_code_cell; "
            "nb = new_notebook(cells=[new_code_cell('1')]); nbformat.validate(nb); "
            "bad = new_notebook(); bad['cells'] = [{'cell_type': 'code'}]; "
            "import jsonschema._format as f; assert 'iri' not in f.draft7_format_checker.checkers; "
            "ok = False\n"
            "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    ok = True\n"
            "assert ok and sys.modules['rfc3987_syntax'] is None; print('validated')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "validated", out.stderr[-2000:]
