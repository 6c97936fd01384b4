"""HTML and charts for the explorer: the report's tiles, tables, payer colours and chart functions, reused.

Every function returns a string of self-contained HTML (inline CSS, no scripts) or a matplotlib Figure; inputs
are never modified. Patient identifiers never reach these functions (the frames come from
:mod:`rcmkit.explorer.views`).
"""

from __future__ import annotations

import base64
import html
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rcmkit.metrics import KPI, benchmark_status
from rcmkit.core.refdata import carc_crosswalk
from rcmkit.present import charts
from rcmkit.present import format as fmt
from rcmkit.present.tiles import STYLE, html_table, kpi_tiles
from rcmkit.explorer.filters import Filters, Period
from rcmkit.explorer.views import FLOW_KEYS, MEASURES

__all__ = ["EXPLORER_STYLE", "STYLES", "without_styles", "header_html", "tiles_html", "table_html", "heatmap_html",
           "chart_figure", "ChartSlots", "aging_fixed_layout", "AGING_MARGINS", "figure_png", "png_img",
           "carc_descriptions", "MAX_ROWS", "cash_table_html",
           "cash_check_html", "checks_summary_html", "findings_html", "risk_html", "history_html"]

#: Rows of a claims list shown on the page (the export carries every row).
MAX_ROWS = 200

EXPLORER_STYLE = """<style>
.rcmx-head { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; margin: 2px 0 4px 0; }
.rcmx-head h2 { font-size: 1.35em; margin: 0; }
.rcmx-head .rcmx-sub { color: #555; font-size: .92em; }
.rcmx-group { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; font-size: .8em; color: #555; text-transform: uppercase; letter-spacing: .04em; margin: 6px 0 0 2px; }
.rcmx-crumb { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; font-size: .92em; color: #333; margin: 4px 0; }
.rcmx-crumb b { font-weight: 600; }
table.rcmx-heat { border-collapse: collapse; font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; font-size: .84em; font-variant-numeric: tabular-nums; }
table.rcmx-heat th { background: #f0f2f4; border-bottom: 2px solid #c8cdd2; padding: 4px 7px; text-align: right; white-space: nowrap; }
table.rcmx-heat th.rcmx-payer, table.rcmx-heat td.rcmx-payer { text-align: left; }
table.rcmx-heat th small { display: block; font-weight: normal; color: #666; font-size: .85em; }
table.rcmx-heat td { border: 1px solid #fff; padding: 4px 7px; text-align: right; white-space: nowrap; }
table.rcmx-heat td.rcmx-sup { color: #999; background: #f7f7f7; }
.rcmx-table { overflow-x: auto; }
.rcmx-table table.rcm.rcm-table td { white-space: nowrap; }
.rcmx-table.rcmx-wrap table.rcm.rcm-table td { white-space: normal; vertical-align: top; }
.rcmx-findings table.rcm.rcm-table td:nth-child(7), .rcmx-findings table.rcm.rcm-table td:nth-child(8) { min-width: 230px; }
.rcmx-error { color: #b00020; font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
.rcmx-status { color: #777; font-size: .8em; font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
</style>"""


#: Every stylesheet the explorer's HTML uses (the report's and the explorer's), for a page that holds it once.
STYLES = STYLE + EXPLORER_STYLE


def without_styles(text: str) -> str:
    """``text`` (HTML from this module) without the stylesheets of :data:`STYLES`: the live widget holds them once,
    in a widget that never changes, so an update does not add a stylesheet to the page (the browser restyles the
    whole page for each one)."""
    return text.replace(STYLE, "").replace(EXPLORER_STYLE, "")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def header_html(practice_name: str, period: Period, filters: Filters, payer_names: Mapping[str, str],
                claims: int, data_through: str | None = None, provider_names: Mapping[str, str] | None = None) -> str:
    """The explorer's heading: practice, period, what is selected (providers by name when known) and how many
    claims that is."""
    through = f" Data through {_e(fmt.day_label(data_through))}." if data_through else ""
    selected = filters.describe(payer_names, provider_names)
    return (f'{EXPLORER_STYLE}<div class="rcmx-head"><h2>{_e(practice_name)} &middot; {_e(period.label)}</h2>'
            f'<div class="rcmx-sub">Selected: {_e(selected)} ({claims:,} claims).{through} '
            "Hover a tile for its definition.</div></div>")


