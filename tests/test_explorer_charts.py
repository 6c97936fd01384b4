"""The explorer's charts are drawn on kept figures, updated in place (issue #15: rcmkit.explorer.render.ChartSlots,
rcmkit.present.charts.LiveKpiTrend / LiveChargesPayments): a kept figure draws exactly what a new one draws for the
same selection, whatever it showed before, and holds nothing of an earlier selection.

The small practice of tests/small_practice.py: claims Jan-Mar 2026 (and two in late 2025), so a 12-month trend
ending in March has values in its last months only.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation
from PIL import Image

from rcmkit.core.refdata import benchmarks
from rcmkit.explorer import Explorer, ExplorerData, Filters, Period, render
from rcmkit.metrics import KPI, MetricOptions
from rcmkit.present import charts
from rcmkit.present import format as fmt

from small_practice import tables as small_tables
from test_charts_render import _drawn_texts

MONTHS = [str(p) for p in pd.period_range("2025-04", "2026-03", freq="M")]


@pytest.fixture()
def data():
    return ExplorerData(small_tables(), MetricOptions(min_cell_count=1), practice="small")


def _kpi(key: str, unit: str = "pct") -> KPI:
    return KPI(key=key, label=key.replace("_", " "), value=None, unit=unit, numerator=None, denominator=None,
               definition="", source="")


def _fresh(x: Explorer) -> bytes:
    """The chart of x's selection drawn on a new figure (a new ChartSlots: nothing kept)."""
    s = x.state
    trend = x.data.trend(s.filters, s.period, s.metric)
    aging = x.data.aging(s.filters, s.period) if s.metric == "ar" else None
    return render.ChartSlots(x.colors, x.targets).png(s.metric, trend, x.kpis, s.period, aging)


SHORT_WALK = [("payer", ("BCX",)), ("metric", "clean_claim_rate"), ("payer", ()),
              ("metric", "initial_denial_rate")]
LONG_WALK = [("payer", ("BCX",)), ("months", 1), ("payer", ("MCR", "MCD")), ("end", "2026-02"),
             ("metric", "clean_claim_rate"), ("payer", ()), ("months", 12), ("metric", "charges_payments"),
             ("payer", ("BCX",)), ("end", "2026-03"), ("metric", "initial_denial_rate"), ("months", 3),
             ("payer_class", ("medicaid",)), ("metric", "clean_claim_rate"), ("metric", "charges_payments"),
             ("payer_class", ()), ("metric", "ar"), ("metric", "initial_denial_rate")]


@pytest.mark.parametrize("walk", [
    SHORT_WALK,
    pytest.param(LONG_WALK, marks=pytest.mark.slow(
        reason="~8 s; the short walk (fast tier) covers each trend metric coming back to a kept figure")),
], ids=["short", "long"])
def test_a_kept_chart_draws_what_a_new_one_draws_after_a_walk_of_changes(data, walk):
    """Payers, months, period end and metrics changed one after another (each trend metric comes back to a
    kept figure that showed another selection): every picture is byte for byte a new figure's picture, the
    figures are kept (one per metric, the same object), and the pictures do change along the walk."""
    data.charts.clear()
    x = Explorer(data, end="2026-03", months=3)
    figures: dict[str, object] = {}
    pictures = {x.chart.value}
    for name, value in walk:
        getattr(x, name).value = value
        assert x.last_error is None, (name, value)
        assert x.chart.value == _fresh(x), (name, value, x.state)
        pictures.add(x.chart.value)
        metric = x.metric.value
        if metric != "ar":
            live = x._slots._live[metric]
            assert figures.setdefault(metric, live.fig) is live.fig, metric  # kept, not made again
    assert {"initial_denial_rate", "clean_claim_rate"} <= set(figures)
    assert len(pictures) >= len(walk) * 2 // 3


def test_a_kept_trend_chart_holds_only_the_new_selections_data(data):
    """After BlueCross X's chart, the practice's: the lines hold the practice's trend, one value label per line
    ending with a value (those of BCX gone), the period's months shaded (March alone: x 10.5 to 11.5), and no
    shading once the period is the chart's 12 months."""
    x = Explorer(data, end="2026-03", months=1, payers=("BCX",))
    x.payer.value = ()
    live = x._slots._live["initial_denial_rate"]
    trend = data.trend(Filters(), Period("2026-03", 1), "initial_denial_rate")
    for line, key in zip(live.lines, ("initial_denial_rate", "initial_denial_rate_dollars")):
        np.testing.assert_array_equal(line.get_ydata(), pd.to_numeric(trend[key]).astype(float).to_numpy())
    ends = [t for t in live.ax.texts if isinstance(t, Annotation) and not t.get_text().startswith("Target")]
    last = [float(trend[k].iloc[-1]) for k in ("initial_denial_rate", "initial_denial_rate_dollars")]
    assert sorted(t.get_text() for t in ends) == sorted(fmt.chart_label(v, "pct") for v in last)
    assert ends == live.labels
    assert live.span.get_visible() and (live.span.get_x(), live.span.get_width()) == (10.5, 1.0)
    assert [t.get_text() for t in live.ax.get_xticklabels()][-1] == fmt.short_month("2026-03")
    x.months.value = 12
    assert not live.span.get_visible()
    x.months.value = 3
    assert live.span.get_visible() and (live.span.get_x(), live.span.get_width()) == (8.5, 3.0)


