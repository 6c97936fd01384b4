"""Report charts: pure functions from metric frames to matplotlib Figures.

Every function returns a new :class:`matplotlib.figure.Figure` (no pyplot state, nothing global is changed),
with a title, axis labels and $ / % tick formatters. Payers keep one colour in every chart
(:func:`payer_colors`); a notebook displays a Figure by leaving it as a cell's last value.

Drawing is most of a chart's cost (issue #15: 14 report charts, 4 in the deck, one per explorer change), so
:func:`figure_png` turns a Figure (laid out by matplotlib's constrained layout) into PNG bytes with one draw on a
renderer shared by the pictures of a size (matplotlib's text metrics are cached per renderer) and cuts the white
border in the pixels; ``savefig(bbox_inches="tight")`` drew each figure twice and measured it a third time. The
report notebook, the deck and the explorer all use it. The explorer's trend charts are :class:`LiveChart` s: a
report chart's figure kept, given fixed margins, and updated in place with each selection's data.
"""

from __future__ import annotations

import io
import threading
import weakref
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator

from rcmkit.metrics.ar import AGING_BUCKETS
from rcmkit.present import format as fmt
from rcmkit.present.format import month_end, short_month, span_label

__all__ = [
    "window_width",
    "PATIENT_COLOR",
    "is_patient",
    "payer_color",
    "payer_colors",
    "payer_order",
    "usd_formatter",
    "target_lines",
    "payer_mix_trend",
    "kpi_trend_chart",
    "ar_balance_trend",
    "claim_quality_trend",
    "charges_payments_trend",
    "aging_by_payer",
    "denial_reasons_chart",
    "denials_by_category",
    "payer_scorecard_chart",
    "paid_per_unit_by_payer",
    "collections_chart",
    "denied_codes_chart",
    "cash_forecast_chart",
    "figure_png",
    "LiveChart",
    "LiveKpiTrend",
    "LiveChargesPayments",
    "REPORT_CHARTS",
    "report_chart",
]

# Colour-blind-safe qualitative palette (Okabe-Ito, without black and the yellow that prints poorly), then tab10.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D31", "#117733",
            "#882255", "#44AA99", "#AA4499", "#332288"]
PATIENT_COLOR = "#8c8c8c"
_SELF_PAY_IDS = {"patient", "self", "self_pay", "selfpay"}
BUCKETS = list(AGING_BUCKETS)  # the A/R aging buckets, defined once in rcmkit.metrics.ar
FIGSIZE = (10.0, 3.8)

_INK = "#333333"
_GRID = "#e6e6e6"


# --------------------------------------------------------------------------------------------- rendering
_DRAWING = threading.Lock()
_RENDERERS: dict[tuple[float, float, float], object] = {}  # (width, height, dpi) -> RendererAgg, the newest last
_CANVAS: list[type] = []


def _canvas_class() -> type:
    """An Agg canvas that draws on one renderer per picture size: matplotlib caches text metrics per renderer, so a
    new renderer for each chart measured every tick label, title and legend text again; the charts of a report
    (and every chart the explorer draws) share a handful of sizes. At most 8 renderers are kept (a few MB each);
    :func:`figure_png` draws on them one figure at a time (a lock)."""
    if not _CANVAS:
        from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg

        class SharedRendererCanvas(FigureCanvasAgg):
            def get_renderer(self):
                w, h = self.figure.bbox.size
                key = (w, h, self.figure.dpi)
                renderer = _RENDERERS.pop(key, None)
                if renderer is None:
                    renderer = RendererAgg(w, h, self.figure.dpi)
                _RENDERERS[key] = renderer
                while len(_RENDERERS) > 8:  # a few MB each
                    _RENDERERS.pop(next(iter(_RENDERERS)))
                self.renderer, self._lastKey = renderer, key
                return renderer

        _CANVAS.append(SharedRendererCanvas)
    return _CANVAS[0]


def figure_png(fig: Figure, dpi: float = 110, *, crop: bool = True, pad_inches: float = 0.1,
               compress_level: int | None = None) -> bytes:
    """``fig`` as PNG bytes from a single draw at ``dpi``: its layout engine runs inside that draw, then the
    pixels are encoded as they are. ``crop``: cut the white border around what was drawn down to ``pad_inches``
    (what ``savefig(bbox_inches="tight")`` gives, found in the pixels instead of by measuring every artist and
    drawing again). The figure is opaque: the PNG is RGB, without a timestamp or software tag (the same figure
    gives the same bytes). The figure's own dpi is left as it was. ``compress_level``: zlib's level for the PNG
    (None: Pillow's default, 6, which the report's pictures keep; 1 encodes faster and is a few % larger)."""
    from PIL import Image

    before = fig.dpi
    with _DRAWING:
        try:
            fig.dpi = dpi
            canvas = _canvas_class()(fig)
            canvas.draw()
            rgba = np.array(canvas.buffer_rgba())  # a copy (one block): the renderer draws the next one
            boxes = [ax.bbox.extents for ax in fig.axes if ax.get_visible()]  # pixels, from the bottom left
        finally:
            fig.dpi = before
    height = rgba.shape[0]
    background = np.array([round(c * 255) for c in fig.get_facecolor()[:3]], dtype=rgba.dtype)
    if crop:
        # A pixel is ink when its colour is not the background's: its four bytes read as one 32-bit word, the alpha
        # byte masked out (one comparison a pixel instead of three and a reduction over them).
        words = rgba.view(np.uint32)[:, :, 0]
        rgb_mask = np.frombuffer(bytes([255, 255, 255, 0]), dtype=np.uint32)[0]
        paper = np.frombuffer(background.tobytes() + b"\0", dtype=np.uint32)[0]
        ink = (words & rgb_mask) != paper
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    else:
        rows = cols = np.empty(0, dtype=np.intp)
    if len(rows):  # the drawn part and every axes' box (a note's blank axes too, as "tight" keeps it) ...
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        for x0, y0, x1, y1 in boxes:
            left, right = min(left, max(int(x0), 0)), max(right, min(int(np.ceil(x1)), rgba.shape[1]))
            top, bottom = min(top, max(height - int(np.ceil(y1)), 0)), max(bottom, min(height - int(y0), height))
        pad = round(pad_inches * dpi)  # ... then a border of pad_inches (past the figure's edge too, as "tight")
        rgb = np.empty((bottom - top + 2 * pad, right - left + 2 * pad, 3), dtype=rgba.dtype)
        rgb[:] = background
        rgb[pad:pad + bottom - top, pad:pad + right - left] = rgba[top:bottom, left:right, :3]
        image = Image.fromarray(rgb)
    else:  # the same pixels as rgba[:, :, :3] made contiguous, in a quarter of the time
        image = Image.fromarray(rgba, "RGBA").convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="png", **({} if compress_level is None else {"compress_level": compress_level}))
    return buf.getvalue()


