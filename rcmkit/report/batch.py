"""Monthly runs over many practices: one report per parameter file, a bounded number of kernels at a time.

:func:`run_monthly` validates and runs every parameter file given (or every ``*.yaml`` in a folder given) for a
month (default: each practice's last full month), ``jobs`` practices at a time, each in its own worker process
(one Jupyter kernel each, kept for the worker's next practice). A practice that fails does not stop the others.
A practice whose inputs (the parquet tables' sha256), parameters, notebook and rcmkit version are unchanged since
its last successful run is skipped unless ``force``. Afterwards the portfolio page ``<output_root>/<YYYY-MM>/index.html`` of every month
run that holds a report is rewritten (:mod:`rcmkit.report.portfolio`); this run's failures appear there, on their
own month only, as client-safe text; their reasons are in the end-of-run table.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["PracticeOutcome", "MonthlyRun", "discover", "run_monthly", "run_one", "write_pages", "outcome_table"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class PracticeOutcome:
    """What happened to one parameter file. ``status``: ok, skipped (unchanged since the last run) or failed."""

    params_file: str
    status: str
    practice: str | None = None
    month: str | None = None
    output_root: str | None = None
    report_dir: str | None = None
    html: str | None = None
    seconds: float = 0.0
    error: str | None = None  # the first line of the error
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonthlyRun:
    outcomes: tuple[PracticeOutcome, ...]
    portfolios: tuple[str, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> list[PracticeOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def discover(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The parameter files to run: each file given, and the ``*.yaml``/``*.yml`` files directly in each folder
    given (sorted). Raises ValueError naming a path that does not exist or a folder without parameter files."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(q for q in path.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file()
                           and not q.name.startswith("."))
            if not found:
                raise ValueError(f"{p}: no parameter files (*.yaml) in this folder")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ValueError(f"{p}: no such parameter file or folder")
    seen, unique = set(), []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "") or "unknown error"


#: The worker process's kernel, kept from one practice to the next (run_one with ``warm=True``).
_WARM: dict[str, object] = {}


def _warm_kernel(kernel: str | None):
    from rcmkit.report.run import KERNEL_NAME, WarmKernel

    name = kernel or KERNEL_NAME
    if name not in _WARM:
        import atexit

        _WARM[name] = WarmKernel(name)
        atexit.register(_WARM[name].discard)
    return _WARM[name]


def _printer():
    """The worker process's printer (one browser for all its PDFs), closed when the worker exits."""
    if "printer" not in _WARM:
        import atexit

        from rcmkit.report.export import Printer

        _WARM["printer"] = Printer()
        atexit.register(_WARM["printer"].close)
    return _WARM["printer"]


