"""The explorer's charts drawn in a second process, while the kernel renders the rest of a view.

A control change needs the tiles, the drill-down table and, for a new selection, period or metric, a new chart:
matplotlib takes 70-150 ms of CPU to lay out and draw it, in Python under the kernel's GIL. Once the chart's
numbers are known (the selection's trend, right after the tiles' KPIs), :class:`ChartProcess` draws it in one
worker process (a fresh interpreter: ``spawn``, never a fork of the kernel, which has run Polars queries) while the
kernel renders the heading, the tiles and the table; the kernel then waits for the PNG. The worker runs the same
function as the kernel would (:func:`draw_chart`), so the bytes are the same.

One worker per kernel (:func:`shared`), started with the first explorer that asks for it and warmed in the
background (imports, fonts); until it is warm, or if it ever fails, the kernel draws the chart itself.
"""

from __future__ import annotations

import atexit
import threading
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from typing import Any, Callable, Mapping

import pandas as pd

from rcmkit.explorer import render
from rcmkit.explorer.filters import Period

__all__ = ["draw_chart", "ChartProcess", "shared"]


def draw_chart(metric: str, trend: pd.DataFrame, kpis: Mapping[str, Any], period: Period,
               aging: pd.DataFrame | None, colors: Mapping[str, str], targets: pd.DataFrame | None) -> bytes:
    """The drill-down tab's chart as PNG bytes (:func:`rcmkit.explorer.render.chart_figure`, then
    :func:`rcmkit.explorer.render.figure_png`): what the kernel and the worker both run."""
    return render.figure_png(render.chart_figure(metric, trend, kpis, period, aging, colors, targets))


def _warm() -> bool:
    """Run in the worker once: matplotlib, the fonts and the PNG encoder loaded before the first real chart."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [0, 1], label="x")
    fig.axes[0].set_title("warm")
    render.figure_png(fig)
    return True


class ChartProcess:
    """A worker process drawing charts (:func:`draw_chart`). :meth:`submit` returns a function that gives the PNG
    bytes; it draws in this process instead while the worker is starting, or if the worker failed."""

    def __init__(self) -> None:
        import multiprocessing

        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._warm: Future = self._pool.submit(_warm)
        self.drawn_here = 0  # charts drawn in this process instead (worker not warm yet, or failed)
        self.drawn_there = 0  # charts drawn by the worker

    @property
    def ready(self) -> bool:
        """Whether the worker is up and warm (a chart submitted now is drawn there)."""
        return self._pool is not None and self._warm.done() and self._warm.exception() is None

    def submit(self, *args) -> Callable[[], bytes]:
        """Start drawing :func:`draw_chart` ``(*args)``; the returned function waits for its PNG bytes."""
        if not self.ready:
            return lambda: self._here(args)
        try:
            future = self._pool.submit(draw_chart, *args)
        except Exception:  # a broken pool (the worker died): draw here from now on
            self.close()
            return lambda: self._here(args)

        def result() -> bytes:
            try:
                png = future.result()
            except BrokenExecutor:  # the worker died: draw here from now on
                self.close()
                return self._here(args)
            except Exception:  # the chart failed there: here it draws, or raises as it would have
                return self._here(args)
            self.drawn_there += 1
            return png
        return result

    def _here(self, args) -> bytes:
        self.drawn_here += 1
        return draw_chart(*args)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


_SHARED: list[ChartProcess] = []
_LOCK = threading.Lock()


def shared() -> ChartProcess:
    """This kernel's chart process (started on first use, stopped when the kernel exits)."""
    with _LOCK:
        if not _SHARED or _SHARED[0]._pool is None:
            _SHARED[:] = [ChartProcess()]
            atexit.register(_SHARED[0].close)
        return _SHARED[0]