def test_live_kpi_trend_updates_lines_limits_and_labels_by_hand():
    """A 12-month trend of two rates, no target: the axis goes from 0 to 15% above the highest value (as the
    report's chart), each line ends with its last value; another trend replaces all of it. A trend of another
    length, or with no value at all, is refused and changes nothing."""
    a = pd.DataFrame({"month": MONTHS, "r1": np.linspace(0.01, 0.12, 12), "r2": np.full(12, 0.05)})
    live = charts.LiveKpiTrend(a, [_kpi("r1"), _kpi("r2")], title="Two rates")
    assert live.update(a)
    assert live.ax.get_ylim() == pytest.approx((0.0, 0.12 * 1.15))
    assert sorted(t.get_text() for t in live.labels) == ["12.0%", "5.0%"]
    b = a.assign(month=[str(p) for p in pd.period_range("2025-01", "2025-12", freq="M")],
                 r1=np.full(12, 0.30), r2=[np.nan] * 11 + [0.2])
    assert live.update(b, shade=(8.5, 11.5))
    assert live.ax.get_ylim() == pytest.approx((0.0, 0.30 * 1.15))
    np.testing.assert_array_equal(live.lines[0].get_ydata(), np.full(12, 0.30))
    assert sorted(t.get_text() for t in live.labels) == ["20.0%", "30.0%"]
    assert [t.get_text() for t in live.ax.get_xticklabels()][0] == fmt.short_month("2025-01")
    assert len(live.ax.texts) == 2  # the two new labels only
    before = live.png()
    assert not live.update(b.head(6))
    assert not live.update(b.assign(r1=np.nan, r2=np.nan))
    assert live.png() == before


def test_live_charges_payments_bars_follow_the_trend_by_hand():
    """The bars' heights are the new trend's dollars and the axis reaches 18% above the highest bar (as the
    report's chart); a new chart of that trend draws the same picture."""
    a = pd.DataFrame({"month": MONTHS, "charges": np.arange(1, 13) * 1000.0, "payments": np.arange(1, 13) * 500.0})
    b = a.assign(charges=np.arange(12, 0, -1) * 2000.0, payments=[np.nan] + [100.0] * 11)
    live = charts.LiveChargesPayments(a)
    assert live.update(a)
    assert live.update(b, shade=(10.5, 11.5))
    assert [r.get_height() for r in live.bars[0]] == list(np.arange(12, 0, -1) * 2000.0)
    assert np.isnan(live.bars[1][0].get_height()) and [r.get_height() for r in live.bars[1]][1:] == [100.0] * 11
    assert live.ax.get_ylim() == pytest.approx((0.0, 24000 * 1.18))
    new = charts.LiveChargesPayments(b)
    assert new.update(b, shade=(10.5, 11.5))
    assert new.png() == live.png()


def test_a_selection_with_nothing_to_scale_on_gets_the_reports_chart(data):
    """A trend with no value at all and no target (nothing to scale the axis on) is drawn by the report's chart
    function, laid out by its constrained layout (as before the kept figures), and no figure is kept for it; with
    the target drawn, the axis is scaled on the target and the kept figure shows it."""
    untargeted = benchmarks()[lambda t: t["kpi"] != "initial_denial_rate"].reset_index(drop=True)
    period = Period("2026-03", 3)
    kpis, colors = data.kpis(Filters(), period), charts.payer_colors(data.tables["payers"])
    slots = render.ChartSlots(colors, untargeted)
    empty = pd.DataFrame({"month": MONTHS, "initial_denial_rate": np.nan, "initial_denial_rate_dollars": np.nan})
    png = slots.png("initial_denial_rate", empty, kpis, period, None)
    report = render.figure_png(render.chart_figure("initial_denial_rate", empty, kpis, period, None, colors,
                                                   untargeted))
    assert png == report and "initial_denial_rate" not in slots._live
    targeted = render.ChartSlots(colors, benchmarks())
    targeted.png("initial_denial_rate", empty, kpis, period, None)
    live = targeted._live["initial_denial_rate"]
    good = float(benchmarks().set_index("kpi").loc["initial_denial_rate", ["good", "acceptable"]].max())
    assert live.ax.get_ylim() == pytest.approx((0.0, good * 1.15)) and live.labels == []


