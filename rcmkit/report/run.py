"""Run the monthly report: execute the notebook with papermill, export static HTML, publish atomically.

Layout of the output (``<output_root>/<practice>/<YYYY-MM>/``)::

    monthly_report.ipynb         the executed notebook (inputs, outputs, parameters; no timestamps)
    monthly_report.html          the report: no code, no prompts, images embedded as data URIs
    monthly_report.pdf           the HTML printed by headless Chromium (skipped, with a note, without Chromium)
    monthly_report.slides.html   a slide deck of the month (rcmkit.report.deck), self-contained
    metrics.json                 the month's KPIs (written by the notebook through rcmkit.report.write_metrics)
    run.json                     the run log: parameters, input hashes, rcmkit version, times, status

Everything is built in a hidden staging folder beside the target and then renamed into place, so a reader sees
the old complete report or the new complete report, never a mix. Report folders and files are private to their
owner like the data (``0700`` folders, ``0600`` files, or the mode in ``RCMKIT_FILE_MODE``, see
:func:`rcmkit.core.store.file_mode`): folders are made with :func:`rcmkit.core.store.make_dirs`, rcmkit's own files are
written with :func:`rcmkit.core.store.write_file`, and what papermill, the kernel and Chromium wrote is given the same
modes (:func:`rcmkit.core.store.restrict`) before the staging folder is published. When a notebook cell fails, the partial
executed notebook is kept in ``<YYYY-MM>.failed/`` (the previous good report, if any, is left untouched) and
:class:`NotebookFailed` says which cell failed and why.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import sys
import threading
import time
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

from rcmkit.core import store
from rcmkit.report.kernel import (KERNEL_ARGS, KERNEL_NAME, PRELOAD, WarmKernel,  # noqa: F401 - re-exported
                                  resolve_kernel)
from rcmkit.report.params import ReportParams
from rcmkit.report.record import METRICS_FILE, read_metrics
from rcmkit.report.runlog import RUN_FILE, file_sha256, input_hashes, run_document, store_versions, utc_now, write_run
from rcmkit.errors import RcmkitError

__all__ = [
    "ReportError",
    "NotebookFailed",
    "ReportResult",
    "KERNEL_NAME",
    "NOTEBOOK_FILE",
    "HTML_FILE",
    "PDF_FILE",
    "SLIDES_FILE",
    "RUN_FILE",
    "default_notebook",
    "resolve_kernel",
    "run_report",
    "WarmKernel",
    "publish_dir",
    "external_resources",
]

NOTEBOOK_FILE = "monthly_report.ipynb"
HTML_FILE = "monthly_report.html"
PDF_FILE = "monthly_report.pdf"
SLIDES_FILE = "monthly_report.slides.html"  # written by the notebook (rcmkit.report.deck.write_deck: DECK_FILE)

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class ReportError(RcmkitError, RuntimeError):
    """The report could not be produced. ``str(err)`` is one line for the user."""


class NotebookFailed(ReportError):
    """A cell of the report notebook raised. Carries the cell, the error and where the partial notebook is."""

    def __init__(
        self, cell_index: int, exec_count: int | None, source: str, ename: str, evalue: str, notebook: Path | None
    ):
        self.cell_index = cell_index
        self.exec_count = exec_count
        self.source = source
        self.ename = ename
        self.evalue = evalue
        self.notebook = notebook
        code = [ln.strip() for ln in (source or "").splitlines() if ln.strip() and not ln.strip().startswith("#")]
        first_src = code[0] if code else ""
        if len(first_src) > 70:
            first_src = first_src[:67] + "..."
        first_err = next((ln.strip() for ln in (evalue or "").splitlines() if ln.strip()), "")
        where = f"In [{exec_count}]" if exec_count else f"cell {cell_index}"
        kept = f"; partial notebook kept at {notebook}" if notebook else ""
        super().__init__(
            f"the report notebook failed at {where} ({first_src!r}): {ename}: {first_err}".rstrip(": ") + kept
        )


@dataclass(frozen=True)
class ReportResult:
    report_dir: Path
    html: Path
    notebook: Path
    metrics: Path
    kernel: str
    seconds: float
    pdf: Path | None = None
    slides: Path | None = None
    run: Path | None = None
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------- notebook + kernel
def default_notebook() -> Path:
    """The monthly report notebook: ``notebooks/`` of the rcmkit checkout (rcmkit runs from a clone)."""
    candidate = Path(__file__).resolve().parents[2] / "notebooks" / NOTEBOOK_FILE
    if candidate.is_file():
        return candidate
    raise ReportError(f"cannot find {candidate}; pass --notebook PATH")


# --------------------------------------------------------------------------------------------- publishing
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _private_dir(path: Path) -> Path:
    """Create the folder ``path`` (it must not exist) with the store's folder mode, whatever the umask."""
    mode = store.dir_mode()
    os.mkdir(path, mode)
    os.chmod(path, mode)
    return path