def window_width(artist, dpi: float) -> float:
    """``artist``'s width in inches as its figure draws at ``dpi`` (measured on the renderer :func:`figure_png`
    draws that picture size on, whose text metrics are cached): for a layout fixed by hand around a part whose
    size changes with the data, such as a legend. The figure's own dpi is left as it was."""
    fig = artist.figure
    before = fig.dpi
    with _DRAWING:
        try:
            fig.dpi = dpi
            return artist.get_window_extent(_canvas_class()(fig).get_renderer()).width / dpi
        finally:
            fig.dpi = before


# --------------------------------------------------------------------------------------------- colours
def is_patient(payer_id: str, payer_class: str | None = None) -> bool:
    """Whether a responsible party is the patient (self-pay IDs, or a payer of class ``self_pay``)."""
    return str(payer_id).lower() in _SELF_PAY_IDS or payer_class == "self_pay"


def payer_colors(payers: pd.DataFrame | Iterable[str]) -> dict[str, str]:
    """A stable ``{payer_id: colour}`` mapping: payers sorted by ID get palette colours in order; self-pay and the
    patient share grey. Pass the ``payers`` table (so every payer of the practice keeps its colour whichever
    payers a month's data happens to hold), or any iterable of payer IDs."""
    if isinstance(payers, pd.DataFrame):
        classes = dict(zip(payers["payer_id"].astype(str), payers.get("payer_class", pd.Series(dtype=object))))
        ids = sorted(set(payers["payer_id"].astype(str)))
    else:
        ids = sorted({str(p) for p in payers})
        classes = {}
    out: dict[str, str] = {}
    i = 0
    for pid in ids:
        if is_patient(pid, classes.get(pid)):
            out[pid] = PATIENT_COLOR
        else:
            out[pid] = _PALETTE[i % len(_PALETTE)]
            i += 1
    out.setdefault("patient", PATIENT_COLOR)
    return out


def payer_order(payer_ids: Iterable[str], colors: Mapping[str, str]) -> list[str]:
    """``payer_ids`` in the colour mapping's order (unknown IDs last, sorted), patient last."""
    rank = {pid: i for i, pid in enumerate(colors)}
    ids = {str(p) for p in payer_ids}
    return sorted(ids, key=lambda p: (is_patient(p), rank.get(p, len(rank)), p))


def payer_color(colors: Mapping[str, str], payer_id: str) -> str:
    """A payer's colour from :func:`payer_colors`; grey for the patient and for a payer the mapping lacks."""
    if payer_id in colors:
        return colors[payer_id]
    return PATIENT_COLOR if is_patient(payer_id) else "#bbbbbb"


# --------------------------------------------------------------------------------------------- formatters
def usd_formatter(max_abs: float = 0.0) -> FuncFormatter:
    """Dollar ticks, scaled to the data: ``$850``, ``$12k``, ``$1.2M`` (:func:`rcmkit.present.format.usd_short`)."""
    return FuncFormatter(lambda v, _: fmt.usd_short(v, scale=max_abs))


class PctTicks(Formatter):
    """Percent tick labels with as few decimals as every tick of the axis needs, the same for all: 90%, 95%,
    100%; or 96.0%, 97.5%, 99.0% on a zoomed axis (a fixed "no decimals" wrote 97.5% as "98%")."""

    def __init__(self, min_decimals: int = 0, max_decimals: int = 2) -> None:
        self.min_decimals, self.max_decimals = min_decimals, max_decimals
        self.decimals = min_decimals

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        pcts = [float(v) * 100 for v in locs if np.isfinite(v)]
        self.decimals = next((d for d in range(self.min_decimals, self.max_decimals + 1)
                              if all(abs(round(v, d) - v) < 1e-6 for v in pcts)), self.max_decimals)

    def __call__(self, x, pos=None) -> str:
        return f"{x * 100:.{self.decimals}f}%"


def _pct_formatter(max_frac: float) -> PctTicks:
    return PctTicks(min_decimals=0 if max_frac >= 0.1 else 1)


def _new(figsize=FIGSIZE, ncols: int = 1, **kw) -> tuple[Figure, list]:
    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, **kw)
    axes = list(np.atleast_1d(axes))
    for ax in axes:
        _style(ax)
    return fig, axes


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")
    ax.tick_params(colors=_INK, labelsize=9)
    ax.grid(axis="y", color=_GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.title.set_color(_INK)


def _values(frame: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="coerce").astype(float).to_numpy()


def _month_axis(ax, months: Sequence[str]) -> None:
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels([short_month(m) for m in months], rotation=0, fontsize=8)
    ax.set_xlabel("Month")


def _empty(ax, text: str = "No data for this month") -> None:
    """Turn ``ax`` into a short note: a chart with nothing to plot says so instead of drawing empty axes."""
    ax.figure.set_size_inches(FIGSIZE[0], 0.9)
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777", fontsize=10)


# --------------------------------------------------------------------------------------------- targets
_TARGET_GREEN = "#1a7f37"
_NEAR_AMBER = "#b7791f"


def _target_row(status: pd.DataFrame | None, key: str) -> dict | None:
    if status is None or not len(status) or "key" not in status.columns:
        return None
    rows = status[status["key"].astype(str) == key].to_dict("records")
    if not rows or fmt.is_missing(rows[0].get("good")):
        return None
    return rows[0]


def _short_source(source: str) -> str:
    """'AAFP: 30-40 days preferable, ...' -> 'AAFP'; a long source is cut at its first comma or parenthesis."""
    text = str(source or "").split(":")[0].strip()
    for sep in (" (", ","):
        if len(text) > 30 and sep in text:
            text = text.split(sep)[0].strip()
    return text


def target_lines(ax, status: pd.DataFrame | None, key: str, unit: str) -> tuple[float, float] | None:
    """Draw ``key``'s benchmark target on ``ax``: a dashed green line at the target with its label ("Target ≤
    40 days (AAFP)") and a light amber band up to the "near" threshold. ``status``:
    :func:`rcmkit.metrics.benchmark_status` (its good, acceptable and source). Returns (low, high) of what was
    drawn, for the caller's axis limits; None (nothing drawn) for a KPI without a target."""
    row = _target_row(status, key)
    if row is None:
        return None
    good = float(row["good"])
    acc = good if fmt.is_missing(row.get("acceptable")) else float(row["acceptable"])
    lower = good <= acc
    if acc != good:
        ax.axhspan(min(good, acc), max(good, acc), color=_NEAR_AMBER, alpha=0.10, linewidth=0, zorder=0)
    ax.axhline(good, color=_TARGET_GREEN, linestyle="--", linewidth=1.3, zorder=1)
    source = _short_source(row.get("source", ""))
    label = f"Target {'≤' if lower else '≥'} {fmt.threshold(good, unit)}" + (f" ({source})" if source else "")
    if acc != good:
        label += f"; shaded: near, to {fmt.threshold(acc, unit)}"
    ax.annotate(label, xy=(0.01, good), xycoords=("axes fraction", "data"), xytext=(0, 3 if lower else -3),
                textcoords="offset points", va="bottom" if lower else "top", fontsize=7.5, color=_TARGET_GREEN,
                bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0, "pad": 1.0},
                zorder=1.5)  # under the data lines (2): the label never hides a month's value
    return min(good, acc), max(good, acc)


