"""Notebook-side setup for report notebooks: one call that makes output quiet and figures consistent."""

from __future__ import annotations

import logging
import warnings

__all__ = ["setup_notebook"]


def setup_notebook(*, dpi: int = 110) -> None:
    """Prepare a report kernel: hide Python warnings (a report shows results, not library chatter), render
    matplotlib Figures as PNG (embedded in the notebook, so the HTML is self-contained) at a fixed DPI and
    with a fixed font, so a report looks the same wherever it runs."""
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
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png", bbox_inches="tight", dpi=dpi)
    except ImportError:  # pragma: no cover - outside a Jupyter kernel
        pass
    try:
        import pandas as pd

        pd.set_option("display.max_columns", 30)
    except ImportError:  # pragma: no cover
        pass