def publish_dir(staging: Path, final: Path) -> None:
    """Move the complete folder ``staging`` to ``final``, replacing an older ``final`` without a window in which
    a reader could see a half-written report. ``staging`` must be beside ``final`` (same filesystem).

    Before the move, ``staging`` and everything in it get the store's modes (:func:`rcmkit.core.store.restrict`:
    ``0700``/``0600`` unless ``RCMKIT_FILE_MODE`` says otherwise), whoever wrote the files."""
    store.restrict(staging)
    for path in staging.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    try:
        os.rename(staging, final)  # no older report (a non-empty final makes this fail)
    except OSError:
        if not final.exists():
            raise
        if _exchange(staging, final):  # staging now holds the old report
            shutil.rmtree(staging, ignore_errors=True)
        else:
            old = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
            os.rename(final, old)
            os.rename(staging, final)
            shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(final.parent)


# --------------------------------------------------------------------------------------------- running
def _papermill_engine() -> str:
    """Register (once) and name papermill's nbclient engine with sparse saves: papermill writes the executed
    notebook at every cell's start and end (about 130 writes of a notebook growing to a few MB: 1-2 s of a
    report); this one writes it every ``autosave_cell_every`` seconds and when the run ends, failed or not (the
    partial notebook of a failed run is still there to keep)."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    name = "rcmkit-nbclient"
    if _ENGINE_REGISTERED:
        return name

    class SparseSaves(NotebookExecutionManager):
        final = False

        def save(self, **kwargs):
            if self.final or (self.now() - self.last_save_time).total_seconds() >= self.autosave_cell_every:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs):
            self.final = True
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                             autosave_cell_every=30, **kwargs):
            nb_man = SparseSaves(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                 autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(name, Engine)
    _ENGINE_REGISTERED.append(name)
    return name


_ENGINE_REGISTERED: list[str] = []  # the engine's name once registered with papermill (once per process)


def run_report(
    params: ReportParams,
    *,
    notebook: str | os.PathLike | None = None,
    kernel: str | None = None,
    progress: bool = True,
    timeout: int = 900,
    pdf: bool = True,
    slides: bool = True,
    log: Log = _stderr,
    kernel_manager: Any = None,
    printer: Any = None,
) -> ReportResult:
    """Execute the report notebook for validated ``params`` and publish ``<output_root>/<practice>/<month>/``.

    Raises :class:`NotebookFailed` when a cell raises (the partial notebook is kept in ``<month>.failed/``) and
    :class:`ReportError` for anything else that stops the report. Nothing incomplete is ever published. Without
    Chromium the PDF is skipped with one line ("PDF skipped: chromium not found"); the HTML is still published.

    ``kernel_manager``: a started :class:`jupyter_client.KernelManager` to run the notebook on instead of a new
    kernel (:class:`WarmKernel`: ``rcmkit run-monthly`` keeps one per worker, so the kernel start and rcmkit's
    imports are paid once per worker, not once per practice). Its namespace is reset and its working folder set
    before the notebook runs; the executed notebook is the same.

    ``printer``: a :class:`rcmkit.report.export.Printer` to print the PDF with (``rcmkit run-monthly`` keeps one
    browser per worker); without one, a printer of this report's own is started with the notebook, so the browser
    launches while the kernel works, and is closed at the end.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from rcmkit.report.export import (ChromiumNotFound, PdfError, Printer, find_chromium, html_to_pdf,
                                      notebook_to_html, warm_up_html)

    t0 = time.monotonic()
    started_at = utc_now()
    nb_in = Path(notebook) if notebook is not None else default_notebook()
    if not nb_in.is_file():
        raise ReportError(f"notebook {nb_in} does not exist")
    nb_sha = file_sha256(nb_in)
    try:  # pin the snapshot: the notebook reads exactly what run.json records, whatever ingests meanwhile
        version = store.snapshot_id(params.data_root, params.practice) if params.store_version is None \
            else params.store_version
        params = replace(params, store_version=version)
        inputs = input_hashes(params.data_root, params.practice, version)
        read = store_versions(params.data_root, params.practice, version)
    except store.StoreError as exc:
        raise ReportError(str(exc)) from None
    kernel = kernel or resolve_kernel(log=log)
    final = params.report_dir
    staging = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
    try:
        store.make_dirs(final.parent)
        _private_dir(staging)
    except OSError as exc:
        raise ReportError(f"cannot create the report folder {final.parent}: {exc.strerror or exc}") from None
    except store.StoreError as exc:  # RCMKIT_FILE_MODE is not a usable mode
        raise ReportError(str(exc)) from None
    out_nb = staging / NOTEBOOK_FILE
    own_printer = None
    notes: list[str] = []
    timings: dict[str, float] = {}

    def timed(step: str, since: float) -> None:
        timings[step] = time.monotonic() - since

    def run_log(status: str, outputs: dict | None = None, error: str | None = None) -> dict:
        return run_document(params, notebook=nb_in, status=status, started_at=started_at, finished_at=utc_now(),
                            seconds=time.monotonic() - t0, inputs=inputs, notebook_sha256=nb_sha, kernel=kernel,
                            outputs=outputs, notes=notes, error=error, store=read, timings=timings)

    try:
        month_note = " (the last full month)" if params.month_is_default else ""
        log(f"running {nb_in.name} for practice {params.practice!r}, month {params.month}{month_note}, "
            f"kernel {kernel!r}")
        step = time.monotonic()
        warm = {}
        if kernel_manager is not None:
            kernel_manager.prepare(staging)
            warm = {"km": kernel_manager.manager}
        # While the kernel runs the notebook this process only waits: load and compile the HTML exporter meanwhile
        # (nbconvert, its templates and Markdown parser: about 1 s of the first export, 0.3 s of the next ones).
        warming = threading.Thread(target=warm_up_html, name="rcmkit-warm-html", daemon=True)
        warming.start()
        if pdf and printer is None and find_chromium() and _has_playwright():
            own_printer = printer = Printer()
            try:
                printer.start()  # the browser launches while the kernel works
            except PdfError:
                own_printer = printer = None
        try:
            executed = papermill.execute_notebook(
                str(nb_in),
                str(out_nb),
                # output_dir "." is the staging folder (the kernel's cwd): no random path in the executed notebook
                parameters={**params.notebook_parameters("."), "slides": slides},
                kernel_name=kernel,
                language="python",
                progress_bar=progress,
                cwd=str(staging),
                execution_timeout=timeout,
                start_timeout=120,
                extra_arguments=list(KERNEL_ARGS),  # a quiet kernel without a history database
                engine_name=_papermill_engine(),
                **warm,
            )
        except PapermillExecutionError as exc:
            err = NotebookFailed(exc.cell_index, exc.exec_count, exc.source, exc.ename, exc.evalue, None)
            kept = _keep_failed(staging, final, out_nb, run_log("failed", error=str(err)))
            raise NotebookFailed(exc.cell_index, exc.exec_count, exc.source, exc.ename, exc.evalue, kept) from exc
        except Exception as exc:  # dead kernel, timeout, missing kernel, unreadable notebook ...
            if kernel_manager is not None:
                kernel_manager.discard()  # a timed-out cell may still be running: the next report gets a new one
            first = (str(exc).strip().splitlines() or [""])[0]
            message = f"the report notebook did not run: {type(exc).__name__}: {first}"
            kept = _keep_failed(staging, final, out_nb, run_log("failed", error=message))
            where = f"; partial notebook kept at {kept}" if kept else ""
            raise ReportError(message + where) from exc

        timed("notebook", step)
        metrics = staging / METRICS_FILE
        if not metrics.is_file():
            message = (f"the notebook ran but wrote no {METRICS_FILE} (it must call rcmkit.report.write_metrics "
                       "with output_dir)")
            kept = _keep_failed(staging, final, out_nb, run_log("failed", error=message))
            raise ReportError(f"{message}; notebook kept at {kept}")
        doc = read_metrics(metrics)
        if (doc.get("practice"), doc.get("month")) != (params.practice, params.month):
            raise ReportError(f"{METRICS_FILE} is for {doc.get('practice')!r} {doc.get('month')!r}, expected "
                              f"{params.practice!r} {params.month!r}")

        warming.join()
        # papermill returns the notebook it wrote to out_nb: no second read (and validation) of a file of a few MB
        if executed is None:  # an engine that returns nothing: read what it wrote
            executed = nbformat.read(out_nb, as_version=4)
        nb = _without_timestamps(executed, final / NOTEBOOK_FILE)
        _named(_write_notebook, out_nb)(nb, out_nb)
        log("exporting HTML")
        step = time.monotonic()
        title = params.title or f"{params.practice_name or params.practice} monthly report {params.month}"
        html, n_stderr = notebook_to_html(nb, title=title)
        if n_stderr:
            log(f"note: {n_stderr} stderr output(s) (warnings) left out of the HTML; see {final / NOTEBOOK_FILE}")
        ext = external_resources(html)
        if ext:
            log(f"note: the HTML refers to {len(ext)} external resource(s), e.g. {ext[0]}")
        _named(store.write_file, staging / HTML_FILE)(staging / HTML_FILE, html.encode("utf-8"))
        timed("html", step)
        outputs = {"notebook": NOTEBOOK_FILE, "html": HTML_FILE, "metrics": METRICS_FILE, "pdf": None, "slides": None}
        if not slides:
            (staging / SLIDES_FILE).unlink(missing_ok=True)
        elif (staging / SLIDES_FILE).is_file():  # the packaged notebook writes the deck from its report model
            outputs["slides"] = SLIDES_FILE
        else:  # a custom notebook that does not: build the model again for the deck
            from rcmkit.report.deck import deck_from_params

            log("building the slide deck")
            step = time.monotonic()
            try:
                deck = deck_from_params(params)
            except (ValueError, LookupError, RcmkitError) as exc:  # data a custom notebook took, the model does not
                notes.append(f"slides skipped: {type(exc).__name__}: {exc}")
                log(notes[-1])
            else:
                _named(store.write_file, staging / SLIDES_FILE)(staging / SLIDES_FILE, deck.encode("utf-8"))
                outputs["slides"] = SLIDES_FILE
            timed("slides", step)
        if pdf:
            step = time.monotonic()
            try:
                from rcmkit.present.format import month_label

                who = f"{params.practice_name or params.practice} \u00b7 {month_label(params.month)}"
                html_to_pdf(staging / HTML_FILE, staging / PDF_FILE,
                            header=params.title or "Monthly revenue cycle report", footer=who, printer=printer)
                outputs["pdf"] = PDF_FILE
            except ChromiumNotFound:
                notes.append("PDF skipped: chromium not found")
                log(notes[-1])
            except PdfError as exc:
                notes.append(f"PDF failed: {exc}")
                log(notes[-1])
            timed("pdf", step)
        _named(write_run, staging / RUN_FILE)(staging, run_log("ok", outputs))

        try:
            publish_dir(staging, final)
        except OSError as exc:
            raise ReportError(f"cannot publish the report to {final}: {exc.strerror or exc}") from None
        shutil.rmtree(final.with_name(f"{final.name}.failed"), ignore_errors=True)  # stale failure of an older run
    except OSError as exc:  # a full disk (ENOSPC) or a quota while writing: one line, nothing left behind
        path = Path(exc.filename) if exc.filename else None
        ours = path is not None and path.parent == staging
        shown = final / path.name if ours else (path or final)
        what = "cannot write" if ours or exc.errno in _WRITE_ERRNOS else "cannot read or write"
        raise ReportError(f"{what} {shown}: {exc.strerror or exc}; the report was not published"
                          + ("" if not final.exists() else f" (the previous report in {final} is unchanged)")) \
            from None
    finally:
        if own_printer is not None:
            own_printer.close()
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return ReportResult(
        report_dir=final,
        html=final / HTML_FILE,
        notebook=final / NOTEBOOK_FILE,
        metrics=final / METRICS_FILE,
        kernel=kernel,
        seconds=time.monotonic() - t0,
        pdf=final / PDF_FILE if outputs["pdf"] else None,
        slides=final / SLIDES_FILE if outputs["slides"] else None,
        run=final / RUN_FILE,
        notes=tuple(notes),
    )