# --------------------------------------------------------------------------------------------- trends
def kpi_trend_chart(trend: pd.DataFrame, kpis: Sequence, *, title: str, ylabel: str | None = None,
                    status: pd.DataFrame | None = None) -> Figure:
    """Lines of several KPIs that share a unit ("days", "pct", "usd") over the trend's months.

    ``kpis`` are the month's KPI objects (for their keys, labels and unit); the values come from ``trend``.
    ``status`` (:func:`rcmkit.metrics.benchmark_status`): the first KPI's target is drawn as a dashed line
    (:func:`target_lines`); a rate whose values and target are all above 50% gets a zoomed axis.
    """
    fig, (ax,) = _new()
    months = list(trend["month"])
    unit = kpis[0].unit
    x = np.arange(len(months))
    top = 0.0
    styles = ["-", "--", ":"]
    colors = ["#0072B2", "#D55E00", "#009E73"]
    ends = []
    for i, kpi in enumerate(kpis):
        y = _values(trend, kpi.key)
        top = max(top, np.nanmax(y) if np.isfinite(y).any() else 0.0)
        ax.plot(x, y, styles[i % 3], color=colors[i % 3], marker="o", markersize=4, linewidth=2, label=kpi.label)
        if len(y) and np.isfinite(y[-1]):
            ends.append((float(y[-1]), colors[i % 3]))
    drawn = target_lines(ax, status, kpis[0].key, unit)
    bottom, top = _trend_limits(trend, kpis, drawn, top)
    _month_axis(ax, months)
    _unit_axis(ax, unit, top)
    ax.set_ylim(bottom=bottom, top=(top + (top - bottom) * 0.15) if top > 0 else None)
    ax.set_xlim(-0.5, len(months) - 0.2)
    ax.set_ylabel(ylabel or {"days": "Days", "pct": "Percent", "usd": "Dollars"}.get(unit, ""))
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    _end_labels(ax, x[-1] if len(x) else 0, ends, unit)
    if len(kpis) > 1:  # under the chart, never over the lines or the target's label inside it
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=len(kpis), frameon=False,
                   fontsize=9)
    return fig


def _trend_limits(trend: pd.DataFrame, kpis: Sequence, drawn: tuple[float, float] | None, top: float
                  ) -> tuple[float, float]:
    """(bottom, top) of a KPI trend's values: ``top`` is the lines' highest value; a target drawn (``drawn``, from
    :func:`target_lines`) is kept in view, and a rate whose values and target are all above 50% gets a zoomed
    axis."""
    bottom = 0.0
    if drawn is not None:
        top = max(top, drawn[1])
        lows = [np.nanmin(_values(trend, k.key)) for k in kpis if np.isfinite(_values(trend, k.key)).any()]
        low = min([*lows, drawn[0]])
        if kpis[0].unit == "pct" and low > 0.5:
            bottom = max(0.0, low - 0.05)
            top = max(top, 1.0) if top > 0.97 else top
    return bottom, top


def _end_labels(ax, x: float, ends: list[tuple[float, str]], unit: str, gap: float = 10.0) -> list:
    """Each line's last value written at its end; labels closer than ``gap`` points apart are pushed apart
    (lowest first), so two lines that end together keep readable numbers. Returns the labels (annotations)."""
    made = []
    bottom, top = ax.get_ylim()
    points = ax.get_window_extent().height * 72 / ax.figure.dpi  # the axes' height in points
    per_point = (top - bottom) / points if points > 0 else 0.0
    placed: list[float] = []
    for value, color in sorted(ends):
        offset = 0.0
        if placed and per_point > 0:
            offset = max(0.0, placed[-1] + gap - (value - bottom) / per_point)
        placed.append((value - bottom) / per_point + offset if per_point > 0 else 0.0)
        made.append(ax.annotate(fmt.chart_label(value, unit), (x, value), xytext=(6, offset),
                                textcoords="offset points", va="center", fontsize=8, color=color,
                                bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 0.5}))
    return made


def _unit_axis(ax, unit: str, top: float) -> None:
    if unit == "pct":
        ax.yaxis.set_major_formatter(_pct_formatter(top))
    elif unit == "usd":
        ax.yaxis.set_major_formatter(usd_formatter(top))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))


def ar_balance_trend(trend: pd.DataFrame, aged_key: str | None = None, *, status: pd.DataFrame | None = None
                     ) -> Figure:
    """A/R total at each month end (bars) beside the share of it older than N days (line). ``aged_key`` is the
    trend column of that share; by default the trend's ``ar_over_<N>_pct`` column (120, or 90 by option).
    ``status``: the share's benchmark target is drawn on it (:func:`target_lines`)."""
    if aged_key is None:
        aged_key = next((c for c in trend.columns if c.startswith("ar_over_")), "ar_over_120_pct")
    over = "".join(ch for ch in aged_key if ch.isdigit()) or "120"
    fig, (ax1, ax2) = _new(ncols=2)
    months = list(trend["month"])
    x = np.arange(len(months))
    ar = _values(trend, "ar_total")
    ax1.bar(x, ar, color="#0072B2", width=0.7)
    _month_axis(ax1, months)
    ax1.tick_params(axis="x", labelrotation=90)
    top = np.nanmax(ar) if np.isfinite(ar).any() else 0.0
    ax1.yaxis.set_major_formatter(usd_formatter(top))
    ax1.set_ylabel("Gross A/R at month end")
    ax1.set_title("A/R total", loc="left", fontsize=11, fontweight="bold")
    old = _values(trend, aged_key)
    ax2.plot(x, old, "-", marker="o", markersize=4, linewidth=2, color="#D55E00")
    _month_axis(ax2, months)
    ax2.tick_params(axis="x", labelrotation=90)
    otop = np.nanmax(old) if np.isfinite(old).any() else 0.0
    drawn = target_lines(ax2, status, aged_key, "pct")
    otop = max(otop, drawn[1]) if drawn else otop
    ax2.set_ylim(0, max(otop * 1.25, 0.05))
    ax2.yaxis.set_major_formatter(_pct_formatter(otop))
    ax2.set_ylabel(f"Share of A/R over {over} days")
    ax2.set_title(f"A/R over {over} days", loc="left", fontsize=11, fontweight="bold")
    return fig


