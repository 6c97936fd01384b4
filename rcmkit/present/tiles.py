"""HTML building blocks for the report: title block, KPI tiles with sparklines, and styled tables.

Each function returns an HTML string (wrap it in ``IPython.display.HTML`` in a notebook). Inputs are never
modified. The HTML is self-contained: inline CSS and inline SVG, no scripts, no external files.
Nothing here shows patient-level data: the tables take the aggregated frames of :mod:`rcmkit.metrics`.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from rcmkit.metrics import MetricOptions
from rcmkit.metrics.contracts import underpayment_tolerance, underpayment_totals
from rcmkit.metrics.providers import label_providers
from rcmkit.metrics.registry import KPIS
from rcmkit.core.refdata import npi_valid
from rcmkit.present import format as fmt
from rcmkit.present.charts import BUCKETS, is_patient, payer_color, payer_order

__all__ = [
    "STYLE",
    "STATUS_COLORS",
    "title_block",
    "kpi_tiles",
    "target_text",
    "scorecard_table",
    "open_denials_table",
    "scorecard_definitions_table",
    "sparkline_svg",
    "html_table",
    "aging_table",
    "denial_table",
    "carc_text",
    "reimbursement_table",
    "options_note",
    "collections_table",
    "lags_table",
    "denial_outcomes_table",
    "denied_codes_table",
    "underpayment_table",
    "worklist_summary_table",
    "worklist_table",
    "comparison_table",
    "provider_table",
]

#: Which direction is better for each KPI (+1 higher is better, -1 lower is better, 0 neither): the registry's
#: (rcmkit.metrics.registry), with the aged-over KPI under both of its keys.
BETTER = {k: s.better for s in KPIS for k in ((s.key_for(MetricOptions(aged_over_days=n)) for n in (90, 120))
                                               if "{" in s.key else (s.key,))}

STYLE = """<style>
.rcm { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; }
.rcm-title { padding: 0 5px; }
.rcm-title h1 { font-size: 1.9em; margin: 0 0 .15em 0; }
.rcm-title .rcm-sub { color: #555; font-size: 1.05em; }
.rcm-title .rcm-meta { color: #777; font-size: .85em; margin-top: .3em; }
.rcm-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(205px, 1fr)); gap: 10px; margin: 6px 0; }
.rcm-tile { border: 1px solid #dcdcdc; border-radius: 6px; padding: 9px 11px 6px 11px; background: #fcfcfc; }
.rcm-tile .rcm-label { font-size: .82em; color: #555; text-transform: uppercase; letter-spacing: .03em; min-height: 2.3em; }
.rcm-tile .rcm-value { font-size: 1.55em; font-weight: 600; margin: 2px 0; font-variant-numeric: tabular-nums; }
.rcm-tile .rcm-prior { font-size: .82em; color: #555; }
.rcm-good { color: #1a7f37; } .rcm-bad { color: #c0392b; } .rcm-flat { color: #666; }
.rcm-spark { display: block; margin-top: 4px; }
table.rcm.rcm-table { border-collapse: collapse; font-size: .86em; margin: 6px 0 10px 0; font-variant-numeric: tabular-nums; }
table.rcm.rcm-table caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; color: #333; font-size: 1.1em; }
table.rcm.rcm-table th { background: #f0f2f4; border-bottom: 2px solid #c8cdd2; padding: 5px 9px; text-align: left; }
table.rcm.rcm-table td { border-bottom: 1px solid #e6e6e6; padding: 4px 9px; vertical-align: top; text-align: left; }
table.rcm.rcm-table td.num, table.rcm.rcm-table th.num { text-align: right; white-space: nowrap; }
table.rcm.rcm-table tr.rcm-total td { font-weight: 600; border-top: 2px solid #c8cdd2; }
table.rcm.rcm-table tr.rcm-first td { border-top: 1px solid #b9bec4; }
.rcm-swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .4em; vertical-align: -0.05em; }
.rcm-note { color: #666; font-size: .85em; }
.rcm-tile.rcm-st-meeting { border-left: 6px solid #1a7f37; background: #f0f8f2; }
.rcm-tile.rcm-st-near { border-left: 6px solid #b7791f; background: #fff8e6; }
.rcm-tile.rcm-st-missing { border-left: 6px solid #c0392b; background: #fdf0ee; }
.rcm-badge { display: inline-block; font-size: .72em; font-weight: 600; padding: 1px 6px; border-radius: 9px; margin-left: 4px; vertical-align: .15em; color: #fff; letter-spacing: .02em; text-transform: none; }
.rcm-badge.rcm-st-meeting { background: #1a7f37; } .rcm-badge.rcm-st-near { background: #b7791f; } .rcm-badge.rcm-st-missing { background: #c0392b; }
.rcm-target { font-size: .72em; color: #666; margin-top: 3px; line-height: 1.25; }
.rcm-title .rcm-asof { font-size: .95em; color: #333; margin-top: .25em; }
.rcm-summary { font-size: 1em; line-height: 1.45; max-width: 70em; padding: 0 5px; }
.rcm-summary .rcm-lead { font-size: 1.08em; margin: 0 0 .5em 0; }
.rcm-summary h4 { margin: .6em 0 .2em 0; font-size: 1em; }
.rcm-summary .rcm-cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.rcm-summary ul, .rcm-summary ol { margin: .2em 0; padding-left: 1.4em; }
.rcm-summary li { margin: .15em 0; }
.rcm-legend { font-size: .8em; color: #555; margin: 4px 0; }
.rcm-legend span { margin-right: 14px; }
</style>"""

#: Benchmark status -> (colour, words shown on the tile).
STATUS_COLORS = {"meeting": ("#1a7f37", "Meets target"), "near": ("#b7791f", "Near target"),
                 "missing": ("#c0392b", "Misses target")}


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


# --------------------------------------------------------------------------------------------- title
def title_block(practice: str, month: str, *, title: str | None = None, options: Any = None,
                practice_name: str | None = None, data_through: str | None = None) -> str:
    """The report's heading: title, practice and month, the date the report is as of and the balance date.

    ``data_through`` (:func:`rcmkit.present.narrative.data_through`) is the report's date: the data's latest
    event, never the wall clock, so a rerun on the same data gives the same report. ``options`` is accepted for
    callers that pass it; the client heading names no option (the appendix says the variants used in words:
    :mod:`rcmkit.present.appendix`)."""
    from rcmkit.present.format import month_end

    heading = title or "Monthly revenue-cycle report"
    who = practice_name or practice
    asof = (f'<div class="rcm-asof">Report date {_e(fmt.day_label(data_through))} (the data runs through this day)'
            "</div>" if data_through else "")
    return (
        f'{STYLE}<div class="rcm rcm-title"><h1>{_e(heading)}</h1>'
        f'<div class="rcm-sub">{_e(who)} &middot; {_e(fmt.month_label(month))}</div>{asof}'
        f'<div class="rcm-meta">Balances as of {_e(fmt.day_label(month_end(month)))} (end of day).</div></div>'
    )


def _options_text(options: Any) -> str:
    """``"the defaults"`` or the options that differ from them (``days_in_ar = 'gross_12m'; ...``)."""
    try:
        fields = dataclasses.fields(options)
    except TypeError:
        return str(options)
    changed = []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        value = getattr(options, f.name)
        if default is dataclasses.MISSING or value != default:
            changed.append(f"{f.name} = {value!r}")
    return "the defaults" if not changed else "; ".join(changed)


def options_note(options: Any) -> str:
    """One line naming the metric options in force (the non-default ones), for the analyst; not client text."""
    if options is None:
        return ""
    return f'<p class="rcm rcm-note">Metric options: {_e(_options_text(options))}.</p>'


# --------------------------------------------------------------------------------------------- tiles
def sparkline_svg(values: Sequence[Any], *, width: int = 150, height: int = 30, color: str = "#0072B2",
                  title: str | None = None) -> str:
    """A tiny inline SVG line of ``values`` (gaps where a value is missing); the last point is marked."""
    v = np.array([np.nan if fmt.is_missing(x) else float(x) for x in values], dtype=float)
    if not np.isfinite(v).any():
        return ""
    lo, hi = np.nanmin(v), np.nanmax(v)
    span = hi - lo if hi > lo else 1.0
    pad = 3
    n = len(v)
    xs = [pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    ys = [pad + (height - 2 * pad) * (1 - (val - lo) / span) if np.isfinite(val) else None for val in v]
    segments, cur = [], []
    for x, y in zip(xs, ys):
        if y is None:
            if cur:
                segments.append(cur)
            cur = []
        else:
            cur.append(f"{x:.1f},{y:.1f}")
    if cur:
        segments.append(cur)
    lines = "".join(
        f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{" ".join(s)}"/>' for s in segments
    )
    last = next(((x, y) for x, y in zip(reversed(xs), reversed(ys)) if y is not None), None)
    dot = f'<circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2.4" fill="{color}"/>' if last else ""
    tip = f"<title>{_e(title)}</title>" if title else ""
    return (f'<svg class="rcm-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img">{tip}{lines}{dot}</svg>')


def target_text(key: str, unit: str, good: Any, acceptable: Any) -> str:
    """``"Target ≤ 40 days; near ≤ 50 days"`` from a benchmark row (direction from :data:`BETTER`, else from the
    order of the two thresholds)."""
    if fmt.is_missing(good):
        return ""
    good, acceptable = float(good), float(acceptable) if not fmt.is_missing(acceptable) else None
    lower = BETTER.get(key, 0) == -1 or (BETTER.get(key, 0) == 0 and acceptable is not None and good < acceptable)
    op = "≤" if lower else "≥"
    text = f"Target {op} {fmt.threshold(good, unit)}"
    if acceptable is not None and acceptable != good:
        text += f"; near {op} {fmt.threshold(acceptable, unit)}"
    return text


def _status_rows(status: pd.DataFrame | None) -> dict[str, dict]:
    if status is None or not len(status):
        return {}
    return {str(r["key"]): r for r in status.to_dict("records")}


def kpi_tiles(kpis: Mapping[str, Any], trend: pd.DataFrame | None = None, *, month: str | None = None,
              status: pd.DataFrame | None = None, options: Any = None) -> str:
    """One tile per KPI: the month's value (:func:`rcmkit.present.format.kpi_value`), the prior month's value and
    the change (green when better, red when worse), and a sparkline of the trend's months.

    With ``status`` (:func:`rcmkit.metrics.benchmark_status`) each tile with a target is coloured by its status
    (meeting green, near amber, missing red, also said in words) and shows the target and its source in small
    print. With ``options`` (the report's :class:`~rcmkit.metrics.MetricOptions`) a tile's tooltip is its
    definition in words (:func:`rcmkit.present.appendix.kpi_words`), else the KPI's own definition."""
    from rcmkit.present.appendix import kpi_words  # the appendix renders with this module's tables

    targets = _status_rows(status)
    rows: dict[str, dict] = {}
    months: list[str] = []
    if trend is not None and len(trend):
        t = trend.sort_values("month")
        months = list(t["month"])
        rows = {m: r for m, r in zip(months, t.to_dict("records"))}
    current = month or (months[-1] if months else None)
    prior_month = fmt.previous_month(current) if current else None
    parts = [STYLE, '<div class="rcm rcm-tiles">']
    for key, kpi in kpis.items():
        unit = getattr(kpi, "unit", "")
        value = getattr(kpi, "value", None)
        prior = rows.get(prior_month, {}).get(key) if prior_month else None
        prior_html = ""
        if prior_month:
            prior_html = f"{_e(fmt.short_month(prior_month))}: {_e(fmt.by_unit(prior, unit))}"
            if not fmt.is_missing(prior) and not fmt.is_missing(value):
                change = float(value) - float(prior)
                better = BETTER.get(key, 0) * change
                cls = "rcm-good" if better > 0 else ("rcm-bad" if better < 0 else "rcm-flat")
                arrow = "▲" if change > 0 else ("▼" if change < 0 else "■")
                prior_html += f' <span class="{cls}">{arrow} {_e(fmt.delta(change, unit))}</span>'
        spark = ""
        if months and key in (trend.columns if trend is not None else ()):
            series = [rows[m].get(key) for m in months]
            spark = sparkline_svg(series, title=f"{getattr(kpi, 'label', key)}, {fmt.short_month(months[0])} to "
                                                f"{fmt.short_month(months[-1])}")
        definition = (kpi_words(key, options) if options is not None else None) or getattr(kpi, "definition", "")
        row = targets.get(key, {})
        st = row.get("status")
        st_cls, badge, target = "", "", ""
        if st in STATUS_COLORS:
            st_cls = f" rcm-st-{st}"
            badge = f'<span class="rcm-badge rcm-st-{st}">{_e(STATUS_COLORS[st][1])}</span>'
            grade = f", evidence grade {row.get('grade')}" if row.get("grade") else ""
            target = (f'<div class="rcm-target">{_e(target_text(key, unit, row.get("good"), row.get("acceptable")))}'
                      f'<br>Source: {_e(row.get("source") or "")}{_e(grade)}</div>')
        parts.append(
            f'<div class="rcm-tile{st_cls}" title="{_e(definition)}">'
            f'<div class="rcm-label">{_e(getattr(kpi, "label", key))}</div>'
            f'<div class="rcm-value">{_e(fmt.by_unit(value, unit))}'
            f'{badge}</div>'
            f'<div class="rcm-prior">{prior_html}</div>{spark}{target}</div>'
        )
    parts.append("</div>")
    notes = []
    if targets:
        notes.append("Tile colour: meets its benchmark target (green), near it (amber) or misses it (red); "
                     "indicators without a target are left white.")
    if months:
        notes.append(f"Lines show {len(months)} months, {_e(fmt.short_month(months[0]))} to "
                     f"{_e(fmt.short_month(months[-1]))}. Green and red arrows mark a change for the better or the "
                     "worse since the prior month; balances and volumes are left uncoloured.")
    if notes:
        parts.append(f'<p class="rcm rcm-note">{" ".join(notes)}</p>')
    return "".join(parts)


# --------------------------------------------------------------------------------------------- tables
Column = tuple  # (key, header, formatter or None, numeric: bool)


def html_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    caption: str | None = None,
    row_class: Callable[[int, Mapping[str, Any]], str] | None = None,
    cell_style: Callable[[str, Mapping[str, Any]], str] | None = None,
    empty: str = "No rows.",
) -> str:
    """A small, dependency-free HTML table. ``columns`` are ``(key, header, formatter, numeric)`` tuples;
    formatters return text (escaped here) and numeric columns are right-aligned."""
    head = "".join(f'<th class="{"num" if c[3] else ""}">{_e(c[1])}</th>' for c in columns)
    body = []
    for i, row in enumerate(rows):
        cls = row_class(i, row) if row_class else ""
        cells = []
        for key, _header, formatter, numeric in columns:
            val = row.get(key)
            text = row.get(f"__html_{key}") or _e(formatter(val) if formatter else ("" if fmt.is_missing(val) else val))
            style = cell_style(key, row) if cell_style else ""
            style_attr = f' style="{style}"' if style else ""
            cells.append(f'<td class="{"num" if numeric else ""}"{style_attr}>{text}</td>')
        body.append(f'<tr class="{cls}">{"".join(cells)}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(columns)}" class="rcm-note">{_e(empty)}</td></tr>')
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (f'{STYLE}<table class="rcm rcm-table">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _swatch(color: str) -> str:
    return f'<span class="rcm-swatch" style="background:{_e(color)}"></span>'


def _payer_cell(pid: str, name: Any, colors: Mapping[str, str]) -> str:
    label = name if isinstance(name, str) and name else ("Patient" if is_patient(pid) else pid)
    return _swatch(payer_color(colors, pid)) + _e(label)


def aging_table(aging: pd.DataFrame, colors: Mapping[str, str]) -> str:
    """Open A/R by payer (rows) and aging bucket (columns), with totals and each payer's share over 120 days."""
    if aging is None or len(aging) == 0:
        return html_table([], [("payer", "Responsible", None, False)], caption="Open A/R by aging bucket",
                          empty="No open A/R.")
    df = aging.assign(payer_id=aging["payer_id"].astype(str), bucket=aging["bucket"].astype(str))
    names = df.drop_duplicates("payer_id").set_index("payer_id")["payer_name"].to_dict() if "payer_name" in df else {}
    piv = (df.groupby(["payer_id", "bucket"], observed=True)["balance_cents"].sum().unstack("bucket", fill_value=0)
           .reindex(columns=BUCKETS, fill_value=0))
    rows = []
    for pid in payer_order(piv.index, colors):
        r = {b: int(piv.loc[pid, b]) for b in BUCKETS}
        total = sum(r.values())
        r.update(total=total, over=(r["120+"] / total) if total else None,
                 __html_payer=_payer_cell(pid, names.get(pid), colors))
        rows.append(r)
    tot = {b: int(piv[b].sum()) for b in BUCKETS}
    grand = sum(tot.values())
    tot.update(total=grand, over=(tot["120+"] / grand) if grand else None, payer="All payers and patients",
               __total=True)
    rows.append(tot)
    cols = [("payer", "Responsible", None, False)] + [(b, f"{b} days", fmt.usd_cents, True) for b in BUCKETS] + [
        ("total", "Total", fmt.usd_cents, True), ("over", "Over 120 days", fmt.pct, True)]
    return html_table(rows, cols, caption="Open A/R by aging bucket (days since date of service)",
                      row_class=lambda i, r: "rcm-total" if r.get("__total") else "")


def carc_text(group: Any, reason: Any) -> str:
    """The CARC's short description from the crosswalk (exact group and code, else any group; '' if unknown)."""
    from rcmkit.core.refdata import carc_crosswalk

    xw = carc_crosswalk()
    notes = {(g, r): n for g, r, n in zip(xw["group_code"], xw["reason_code"], xw["note"])}
    g, r = str(group or ""), str(reason or "")
    return notes.get((g, r)) or notes.get(("*", r)) or ""


def denial_table(reasons: pd.DataFrame) -> str:
    """Top denial reasons: category, group and reason code with the CARC's text, claims, denied charge dollars
    and the recommended action for the category (``rcmkit/data/denial_actions.csv``)."""
    from rcmkit.present.narrative import denial_action, denial_actions  # narrative imports this module

    rows = [] if reasons is None else reasons.to_dict("records")
    for r in rows:
        r["code"] = f"{r.get('group_code') or ''}-{r.get('reason_code') or ''}".strip("-")
        r["text"] = carc_text(r.get("group_code"), r.get("reason_code"))
        r["category"] = str(r.get("category") or "").replace("_", " ")
        r["action"] = denial_action(r["category"])
    cols = [("category", "Category", None, False), ("code", "Code", None, False), ("text", "Reason", None, False),
            ("claims", "Claims", fmt.count, True), ("denied_cents", "Denied charges", fmt.usd_whole, True),
            ("action", "Recommended action", None, False)]
    out = html_table(rows, cols, caption="Top denial reasons this month", empty="No denials this month.",
                     cell_style=lambda key, r: "white-space: nowrap" if key == "code" else "")
    if rows:
        cited = [denial_actions().get(r["category"], denial_actions()["Other"])[1] for r in rows]
        sources = list(dict.fromkeys(part.strip() for c in cited for part in c.split(";") if part.strip()))
        out += (f'<p class="rcm rcm-note">Codes are claim adjustment reason codes (CARC, maintained by X12) with '
                f"the group that says who owes the amount (CO: the practice, PR: the patient, OA/PI: other). "
                f"Actions follow: {_e('; '.join(sources))}.</p>")
    return out


def _window_caption(month: str | None, options: Any) -> str:
    n = getattr(options, "reimbursement_months", None)
    if not month or not n:
        return ""
    return f", lines paid {fmt.span_label(month, int(n))}"


def reimbursement_table(
    reimb: pd.DataFrame, colors: Mapping[str, str], *, month: str | None = None, options: Any = None,
    max_codes_per_payer: int | None = 10,
) -> str:
    """Reimbursement by payer and procedure code: payers in their chart order, each with its
    ``max_codes_per_payer`` largest codes by billed dollars (None: all). Cells suppressed for having fewer claims
    than the ``min_cell_count`` option are left out and counted in a note. Paid/allowed carries an in-cell bar."""
    caption = "Reimbursement by payer and procedure code" + _window_caption(month, options)
    if reimb is None or len(reimb) == 0:
        return html_table([], [("payer", "Payer", None, False)], caption=caption,
                          empty="No remittances in this period.")
    df = reimb.assign(payer_id=reimb["payer_id"].astype(str))
    suppressed = df["suppressed"].astype(bool) if "suppressed" in df.columns else pd.Series(False, index=df.index)
    n_suppressed = int(suppressed.sum())
    shown = df[~suppressed]
    rows: list[dict] = []
    n_beyond = 0
    for pid in payer_order(shown["payer_id"].unique(), colors):
        sub = shown[shown["payer_id"] == pid].sort_values(["billed_cents", "procedure_code"], ascending=[False, True],
                                                         kind="stable")
        if max_codes_per_payer and len(sub) > max_codes_per_payer:
            n_beyond += len(sub) - max_codes_per_payer
            sub = sub.head(max_codes_per_payer)
        for j, r in enumerate(sub.to_dict("records")):
            r["__first"] = j == 0
            r["__html_payer"] = _payer_cell(pid, r.get("payer_name"), colors) if j == 0 else ""
            rows.append(r)

    def ratio_style(key: str, r: Mapping) -> str:
        if key != "paid_to_allowed" or fmt.is_missing(r.get(key)):
            return ""
        w = max(0.0, min(1.0, float(r[key]))) * 100
        # a solid bar sized to the ratio, not a gradient with a hard stop (which printed a dark hairline there)
        return f"background: linear-gradient(#e3eef8, #e3eef8) left / {w:.0f}% 100% no-repeat"

    cols = [
        ("payer", "Payer", None, False),
        ("procedure_code", "Code", None, False),
        ("claims", "Claims", fmt.count, True),
        ("units", "Units", fmt.count, True),
        ("billed_cents", "Billed", fmt.usd_cents, True),
        ("allowed_cents", "Allowed", fmt.usd_cents, True),
        ("paid_cents", "Paid", fmt.usd_cents, True),
        ("paid_to_allowed", "Paid / allowed", fmt.pct, True),
        ("paid_per_unit_cents", "Paid per unit", fmt.usd_cents, True),
    ]
    table = html_table(rows, cols, caption=caption, empty="Every payer-code cell is too small to show.",
                       row_class=lambda i, r: "rcm-first" if r.get("__first") and i else "", cell_style=ratio_style)
    notes = []
    if n_beyond:
        notes.append(f"{n_beyond} smaller payer-code cell(s) beyond each payer's top {max_codes_per_payer} codes by "
                     "billed dollars")
    if n_suppressed:
        min_count = getattr(options, "min_cell_count", None)
        below = f"fewer than {min_count} claims" if min_count else "too few claims"
        notes.append(f"{n_suppressed} cell(s) with {below}, suppressed because small cells swing too much to read "
                     "and can point at individual patients")
    if notes:
        table += (f'<p class="rcm rcm-note">Not shown: {_e("; ".join(notes))}. Your analyst\'s data files hold '
                  "every cell.</p>")
    return table


def scorecard_table(scorecard: pd.DataFrame, colors: Mapping[str, str], *, aged_over_days: int = 120) -> str:
    """The payer scorecard (:func:`rcmkit.metrics.payers.payer_scorecard`): one row per payer, the patient last,
    with a totals row. Payer swatches use the report's payer colours."""
    caption = "Payer scorecard"
    cols = [
        ("payer", "Payer", None, False),
        ("charges_cents", "Charges", fmt.usd_whole, True),
        ("payments_cents", "Payments", fmt.usd_whole, True),
        ("claims_adjudicated", "Claims adjudicated", fmt.count, True),
        ("denial_rate", "Initial denial rate", fmt.pct, True),
        ("median_days_to_pay", "Median days to pay", fmt.plain, True),
        ("open_ar_cents", "Open A/R", fmt.usd_whole, True),
        ("ar_over_pct", f"A/R over {aged_over_days} days", fmt.pct, True),
    ]
    if scorecard is None or not len(scorecard):
        return html_table([], cols, caption=caption, empty="No payer activity this month.")
    rows = []
    for r in scorecard.to_dict("records"):
        r = dict(r)
        pid = str(r["payer_id"])
        if pid == "patient":
            r["denial_rate"] = r["median_days_to_pay"] = r["claims_adjudicated"] = None
        r["__html_payer"] = _payer_cell(pid, r.get("payer_name"), colors)
        rows.append(r)
    tot = {k: int(scorecard[k].sum()) for k in ("charges_cents", "payments_cents", "claims_adjudicated",
                                                 "claims_denied", "open_ar_cents", "ar_over_cents")}
    tot.update(payer="All payers and patients", __total=True,
               denial_rate=(tot["claims_denied"] / tot["claims_adjudicated"]) if tot["claims_adjudicated"] else None,
               median_days_to_pay=None,
               ar_over_pct=(tot["ar_over_cents"] / tot["open_ar_cents"]) if tot["open_ar_cents"] else None)
    rows.append(tot)
    return html_table(rows, cols, caption=caption, row_class=lambda i, r: "rcm-total" if r.get("__total") else "")


def open_denials_table(denials: pd.DataFrame) -> str:
    """Denied claims not yet resubmitted at month end, by category (:func:`rcmkit.metrics.payers.open_denials`)."""
    rows = [] if denials is None else denials.to_dict("records")
    cols = [("category", "Category", None, False), ("claims", "Claims", fmt.count, True),
            ("balance_cents", "Open balance", fmt.usd_cents, True)]
    if rows:
        rows.append({"category": "All categories", "claims": int(denials["claims"].sum()),
                     "balance_cents": int(denials["balance_cents"].sum()), "__total": True})
    return html_table(rows, cols, caption="Denied claims not yet resubmitted, open at month end",
                      empty="No open denials waiting for resubmission.",
                      row_class=lambda i, r: "rcm-total" if r.get("__total") else "")


def scorecard_definitions_table(definitions: Mapping[str, str], *, aged_over_days: int = 120) -> str:
    """What each payer-scorecard column means, in words (the columns of
    :data:`rcmkit.metrics.payers.SCORECARD_DEFINITIONS`; their technical definitions stay with the metric)."""
    words = {
        "charges_cents": ("Charges", "Gross charges of the payer's claims first sent in the month (self-pay claims "
                                     "are under the patient)."),
        "payments_cents": ("Payments", "What the payer paid in the month, less take-backs; for the patient, patient "
                                       "payments."),
        "denial_rate": ("Initial denial rate", "Of the payer's claims answered for the first time in the month, the "
                                               "share with a denial (the practice's initial denial rate, by payer)."),
        "median_days_to_pay": ("Median days to pay", "For those claims, the median number of days from the first "
                                                     "submission to the payer's first answer."),
        "open_ar_cents": ("Open A/R", "What the payer owes at month end (credit balances left out)."),
        "ar_over_pct": (f"A/R over {aged_over_days} days", f"The share of the payer's open balance whose date of "
                                                           f"service is more than {aged_over_days} days back."),
    }
    rows = [{"metric": words[k][0], "definition": words[k][1]} for k in definitions if k in words]
    cols = [("metric", "Scorecard column", None, False), ("definition", "Definition", None, False)]
    return html_table(rows, cols, caption="Payer scorecard columns")


# --------------------------------------------------------------------------------------------- the rest of the suite
def _status_cell(status: str | None) -> str:
    """A coloured badge for a benchmark status; '' for a KPI without a target."""
    if status not in STATUS_COLORS:
        return '<span class="rcm-note">No target</span>'
    return f'<span class="rcm-badge rcm-st-{_e(status)}">{_e(STATUS_COLORS[status][1])}</span>'


def _names(payers: pd.DataFrame | Mapping[str, str] | None) -> dict[str, str]:
    if payers is None:
        return {}
    if isinstance(payers, pd.DataFrame):
        return dict(zip(payers["payer_id"].astype(str), payers["payer_name"].astype(str)))
    return {str(k): str(v) for k, v in payers.items()}


_ADJUSTMENT_LABELS = {"contractual": "Contractual adjustments", "denial": "Denial write-offs",
                      "other_adjustment": "Other adjustments"}


def collections_table(collection_kpis: Mapping[str, Any], status: pd.DataFrame | None,
                      adjustments: pd.DataFrame | None, *, month: str, months: int) -> str:
    """Gross and net collection rate (with their benchmark status) and the adjustments of the same trailing
    window as a share of charges (:func:`rcmkit.metrics.adjustment_shares`)."""
    window = fmt.span_label(month, months)
    targets = _status_rows(status)
    rows: list[dict] = []
    for key, kpi in collection_kpis.items():
        row = targets.get(key, {})
        paid, base = getattr(kpi, "numerator", None), getattr(kpi, "denominator", None)
        basis = "charges" if key == "gross_collection_rate" else "charges less contractual adjustments"
        rows.append({"label": kpi.label, "value": fmt.kpi_value(kpi),
                     "dollars": f"{fmt.usd(paid)} paid / {fmt.usd(base)} {basis}",
                     "target": target_text(key, kpi.unit, row.get("good"), row.get("acceptable")) or fmt.MISSING,
                     "__html_status": _status_cell(row.get("status"))})
    for j, r in enumerate([] if adjustments is None else adjustments.to_dict("records")):
        rows.append({"label": _ADJUSTMENT_LABELS.get(str(r["kind"]), str(r["kind"])) + " / charges",
                     "value": fmt.pct(r["share_of_charges"]),
                     "dollars": fmt.usd_whole(r["amount_cents"]), "target": fmt.MISSING,
                     "__html_status": '<span class="rcm-note">No target</span>', "__first": j == 0})
    cols = [("label", "Indicator", None, False), ("value", "Value", None, True), ("dollars", "Dollars", None, True),
            ("target", "Target", None, False), ("status", "Status", None, False)]
    return html_table(rows, cols, caption=f"Collections and adjustments, posted {window} ({months} months)",
                      row_class=lambda i, r: "rcm-first" if r.get("__first") and i else "")


def lags_table(charge_lag: pd.DataFrame | None, unbilled: pd.DataFrame | None, *, month: str,
               unbilled_prior: pd.DataFrame | None = None, data_through: str | None = None) -> str:
    """Charge lag of the month's new claims (median and 90th percentile) and the month's unbilled charges
    (:func:`rcmkit.metrics.charge_lag`, :func:`rcmkit.metrics.unbilled_charges`), optionally with the prior
    month's unbilled charges. When the data ends by the month's end, the month's unbilled charges cannot be known
    (services billed later are not in the data yet): that row is left out and a note says why."""
    from rcmkit.present.format import month_end

    rows: list[dict] = []
    lag = None if charge_lag is None or not len(charge_lag) else charge_lag.iloc[0]
    claims = 0 if lag is None else int(lag["claims"])
    rows.append({"label": f"Charge lag, claims first submitted in {fmt.short_month(month)}",
                 "a": fmt.MISSING if lag is None else fmt.days(lag["median"]),
                 "b": fmt.MISSING if lag is None else fmt.days(lag["p90"]), "c": f"{claims:,} claims"})

    def unbilled_row(frame: pd.DataFrame | None, mon: str) -> None:
        if frame is None or not len(frame):
            return
        u = frame.iloc[0]
        share = (u["charge_cents"] / u["month_charge_cents"]) if u["month_charge_cents"] else None
        rows.append({"label": f"Unbilled at month end, services of {fmt.short_month(mon)}",
                     "a": f"{int(u['claims']):,} claims", "b": fmt.usd_whole(u["charge_cents"]),
                     "c": f"{fmt.pct(share)} of {fmt.usd_whole(u['month_charge_cents'])} charged "
                          f"for the month's services"})

    known = data_through is None or data_through > month_end(month)
    if known:
        unbilled_row(unbilled, month)
    if unbilled_prior is not None:
        unbilled_row(unbilled_prior, fmt.previous_month(month))
    cols = [("label", "Measure", None, False), ("a", "Median / claims", None, True),
            ("b", "90th percentile / charges", None, True), ("c", "Basis", None, False)]
    out = html_table(rows, cols, caption="Charge lag of the month's new claims; services not billed by month end")
    if not known:
        out += (f'<p class="rcm rcm-note">The data runs through {_e(data_through)}: services of '
                f"{_e(fmt.month_label(month))} billed after that are not in it yet, so this month's unbilled charges "
                "cannot be known yet and are not shown; they appear in next month's report.</p>")
    return out


def denial_outcomes_table(outcomes: pd.DataFrame | None, *, cohort_month: str, as_of: str) -> str:
    """What became of one month's initial denials (:func:`rcmkit.metrics.denial_outcomes`): overturned, written
    off, still open, with claims, their share, denied charges and the dollars recovered; a total row."""
    caption = f"Initial denials of {fmt.month_label(cohort_month)}, as of {fmt.day_label(as_of)}"
    cols = [("outcome", "Outcome", None, False), ("claims", "Claims", fmt.count, True),
            ("share", "Share of claims", fmt.pct, True),
            ("denied_billed_cents", "Denied charges", fmt.usd_whole, True),
            ("recovered_cents", "Recovered", fmt.usd_cents, True)]
    total = 0 if outcomes is None or not len(outcomes) else int(outcomes["claims"].sum())
    if not total:
        return html_table([], cols, caption=caption, empty=f"No initial denials in {fmt.month_label(cohort_month)}.")
    rows = [dict(r, outcome=str(r["outcome"]).capitalize(), share=r["claims"] / total)
            for r in outcomes.to_dict("records")]
    rows.append({"outcome": "All initial denials", "claims": total, "share": 1.0, "__total": True,
                 "denied_billed_cents": int(outcomes["denied_billed_cents"].sum()),
                 "recovered_cents": int(outcomes["recovered_cents"].sum())})
    return html_table(rows, cols, caption=caption, row_class=lambda i, r: "rcm-total" if r.get("__total") else "")


def caught_denials_table(caught: pd.DataFrame | None, *, month: str) -> str:
    """The month's initially denied claims a claim scrub would have stopped before they went out
    (:func:`rcmkit.scrub.caught_denials`): one row per check with its claims and their charges, then the claims any
    check catches and those none does. A claim two checks catch counts under each, once in the "any" row."""
    caption = f"Claims denied in {fmt.month_label(month)} that a check before sending would have caught"
    cols = [("title", "Check", None, False), ("claims", "Claims", fmt.count, True),
            ("billed_cents", "Charges", fmt.usd_whole, True)]
    if caught is None or not len(caught):
        return html_table([], cols, caption=caption, empty=f"No claims denied in {fmt.month_label(month)}.")
    rows = []
    for r in caught.to_dict("records"):
        summary = r["rule"] in ("any rule", "not caught")
        title = {"any rule": "Caught by any check", "not caught": "Not caught by a check"}.get(r["rule"], r["title"])
        rows.append(dict(r, title=title, __total=summary))
    return html_table(rows, cols, caption=caption,
                      row_class=lambda i, r: "rcm-total" if r.get("__total") else "")


def denied_codes_table(rates: pd.DataFrame | None, *, month: str, top: int = 10) -> str:
    """The procedure codes with the most denied charge dollars this month (:func:`rcmkit.metrics.denial_rates_by`
    with ``by="procedure_code"``): claims adjudicated, claims denied, rate, billed and denied charges."""
    cols = [("procedure_code", "Code", None, False), ("claims", "Claims adjudicated", fmt.count, True),
            ("denied", "Claims denied", fmt.count, True), ("rate", "Denial rate", fmt.pct, True),
            ("billed_cents", "Billed", fmt.usd_whole, True),
            ("denied_billed_cents", "Denied charges", fmt.usd_whole, True)]
    rows = [] if rates is None else rates[rates["denied_billed_cents"] > 0].head(top).to_dict("records")
    return html_table(rows, cols, caption=f"Procedure codes by denied charges, first adjudicated in "
                                          f"{fmt.month_label(month)} (top {top})",
                      empty="No denied lines this month.")


def underpayment_table(summary: pd.DataFrame | None, payers: pd.DataFrame | Mapping[str, str] | None,
                       colors: Mapping[str, str], *, month: str | None = None, options: Any = None,
                       contracts: pd.DataFrame | None = None) -> str:
    """Underpaid lines by payer and procedure code (:func:`rcmkit.metrics.underpayment_summary`): lines, what the
    contract says the payer should have allowed, what it allowed, and the shortfall (the dollars at stake),
    with a total row. Given the practice's ``contracts`` table and it is empty, says that nothing could be
    checked rather than that nothing was underpaid."""
    pct, cents = underpayment_tolerance()
    note = (f'<p class="rcm rcm-note">Tolerance: a line counts as underpaid only when the payer allowed less than '
            f"its contract amount by more than {_e(fmt.threshold(pct, 'pct'))} of that amount or "
            f"{_e(fmt.usd_cents(cents))}, whichever is larger; smaller differences are rounding.</p>")
    caption = "Underpayments against contract by payer and procedure code" + _window_caption(month, options)
    cols = [("payer", "Payer", None, False), ("procedure_code", "Code", None, False),
            ("lines", "Lines", fmt.count, True), ("expected_cents", "Contract (expected)", fmt.usd_cents, True),
            ("allowed_cents", "Allowed", fmt.usd_cents, True), ("ratio", "Allowed / expected", fmt.pct, True),
            ("shortfall_cents", "Shortfall", fmt.usd_cents, True)]
    if contracts is not None and not len(contracts):
        return html_table([], cols, caption=caption, empty="No contract rates are loaded for this practice (its "
                          "contracts table is empty), so payments cannot be checked against contract.")
    if summary is None or not len(summary):
        return html_table([], cols, caption=caption, empty="No line was allowed below its contract rate.") + note
    names = _names(payers)
    rows = []
    for r in summary.to_dict("records"):
        pid = str(r["payer_id"])
        rows.append(dict(r, __html_payer=_payer_cell(pid, names.get(pid), colors),
                         ratio=(r["allowed_cents"] / r["expected_cents"]) if r["expected_cents"] else None))
    tot = underpayment_totals(summary)
    rows.append(dict(tot, payer="All payers", __total=True,
                     ratio=(tot["allowed_cents"] / tot["expected_cents"]) if tot["expected_cents"] else None))
    return html_table(rows, cols, caption=caption,
                      row_class=lambda i, r: "rcm-total" if r.get("__total") else "") + note


def worklist_summary_table(worklists: Any) -> str:
    """The work lists in one compact table: list, what it holds and what to do, claims, dollars
    (``worklists``: a ``WorkLists``, :func:`rcmkit.report.suite.worklist_summary`)."""
    rows = [{"name": w.name, "rule": w.rule, "claims": w.claims, "balance_cents": w.balance_cents}
            for w in worklists]
    cols = [("name", "Work list", None, False), ("rule", "Claims on it, and what to do", None, False),
            ("claims", "Claims", fmt.count, True),
            ("balance_cents", "Dollars", fmt.usd_whole, True)]
    month = getattr(worklists, "month", None)
    caption = "Work lists" + (f" at the end of {fmt.month_label(month)}" if month else "")
    return (html_table(rows, cols, caption=caption) +
            '<p class="rcm rcm-note">Dollars are the claims\' open insurance balances. A claim can be on more than '
            "one list (a claim the payer never answered can also be near its filing deadline), so the lists are "
            "not added up.</p>")


_WORKLIST_HEADERS = {
    "claim_id": ("Claim", None, False),
    "provider": ("Provider", None, False),
    "last_submitted_on": ("Last submitted", None, False),
    "days_waiting": ("Days waiting", fmt.count, True),
    "deadline": ("Filing deadline", None, False),
    "days_left": ("Days left", lambda v: fmt.MISSING if fmt.is_missing(v) else (
        f"overdue {-int(v):,} day{'s' if int(v) != -1 else ''}" if int(v) < 0 else
        ("due today" if int(v) == 0 else f"{int(v):,}")), True),
    "last_answer_on": ("Denied on", None, False),
    "days_since_denial": ("Days since denial", fmt.count, True),
    "balance_cents": ("Open balance", fmt.usd_cents, True),
}


def _date(v: Any) -> str:
    return fmt.MISSING if fmt.is_missing(v) else pd.Timestamp(v).strftime("%Y-%m-%d")


def _worklist_providers(worklist: Any, frame: pd.DataFrame, top: int, providers: Any) -> list[str] | None:
    """The provider label of each row of ``frame`` (the work list's ``top`` rows): "NAME (NPI)" from
    ``providers`` (tables, providers frame or {npi: name}) when given, else the list's own ``provider`` column,
    else the bare rendering NPI; None when the list carries no provider."""
    full = worklist.ordered() if hasattr(worklist, "ordered") else getattr(worklist, "rows", frame)
    rows = full.head(top) if "provider" not in frame.columns else frame
    if providers is not None and "rendering_npi" in rows.columns:
        return label_providers(rows, "rendering_npi", providers, into="provider")["provider"].tolist()
    if "provider" in rows.columns:
        return ["" if fmt.is_missing(v) else str(v) for v in rows["provider"].tolist()]
    if "rendering_npi" in rows.columns:
        return label_providers(rows, "rendering_npi", {}, into="provider")["provider"].tolist()
    return None


def worklist_table(worklist: Any, payers: pd.DataFrame | Mapping[str, str] | None, colors: Mapping[str, str], *,
                   top: int = 10, providers: Any = None) -> str:
    """The ``top`` claims of one work list by open balance, identified by claim ID, payer and rendering provider
    ("NAME (NPI)", or the NPI when no name is known; ``providers``: the practice's tables, its providers frame
    or {npi: name}, by default the names the work list carries)."""
    names = _names(payers)
    frame = worklist.top(top)
    labels = _worklist_providers(worklist, frame, top, providers)
    if labels is not None and len(labels) == len(frame):
        frame = frame.drop(columns=[c for c in ("provider", "rendering_npi") if c in frame.columns])
        at = list(frame.columns).index("payer_id") + 1 if "payer_id" in frame.columns else 1
        frame.insert(at, "provider", labels)
    rows = []
    for r in frame.to_dict("records"):
        pid = str(r["payer_id"])
        r = {k: (_date(v) if k in ("last_submitted_on", "deadline", "last_answer_on") else v) for k, v in r.items()}
        r["__html_payer"] = _payer_cell(pid, names.get(pid), colors)
        rows.append(r)
    cols = []
    for key in frame.columns:
        if key == "payer_id":
            cols.append(("payer", "Payer", None, False))
        else:
            header, formatter, numeric = _WORKLIST_HEADERS[key]
            cols.append((key, header, formatter, numeric))
    shown = min(top, worklist.claims)
    order = getattr(worklist, "order", "largest open balance first")
    caption = f"{worklist.name}: the first {shown} of {worklist.claims:,} claims" if worklist.claims > shown else \
        f"{worklist.name}: {worklist.claims:,} claim{'s' if worklist.claims != 1 else ''}"
    if worklist.claims:
        caption += f" ({order})"
    return html_table(rows, cols, caption=caption, empty="No claims on this list.")


def comparison_table(comparison: pd.DataFrame | None, *, month: str) -> str:
    """The headline KPIs beside the prior month, the same month last year and the year to date
    (:func:`rcmkit.report.model.kpi_comparison`); the changes are coloured green (better) or red (worse). A
    month without data, and a year to date for a rate or balance (not a sum), show 'n/a'."""
    prior, year_ago = fmt.previous_month(month), fmt.months_back(month, 12)
    cols = [("label", "Indicator", None, False), ("value", fmt.short_month(month), None, True),
            ("prior", fmt.short_month(prior), None, True), ("vs_prior", "Change", None, True),
            ("year_ago", fmt.short_month(year_ago), None, True), ("vs_year", "Change", None, True),
            ("ytd", f"Year to date ({fmt.short_month(month[:4] + '-01')} to {fmt.short_month(month)})", None, True)]
    rows = []
    for r in ([] if comparison is None else comparison.to_dict("records")):
        unit, key = r["unit"], str(r["key"])
        row = {"label": r["label"], "value": fmt.by_unit(r["value"], unit), "prior": fmt.by_unit(r["prior"], unit),
               "year_ago": fmt.by_unit(r["year_ago"], unit), "ytd": fmt.by_unit(r["ytd"], unit)}
        for col, before in (("vs_prior", r["prior"]), ("vs_year", r["year_ago"])):
            if fmt.is_missing(before) or fmt.is_missing(r["value"]):
                row[col] = fmt.MISSING
                continue
            change = float(r["value"]) - float(before)
            better = BETTER.get(key, 0) * change
            cls = "rcm-good" if better > 0 else ("rcm-bad" if better < 0 else "rcm-flat")
            if unit == "usd" and float(before):
                text = f"{'+' if change >= 0 else '-'}{fmt.pct(abs(change) / abs(float(before)), 0)}"
            else:
                text = fmt.delta(change, unit)
            row[f"__html_{col}"] = f'<span class="{cls}">{_e(text)}</span>'
        rows.append(row)
    out = html_table(rows, cols, caption=f"{fmt.month_label(month)} beside the prior month, the same month last "
                                         "year and the year to date", empty="No indicators this month.")
    return out + ('<p class="rcm rcm-note">Changes in dollars are percentages; changes in rates are percentage '
                  "points. Green is better, red is worse; balances and volumes are left uncoloured. The year to date "
                  "adds up the months of sums (charges, payments); a rate or a balance has no year-to-date sum.</p>")


def provider_table(providers: pd.DataFrame | None, *, month: str, status: pd.DataFrame | None = None) -> str:
    """The month by rendering provider (:func:`rcmkit.metrics.providers.provider_summary`): new claims, charges,
    claims first answered, initial denial rate and clean-claim rate, with a total row. A rate beyond the
    practice's "near" threshold (``status``) is marked red."""
    targets = _status_rows(status)
    cols = [("provider", "Provider", None, False), ("claims", "New claims", fmt.count, True),
            ("charges_cents", "Charges", fmt.usd_whole, True),
            ("adjudicated", "Claims first answered", fmt.count, True),
            ("denial_rate", "Initial denial rate", fmt.pct, True),
            ("clean_claim_rate", "Clean-claim rate", fmt.pct, True)]
    caption = f"Providers in {fmt.month_label(month)}"
    if providers is None or not len(providers):
        return html_table([], cols, caption=caption, empty="No claims this month.")

    def worse(key: str, value: Any) -> bool:
        row = targets.get(key, {})
        acc, good = row.get("acceptable"), row.get("good")
        if fmt.is_missing(value) or fmt.is_missing(acc) or fmt.is_missing(good):
            return False
        return float(value) > float(acc) if float(good) <= float(acc) else float(value) < float(acc)

    rows = [dict(r) for r in providers.to_dict("records")]
    # a rendering NPI that fails its check digit is a typing error on the claims, not a provider
    mistyped = [r for r in rows if "npi" in r and not fmt.is_missing(r["npi"]) and not npi_valid(str(r["npi"]))]
    for r in mistyped:
        r["provider"] = f"{r['provider']}: provider number mistyped (fails its check digit)"
    tot = {k: int(providers[k].sum()) for k in ("claims", "charges_cents", "adjudicated", "denied", "clean")}
    tot.update(provider="All providers", __total=True,
               denial_rate=tot["denied"] / tot["adjudicated"] if tot["adjudicated"] else None,
               clean_claim_rate=tot["clean"] / tot["adjudicated"] if tot["adjudicated"] else None)
    rows.append(tot)

    def style(key: str, r: Mapping) -> str:
        kpi = {"denial_rate": "initial_denial_rate", "clean_claim_rate": "clean_claim_rate"}.get(key)
        return "color: #c0392b; font-weight: 600" if kpi and worse(kpi, r.get(key)) else ""

    return (html_table(rows, cols, caption=caption, cell_style=style,
                       row_class=lambda i, r: "rcm-total" if r.get("__total") else "") +
            '<p class="rcm rcm-note">New claims and charges: the claims first sent this month, by the provider who '
            "rendered the service. The rates count the claims a payer answered for the first time this month, as "
            "the practice's rates do; red marks a rate outside the practice's \"near target\" band. A provider "
            "with few claims swings from month to month."
            + (" A provider number that fails its check digit was typed wrong on those claims: payers deny them "
               "until they are corrected and sent again." if mistyped else "") + "</p>")
