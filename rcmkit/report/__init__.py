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

# Each name is imported from its module on first use (PEP 562): ``rcmkit report`` and ``rcmkit run-monthly`` need
# the parameter checks and the runner, not the report model, charts and tiles (matplotlib, the metrics: about 1 s of
# imports); the notebook's kernel imports those itself.
_WHERE = {
    "MonthlyRun": "rcmkit.report.batch",
    "PracticeOutcome": "rcmkit.report.batch",
    "run_monthly": "rcmkit.report.batch",
    "write_deck": "rcmkit.report.deck",
    "MonthlyReport": "rcmkit.report.model",
    "build_report": "rcmkit.report.model",
    "ExecutiveSummary": "rcmkit.present.narrative",
    "executive_summary": "rcmkit.present.narrative",
    "setup_notebook": "rcmkit.report.notebook",
    "freeze_heap": "rcmkit.report.notebook",
    "ParamError": "rcmkit.report.params",
    "ReportParams": "rcmkit.report.params",
    "load_params": "rcmkit.report.params",
    "metrics_document": "rcmkit.report.record",
    "write_metrics": "rcmkit.report.record",
    "NotebookFailed": "rcmkit.report.run",
    "ReportError": "rcmkit.report.run",
    "ReportResult": "rcmkit.report.run",
    "resolve_kernel": "rcmkit.report.run",
    "run_report": "rcmkit.report.run",
}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rcmkit.report' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


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
    "freeze_heap",
    "run_monthly",
    "MonthlyRun",
    "PracticeOutcome",
    "executive_summary",
    "ExecutiveSummary",
)