def claim_quality_trend(trend: pd.DataFrame, *, status: pd.DataFrame | None = None) -> Figure:
    """Clean-claim rate and initial denial rates (by count and by dollars), month by month. ``status``: the
    clean-claim and (claim-count) denial-rate targets are drawn (:func:`target_lines`)."""
    fig, (ax1, ax2) = _new(ncols=2)
    months = list(trend["month"])
    x = np.arange(len(months))
    clean = _values(trend, "clean_claim_rate")
    ax1.plot(x, clean, "-", marker="o", markersize=4, linewidth=2, color="#009E73")
    lo = np.nanmin(clean) if np.isfinite(clean).any() else 0.8
    drawn = target_lines(ax1, status, "clean_claim_rate", "pct")
    lo = min(lo, drawn[0]) if drawn else lo
    ax1.set_ylim(max(0.0, min(lo - 0.03, 0.85)), 1.0)
    ax1.yaxis.set_major_formatter(PctTicks())
    _month_axis(ax1, months)
    ax1.tick_params(axis="x", labelrotation=90)
    ax1.set_ylabel("Clean claims / original claims")
    ax1.set_title("Clean-claim rate", loc="left", fontsize=11, fontweight="bold")
    top = 0.0
    for key, label, style, color in (
        ("initial_denial_rate", "by claim count", "-", "#D55E00"),
        ("initial_denial_rate_dollars", "by charge dollars", "--", "#CC79A7"),
    ):
        y = _values(trend, key)
        top = max(top, np.nanmax(y) if np.isfinite(y).any() else 0.0)
        ax2.plot(x, y, style, marker="o", markersize=4, linewidth=2, color=color, label=label)
    drawn = target_lines(ax2, status, "initial_denial_rate", "pct")
    top = max(top, drawn[1]) if drawn else top
    ax2.set_ylim(0, max(top * 1.25, 0.05))
    ax2.yaxis.set_major_formatter(_pct_formatter(top))
    _month_axis(ax2, months)
    ax2.tick_params(axis="x", labelrotation=90)
    ax2.set_ylabel("Denied on first adjudication")
    ax2.set_title("Initial denial rate", loc="left", fontsize=11, fontweight="bold")
    ax2.legend(frameon=False, fontsize=9, loc="lower left")
    return fig


def charges_payments_trend(trend: pd.DataFrame) -> Figure:
    """Gross charges and payments received, month by month (paired bars)."""
    fig, (ax,) = _new()
    months = list(trend["month"])
    x = np.arange(len(months))
    ch, pay = _values(trend, "charges"), _values(trend, "payments")
    w = 0.4
    ax.bar(x - w / 2, ch, w, label="Charges", color="#56B4E9")
    ax.bar(x + w / 2, pay, w, label="Payments", color="#0072B2")
    top = np.nanmax(np.concatenate([ch, pay])) if len(x) and np.isfinite(np.concatenate([ch, pay])).any() else 0.0
    ax.yaxis.set_major_formatter(usd_formatter(top))
    _month_axis(ax, months)
    ax.set_ylabel("Dollars in the month")
    ax.set_title("Charges and payments", loc="left", fontsize=11, fontweight="bold")
    ax.legend(frameon=False, fontsize=9, ncols=2, loc="upper left", bbox_to_anchor=(0, 1.0))
    ax.set_ylim(0, top * 1.18 if top > 0 else 1)
    return fig


# --------------------------------------------------------------------------------------------- aging
def aging_by_payer(aging: pd.DataFrame, colors: Mapping[str, str], *, month: str | None = None) -> Figure:
    """Open A/R by aging bucket, each bar stacked by payer (payer colours as everywhere in the report)."""
    fig, (ax,) = _new(figsize=(10.0, 4.2))
    if aging is None or len(aging) == 0:
        _empty(ax, "No open A/R")
        return fig
    df = aging.assign(payer_id=aging["payer_id"].astype(str), bucket=aging["bucket"].astype(str))
    names = _payer_names(df)
    table = (
        df.groupby(["payer_id", "bucket"], observed=True)["balance_cents"].sum().unstack("bucket", fill_value=0)
        .reindex(columns=BUCKETS, fill_value=0)
    )
    order = payer_order(table.index, colors)
    bottom = np.zeros(len(BUCKETS))
    x = np.arange(len(BUCKETS))
    for pid in order:
        vals = table.loc[pid].to_numpy(dtype=float) / 100.0
        ax.bar(x, vals, 0.62, bottom=bottom, color=payer_color(colors, pid), label=names.get(pid, pid),
               edgecolor="white", linewidth=0.5)
        bottom += vals
    total = bottom.sum()
    for xi, b in zip(x, bottom):
        share = b / total if total else 0
        ax.annotate(f"{fmt.usd(b)}\n{fmt.pct(share, 0)}", (xi, b), xytext=(0, 3), textcoords="offset points",
                    ha="center",
                    va="bottom", fontsize=8, color=_INK)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b} days" for b in BUCKETS])
    ax.set_xlabel("Days since date of service")
    ax.yaxis.set_major_formatter(usd_formatter(bottom.max()))
    ax.set_ylim(0, bottom.max() * 1.22 if bottom.max() > 0 else 1)
    ax.set_ylabel("Open balance")
    as_of = month_end(month) if month else None
    ax.set_title("A/R aging by payer" + (f", as of {fmt.day_label(as_of)}" if as_of else ""), loc="left",
                 fontsize=11, fontweight="bold")
    handles, labels = ax.get_legend_handles_labels()  # legend top-down in the stack's visual order
    ax.legend(handles[::-1], labels[::-1], frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0),
              title="Responsible", title_fontsize=8)
    return fig


def _payer_names(df: pd.DataFrame) -> dict[str, str]:
    if "payer_name" not in df.columns:
        return {}
    names = df.drop_duplicates("payer_id").set_index("payer_id")["payer_name"]
    return {str(k): (str(v) if isinstance(v, str) and v else ("Patient" if is_patient(k) else str(k)))
            for k, v in names.items()}


# --------------------------------------------------------------------------------------------- denials
def denial_label(row: Mapping) -> str:
    code = f"{row.get('group_code') or ''}-{row.get('reason_code') or ''}".strip("-")
    cat = str(row.get("category") or "").replace("_", " ")
    return f"{code} {cat}".strip()


def denial_reasons_chart(reasons: pd.DataFrame, *, month: str | None = None) -> Figure:
    """Top denial reasons: denied charge dollars (bars) with the number of claims at the end of each bar."""
    n = len(reasons) if reasons is not None else 0
    fig, (ax,) = _new(figsize=(10.0, max(2.6, 0.42 * n + 1.2)))
    if n == 0:
        _empty(ax, "No denials this month")
        return fig
    df = reasons.reset_index(drop=True)
    labels = [denial_label(r) for r in df.to_dict("records")]
    dollars = df["denied_cents"].to_numpy(dtype=float) / 100.0
    y = np.arange(n)[::-1]
    ax.barh(y, dollars, 0.65, color="#D55E00")
    for yi, d, c in zip(y, dollars, df["claims"]):
        claims = f"{int(c):,} claim" + ("s" if int(c) != 1 else "")
        ax.annotate(f"{fmt.usd(d)} · {claims}", (d, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8, color=_INK)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=9)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=_GRID, linewidth=0.8)
    ax.xaxis.set_major_formatter(usd_formatter(dollars.max()))
    ax.set_xlim(0, dollars.max() * 1.3 if dollars.max() > 0 else 1)
    ax.set_xlabel("Denied charges")
    ax.set_title("Denial reasons" + (f", {fmt.month_label(month)}" if month else "") + " (code and category)",
                 loc="left", fontsize=11, fontweight="bold")
    return fig


