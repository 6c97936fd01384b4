"""The report's charts as PNG (rcmkit.present.charts.figure_png): one draw, the white border cut as
``bbox_inches="tight"`` would, and every text the chart draws inside the picture, long payer names too."""

from __future__ import annotations

import dataclasses
import io
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from PIL import Image

from rcmkit.present import charts
from rcmkit.report.deck import figure_png as deck_png

LONG = "Blue Cross Blue Shield of the Northern Plains Preferred Provider Organization Plan"


def _report_charts(r, names=None, only=None) -> dict[str, Figure]:
    """The report's 14 charts (rcmkit.present.charts.REPORT_CHARTS, as the notebook draws them) of the report model
    ``r``, or those named in ``only``; ``names``: payer_id -> the payer name to show."""
    def renamed(frame):
        if names is None or frame is None or "payer_name" not in frame.columns:
            return frame
        return frame.assign(payer_name=[names.get(str(p), n) for p, n in zip(frame["payer_id"], frame["payer_name"])])

    r = dataclasses.replace(r, aging=renamed(r.aging), scorecard=renamed(r.scorecard),
                            reimbursement=renamed(r.reimbursement))
    return {name: charts.report_chart(r, name) for name in charts.REPORT_CHARTS if only is None or name in only}


@contextmanager
def _drawn_texts():
    """Every text artist drawn inside the block (tick labels, titles, axis labels, legend entries, annotations),
    with its extent in pixels measured by the renderer as it draws it."""
    seen: list[tuple[str, object]] = []
    real = Text.draw

    def spy(self, renderer):
        real(self, renderer)
        if self.get_visible() and self.get_text().strip():
            seen.append((self.get_text(), self.get_window_extent(renderer)))

    with mock.patch.object(Text, "draw", spy):
        yield seen


def _texts_outside(fig: Figure, dpi: float = 110) -> list[str]:
    """The drawn texts whose extent leaves the canvas (1 pixel of rounding allowed), as 'text: extent'."""
    with _drawn_texts() as seen:
        png = charts.figure_png(fig, dpi, crop=False)
    width, height = Image.open(io.BytesIO(png)).size
    return [f"{s!r}: {b}" for s, b in seen if b.x0 < -1 or b.y0 < -1 or b.x1 > width + 1 or b.y1 > height + 1]


def _ink_on_the_edge(png: bytes) -> bool:
    """Whether anything but the white background touches the picture's outermost pixels (a text cut by the edge)."""
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    edges = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return bool((edges != 255).any())


# --------------------------------------------------------------------------------------------- figure_png
def test_png_is_cut_to_what_was_drawn_plus_the_pad():
    """A 2 x 1 in figure at 100 dpi (200 x 100 px) with one black rectangle from 25% to 75% of its width (pixels
    50-149: 100 px) and from 20% to 60% of its height (40 px): cut to 100 x 40 plus 0.1 in (10 px) on each side,
    120 x 60; the rectangle's pixels are black, the border white."""
    fig = Figure(figsize=(2, 1))
    fig.patches.append(Rectangle((0.25, 0.2), 0.5, 0.4, transform=fig.transFigure, figure=fig, color="black",
                                 antialiased=False, linewidth=0))
    png = charts.figure_png(fig, 100)
    im = Image.open(io.BytesIO(png))
    assert im.size == (120, 60) and im.mode == "RGB"
    assert im.getpixel((10, 10)) == (0, 0, 0) and im.getpixel((109, 49)) == (0, 0, 0)
    assert im.getpixel((9, 10)) == (255, 255, 255) and im.getpixel((110, 49)) == (255, 255, 255)
    full = Image.open(io.BytesIO(charts.figure_png(fig, 100, crop=False)))
    assert full.size == (200, 100)  # uncut: the whole figure
    assert fig.dpi == 100 and charts.figure_png(fig, 100) == png  # the same figure, the same bytes
    assert b"Software" not in png and b"tEXt" not in png  # no software tag or timestamp


def test_png_cut_finds_ink_that_differs_in_one_channel_on_a_grey_figure():
    """The cut compares whole pixels with the figure's own background: on a (250, 250, 250) figure a rectangle of
    (250, 250, 249), one blue step darker, is ink (cut to it as above: 120 x 60), and the added border is the
    figure's grey, not white."""
    grey, ink = (250, 250, 250), (250, 250, 249)
    fig = Figure(figsize=(2, 1), facecolor=[c / 255 for c in grey])
    fig.patches.append(Rectangle((0.25, 0.2), 0.5, 0.4, transform=fig.transFigure, figure=fig,
                                 color=[c / 255 for c in ink], antialiased=False, linewidth=0))
    im = Image.open(io.BytesIO(charts.figure_png(fig, 100)))
    assert im.size == (120, 60)
    assert im.getpixel((10, 10)) == ink and im.getpixel((109, 49)) == ink
    assert im.getpixel((9, 10)) == grey and im.getpixel((110, 49)) == grey and im.getpixel((0, 0)) == grey


@pytest.mark.slow
def test_png_matches_savefig_tight_in_size(small_report):
    """The cut picture is the size savefig(bbox_inches="tight") gives, to a few pixels (the artists' boxes hold
    a little white around the glyphs), for every report chart."""
    for name, fig in _report_charts(small_report).items():
        ours = Image.open(io.BytesIO(charts.figure_png(fig, 110))).size
        buf = io.BytesIO()
        FigureCanvasAgg(fig).print_figure(buf, format="png", dpi=110, bbox_inches="tight")
        theirs = Image.open(io.BytesIO(buf.getvalue())).size
        assert abs(ours[0] - theirs[0]) <= 12 and abs(ours[1] - theirs[1]) <= 12, (name, ours, theirs)


