"""The monthly report: parameter files, the papermill runner, HTML export, and the notebook's helpers.

Public API::

    from rcmkit.report import load_params, run_report
    params = load_params("parameters/demo.yaml")        # ParamError (one line) before any kernel starts
    result = run_report(params)                          # NotebookFailed / ReportError on failure
    print(result.html)

Notebook helpers live in :mod:`rcmkit.report.charts` (matplotlib Figures), :mod:`rcmkit.report.tiles`
(HTML tiles and tables) and :func:`setup_notebook`; :func:`write_metrics` writes ``metrics.json``.
"""

from .notebook import setup_notebook
from .params import ParamError, ReportParams, load_params
from .record import metrics_document, write_metrics
from .run import NotebookFailed, ReportError, ReportResult, resolve_kernel, run_report

__all__ = (
    "ParamError",
    "ReportParams",
    "load_params",
    "ReportError",
    "NotebookFailed",
    "ReportResult",
    "resolve_kernel",
    "run_report",
    "metrics_document",
    "write_metrics",
    "setup_notebook",
)