def denials_by_category(reasons: pd.DataFrame, open_denials: pd.DataFrame | None = None, *,
                        month: str | None = None) -> Figure:
    """Denied charge dollars by category: the month's initial denials (``denial_reasons(..., top=None)``) beside
    the balances of denied claims still not resubmitted at month end (``open_denials``), largest first."""
    month_cat = (reasons.groupby("category")["denied_cents"].sum() if reasons is not None and len(reasons)
                 else pd.Series(dtype="int64"))
    open_cat = (open_denials.set_index("category")["balance_cents"] if open_denials is not None
                and len(open_denials) else pd.Series(dtype="int64"))
    cats = sorted(set(month_cat.index) | set(open_cat.index),
                  key=lambda c: (-max(int(month_cat.get(c, 0)), int(open_cat.get(c, 0))), str(c)))
    n = len(cats)
    fig, (ax,) = _new(figsize=(10.0, max(2.6, 0.5 * n + 1.3)))
    if n == 0:
        _empty(ax, "No denials this month and none waiting for resubmission")
        return fig
    y = np.arange(n)[::-1]
    h = 0.38
    a = np.array([month_cat.get(c, 0) for c in cats], dtype=float) / 100.0
    b = np.array([open_cat.get(c, 0) for c in cats], dtype=float) / 100.0
    label_month = f"Denied in {short_month(month)}" if month else "Denied this month"
    ax.barh(y + h / 2, a, h, color="#D55E00", label=label_month)
    ax.barh(y - h / 2, b, h, color="#E69F00", label="Open, not yet resubmitted (all months)")
    top = max(a.max(), b.max())
    for yi, v in zip(list(y + h / 2) + list(y - h / 2), list(a) + list(b)):
        if v > 0:
            ax.annotate(fmt.usd(v), (v, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8,
                        color=_INK)
    ax.set_yticks(y)
    ax.set_yticklabels([str(c) for c in cats], fontsize=9)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=_GRID, linewidth=0.8)
    ax.xaxis.set_major_formatter(usd_formatter(top))
    ax.set_xlim(0, top * 1.22 if top > 0 else 1)
    ax.set_xlabel("Denied charges / open balance")
    ax.set_title("Denials by category", loc="left", fontsize=11, fontweight="bold")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


def payer_scorecard_chart(scorecard: pd.DataFrame, colors: Mapping[str, str], *, aged_over_days: int = 120,
                          status: pd.DataFrame | None = None) -> Figure:
    """Three views of the payer scorecard, one bar per insurer in its report colour and in the scorecard's row
    order (top to bottom): initial denial rate, median days to pay, and the share of its open A/R older than
    ``aged_over_days`` days. ``status``: the practice's denial-rate and aged-A/R targets are drawn as dashed
    vertical lines (a payer's bar past the line misses the practice's target)."""
    df = scorecard[scorecard["payer_id"].astype(str) != "patient"] if scorecard is not None else None
    if df is None or not len(df):
        fig, (ax,) = _new()
        _empty(ax, "No insurance activity this month")
        return fig
    df = df.assign(payer_id=df["payer_id"].astype(str)).drop_duplicates("payer_id")
    order = list(df["payer_id"])
    df = df.set_index("payer_id")
    n = len(order)
    fig, axes = _new(figsize=(10.0, max(2.4, 0.34 * n + 1.3)), ncols=3, sharey=True)
    y = np.arange(n)[::-1]
    cols = [payer_color(colors, p) for p in order]
    panels = [("denial_rate", "Initial denial rate", "pct", "initial_denial_rate"),
              ("median_days_to_pay", "Median days to pay", "days", None),
              ("ar_over_pct", f"A/R over {aged_over_days} days", "pct", f"ar_over_{aged_over_days}_pct")]
    for ax, (col, title, unit, key) in zip(axes, panels):
        vals = pd.to_numeric(df[col], errors="coerce").astype(float).to_numpy()
        ax.barh(y, np.nan_to_num(vals), 0.65, color=cols)
        top = np.nanmax(vals) if np.isfinite(vals).any() else 0.0
        row = _target_row(status, key) if key else None
        if row is not None:
            good = float(row["good"])
            ax.axvline(good, color=_TARGET_GREEN, linestyle="--", linewidth=1.2, zorder=3)
            ax.annotate(f"Target {fmt.threshold(good, unit)}", xy=(good, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -2), textcoords="offset points", ha="left", va="top", fontsize=7,
                        color=_TARGET_GREEN)
            top = max(top, good)
        for yi, v in zip(y, vals):
            text = fmt.chart_label(v if np.isfinite(v) else None, unit)
            ax.annotate(text, (0 if not np.isfinite(v) else v, yi), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8, color=_INK)
        ax.set_xlim(0, top * 1.35 if top > 0 else 1)
        if unit == "pct":
            ax.xaxis.set_major_formatter(_pct_formatter(top))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color=_GRID, linewidth=0.8)
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    names = df["payer_name"].astype(str).tolist()
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------- reimbursement
def paid_per_unit_by_payer(reimb: pd.DataFrame, colors: Mapping[str, str], *, top: int = 6) -> Figure:
    """Paid per unit for the most-billed procedure codes, one bar per payer (payer colours), so a payer that pays
    less for the same code stands out."""
    fig, (ax,) = _new(figsize=(10.0, 4.2))
    if reimb is None or len(reimb) == 0:
        _empty(ax, "No remittances this month")
        return fig
    df = reimb.assign(payer_id=reimb["payer_id"].astype(str))
    codes = (df.groupby("procedure_code")["claims"].sum().sort_values(ascending=False, kind="stable")
             .head(top).index.tolist())
    df = df[df["procedure_code"].isin(codes)]
    if not df["paid_per_unit_cents"].notna().any():
        _empty(ax, "Every payer-code cell has too few claims to show (suppressed)")
        return fig
    payers = payer_order(df["payer_id"].unique(), colors)
    names = _payer_names(df)
    width = 0.8 / max(len(payers), 1)
    x = np.arange(len(codes))
    top_val = 0.0
    for i, pid in enumerate(payers):
        sub = df[df["payer_id"] == pid].set_index("procedure_code")["paid_per_unit_cents"]
        vals = np.array([float(sub[c]) / 100.0 if c in sub.index and pd.notna(sub[c]) else np.nan for c in codes])
        top_val = max(top_val, np.nanmax(vals) if np.isfinite(vals).any() else 0.0)
        ax.bar(x - 0.4 + width * (i + 0.5), vals, width, color=payer_color(colors, pid), label=names.get(pid, pid))
    ax.set_xticks(x)
    ax.set_xticklabels(codes)
    ax.set_xlabel("Procedure code (most claims first)")
    ax.yaxis.set_major_formatter(usd_formatter(top_val))
    ax.set_ylabel("Paid per unit")
    ax.set_title("Paid per unit by payer, top procedure codes", loc="left", fontsize=11, fontweight="bold")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="Payer", title_fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------- collections