def _has_playwright() -> bool:
    import importlib.util

    return importlib.util.find_spec("playwright") is not None


class _ResourceFinder(HTMLParser):
    """Collects the ``src``/``href`` attribute values of real elements. Text, comments, attribute values of other
    attributes and the content of ``<script>``/``<style>`` are never looked into, so escaped text (a payer named
    ``<img src=x>``, shown as ``&lt;img src=x&gt;``) is not mistaken for a resource."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                value = value.strip()
                if value and not value.startswith("#") and not value[:5].lower() == "data:":
                    self.found.add(value)

    handle_startendtag = handle_starttag


def external_resources(html: str) -> list[str]:
    """Every ``src``/``href`` attribute of an element that is not a data URI or an in-page anchor, sorted (a
    self-contained report has none). The HTML is parsed (:mod:`html.parser`), not searched with a pattern."""
    finder = _ResourceFinder()
    finder.feed(html)
    finder.close()
    return sorted(finder.found)


#: OSError numbers that mean "the disk would not take it": a full disk, a quota, a file too large, read-only.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _named(write: Callable, path: Path) -> Callable:
    """``write`` whose OSError names ``path`` (a failed ``fh.write`` says only 'No space left on device')."""

    def call(*args, **kwargs):
        try:
            return write(*args, **kwargs)
        except OSError as exc:
            if exc.filename:
                raise
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc

    return call


def _write_notebook(nb, path: Path) -> None:
    """``nbformat.write`` (the same bytes: JSON and a final newline) through :func:`rcmkit.core.store.write_file`."""
    import nbformat

    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    store.write_file(path, text.encode("utf-8"))


#: Wall-clock fields papermill and nbclient write into an executed notebook (they belong in run.json only).
_TIMING_KEYS = ("start_time", "end_time", "duration")


def _without_timestamps(nb, output_path: Path):
    """The executed notebook without wall-clock times (cell ``execution`` timings, papermill start/end/duration),
    with its papermill ``output_path`` set to where it is published and a fixed id for the injected-parameters
    cell, so reruns give the same notebook."""
    pm = nb.metadata.get("papermill")
    if pm is not None:
        for key in _TIMING_KEYS:
            pm.pop(key, None)
        pm["output_path"] = str(output_path)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives the cell it adds a random id
        cell.metadata.pop("execution", None)
        cpm = cell.metadata.get("papermill")
        if cpm is not None:
            for key in _TIMING_KEYS:
                cpm.pop(key, None)
    return nb


def _keep_failed(staging: Path, final: Path, out_nb: Path, run_doc: dict | None = None) -> Path | None:
    """Publish the partial executed notebook (with a run.json saying what failed) to ``<month>.failed/``; return
    the notebook's path, or None when there is no notebook to keep."""
    if not out_nb.is_file():
        return None
    failed = final.with_name(f"{final.name}.failed")
    box = final.with_name(f".{final.name}.failed-tmp-{secrets.token_hex(4)}")
    try:
        _private_dir(box)
        shutil.move(str(out_nb), box / NOTEBOOK_FILE)
        if run_doc is not None:
            write_run(box, run_doc)
        publish_dir(box, failed)
    except OSError:  # a full disk: the partial notebook cannot be kept; leave nothing half-made behind
        shutil.rmtree(box, ignore_errors=True)
        return None
    return failed / NOTEBOOK_FILE