def test_deck_png_is_the_charts_png_at_130_dpi(small_report):
    fig = charts.charges_payments_trend(small_report.trend)
    png = deck_png(fig)
    assert png == charts.figure_png(fig, 130) and Image.open(io.BytesIO(png)).size[0] >= 1300


# --------------------------------------------------------------------------------------------- nothing cut
@pytest.mark.slow
@pytest.mark.parametrize("long_names", [False, True], ids=["names", "long-names"])
def test_every_text_of_every_chart_is_inside_the_picture(small_report, long_names):
    """Each tick label, title, axis label, legend entry and value label the 14 charts draw lies inside the figure
    (the renderer's extent of each drawn text), and no ink touches the picture's edge; with every payer's name
    replaced by an 80-character one too (the scorecard's y axis, the aging and paid-per-unit legends)."""
    names = None
    if long_names:
        names = {str(p): f"{LONG} {i}" for i, p in enumerate(small_report.payers["payer_id"])}
    figs = _report_charts(small_report, names)
    drawn_names = 0
    for name, fig in figs.items():
        with _drawn_texts() as seen:
            assert _texts_outside(fig) == [], name
        drawn_names += sum(LONG in s for s, _ in seen)
        assert not _ink_on_the_edge(charts.figure_png(fig, 110, crop=False)), name
    if long_names:  # the long names were drawn (the scorecard's ticks, the aging legend), so the check saw them
        insurers = (small_report.scorecard["payer_id"] != "patient").sum()
        assert drawn_names >= insurers + 1


def test_long_payer_names_stay_inside_the_scorecard_chart(small_report):
    """The fast tier's case of the test above: the scorecard's y axis with 80-character payer names, each drawn
    whole inside the picture."""
    names = {str(p): f"{LONG} {i}" for i, p in enumerate(small_report.payers["payer_id"])}
    card = small_report.scorecard
    card = card.assign(payer_name=[names.get(str(p), "Patient") for p in card["payer_id"]])
    fig = charts.payer_scorecard_chart(card, small_report.colors, status=small_report.status)
    with _drawn_texts() as seen:
        assert _texts_outside(fig) == []
    assert sum(LONG in s for s, _ in seen) == (card["payer_id"] != "patient").sum()  # each insurer's name, once
    assert not _ink_on_the_edge(charts.figure_png(fig, 110, crop=False))


def test_a_text_outside_the_figure_is_caught():
    """The check itself: a title pushed past the right edge is reported, and its ink touches the edge."""
    fig = Figure(figsize=(4, 2))
    ax = fig.add_subplot()
    ax.set_title("A title that runs past the edge of the figure", x=0.9, ha="left")
    assert any("runs past" in s for s in _texts_outside(fig))
    assert _ink_on_the_edge(charts.figure_png(fig, 110, crop=False))


def test_empty_charts_are_short_notes_inside_the_picture():
    empty = pd.DataFrame(columns=["payer_id", "payer_name", "bucket", "balance_cents"])
    fig = charts.aging_by_payer(empty, {})
    assert _texts_outside(fig) == []
    w, h = Image.open(io.BytesIO(charts.figure_png(fig, 110))).size
    assert h < 0.9 * 110 + 2 * 11 and w >= 1000  # a one-line note in the charts' width (as "tight" kept its axes)


def test_the_target_label_is_drawn_under_the_data_lines(small_report):
    """The target's label has a white box: drawn above the lines it hid a month's value where a line crossed it."""
    from matplotlib.text import Annotation

    names = ("days_in_ar", "claim_quality", "net_collection")
    drawn = _report_charts(small_report, only=names)
    for name in names:
        ax = drawn[name].axes[0]
        labels = [t for t in ax.texts if isinstance(t, Annotation) and t.get_text().startswith("Target")]
        data = [line for line in ax.lines if len(line.get_xdata()) > 2]  # the KPIs, not the target's line
        assert labels and data, name
        assert max(t.get_zorder() for t in labels) < min(line.get_zorder() for line in data), name


@pytest.mark.slow  # twelve PNGs (~1.5 s); the deck's pictures stay fast: test_deck_png_is_the_charts_png_at_130_dpi
def test_report_chart_is_made_once_per_model_and_draws_as_a_new_one(small_report):
    """The notebook's chart cell and the deck's slide share one Figure per model and chart: the same object for
    the same model, a new one for another model; drawn at 110 dpi (the notebook) and then at 130 dpi (the deck),
    it gives the bytes of new figures drawn at each dpi, so sharing it changes no picture."""
    r = small_report
    for name in ("days_in_ar", "aging", "denial_reasons", "charges_payments"):  # the deck's charts
        shared = charts.report_chart(r, name)
        assert charts.report_chart(r, name) is shared
        assert charts.report_chart(dataclasses.replace(r), name) is not shared
        at_110, at_130 = charts.figure_png(shared, 110), charts.figure_png(shared, 130)
        assert at_110 == charts.figure_png(charts.REPORT_CHARTS[name](r), 110), name
        assert at_130 == charts.figure_png(charts.REPORT_CHARTS[name](r), 130), name