_CLASS_LABELS = {"medicare": "Medicare", "medicaid": "Medicaid", "commercial": "Commercial", "self_pay": "Self-pay",
                 "other": "Other insurance", "patient": "Patients"}
_INSURANCE_COLOR = "#0072B2"


def collections_chart(by_class: pd.DataFrame, adjustments: pd.DataFrame | None = None, *, month: str | None = None,
                      months: int | None = None) -> Figure:
    """Two panels: the month's payments by payer class (``payments_by_payer_class``; patients in the report's
    patient grey) and, when given, adjustments as a share of the charges of the trailing window
    (``adjustment_shares``)."""
    fig, axes = _new(figsize=(10.0, 3.2), ncols=2 if adjustments is not None else 1)
    ax = axes[0]
    if by_class is None or not len(by_class):
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No payments this month", ha="center", va="center", transform=ax.transAxes,
                color="#777777", fontsize=10)
    else:
        df = by_class.reset_index(drop=True)
        n = len(df)
        y = np.arange(n)[::-1]
        dollars = df["payments_cents"].to_numpy(dtype=float) / 100.0
        colors = [PATIENT_COLOR if str(c) in ("patient", "self_pay") else _INSURANCE_COLOR for c in df["payer_class"]]
        ax.barh(y, dollars, 0.62, color=colors)
        for yi, d, share in zip(y, dollars, df["share"]):
            ax.annotate(f"{fmt.usd(d)} · {fmt.pct(share, 0)}", (max(d, 0), yi), xytext=(4, 0),
                        textcoords="offset points",
                        va="center", fontsize=8, color=_INK)
        ax.set_yticks(y)
        ax.set_yticklabels([_CLASS_LABELS.get(str(c), str(c)) for c in df["payer_class"]], fontsize=9)
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color=_GRID, linewidth=0.8)
        top = max(dollars.max(), 0.0)
        ax.xaxis.set_major_formatter(usd_formatter(top))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_xlim(0, top * 1.45 if top > 0 else 1)
        ax.set_xlabel("Payments received, net of reversals")
        ax.set_title("Payments by payer class" + (f", {short_month(month)}" if month else ""), loc="left",
                     fontsize=11, fontweight="bold")
    if adjustments is not None:
        ax2 = axes[1]
        labels = {"contractual": "Contractual", "denial": "Denial write-offs", "other_adjustment": "Other"}
        adj = adjustments.reset_index(drop=True)
        shares = pd.to_numeric(adj["share_of_charges"], errors="coerce").astype(float).fillna(0.0).to_numpy()
        y = np.arange(len(adj))[::-1]
        ax2.barh(y, shares, 0.62, color=["#56B4E9", "#D55E00", "#E69F00"][: len(adj)])
        for yi, v in zip(y, shares):
            ax2.annotate(fmt.pct(v), (v, yi), xytext=(4, 0), textcoords="offset points", va="center",
                         fontsize=8, color=_INK)
        ax2.set_yticks(y)
        ax2.set_yticklabels([labels.get(str(k), str(k)) for k in adj["kind"]], fontsize=9)
        ax2.grid(axis="y", visible=False)
        ax2.grid(axis="x", color=_GRID, linewidth=0.8)
        top = float(shares.max()) if len(shares) else 0.0
        ax2.xaxis.set_major_formatter(_pct_formatter(top))
        ax2.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax2.set_xlim(0, top * 1.3 if top > 0 else 1)
        ax2.set_xlabel("Share of gross charges")
        window = f", {span_label(month, months)}" if month and months else ""
        ax2.set_title("Adjustments" + window, loc="left", fontsize=11, fontweight="bold")
    return fig


# --------------------------------------------------------------------------------------------- denied codes
def denied_codes_chart(rates: pd.DataFrame, *, month: str | None = None, top: int = 10) -> Figure:
    """The ``top`` procedure codes by denied charge dollars (``denial_rates_by(by="procedure_code")``), each bar
    labelled with its denied claims and the code's denial rate."""
    df = rates[rates["denied_billed_cents"] > 0].head(top).reset_index(drop=True) if rates is not None else None
    n = 0 if df is None else len(df)
    fig, (ax,) = _new(figsize=(10.0, max(2.4, 0.36 * n + 1.2)))
    if n == 0:
        _empty(ax, "No denied lines this month")
        return fig
    y = np.arange(n)[::-1]
    dollars = df["denied_billed_cents"].to_numpy(dtype=float) / 100.0
    ax.barh(y, dollars, 0.65, color="#D55E00")
    for yi, d, den, cl, rate in zip(y, dollars, df["denied"], df["claims"], df["rate"]):
        ax.annotate(f"{fmt.usd(d)} · {int(den):,} of {int(cl):,} claims ({fmt.pct(rate)})", (d, yi),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8, color=_INK)
    ax.set_yticks(y)
    ax.set_yticklabels([str(c) for c in df["procedure_code"]], fontsize=9)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color=_GRID, linewidth=0.8)
    ax.xaxis.set_major_formatter(usd_formatter(dollars.max()))
    ax.set_xlim(0, dollars.max() * 1.45 if dollars.max() > 0 else 1)
    ax.set_xlabel("Denied charges")
    ax.set_ylabel("Procedure code")
    ax.set_title("Procedure codes by denied charges" + (f", {short_month(month)}" if month else ""), loc="left",
                 fontsize=11, fontweight="bold")
    return fig



# --------------------------------------------------------------------------------------------- payer mix
#: One colour per payer class in the payer-mix chart (Okabe-Ito; patients grey as everywhere).
_CLASS_COLORS = {"medicare": "#0072B2", "medicaid": "#009E73", "commercial": "#E69F00", "self_pay": PATIENT_COLOR,
                 "other": "#CC79A7", "patient": PATIENT_COLOR}
_CLASS_ORDER = ["medicare", "medicaid", "commercial", "other", "self_pay", "patient"]


