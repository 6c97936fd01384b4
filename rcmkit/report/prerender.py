"""Draw the report's charts on a second core while the notebook renders its first sections (issue #15).

Drawing the 14 charts of the report and the 4 of its slide deck is about 3 s of one core, one chart after another
as the notebook's cells run. :func:`prerender` (called by the report notebook once the model is built) forks the
kernel: the child draws the same charts, from the last one backwards, and leaves each picture in a private
temporary folder; the notebook's cells draw from the first one forwards, and a chart the child has already drawn
is shown from its picture instead of being drawn again. The two meet in the middle; a chart the notebook is
about to draw itself is marked, so the child stops there.

Nothing changes in what the report shows: a picture is used only for the very same chart (the same chart
function with arguments that pickle to the same bytes) drawn by the same code with the same settings in a copy of
the same process, so the bytes are those the cell would have drawn; anything else (a custom notebook, another
chart, a child that is slow or died) is drawn by the cell as before. Without a spare core (``os.cpu_count()``
below 2, a load average over the core count less half a core, or ``RCMKIT_CHART_PROCESSES=0``: ``rcmkit run-monthly``
sets it when its jobs already fill the cores) or without ``fork``, nothing is forked and every chart is drawn by
its cell. ``RCMKIT_CHART_PROCESSES=2`` forks whatever the load.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import pickle
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["prerender", "chart_plan", "picture", "Prerendered", "ENV"]

#: ``RCMKIT_CHART_PROCESSES=0`` turns the second drawing process off, ``2`` forks it whatever the load average.
ENV = "RCMKIT_CHART_PROCESSES"

_ACTIVE: list["Prerendered"] = []  # the current report's (one at a time in a kernel)


def _key(kind: str, name: str, args: tuple, kwargs: dict) -> str | None:
    """A digest of one chart call: which picture (``kind``: the notebook's or the deck's), the chart function and
    its pickled arguments; None when an argument does not pickle (that chart is then always drawn by its cell)."""
    try:
        blob = pickle.dumps((kind, name, args, sorted(kwargs.items())), protocol=5)
    except Exception:  # noqa: BLE001 - an unpicklable argument: no key, no shortcut
        return None
    return hashlib.sha256(blob).hexdigest()


def chart_plan(report: Any) -> list[tuple[str, str, tuple, dict]]:
    """The chart calls of the packaged report notebook and of its deck (:mod:`rcmkit.report.deck`), in the order
    they run: ``(kind, chart function name, args, kwargs)``. A call that differs from the notebook's (another
    argument) only loses its shortcut: :func:`tests.test_report_prerender` checks every one is used."""
    r = report
    k = r.kpis
    nb = [
        ("kpi_trend_chart", (r.trend, [k["days_in_ar"], k["days_in_ar_net"]]), {"title": "Days in A/R",
                                                                                 "status": r.status}),
        ("ar_balance_trend", (r.trend,), {"status": r.status}),
        ("claim_quality_trend", (r.trend,), {"status": r.status}),
        ("charges_payments_trend", (r.trend,), {}),
        ("payer_mix_trend", (r.payer_mix, r.trend["month"]), {}),
        ("aging_by_payer", (r.aging, r.colors), {"month": r.month}),
        ("denials_by_category", (r.denial_reasons_all, r.open_denials), {"month": r.month}),
        ("denial_reasons_chart", (r.denial_reasons,), {"month": r.month}),
        ("denied_codes_chart", (r.denial_rates_by_code,), {"month": r.month}),
        ("collections_chart", (r.payments_by_class, r.adjustments), {"month": r.month,
                                                                     "months": r.options.collection_months}),
        ("kpi_trend_chart", (r.trend, [k["net_collection_rate"]]), {"title": "Net collection rate",
                                                                    "status": r.status}),
        ("cash_forecast_chart", (r.forecast_weeks, r.forecast_check), {}),
        ("payer_scorecard_chart", (r.scorecard, r.colors), {"aged_over_days": r.options.aged_over_days,
                                                            "status": r.status}),
        ("paid_per_unit_by_payer", (r.reimbursement, r.colors), {}),
    ]
    deck = [
        ("kpi_trend_chart", (r.trend, [k[x] for x in ("days_in_ar", "days_in_ar_net") if x in k]),
         {"title": "Days in A/R", "status": r.status}),
        ("aging_by_payer", (r.aging, r.colors), {"month": r.month}),
        ("denial_reasons_chart", (r.denial_reasons,), {"month": r.month}),
        ("charges_payments_trend", (r.trend,), {}),
    ]
    return [("notebook", *c) for c in nb] + [("deck", *c) for c in deck]


class Prerendered:
    """The pictures the child process draws for one report, and the notebook's side of the meeting point."""

    def __init__(self, folder: Path, pid: int | None, keys: list[str]) -> None:
        self.folder = folder
        self.pid = pid
        self.keys = set(keys)
        self.pending = set(keys)  # neither shown from a picture nor drawn by the notebook yet
        self.used: list[str] = []  # the keys shown from the child's pictures (for the tests)
        self.drawn: list[str] = []  # the keys the notebook drew itself

    def take(self, fig: Any, kind: str) -> Any:
        """The child's picture of ``fig`` (``kind``: as the notebook shows it, or as the deck does); None when
        there is none (yet), and then the child is told the notebook draws it, so it stops before it."""
        call = getattr(fig, "_rcmkit_call", None)
        key = _key(kind, *call) if call is not None else None
        if key is None or key not in self.keys:
            return None
        path = self.folder / f"{key}.out"
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        if data is None:
            try:
                (self.folder / f"{key}.mine").touch()
            except OSError:
                pass
            self.drawn.append(key)
            self._done_with(key)
            return None
        self.used.append(key)
        self._done_with(key)
        return pickle.loads(data)

    def _done_with(self, key: str) -> None:
        self.pending.discard(key)
        if not self.pending:  # every picture was shown or drawn: the child has nothing left to do
            self.close()

    def close(self) -> None:
        """Stop the child (when it still runs) and remove its pictures."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = None
        shutil.rmtree(self.folder, ignore_errors=True)


def active() -> Prerendered | None:
    return _ACTIVE[0] if _ACTIVE else None


def picture(fig: Any, kind: str) -> Any:
    """The child's picture of ``fig`` as ``kind`` shows it, or None (then the caller draws it)."""
    pre = active()
    return pre.take(fig, kind) if pre is not None else None