def query_threads(workers: int, cores: int | None = None) -> int:
    """Threads for each worker's Polars queries (the metrics over pandas tables, :func:`rcmkit.core.engine.lazy`):
    the cores shared among the workers, one at least; a thread per core in every worker would only contend."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


def run_one(
    params_file: str, *, month: str | None = None, output_root: str | None = None, notebook: str | None = None,
    kernel: str | None = None, force: bool = False, pdf: bool = True, slides: bool = True, cwd: str | None = None,
    warm: bool = False, threads: int | None = None,
) -> PracticeOutcome:
    """Run one practice's report (in a worker process). Never raises: every failure becomes an outcome.
    ``warm``: run on the worker's kept kernel (:class:`rcmkit.report.run.WarmKernel`) and print on its kept
    browser (:class:`rcmkit.report.export.Printer`) instead of new ones. ``threads``: the Polars threads of this
    worker's kernels (:func:`query_threads`; they inherit the worker's environment)."""
    t0 = time.monotonic()
    if cwd:
        os.chdir(cwd)
    if threads:
        os.environ["POLARS_MAX_THREADS"] = str(threads)
    if warm:  # the worker's first practice: the kernel boots and imports while the parameters are checked
        try:
            _warm_kernel(kernel).start()
        except Exception:  # noqa: BLE001 - run_report starts it again and says what failed
            pass
        if pdf:  # and the browser launches while the notebook runs, not in the first report's PDF step
            try:
                _printer().start()
            except Exception:  # noqa: BLE001 - no Chromium: the PDF step says so (or the printer says what failed)
                pass
    from rcmkit.report.params import ParamError, load_params
    from rcmkit.report.run import NotebookFailed, ReportError, default_notebook, run_report
    from rcmkit.report.runlog import file_sha256, fingerprint, input_hashes, read_run

    def failed(error: str, **kw) -> PracticeOutcome:
        return PracticeOutcome(params_file, "failed", error=_first_line(error), seconds=time.monotonic() - t0, **kw)

    try:
        params = load_params(params_file, month=month, output_root=output_root)
    except ParamError as exc:
        try:  # name the practice in the summary even when its data is missing
            loose = load_params(params_file, month=month, output_root=output_root, check_data=False)
            return failed(str(exc), practice=loose.practice, month=loose.month or None,
                          output_root=str(loose.output_root))
        except ParamError:
            return failed(str(exc))
    where = dict(practice=params.practice, month=params.month, output_root=str(params.output_root),
                 report_dir=str(params.report_dir))
    try:
        nb = Path(notebook) if notebook else default_notebook()
        if not force:
            previous = read_run(params.report_dir)
            if previous and previous.get("status") == "ok":
                current = fingerprint(params, input_hashes(params.data_root, params.practice), file_sha256(nb))
                outputs = [o for o in (previous.get("outputs") or {}).values() if o]
                if previous.get("fingerprint") == current and all((params.report_dir / o).is_file() for o in outputs):
                    html = params.report_dir / "monthly_report.html"
                    return PracticeOutcome(params_file, "skipped", html=str(html), seconds=time.monotonic() - t0,
                                           notes=("unchanged since the last run",), **where)
        result = run_report(params, notebook=nb, kernel=kernel, progress=False, pdf=pdf, slides=slides,
                            log=lambda msg: None, kernel_manager=_warm_kernel(kernel) if warm else None,
                            printer=_printer() if warm and pdf else None)
    except (NotebookFailed, ReportError) as exc:
        return failed(str(exc), **where)
    except Exception as exc:  # noqa: BLE001 - one practice's surprise must not stop the others
        return failed(f"{type(exc).__name__}: {exc}", **where)
    return PracticeOutcome(params_file, "ok", html=str(result.html), seconds=time.monotonic() - t0,
                           notes=result.notes, **where)


def run_monthly(
    paths: Sequence[str | os.PathLike],
    *,
    month: str | None = None,
    jobs: int = 2,
    force: bool = False,
    output_root: str | os.PathLike | None = None,
    notebook: str | os.PathLike | None = None,
    kernel: str | None = None,
    pdf: bool = True,
    slides: bool = True,
    progress: bool = True,
    log: Log | None = None,
    warm: bool = True,
) -> MonthlyRun:
    """Run the monthly report for every parameter file in ``paths`` (files or folders), ``jobs`` at a time.

    ``warm``: each worker keeps one kernel for all its practices (reset between them), instead of starting one
    per practice: the kernel start and the imports are paid ``jobs`` times, not once per practice.

    Returns every practice's :class:`PracticeOutcome` (in the order of the files) and the portfolio pages
    written. Raises ValueError for a path that does not exist (before anything runs).
    """
    from rcmkit.report.run import resolve_kernel

    t0 = time.monotonic()
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    files = discover(paths)
    kernel = kernel or resolve_kernel(log=log)  # register the kernel once, before the workers start
    kw = dict(month=month, output_root=None if output_root is None else os.fspath(output_root),
              notebook=None if notebook is None else os.fspath(Path(notebook).resolve()), kernel=kernel, force=force,
              pdf=pdf, slides=slides, cwd=os.getcwd(), warm=warm)
    workers = max(1, min(jobs, len(files)))
    kw["threads"] = query_threads(workers)
    outcomes: dict[int, PracticeOutcome] = {}
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), desc="monthly reports", unit="practice", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    try:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter per worker: no inherited threads or locks
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(run_one, str(f), **kw): i for i, f in enumerate(files)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    outcomes[i] = fut.result()
                except BrokenProcessPool as exc:
                    outcomes[i] = PracticeOutcome(str(files[i]), "failed",
                                                  error=f"the worker process died ({_first_line(str(exc))})")
                except Exception as exc:  # noqa: BLE001
                    outcomes[i] = PracticeOutcome(str(files[i]), "failed", error=_first_line(f"{type(exc).__name__}: {exc}"))
                o = outcomes[i]
                bar.set_postfix_str(f"{o.practice or Path(o.params_file).name}: {o.status}", refresh=False)
                bar.update(1)
    finally:
        bar.close()
    ordered = tuple(outcomes[i] for i in range(len(files)))

    written = write_pages(ordered, log)
    notes = sorted({n for o in ordered for n in o.notes if n.startswith("PDF ")})
    return MonthlyRun(ordered, tuple(written), time.monotonic() - t0, tuple(notes))


def write_pages(outcomes: Sequence[PracticeOutcome], log: Log) -> list[str]:
    """Write the portfolio page of each (output root, month) of ``outcomes`` that holds at least one report; return
    their paths. A failure is listed on its own month's page only (one without a known month, e.g. no data, is in
    the end-of-run table only), and a month without any report (a mistyped ``--month``: every practice failed)
    gets no page at all: the reason is logged instead."""
    from rcmkit.report.portfolio import has_reports, write_portfolio

    pages: dict[tuple[str, str], dict[str, str]] = {}
    for o in outcomes:
        if o.output_root and o.month:
            failures = pages.setdefault((o.output_root, o.month), {})
            if o.status == "failed":
                failures[o.practice or Path(o.params_file).stem] = o.error or "failed"
    written = []
    for (root, mon), failures in sorted(pages.items()):
        if not has_reports(root, mon):
            log(f"no portfolio page for {mon} in {root}: no practice has a report for that month")
            continue
        try:
            written.append(str(write_portfolio(root, mon, failures)))
        except OSError as exc:
            log(f"error: cannot write the portfolio page for {mon} in {root}: {exc.strerror or exc}")
    return written


def outcome_table(run: MonthlyRun, *, cwd: str | os.PathLike | None = None) -> str:
    """The end-of-run table: practice, month, status, seconds, and the report path or the error's first line."""
    base = Path(cwd or os.getcwd())

    def rel(p: str | None) -> str:
        if not p:
            return ""
        try:
            return os.path.relpath(p, base)
        except ValueError:
            return p

    rows = [("practice", "month", "status", "seconds", "report / error")]
    for o in run.outcomes:
        detail = o.error if o.status == "failed" else rel(o.html)
        rows.append((o.practice or Path(o.params_file).name, o.month or "-", o.status, f"{o.seconds:.1f}",
                     detail or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                        r[3].rjust(widths[3]), r[4]]).rstrip() for r in rows]
    for page in run.portfolios:
        lines.append(f"portfolio: {rel(page)}")
    n_ok = sum(o.status == "ok" for o in run.outcomes)
    n_skip = sum(o.status == "skipped" for o in run.outcomes)
    n_fail = len(run.failed)
    summary = f"{n_ok} succeeded, {n_fail} failed"
    if n_skip:
        summary += f", {n_skip} skipped (unchanged; --force reruns them)"
    lines.append(summary + f" in {run.seconds:.1f} s")
    return "\n".join(lines)