def payer_mix_trend(payer_mix: pd.DataFrame, months: Sequence[str] | None = None) -> Figure:
    """The share of each month's payments by payer class, stacked to 100% (``payer_mix``: month, payer_class,
    payments_cents, as :func:`rcmkit.metrics.payments_by_payer_class` per month). A shift between classes moves
    cash and days in A/R before any KPI says why. ``months``: the x axis (default: the frame's months)."""
    fig, (ax,) = _new()
    months = list(months) if months is not None else sorted(payer_mix["month"].astype(str).unique()) \
        if payer_mix is not None and len(payer_mix) else []
    if not months or payer_mix is None or not len(payer_mix):
        _empty(ax, "No payments in these months")
        return fig
    df = payer_mix.assign(month=payer_mix["month"].astype(str), payer_class=payer_mix["payer_class"].astype(str))
    piv = (df.groupby(["month", "payer_class"])["payments_cents"].sum().unstack("payer_class", fill_value=0)
           .reindex(index=months, fill_value=0).clip(lower=0))
    totals = piv.sum(axis=1).replace(0, np.nan)
    share = piv.div(totals, axis=0)
    classes = ([c for c in _CLASS_ORDER if c in share.columns]
               + sorted(c for c in share.columns if c not in _CLASS_ORDER))
    x = np.arange(len(months))
    bottom = np.zeros(len(months))
    for cls in classes:
        vals = share[cls].fillna(0).to_numpy(dtype=float)
        ax.bar(x, vals, 0.7, bottom=bottom, color=_CLASS_COLORS.get(cls, "#bbbbbb"),
               label=_CLASS_LABELS.get(cls, cls.replace("_", " ").capitalize()), edgecolor="white", linewidth=0.5)
        for xi, v, b in zip(x, vals, bottom):
            if v >= 0.08:
                ax.text(xi, b + v / 2, fmt.pct(v, 0), ha="center", va="center", fontsize=7, color="white")
        bottom += vals
    _month_axis(ax, months)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PctTicks())
    ax.set_ylabel("Share of the month's payments")
    ax.set_title("Payer mix: payments by payer class", loc="left", fontsize=11, fontweight="bold")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# --------------------------------------------------------------------------------------------- cash forecast
def cash_forecast_chart(weeks: pd.DataFrame, check: pd.DataFrame | None = None, *, level: float = 0.8) -> Figure:
    """The cash forecast (issue #18, :func:`rcmkit.forecast.report.month_forecast`): expected cash by week from
    today's open balances, with the likely range as a band; and, when ``check`` has rows, last month's forecast
    for this month (its range as a bar, its point as a tick) against what came in (a dot)."""
    if weeks is None:
        fig, axes = _new(figsize=(10.0, 3.6))
        _empty(axes[0], "No cash forecast for this month")
        return fig
    panels = 2 if check is not None and len(check) else 1
    fig, axes = _new(figsize=(10.0, 3.6), ncols=panels, **({"width_ratios": [2.4, 1]} if panels == 2 else {}))
    ax = axes[0]
    if weeks is None or not len(weeks):
        _empty(ax, "No open balances to forecast")
        return fig
    w = weeks.reset_index(drop=True)
    x = np.arange(len(w))
    expected = _values(w, "expected_cents") / 100.0
    low, high = _values(w, "low_cents") / 100.0, _values(w, "high_cents") / 100.0
    ax.bar(x, expected, 0.6, color=_INSURANCE_COLOR, label="Expected")
    ax.errorbar(x, expected, yerr=[np.clip(expected - low, 0, None), np.clip(high - expected, 0, None)], fmt="none",
                ecolor=_INK, elinewidth=1, capsize=3, label=f"Likely range ({round(level * 10)} in 10)")
    ax.set_xticks(x)
    ax.set_xticklabels([fmt.day_label(d) for d in w["week_start"]], fontsize=8, rotation=0)
    for label in ax.get_xticklabels()[1::2]:
        label.set_visible(False)
    top = float(np.nanmax(high)) if len(high) else 0.0
    ax.yaxis.set_major_formatter(usd_formatter(top))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_ylim(0, top * 1.1 if top > 0 else 1)
    ax.set_xlabel("Week starting")
    ax.set_ylabel("Cash expected")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    ax.set_title("Cash expected from the open balances at month end, by week", loc="left", fontsize=11,
                 fontweight="bold")
    if panels == 2:
        ax2 = axes[1]
        c = check.reset_index(drop=True)
        names = {"open A/R": "From balances\nopen then", "all cash": "All payments"}
        y = np.arange(len(c))[::-1]
        f, lo, hi, act = (_values(c, k) / 100.0 for k in ("forecast_cents", "low_cents", "high_cents",
                                                          "actual_cents"))
        ax2.barh(y, hi - lo, 0.5, left=lo, color=_INSURANCE_COLOR, alpha=0.18, label="Likely range")
        ax2.scatter(f, y, marker="|", s=300, color=_INSURANCE_COLOR, label="Expected", zorder=3)
        ax2.scatter(act, y, marker="o", s=40, color="#D55E00", label="Received", zorder=4)
        ax2.set_yticks(y)
        ax2.set_yticklabels([names.get(str(v), str(v)) for v in c["source"]], fontsize=9)
        ax2.grid(axis="y", visible=False)
        ax2.grid(axis="x", color=_GRID, linewidth=0.8)
        right = float(np.nanmax(np.concatenate([hi, act, f])))
        ax2.xaxis.set_major_formatter(usd_formatter(right))
        ax2.xaxis.set_major_locator(MaxNLocator(nbins=3))
        ax2.set_xlim(0, right * 1.15 if right > 0 else 1)
        ax2.set_ylim(-0.7, len(c) + 0.1)
        ax2.legend(frameon=False, fontsize=8, loc="upper left", ncols=2, handletextpad=0.3, columnspacing=0.8)
        made = pd.Timestamp(c["made_on"].iloc[0]) if "made_on" in c else None
        if made is not None:
            ax2.set_xlabel(f"Cash in the month\n(forecast made {fmt.day_label(made)})")
        ax2.set_title("Last month's forecast\nagainst what came in", loc="left", fontsize=11, fontweight="bold")
    return fig


# --------------------------------------------------------------------------------------------- live charts
class LiveChart:
    """A chart drawn again and again with new data on one Figure (the explorer's chart, issue #15).

    A new Figure for each picture cost about as much as drawing it, and its constrained layout as much again. A live
    chart's figure is made once by the report's chart function, then given a fixed layout (``margins``: left, right,
    bottom and top in inches, the same at every update) and a shaded span of months; :meth:`update` (in each
    subclass) sets the artists' data, the axis limits, ticks and labels in place. Every update sets everything that
    depends on the data, so a picture depends on its data only, never on the updates before it (tests compare a
    chart updated through many selections with a new one). ``update`` returns False, changing nothing, when the data
    cannot be shown by an update (another number of months; nothing to scale the axis on): make a new chart then.
    Not for several threads at once (the explorer's refresh draws one at a time)."""

    def __init__(self, fig: Figure, margins: tuple[float, float, float, float]):
        self.fig = fig
        self.ax = fig.axes[0]
        fig.set_layout_engine("none")
        width, height = fig.get_size_inches()
        left, right, bottom, top = margins
        for ax in fig.axes:
            ax.set_position([left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height])
        self.span = self.ax.axvspan(0, 1, color="#fff3cd", zorder=0, lw=0, visible=False)

    def _shade(self, shade: tuple[float, float] | None) -> None:
        """Shade the x range ``shade`` (data units), or nothing."""
        if shade is None:
            self.span.set_visible(False)
            return
        lo, hi = shade
        self.span.set_x(lo)
        self.span.set_width(hi - lo)
        self.span.set_visible(True)

    def png(self, dpi: float = 90, compress_level: int | None = 1) -> bytes:
        """The chart as PNG bytes at the figure's full size (:func:`figure_png`, uncropped)."""
        return figure_png(self.fig, dpi, crop=False, compress_level=compress_level)