def _close_active() -> None:
    while _ACTIVE:
        _ACTIVE.pop().close()


atexit.register(_close_active)


def _spare_core() -> bool:
    """A core the copy can use: two or more, fewer busy than that in the last minute (the report's own kernel is
    one; a busy machine would only share its cores among more work), fork available, not turned off."""
    setting = os.environ.get(ENV, "").strip()
    if setting == "0":
        return False
    if not (hasattr(os, "fork") and sys.platform.startswith("linux")):
        return False
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average: trust the core count
        busy = 1.0
    return cores >= 2 and (setting == "2" or busy <= cores - 0.5)  # 1.5 on 2 cores: the kernel, and half a core


def _notebook_png() -> Callable[[Any], Any] | None:
    """The kernel's PNG formatter for matplotlib Figures (set by :func:`rcmkit.report.setup_notebook`)."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover
        return None
    shell = get_ipython()
    if shell is None:
        return None
    try:
        return shell.display_formatter.formatters["image/png"].lookup_by_type(Figure)
    except KeyError:
        return None


def _install(draw_png: Callable[[Any], Any]) -> None:
    """Show a Figure from the child's picture when there is one: the kernel's PNG formatter, wrapped."""
    from IPython import get_ipython
    from matplotlib.figure import Figure

    def png(fig):
        pre = active()
        data = pre.take(fig, "notebook") if pre is not None else None
        return data if data is not None else draw_png(fig)

    png.__wrapped__ = draw_png
    get_ipython().display_formatter.formatters["image/png"].for_type(Figure, png)


def prerender(report: Any, *, deck: bool = True,
              plan: list[tuple[str, str, tuple, dict]] | None = None) -> Prerendered | None:
    """Fork a process that draws the report's charts (:func:`chart_plan`; without the deck's when ``deck`` is
    false) from the last backwards, for the cells and the deck to show instead of drawing them again. Returns the
    handle (None when nothing was forked: no spare core, no fork, not in a kernel). Call it after
    :func:`rcmkit.report.setup_notebook`. The child ends when the notebook has every picture, at the next
    report's ``prerender`` or when the kernel exits."""
    from rcmkit.present import charts

    _close_active()
    charts.RECORD_CALLS[0] = False
    draw_png = _notebook_png()
    if draw_png is None or not _spare_core():
        return None
    draw_png = getattr(draw_png, "__wrapped__", draw_png)  # a warm kernel's formatter from the last report
    plan = chart_plan(report) if plan is None else plan
    if not deck:
        plan = [c for c in plan if c[0] != "deck"]
    keyed = [(_key(kind, name, args, kwargs), kind, name, args, kwargs) for kind, name, args, kwargs in plan]
    keyed = [item for item in keyed if item[0] is not None]
    folder = Path(tempfile.mkdtemp(prefix="rcmkit-charts-"))
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: draw, write, never return into the kernel
        code = 0
        try:
            import ctypes
            import gc

            gc.disable()  # no finalizer of the kernel's objects (its sockets) runs in the copy
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed kernel takes its copy along
            if os.getppid() != parent:  # the kernel died before that line
                os._exit(1)
            devnull = open(os.devnull, "w")
            sys.stdout = sys.stderr = devnull
            os.dup2(devnull.fileno(), 1)  # nor the kernel's own output files: nothing of the copy goes there
            os.dup2(devnull.fileno(), 2)
            from rcmkit.report.deck import figure_png

            for key, kind, name, args, kwargs in reversed(keyed):
                if (folder / f"{key}.mine").exists():
                    break  # the notebook has reached this chart: everything before it is drawn there
                fig = getattr(charts, name)(*args, **kwargs)
                data = draw_png(fig) if kind == "notebook" else figure_png(fig)
                tmp = folder / f"{key}.tmp"
                tmp.write_bytes(pickle.dumps(data, protocol=5))
                os.replace(tmp, folder / f"{key}.out")
        except BaseException:  # noqa: BLE001 - the cells draw what is missing
            code = 1
        finally:
            os._exit(code)
    pre = Prerendered(folder, pid, [k for k, *_ in keyed])
    _ACTIVE.append(pre)
    charts.RECORD_CALLS[0] = True  # each chart remembers its call, to be matched with the child's pictures
    _install(draw_png)
    return pre