def tiles_html(kpis: Mapping[str, KPI], period: Period, targets: pd.DataFrame | None = None) -> str:
    """The KPI tiles in two groups, the period's flows and the balances at its end, coloured by benchmark status
    (:func:`rcmkit.present.tiles.kpi_tiles`)."""
    status = benchmark_status(kpis, targets)
    flows = {k: v for k, v in kpis.items() if k in FLOW_KEYS}
    ends = {k: v for k, v in kpis.items() if k not in FLOW_KEYS}
    end = pd.Period(period.end, freq="M").end_time.date()
    first = kpi_tiles(flows, status=status).split('<p class="rcm rcm-note">')[0]  # the colour note once, below
    return (f'<div class="rcmx-group">In the period, {_e(period.label)}</div>' + first
            + f'<div class="rcmx-group">At the period\'s end, {_e(fmt.day_label(end))}</div>'
            + kpi_tiles(ends, status=status))


# --------------------------------------------------------------------------------------------- tables
def _date(v: Any) -> str:
    return "" if fmt.is_missing(v) else pd.Timestamp(v).strftime("%Y-%m-%d")


_CLAIM_LIST = [
    ("claim_id", "Claim", None, False), ("payer", "Payer", None, False), ("service_from", "Service", _date, False),
    ("submitted_on", "Submitted", _date, False), ("adjudicated_on", "First 835", _date, False),
    ("billed_cents", "Billed", fmt.usd_cents, True), ("paid_cents", "Paid", fmt.usd_cents, True),
    ("status", "Status", None, False), ("reasons", "Reasons", None, False),
    ("denied_cents", "Denied", fmt.usd_cents, True), ("resubmitted_on", "Resubmitted", _date, False),
    ("open_cents", "Open at period end", fmt.usd_cents, True),
]

#: Column specs per table kind: (key, header, formatter, numeric).
COLUMNS: dict[str, list[tuple]] = {
    "category": [("category", "Denial category", None, False), ("claims", "Claims", fmt.count, True),
                 ("lines", "Adjustments", fmt.count, True), ("denied_cents", "Denied", fmt.usd_whole, True),
                 ("share", "Share of denied $", fmt.pct, True)],
    "code": [("category", "Denial category", None, False), ("code", "Code", None, False),
             ("description", "Reason (CARC)", None, False), ("claims", "Claims", fmt.count, True),
             ("lines", "Adjustments", fmt.count, True), ("denied_cents", "Denied", fmt.usd_whole, True)],
    "payer:initial_denial_rate": [
        ("payer", "Payer", None, False), ("claims_adjudicated", "Claims first adjudicated", fmt.count, True),
        ("claims_denied", "Denied", fmt.count, True), ("denial_rate", "Initial denial rate", fmt.pct, True),
        ("billed_cents", "Billed", fmt.usd_whole, True),
        ("denied_billed_cents", "Billed, denied claims", fmt.usd_whole, True),
        ("denial_rate_dollars", "Denial rate ($)", fmt.pct, True)],
    "payer:clean_claim_rate": [
        ("payer", "Payer", None, False), ("claims_adjudicated", "Claims first adjudicated", fmt.count, True),
        ("clean_claims", "Clean", fmt.count, True), ("not_clean", "Not clean", fmt.count, True),
        ("clean_claim_rate", "Clean-claim rate", fmt.pct, True)],
    "payer:charges_payments": [("payer", "Payer", None, False), ("charges_cents", "Charges", fmt.usd_whole, True),
                               ("payments_cents", "Payments", fmt.usd_whole, True)],
    "payer:ar": [("payer", "Responsible", None, False)] + [
        (f"{b.replace('-', '_').replace('+', '_plus')}_cents", f"{b} days", fmt.usd_whole, True)
        for b in charts.BUCKETS
    ] + [("total_cents", "Total", fmt.usd_whole, True)],
    "claims:initial_denial_rate": _CLAIM_LIST,
    "claims:clean_claim_rate": _CLAIM_LIST,
    "claims:ar": [("claim_id", "Claim", None, False), ("responsible", "Owed by", None, False),
                  ("payer", "Claim payer", None, False), ("service_from", "Service", _date, False),
                  ("first_billed_on", "First billed", _date, False), ("age_days", "Age (days)", fmt.count, True),
                  ("bucket", "Bucket", None, False), ("balance_cents", "Open balance", fmt.usd_cents, True)],
    "claims:charges_payments": [("claim_id", "Claim", None, False), ("payer", "Payer", None, False),
                                ("service_from", "Service", _date, False), ("submitted_on", "Submitted", _date, False),
                                ("charges_cents", "Charges in period", fmt.usd_cents, True),
                                ("payments_cents", "Payments in period", fmt.usd_cents, True)],
}


