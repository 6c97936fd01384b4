"""Notebook-side setup for report notebooks: one call that makes output quiet and figures consistent."""

from __future__ import annotations

import logging
import warnings

__all__ = ["freeze_heap", "setup_notebook"]


def setup_notebook(*, dpi: int = 110) -> None:
    """Prepare a report kernel: hide Python warnings (a report shows results, not library chatter), render
    matplotlib Figures as PNG (embedded in the notebook, so the HTML is self-contained) at a fixed DPI and
    with a fixed font, so a report looks the same wherever it runs. Outside IPython only the fonts and DPI are
    set."""
    warnings.filterwarnings("ignore")
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.rcParams.update(
        {
            "figure.dpi": dpi,
            "savefig.dpi": dpi,
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.titlesize": 11,
            "svg.hashsalt": "rcmkit",
        }
    )
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - outside IPython
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None:
        # A Figure left as a cell's value becomes one PNG drawn once, its white border cut as bbox_inches="tight"
        # would (rcmkit.present.charts.figure_png); IPython's own formatter measures and draws every chart twice.
        import base64

        from matplotlib.figure import Figure

        from rcmkit.present.charts import figure_png

        def png(fig: Figure) -> str | None:
            if not fig.axes:
                return None
            return base64.b64encode(figure_png(fig, dpi)).decode("ascii")

        shell.display_formatter.formatters["image/png"].for_type(Figure, png)
    try:
        import pandas as pd

        pd.set_option("display.max_columns", 30)
    except ImportError:  # pragma: no cover
        pass


def freeze_heap() -> None:
    """Called once the tables and the report model are loaded, which live until the notebook ends: the objects now
    alive are moved out of the garbage collector's reach (:func:`gc.freeze`), so the collections the charts' many
    small objects trigger stop re-scanning them (0.2-0.4 s of a 25k-claim report, issue #15). A kernel kept for the
    next report (:class:`rcmkit.report.kernel.WarmKernel`) unfreezes them before it collects."""
    import gc

    gc.freeze()
