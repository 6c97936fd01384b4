"""The monthly report: parameter files, the papermill runner, HTML export, and the notebook's helpers.

Public API::

    from rcmkit.report import load_params, run_report, run_monthly
    params = load_params("parameters/demo.yaml")        # ParamError (one line) before any kernel starts
    result = run_report(params)                          # NotebookFailed / ReportError on failure
    print(result.html, result.pdf)
    run = run_monthly(["parameters/portfolio/"], jobs=2)  # many practices; never raises for one practice
    print([o.status for o in run.outcomes], run.portfolios)

The report's numbers are one value: :func:`build_report` computes every metric the report shows once, into a
:class:`MonthlyReport` (:mod:`rcmkit.report.model`); the notebook renders it and writes ``metrics.json`` from it
(``write_metrics(output_dir, report)``).

Notebook helpers live in :mod:`rcmkit.present.charts` (matplotlib Figures), :mod:`rcmkit.present.tiles`
(HTML tiles and tables), :mod:`rcmkit.present.narrative` (the executive summary), :mod:`rcmkit.report.suite` (work
lists, the denial cohort and the other measures' definitions, shaped from the metrics) and :func:`setup_notebook`;
:func:`write_metrics` writes ``metrics.json`` and :func:`write_deck` the slide deck. Exports (HTML, PDF, slides) are in :mod:`rcmkit.report.export`,
the portfolio page in :mod:`rcmkit.report.portfolio`, run.json in :mod:`rcmkit.report.runlog`.
"""

from rcmkit.report.batch import MonthlyRun, PracticeOutcome, run_monthly
from rcmkit.report.deck import write_deck
from rcmkit.report.model import MonthlyReport, build_report
from rcmkit.present.narrative import ExecutiveSummary, executive_summary
from rcmkit.report.notebook import setup_notebook
from rcmkit.report.params import ParamError, ReportParams, load_params
from rcmkit.report.record import metrics_document, write_metrics
from rcmkit.report.run import NotebookFailed, ReportError, ReportResult, resolve_kernel, run_report

__all__ = (
    "ParamError",
    "ReportParams",
    "load_params",
    "ReportError",
    "NotebookFailed",
    "ReportResult",
    "resolve_kernel",
    "run_report",
    "build_report",
    "MonthlyReport",
    "metrics_document",
    "write_metrics",
    "write_deck",
    "setup_notebook",
    "run_monthly",
    "MonthlyRun",
    "PracticeOutcome",
    "executive_summary",
    "ExecutiveSummary",
)