def table_kind(metric: str, level: str) -> str:
    """The :data:`COLUMNS` key of a drill-down table."""
    if level in ("category", "code"):
        return level
    return f"{level}:{metric}"


def carc_descriptions() -> dict[tuple[str, str], str]:
    """(group, CARC) -> the crosswalk's short description; group '*' rows apply to every group."""
    xw = carc_crosswalk()
    return {(g, r): n for g, r, n in zip(xw["group_code"], xw["reason_code"], xw["note"])}


def _describe(group: str, reason: str, notes: Mapping[tuple[str, str], str]) -> str:
    return notes.get((group, reason)) or notes.get(("*", reason)) or ""


def display_frame(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The drill-down frame with the derived columns a person reads (share of dollars, 'CO-16', the CARC text);
    also what the export writes."""
    out = frame.copy()
    if kind == "category" and len(out):
        total = out["denied_cents"].sum()
        out["share"] = out["denied_cents"] / total if total else np.nan
    if kind == "code":
        notes = carc_descriptions()
        out.insert(1, "code", [f"{g}-{r}" for g, r in zip(out["group_code"], out["reason_code"])])
        out.insert(2, "description", [_describe(g, r, notes) for g, r in zip(out["group_code"], out["reason_code"])])
    return out


def _swatch_cell(pid: str, name: str, colors: Mapping[str, str]) -> str:
    color = colors.get(pid, charts.PATIENT_COLOR if pid == "patient" else "#bbbbbb")
    return f'<span class="rcm-swatch" style="background:{_e(color)}"></span>{_e(name)}'


def table_html(frame: pd.DataFrame, kind: str, colors: Mapping[str, str], payer_names: Mapping[str, str], *,
               caption: str, limit: int = MAX_ROWS) -> str:
    """A drill-down table (``frame`` from :func:`display_frame`), at most ``limit`` rows, with payer swatches."""
    cols = COLUMNS[kind]
    rows = frame.head(limit).to_dict("records")
    for r in rows:
        pid = r.get("payer_id") if kind != "claims:ar" else r.get("responsible")
        if pid is not None and not fmt.is_missing(pid):
            key = "responsible" if kind == "claims:ar" else "payer"
            r[f"__html_{key}"] = _swatch_cell(str(pid), payer_names.get(str(pid), str(pid)), colors)
        if kind == "claims:ar":
            r["payer"] = payer_names.get(str(r.get("payer_id")), r.get("payer_id"))
    note = ""
    if len(frame) > limit:
        note = (f'<p class="rcm rcm-note">Showing the first {limit:,} of {len(frame):,} rows; the export has them '
                "all.</p>")
    table = html_table(rows, cols, caption=caption, empty="Nothing to show for this selection.")
    return f'{EXPLORER_STYLE}<div class="rcmx-table">{table}</div>{note}'


# --------------------------------------------------------------------------------------------- heat map
def _mix(hex_color: str, weight: float) -> str:
    """``hex_color`` blended with white: weight 0 is white, 1 the colour."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    w = max(0.0, min(1.0, weight))
    return "#{:02x}{:02x}{:02x}".format(*(round(255 + (c - 255) * w) for c in (r, g, b)))


def _cell_color(ratio_to_ref: float, span: float = 0.25) -> str:
    if not np.isfinite(ratio_to_ref):
        return "#ffffff"
    d = ratio_to_ref - 1.0
    return _mix("#d6604d" if d < 0 else "#4393c3", min(abs(d) / span, 1.0) * 0.85)


def heatmap_html(values: pd.DataFrame, cells: pd.DataFrame, measure: str, colors: Mapping[str, str],
                 payer_names: Mapping[str, str], *, period: Period, rank_by: str, min_cell_count: int) -> str:
    """The payer x code heat map: one row per payer, one column per code, each cell its number and coloured by how
    it compares: paid per unit and paid/allowed against the median payer for the code, allowed against the
    contract (100%). Suppressed cells (too few claims) show a dot."""
    label, unit = MEASURES[measure]
    title = f"{label} by payer and procedure code, lines paid {period.label}"
    if values.empty:
        return (f'<div class="rcmx-crumb"><b>{_e(title)}</b></div>'
                '<p class="rcm rcm-note">No remittances in this period.</p>')
    by_cell = cells.set_index(["payer_id", "procedure_code"])
    totals = cells.groupby("procedure_code")[["units", "paid_cents"]].sum(min_count=1)
    head = ['<th class="rcmx-payer">Payer</th>']
    for code in values.columns:
        t = totals.loc[code]
        sub = (f"{fmt.count(t['units'])} units" if rank_by == "units" else fmt.usd_whole(t["paid_cents"]))
        head.append(f"<th>{_e(code)}<small>{_e(sub)}</small></th>")
    reference = values.median(axis=0, skipna=True) if measure != "allowed_to_contract" else pd.Series(
        1.0, index=values.columns)
    body = []
    for pid, row in values.iterrows():
        name = payer_names.get(str(pid), str(pid))
        cells_html = [f'<td class="rcmx-payer">{_swatch_cell(str(pid), name, colors)}</td>']
        for code, v in row.items():
            if (pid, code) not in by_cell.index:
                cells_html.append("<td></td>")
                continue
            c = by_cell.loc[(pid, code)]
            if fmt.is_missing(v):
                why = (f"fewer than {min_cell_count} claims: suppressed"
                       if bool(c["suppressed"]) or measure != "allowed_to_contract"
                       else "no contract rate, or too few claims with one")
                cells_html.append(f'<td class="rcmx-sup" title="{_e(why)}">&middot;</td>')
                continue
            ref = float(reference.get(code, np.nan))
            rel = float(v) / ref if ref and np.isfinite(ref) else np.nan
            text = fmt.usd_cents(v) if unit == "usd" else fmt.pct(v)
            tip = (f"{name}, {code}: {int(c['claims']):,} claims, {fmt.count(c['units'])} units, "
                   f"paid {fmt.usd_cents(c['paid_cents'])}")
            if np.isfinite(rel):
                versus = "the contract" if measure == "allowed_to_contract" else "the median payer"
                tip += f"; {fmt.pct(abs(rel - 1))} {'below' if rel < 1 else 'above'} {versus}"
            cells_html.append(f'<td style="background:{_cell_color(rel)}" title="{_e(tip)}">{_e(text)}</td>')
        body.append(f"<tr>{''.join(cells_html)}</tr>")
    legend = ("Colour: each cell against the contract (100%): red below, blue above."
              if measure == "allowed_to_contract" else
              "Colour: each cell against the median payer for the code: red pays less, blue more; "
              "25% and more is full colour.")
    return (f'{STYLE}{EXPLORER_STYLE}<div class="rcmx-crumb"><b>{_e(title)}</b></div>'
            f'<table class="rcmx-heat"><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f'<p class="rcm rcm-note">{_e(legend)} A dot: fewer than {min_cell_count} claims (suppressed, as in the '
            "report). Hover a cell for its claims, units and dollars.</p>")


# --------------------------------------------------------------------------------------------- charts
def chart_figure(metric: str, trend: pd.DataFrame, kpis: Mapping[str, KPI], period: Period,
                 aging: pd.DataFrame | None, colors: Mapping[str, str], targets: pd.DataFrame | None = None) -> Figure:
    """The metric's chart (the report's chart functions): the trend of the 12 months ending with the period, the
    period shaded, the rate's benchmark target drawn as in the report (``targets``: as for :func:`tiles_html`);
    for A/R the aging by payer at the period's end."""
    if metric == "ar":
        return charts.aging_by_payer(aging, colors, month=period.end)
    if metric == "charges_payments":
        fig = charts.charges_payments_trend(trend)
    elif metric == "initial_denial_rate":
        fig = charts.kpi_trend_chart(trend, [kpis["initial_denial_rate"], kpis["initial_denial_rate_dollars"]],
                                     title="Initial denial rate by month of first adjudication",
                                     status=benchmark_status(kpis, targets))
    else:
        fig = charts.kpi_trend_chart(trend, [kpis["clean_claim_rate"]],
                                     title="Clean-claim rate by month of first adjudication",
                                     status=benchmark_status(kpis, targets))
    _legend_in_title_row(fig.axes[0])
    shade = _shade(trend, period)
    if shade is not None:
        fig.axes[0].axvspan(*shade, color="#fff3cd", zorder=0, lw=0)
    return fig


def _shade(trend: pd.DataFrame, period: Period) -> tuple[float, float] | None:
    """The period's months on the chart's x axis (a shaded span), or None when the chart is all period or none."""
    months = list(trend["month"])
    inside = [i for i, m in enumerate(months) if m in set(period.month_list)]
    return (inside[0] - 0.5, inside[-1] + 0.5) if inside and len(inside) < len(months) else None


def _legend_in_title_row(ax) -> None:
    if ax.get_legend() is not None:  # in the title's row: the target's label sits at the lower left
        ax.legend(frameon=False, fontsize=9, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, borderaxespad=0.2)


class ChartSlots:
    """The explorer's chart as PNG bytes, drawn on one kept figure per metric (issue #15): the trend charts are
    :class:`rcmkit.present.charts.LiveChart` s updated with each selection's months (a new figure and its
    constrained layout cost more than the drawing); the A/R aging, whose payers and legend change with the
    selection, is a new figure each time (:func:`chart_figure`) laid out at fixed margins and its legend's width
    (:func:`aging_fixed_layout`) instead of by the constrained layout. Each picture is a function of the selection
    only: a kept figure draws what a new one would. One per widget (the figures are changed in place)."""

    #: margins (left, right, bottom, top) in inches: room for the widest tick labels ("100.0%", "$1,250k"), the
    #: values at the lines' ends and, under the denial rates' chart, their legend
    MARGINS = {"initial_denial_rate": (0.8, 0.06, 0.74, 0.25), "clean_claim_rate": (0.8, 0.06, 0.45, 0.25),
               "charges_payments": (0.8, 0.06, 0.45, 0.28)}

    def __init__(self, colors: Mapping[str, str], targets: pd.DataFrame | None = None, dpi: int = 90):
        self.colors, self.targets, self.dpi = colors, targets, dpi
        self._live: dict[str, Any] = {}

    def png(self, metric: str, trend: pd.DataFrame, kpis: Mapping[str, KPI], period: Period,
            aging: pd.DataFrame | None) -> bytes:
        if metric == "ar":
            return figure_png(aging_fixed_layout(chart_figure(metric, trend, kpis, period, aging, self.colors,
                                                              self.targets), self.dpi), self.dpi)
        if metric not in self.MARGINS:
            return figure_png(chart_figure(metric, trend, kpis, period, aging, self.colors, self.targets), self.dpi)
        shade = _shade(trend, period)
        live = self._live.get(metric)
        if live is None or not live.update(trend, shade):
            live = self._new(metric, trend, kpis)
            if not live.update(trend, shade):  # nothing to scale on: the report's chart, laid out as it does
                self._live.pop(metric, None)
                return figure_png(chart_figure(metric, trend, kpis, period, aging, self.colors, self.targets),
                                  self.dpi)
            self._live[metric] = live
        return live.png(self.dpi)

    def _new(self, metric: str, trend: pd.DataFrame, kpis: Mapping[str, KPI]):
        margins = self.MARGINS[metric]
        if metric == "charges_payments":
            live = charts.LiveChargesPayments(trend, margins=margins)
            _legend_in_title_row(live.ax)
            return live
        status = benchmark_status(kpis, self.targets)
        if metric == "initial_denial_rate":
            return charts.LiveKpiTrend(trend, [kpis["initial_denial_rate"], kpis["initial_denial_rate_dollars"]],
                                       title="Initial denial rate by month of first adjudication", status=status,
                                       margins=margins)
        return charts.LiveKpiTrend(trend, [kpis["clean_claim_rate"]],
                                   title="Clean-claim rate by month of first adjudication", status=status,
                                   margins=margins)


#: The A/R aging chart's fixed margins (left, bottom, top) in inches: room for the widest tick labels ("$1,250k"),
#: the buckets' labels with the axis label under them, the title above; the right margin is the legend's width.
AGING_MARGINS = (0.8, 0.55, 0.3)


def aging_fixed_layout(fig: Figure, dpi: float = 90) -> Figure:
    """``fig`` (:func:`rcmkit.present.charts.aging_by_payer`, changed in place and returned) laid out without its
    constrained layout: the axes at fixed margins (:data:`AGING_MARGINS`) and, on the right, the legend's own width
    measured at ``dpi`` (its payers change with the selection): the same picture, the layout engine's several
    measuring passes over every artist saved (issue #15). A chart without a legend (no open A/R) is left as it is."""
    ax = fig.axes[0] if fig.axes else None
    legend = ax.get_legend() if ax is not None else None
    if legend is None:
        return fig
    right = charts.window_width(legend, dpi) + 0.12
    fig.set_layout_engine("none")
    width, height = fig.get_size_inches()
    left, bottom, top = AGING_MARGINS
    ax.set_position([left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height])
    return fig


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """The chart as PNG bytes at the figure's full size, drawn once (:func:`rcmkit.present.charts.figure_png`:
    ``savefig`` draws a figure with a layout engine twice)."""
    return charts.figure_png(fig, dpi, crop=False)


def png_img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'


def crumb_html(parts: Sequence[str]) -> str:
    """A drill-down path: ``Initial denial rate › Authorization / referral › CO-197``."""
    return f'{EXPLORER_STYLE}<div class="rcmx-crumb">{" &rsaquo; ".join(parts)}</div>'


# --------------------------------------------------------------------------------------------- cash forecast
def _range(low: Any, high: Any) -> str:
    return f"{fmt.usd_whole(low)} to {fmt.usd_whole(high)}"


def cash_table_html(view, colors: Mapping[str, str]) -> str:
    """The Cash forecast tab's tables (``view``: :class:`rcmkit.explorer.cash.CashView`): expected cash in the next
    30, 60 and 90 days with the likely range by payer, then last month's forecast against what came in."""
    from rcmkit.forecast.model import HORIZONS

    level = f"{round(view.level * 10)} in 10"
    cols = [("payer", "Owed by", None, False)]
    for h in HORIZONS:
        cols += [(f"expected_{h}d_cents", f"Next {h} days", fmt.usd_whole, True),
                 (f"range_{h}", f"Likely range ({h} days)", None, True)]
    rows = view.table.to_dict("records")
    for r in rows:
        pid = str(r["payer_id"])
        r["payer"] = r["payer_name"]
        if pid:
            r["__html_payer"] = _swatch_cell(pid, str(r["payer_name"]), colors)
        else:
            r["__html_payer"] = "<b>Total</b>"
        for h in HORIZONS:
            r[f"range_{h}"] = _range(r[f"low_{h}d_cents"], r[f"high_{h}d_cents"])
    as_of = fmt.day_label(view.as_of)
    opened = "" if fmt.is_missing(view.open_cents) else f" ({fmt.usd_whole(view.open_cents * 1)} open)"
    caption = f"Cash expected from the balances open on {as_of}{opened}, by who owes them"
    table = html_table(rows, cols, caption=caption, empty="No open balances for this selection.")
    notes = [f"Likely range: the forecast's error at earlier month ends puts the actual inside it about {level} "
             "times."] + list(view.notes)
    out = [f'{EXPLORER_STYLE}<div class="rcmx-table">{table}</div>']
    out += [f'<p class="rcm rcm-note">{_e(n)}</p>' for n in notes]
    out.append(cash_check_html(view))
    return "".join(out)


def cash_check_html(view) -> str:
    """Last month's forecast for this month against the cash that came in."""
    month = pd.Period(view.month, freq="M").strftime("%b %Y")
    c = view.check
    if c is None or not len(c):
        return (f'<p class="rcm rcm-note">No forecast was made at the end of the month before {_e(month)} (the '
                "data starts then): nothing to check yet.</p>")
    names = {"open A/R": "From the balances open then", "all cash": "All payments, new charges included"}
    rows = [{"what": names.get(r["source"], r["source"]), "forecast_cents": r["forecast_cents"],
             "range": _range(r["low_cents"], r["high_cents"]), "actual_cents": r["actual_cents"],
             "inside": "Yes" if bool(r["inside"]) else "No"} for _, r in c.iterrows()]
    cols = [("what", "Cash", None, False), ("forecast_cents", "Forecast", fmt.usd_whole, True),
            ("range", "Likely range", None, True), ("actual_cents", "Came in", fmt.usd_whole, True),
            ("inside", "Inside the range", None, False)]
    made = fmt.day_label(c["made_on"].iloc[0])
    table = html_table(rows, cols, caption=f"The forecast made on {made} for {month}, against what came in")
    return f'<div class="rcmx-table">{table}</div>'


# --------------------------------------------------------------------------------------------- claim checks
_SEVERITY_WORDS = {"error": "Error", "warning": "Warning", "info": "Note"}
_SEVERITY_COLORS = {"error": "#fde0dc", "warning": "#fff3cd", "info": "#eef2f5"}


def checks_summary_html(view, period: Period) -> str:
    """The batch in one sentence: its claims and dollars, the day it is checked, what was found."""
    if not view.claims:
        return (f'{EXPLORER_STYLE}<div class="rcmx-crumb">No claim was first sent {_e(period.label)} in this '
                "selection: nothing to check.</div>")
    f = view.findings
    errors = int((f["severity"] == "error").sum())
    warnings = int((f["severity"] == "warning").sum())
    flagged = f["claim_id"].nunique()
    what = (f"<b>{errors:,}</b> error{'s' if errors != 1 else ''} and <b>{warnings:,}</b> warning"
            f"{'s' if warnings != 1 else ''} on {flagged:,} claim{'s' if flagged != 1 else ''}" if len(f)
            else "<b>no finding</b>")
    claims = f"{view.claims:,} claim{'s' if view.claims != 1 else ''}"
    return (f'{EXPLORER_STYLE}<div class="rcmx-crumb"><b>{claims}</b> first sent {_e(period.label)} '
            f"({_e(fmt.usd_whole(view.charge_cents))} billed), checked as on {_e(fmt.day_label(view.as_of))} with "
            f"what was known before {_e(fmt.day_label(view.start))}: {what}. Diagnoses checked against "
            f"{_e(view.icd_label)}.</div>")


def findings_html(frame: pd.DataFrame, payer_names: Mapping[str, str], colors: Mapping[str, str], *, caption: str,
                  limit: int = MAX_ROWS) -> str:
    """The findings, worst first: severity, check, claim, line, payer, code, evidence, fix, dollars at stake."""
    cols = [("severity", "Severity", None, False), ("check", "Check", None, False), ("claim_id", "Claim", None, False),
            ("line_number", "Line", None, True), ("payer", "Payer", None, False),
            ("procedure_code", "Code", None, False), ("evidence", "Evidence", None, False),
            ("fix", "Fix", None, False), ("at_stake_cents", "At stake", fmt.usd_cents, True)]
    rows = frame.head(limit).to_dict("records")
    for r in rows:
        sev = r["severity"]
        r["__html_severity"] = (f'<span style="background:{_SEVERITY_COLORS.get(sev, "#fff")};padding:1px 6px;'
                                f'border-radius:3px">{_e(_SEVERITY_WORDS.get(sev, sev))}</span>')
        r["line_number"] = "" if fmt.is_missing(r["line_number"]) else int(r["line_number"])
        r["__html_payer"] = _swatch_cell(str(r["payer_id"]), payer_names.get(str(r["payer_id"]), str(r["payer_id"])),
                                         colors)
    note = ""
    if len(frame) > limit:
        note = (f'<p class="rcm rcm-note">Showing the first {limit:,} of {len(frame):,} findings; the export has '
                "them all.</p>")
    table = html_table(rows, cols, caption=caption, empty="No check found anything in this batch.")
    return f'{EXPLORER_STYLE}<div class="rcmx-table rcmx-wrap rcmx-findings">{table}</div>{note}'


def risk_html(view, payer_names: Mapping[str, str], colors: Mapping[str, str], limit: int = 20) -> str:
    """Each claim's denial risk with its top reasons, riskiest first; or why there is no score."""
    if view.risk is None:
        note = f'{EXPLORER_STYLE}<p class="rcm rcm-note rcmx-risk-note">{_e(view.risk_note)}</p>'
        return note if view.claims else ""
    cols = [("claim_id", "Claim", None, False), ("payer", "Payer", None, False),
            ("charge_cents", "Billed", fmt.usd_cents, True), ("risk", "Denial risk", fmt.pct, True),
            ("baseline", "Payer x code rate", fmt.pct, True), ("reasons", "Why", None, False),
            ("errors", "Errors", fmt.count, True), ("warnings", "Warnings", fmt.count, True)]
    rows = view.risk.head(limit).to_dict("records")
    for r in rows:
        r["__html_payer"] = _swatch_cell(str(r["payer_id"]), payer_names.get(str(r["payer_id"]), str(r["payer_id"])),
                                         colors)
        r["reasons"] = r["reasons"] or "nothing above usual"
    more = (f" The {limit} riskiest of {len(view.risk):,} claims." if len(view.risk) > limit else "")
    table = html_table(rows, cols, caption="Chance each claim is denied, from the practice's own 835s")
    return (f'{EXPLORER_STYLE}<div class="rcmx-table rcmx-wrap">{table}</div><p class="rcm rcm-note">'
            f"{_e(view.risk_note)}{_e(more)} The payer x code rate is the share of the claim's codes this payer "
            "denied before: the score adds the checks' findings and the claim's shape.</p>")


def history_html(payer_name: str, code: str, before: pd.Timestamp, summary: pd.DataFrame,
                 by_month: pd.DataFrame) -> str:
    """A payer x code's denial history before the batch: in all (and by modifiers), then month by month."""
    day = fmt.day_label(before)
    cols = [("modifiers", "Modifiers", None, False), ("lines", "Lines answered", fmt.count, True),
            ("denied", "Denied", fmt.count, True), ("denial_rate", "Denial rate", fmt.pct, True),
            ("top_carcs", "Most common denial codes", None, False)]
    rows = summary.to_dict("records")
    for r in rows:
        r["modifiers"] = {"any": "All", "": "None"}.get(r["modifiers"], r["modifiers"])
    head = html_table(rows, cols, caption=f"{payer_name}, {code}: first answers from the payer before {day}",
                      empty="The payer never answered a claim with this code before the batch.")
    mcols = [("month", "Month", None, False), ("lines", "Lines answered", fmt.count, True),
             ("denied", "Denied", fmt.count, True), ("denial_rate", "Denial rate", fmt.pct, True)]
    answered = by_month.index[by_month["lines"] > 0]
    by_month = by_month.loc[answered[0]:] if len(answered) else by_month.iloc[0:0]  # from the first answer on
    mrows = by_month.to_dict("records")
    for r in mrows:
        r["month"] = pd.Period(r["month"], freq="M").strftime("%b %Y")
    months = html_table(mrows[::-1], mcols, caption="By month of the answer, newest first") if mrows else ""
    return (f'{EXPLORER_STYLE}<div style="display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start">'
            f'<div class="rcmx-table">{head}</div><div class="rcmx-table">{months}</div></div>')
