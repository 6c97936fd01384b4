"""Benchmark: what each report chart costs to draw, in-process, as the report notebook draws it (issue #15).

    .venv/bin/python benchmarks/chart_speed.py                           # the demo practice in data/ (make demo)
    .venv/bin/python benchmarks/chart_speed.py --data-root data --practice demo --reps 5

Builds the month's report model once, then for each of the notebook's 14 charts: the chart function (a new
Figure), then the PNG the notebook embeds (:func:`rcmkit.present.charts.figure_png` at 110 dpi: the layout, one
draw, the cut, the encoding). CPU seconds of this process, the best of ``--reps`` (wall time on a shared machine
varies more than the work). ``--before`` also times what the notebook did before (December 2026) on the same
figures, for comparison: constrained layout and matplotlib's ``savefig(bbox_inches="tight")``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def report_charts(r) -> dict:
    """The notebook's chart cells (rcmkit.present.charts.REPORT_CHARTS), each a new Figure of the report model ``r``."""
    from rcmkit.present import charts

    # the chart functions themselves: report_chart would give the figure made on the first rep again
    return {name: (lambda make=make: make(r)) for name, make in charts.REPORT_CHARTS.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(ROOT / "data"))
    ap.add_argument("--practice", default="demo")
    ap.add_argument("--month", default=None, help="YYYY-MM (default: the practice's last full month)")
    ap.add_argument("--reps", type=int, default=3, help="draws of each chart; the best is printed")
    ap.add_argument("--before", action="store_true",
                    help="also time constrained layout and savefig(bbox_inches='tight'), as before")
    args = ap.parse_args()

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from rcmkit.core.store import load_tables
    from rcmkit.present.charts import figure_png
    from rcmkit.report import build_report
    from rcmkit.report.notebook import setup_notebook

    setup_notebook()  # the report's fonts and DPI
    t = time.perf_counter()
    tables = load_tables(args.data_root, args.practice, required=False)
    report = build_report(tables, args.month, practice=args.practice)
    print(f"practice {args.practice!r}, month {report.month}: model built in {time.perf_counter() - t:.1f} s; "
          f"CPU ms per chart, best of {args.reps}")

    def before(fig) -> bytes:
        fig.set_layout_engine("constrained")
        buf = io.BytesIO()
        FigureCanvasAgg(fig).print_figure(buf, format="png", dpi=110, bbox_inches="tight")
        return buf.getvalue()

    ways = {"figure_png": lambda fig: figure_png(fig, 110)}
    if args.before:
        ways["before"] = before
    cells = report_charts(report)
    for draw in ways.values():  # fonts and caches loaded, as in a report kernel after its first chart
        draw(next(iter(cells.values()))())
    print(f"\n{'chart':<22}{'build':>8}" + "".join(f"{w:>16}" for w in ways))
    totals = [0.0] * (1 + len(ways))
    for name, make in cells.items():
        best = [float("inf")] * (1 + len(ways))
        for _ in range(args.reps):
            for i, draw in enumerate(ways.values()):
                s = time.process_time()
                fig = make()
                built = time.process_time() - s
                draw(fig)
                best[0] = min(best[0], built)
                best[1 + i] = min(best[1 + i], time.process_time() - s)
        totals = [a + b for a, b in zip(totals, best)]
        print(f"{name:<22}{best[0] * 1000:>8.0f}" + "".join(f"{b * 1000:>16.0f}" for b in best[1:]))
    print(f"{'all ' + str(len(cells)):<22}{totals[0] * 1000:>8.0f}" + "".join(f"{b * 1000:>16.0f}"
                                                                              for b in totals[1:]))
    print("\n(build: the chart function; the other columns: the chart function and its PNG)")


if __name__ == "__main__":
    main()
