"""What makes ``rcmkit report`` start sooner without changing what it writes (issue #15): the command imports no
report model or charts, its kernel is started (and imports the report's modules) while the data is checked, the
HTML exporter is warmed on a thread during the notebook. Each test checks the output stays the same."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rcmkit.core.ledger import write_ledger
from rcmkit.demo import write_demo
from rcmkit.report import load_params


@pytest.mark.slow  # a fresh interpreter importing the command (~1.5 s): a start-up cost, not a number
def test_the_command_imports_no_model_charts_or_matplotlib():
    """``from rcmkit.report import load_params, run_report`` (what the CLI needs) leaves matplotlib, the report
    model and the metrics unimported; the names the notebook uses still import on first use."""
    code = ("import sys\nfrom rcmkit.report import load_params, run_report, ParamError\n"
            "heavy = sorted(m for m in ('matplotlib', 'rcmkit.report.model', 'rcmkit.present.charts', "
            "'rcmkit.report.deck', 'nbconvert', 'papermill') if m in sys.modules)\n"
            "from rcmkit.report import build_report, write_deck, setup_notebook\n"
            "import rcmkit.report as r\n"
            "print(heavy, build_report.__module__, write_deck.__module__, 'build_report' in dir(r))\n"
            "try:\n    r.no_such_name\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[] rcmkit.report.model rcmkit.report.deck True",
                                "module 'rcmkit.report' has no attribute 'no_such_name'"]


def test_warming_the_html_exporter_does_not_change_the_html():
    from rcmkit.report import export

    nb = new_notebook(cells=[new_markdown_cell("## Payer mix\nA *share* of **payments**."), new_code_cell(
        "x", execution_count=1, outputs=[new_output("display_data", data={"text/html": "<table><tr><td>1</td></tr>"
                                                                          "</table>", "text/plain": "t"})])])
    before, _ = export.notebook_to_html(nbformat.from_dict(json.loads(json.dumps(nb))), title="T")
    export._WARM_HTML.clear()
    export.warm_up_html()
    assert export._WARM_HTML == [True]
    export.warm_up_html()  # once per process
    after, _ = export.notebook_to_html(nbformat.from_dict(json.loads(json.dumps(nb))), title="T")
    assert after == before and "Payer mix" in after


def _tiny_report(tmp_path, *cells: str):
    """A 60-claim practice ``alpha`` and ``tiny.ipynb``: a parameters cell, then ``cells``; its parameters."""
    write_demo(tmp_path / "data", "alpha", seed=3, n_claims=60)
    write_ledger(tmp_path / "data", "alpha")
    (tmp_path / "alpha.yaml").write_text("practice: alpha\ndata_root: data\noutput_root: out\n")
    nb = new_notebook(metadata={"kernelspec": {"name": "rcmkit", "language": "python", "display_name": "rcmkit"}},
                      cells=[
        new_code_cell("practice = data_root = month = output_dir = title = practice_name = store_version = None\n"
                      "metric_options = benchmark_overrides = {}\nslides = True", metadata={"tags": ["parameters"]}),
        *[new_code_cell(c) for c in cells],
    ])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    return load_params(tmp_path / "alpha.yaml", cwd=tmp_path)


@pytest.mark.notebook
def test_a_started_kernel_gives_the_notebook_a_new_kernel_gives(tmp_path):
    """A kernel started ahead (WarmKernel.start: it imports the report's modules meanwhile) and then reused runs
    each notebook on an empty namespace with execution counts from 1, so the executed notebook is the one a new
    kernel writes, cell for cell (IPython's %reset keeps the counter: the second report counted on from the
    first)."""
    from rcmkit.report.run import WarmKernel, run_report

    params = _tiny_report(tmp_path,
                          "print(sorted(k for k in globals() if not k.startswith('_') and k not in "
                          "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open')))",
                          "from rcmkit.report import write_metrics\nwrite_metrics(output_dir, practice, month, {})\n"
                          "21 * 2")

    def run(**kw):
        result = run_report(params, notebook=tmp_path / "tiny.ipynb", progress=False, pdf=False, slides=False,
                            log=lambda m: None, **kw)
        cells = nbformat.read(result.notebook, as_version=4).cells
        return [(c.source, c.get("execution_count"), c.get("outputs")) for c in cells]

    fresh = run()
    warm = WarmKernel("rcmkit").start()
    try:
        first, second = run(kernel_manager=warm), run(kernel_manager=warm)
        pid = warm.manager.provisioner.process.pid
    finally:
        warm.discard()
    assert first == fresh and second == fresh
    assert [c[1] for c in fresh] == [1, 2, 3, 4]  # injected parameters, then the three cells
    names = fresh[2][2][0]["text"]
    assert "rcmkit" not in names and "Figure" not in names and "practice" in names  # the preload's names are gone
    assert fresh[3][2][0]["data"]["text/plain"] == "42"
    assert pid and warm.manager is None


@pytest.mark.notebook
def test_a_kernel_whose_preload_fails_still_runs_the_report(tmp_path):
    """The preload only saves time: one that raises is ignored, and the notebook runs on that kernel."""
    from rcmkit.report.run import WarmKernel, run_report

    params = _tiny_report(tmp_path,
                          "from rcmkit.report import write_metrics\nwrite_metrics(output_dir, practice, month, {})")
    warm = WarmKernel("rcmkit").start(preload="import no_such_module_anywhere")
    try:
        result = run_report(params, notebook=tmp_path / "tiny.ipynb",
                            progress=False, pdf=False, slides=False, log=lambda m: None, kernel_manager=warm)
    finally:
        warm.discard()
    assert json.loads(result.metrics.read_text())["practice"] == "alpha"