def _texts_outside(fig, dpi: float = 90) -> list[str]:
    with _drawn_texts() as seen:
        png = charts.figure_png(fig, dpi, crop=False)
    width, height = Image.open(io.BytesIO(png)).size
    assert seen
    return [f"{s!r}: {b}" for s, b in seen if b.x0 < -1 or b.y0 < -1 or b.x1 > width + 1 or b.y1 > height + 1]


@pytest.mark.parametrize("metric,values", [
    ("initial_denial_rate", {"initial_denial_rate": np.linspace(0.0, 0.175, 12),
                             "initial_denial_rate_dollars": np.linspace(0.02, 0.205, 12)}),
    ("clean_claim_rate", {"clean_claim_rate": np.linspace(0.775, 1.0, 12)}),  # 77.5% ... 100.0%: the widest
    ("charges_payments", {"charges": np.linspace(1e5, 1.25e6, 12), "payments": np.linspace(5e4, 9.9e5, 12)}),
])
def test_the_fixed_margins_keep_every_text_inside_the_picture(data, metric, values):
    """The kept figures' margins are fixed (no layout engine at each draw): the widest tick labels (97.5% steps,
    $1.2M), the values at the lines' ends, the legends and the titles are all drawn inside the picture."""
    period = Period("2026-03", 3)
    slots = render.ChartSlots(charts.payer_colors(data.tables["payers"]))
    trend = pd.DataFrame({"month": MONTHS, **values})
    slots.png(metric, trend, data.kpis(Filters(), period), period, None)
    assert _texts_outside(slots._live[metric].fig) == []


@pytest.mark.parametrize("names,top", [
    (["BlueCross X"], 4.5e4),
    (["A payer whose name is very long indeed, Inc.", "Medicare Part B", "Short"], 1.25e6),  # a wide legend
])
def test_the_aging_charts_fixed_layout_keeps_everything_inside_and_the_legend_beside_the_bars(names, top):
    """The explorer's A/R aging chart is laid out at fixed margins and its legend's measured width
    (render.aging_fixed_layout) instead of the constrained layout: the widest tick labels ($1,250k), the bars'
    labels, the title and the legend, however wide the payers' names, are inside the picture, the legend right of
    the axes; the picture is the report's chart's size. The report's own chart keeps its constrained layout."""
    pids = [f"P{i}" for i in range(len(names))] + ["patient"]
    aging = pd.DataFrame({"payer_id": np.repeat(pids, len(charts.BUCKETS)),
                          "payer_name": np.repeat(names + ["Patient"], len(charts.BUCKETS)),
                          "bucket": charts.BUCKETS * len(pids),
                          "balance_cents": np.linspace(top * 100 / len(pids), 1e4, len(pids) * len(charts.BUCKETS))})
    colors = charts.payer_colors(pids)
    report = charts.aging_by_payer(aging, colors, month="2026-03")
    assert report.get_layout_engine() is not None  # the report's chart: constrained, as it was
    fig = render.aging_fixed_layout(charts.aging_by_payer(aging, colors, month="2026-03"))
    assert fig.get_layout_engine() is None or type(fig.get_layout_engine()).__name__ == "PlaceHolderLayoutEngine"
    assert _texts_outside(fig) == []
    fig.dpi = 90  # as drawn
    fig.draw_without_rendering()
    legend, axes = fig.axes[0].get_legend().get_window_extent(), fig.axes[0].get_window_extent()
    assert legend.x0 >= axes.x1 - 1 and legend.x1 <= fig.bbox.width + 1
    png = render.figure_png(fig)
    assert Image.open(io.BytesIO(png)).size == Image.open(io.BytesIO(render.figure_png(report))).size
    slots = render.ChartSlots(colors)
    period = Period("2026-03", 3)
    assert slots.png("ar", None, {}, period, aging) == png  # what the widget shows


def test_the_aging_chart_without_open_ar_is_the_reports_note():
    colors = charts.payer_colors(["P0"])
    empty = pd.DataFrame(columns=["payer_id", "payer_name", "bucket", "balance_cents"])
    slots = render.ChartSlots(colors)
    assert slots.png("ar", None, {}, Period("2026-03", 3), empty) == render.figure_png(
        charts.aging_by_payer(empty, colors, month="2026-03"))