class LiveKpiTrend(LiveChart):
    """:func:`kpi_trend_chart` kept and updated: the lines' values, the axis limits and formatter, the months'
    labels and the values written at the lines' ends. The title, the KPIs' labels and the target (``status``) are
    the first call's."""

    def __init__(self, trend: pd.DataFrame, kpis: Sequence, *, title: str, status: pd.DataFrame | None = None,
                 margins: tuple[float, float, float, float] = (0.8, 0.06, 0.45, 0.25)):
        fig = kpi_trend_chart(trend, kpis, title=title, status=status)
        self.kpis = list(kpis)
        self.months = len(trend)
        ax = fig.axes[0]
        self.lines = ax.lines[:len(self.kpis)]
        row = _target_row(status, self.kpis[0].key)
        self.drawn = None  # what target_lines drew, as it returned it
        if row is not None:
            good = float(row["good"])
            acc = good if fmt.is_missing(row.get("acceptable")) else float(row["acceptable"])
            self.drawn = (min(good, acc), max(good, acc))
        self.labels = list(ax.texts[1 if self.drawn is not None else 0:])  # after the target's label: the ends'
        super().__init__(fig, margins)

    def update(self, trend: pd.DataFrame, shade: tuple[float, float] | None = None) -> bool:
        if len(trend) != self.months:
            return False
        ax, unit = self.ax, self.kpis[0].unit
        months = list(trend["month"])
        x = np.arange(len(months))
        top = 0.0
        ys, ends = [], []
        for kpi, line in zip(self.kpis, self.lines):
            y = _values(trend, kpi.key)
            top = max(top, np.nanmax(y) if np.isfinite(y).any() else 0.0)
            ys.append(y)
            if len(y) and np.isfinite(y[-1]):
                ends.append((float(y[-1]), line.get_color()))
        bottom, top = _trend_limits(trend, self.kpis, self.drawn, top)
        if not top > 0:  # the report's chart scales the axis on the lines then: a new chart does
            return False
        for line, y in zip(self.lines, ys):
            line.set_ydata(y)
        _month_axis(ax, months)
        _unit_axis(ax, unit, top)
        ax.set_ylim(bottom=bottom, top=top + (top - bottom) * 0.15)
        ax.set_xlim(-0.5, len(months) - 0.2)
        for label in self.labels:
            label.remove()
        self.labels = _end_labels(ax, x[-1] if len(x) else 0, ends, unit)
        self._shade(shade)
        return True


class LiveChargesPayments(LiveChart):
    """:func:`charges_payments_trend` kept and updated: the bars' heights, the axis limit and formatter and the
    months' labels."""

    def __init__(self, trend: pd.DataFrame, margins: tuple[float, float, float, float] = (0.8, 0.06, 0.45, 0.28)):
        fig = charges_payments_trend(trend)
        ax = fig.axes[0]
        self.months = len(trend)
        self.bars = list(ax.containers[:2])
        ax.set_xlim(ax.get_xlim())  # the bars' (fixed) extent, before the span: never scaled on it
        super().__init__(fig, margins)

    def update(self, trend: pd.DataFrame, shade: tuple[float, float] | None = None) -> bool:
        if len(trend) != self.months:
            return False
        months = list(trend["month"])
        ch, pay = _values(trend, "charges"), _values(trend, "payments")
        both = np.concatenate([ch, pay])
        top = np.nanmax(both) if len(months) and np.isfinite(both).any() else 0.0
        for bars, values in zip(self.bars, (ch, pay)):
            for rect, v in zip(bars, values):
                rect.set_height(v)
        self.ax.yaxis.set_major_formatter(usd_formatter(top))
        _month_axis(self.ax, months)
        self.ax.set_ylim(0, top * 1.18 if top > 0 else 1)
        self._shade(shade)
        return True


def _days_in_ar(r: Any) -> Figure:
    kpis = [r.kpis[k] for k in ("days_in_ar", "days_in_ar_net") if k in r.kpis]
    return kpi_trend_chart(r.trend, kpis, title="Days in A/R", status=r.status)


#: The monthly report's charts in the notebook's order, each a function of the report model
#: (:class:`rcmkit.report.model.MonthlyReport`): the one spelling of which frames and options each chart gets,
#: drawn by the notebook's chart cells, the deck, tests/test_charts_render.py and benchmarks/chart_speed.py
#: through :func:`report_chart`.
REPORT_CHARTS: dict[str, Callable[[Any], Figure]] = {
    "days_in_ar": _days_in_ar,
    "ar_balance": lambda r: ar_balance_trend(r.trend, status=r.status),
    "claim_quality": lambda r: claim_quality_trend(r.trend, status=r.status),
    "charges_payments": lambda r: charges_payments_trend(r.trend),
    "payer_mix": lambda r: payer_mix_trend(r.payer_mix, r.trend["month"]),
    "aging": lambda r: aging_by_payer(r.aging, r.colors, month=r.month),
    "denials_by_category": lambda r: denials_by_category(r.denial_reasons_all, r.open_denials, month=r.month),
    "denial_reasons": lambda r: denial_reasons_chart(r.denial_reasons, month=r.month),
    "denied_codes": lambda r: denied_codes_chart(r.denial_rates_by_code, month=r.month),
    "collections": lambda r: collections_chart(r.payments_by_class, r.adjustments, month=r.month,
                                               months=r.options.collection_months),
    "net_collection": lambda r: kpi_trend_chart(r.trend, [r.kpis["net_collection_rate"]],
                                                title="Net collection rate", status=r.status),
    "cash": lambda r: cash_forecast_chart(r.forecast_weeks, r.forecast_check),
    "scorecard": lambda r: payer_scorecard_chart(r.scorecard, r.colors, aged_over_days=r.options.aged_over_days,
                                                 status=r.status),
    "paid_per_unit": lambda r: paid_per_unit_by_payer(r.reimbursement, r.colors),
}


#: Each report model's charts made so far (report -> {name: Figure}), forgotten with the model.
_MADE: "weakref.WeakKeyDictionary[Any, dict[str, Figure]]" = weakref.WeakKeyDictionary()


def report_chart(report: Any, name: str) -> Figure:
    """The report's chart ``name`` (a key of :data:`REPORT_CHARTS`) drawn from the report model ``report``.

    Made once per model: the same ``report`` and ``name`` give the same Figure (the notebook's chart cell and the
    deck's slide share it, as PNGs at their own dpi: :func:`figure_png` leaves the figure as it was), so treat it
    as read-only; ``REPORT_CHARTS[name](report)`` makes a new one."""
    try:
        make = REPORT_CHARTS[name]
    except KeyError:
        raise ValueError(f"no report chart {name!r}; the report's charts: {', '.join(REPORT_CHARTS)}") from None
    try:
        made = _MADE.setdefault(report, {})
    except TypeError:  # a model that cannot be weakly referenced (or hashed): a new figure each time
        return make(report)
    if name not in made:
        made[name] = make(report)
    return made[name]
