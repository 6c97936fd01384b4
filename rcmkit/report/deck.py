"""The monthly report as a slide deck for a practice owner: one self-contained HTML file, about ten 16:9 slides.

Built from the report model (:class:`rcmkit.report.model.MonthlyReport`) and the report's own charts
(:mod:`rcmkit.present.charts`, embedded as PNG data URIs), not from the notebook's cells: a title, the month in
brief, the headline numbers against their targets, four charts (days in A/R, A/R aging, denial reasons, charges and
payments), the largest dollar opportunities, the work lists and the next steps. Styles and the few lines of
navigation script are inline: the deck opens offline and asks no host for anything. Keys (arrows, Page Up/Down,
space, Home/End) or a click move between slides; printing gives one slide per 16:9 page. The same model always
gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import math
import os
from typing import Any, Iterable, Mapping

from rcmkit.present import format as fmt

__all__ = ["build_deck", "write_deck", "DECK_FILE", "deck_from_params", "kpi_cards", "SLIDE_WIDTH", "SLIDE_HEIGHT",
           "MAX_SLIDES"]

#: The slide canvas in CSS pixels (16:9); the deck scales it to the window and prints it on 13.33 x 7.5 in pages.
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720
#: A deck never has more slides than this.
MAX_SLIDES = 12
#: The headline KPIs on the numbers slide, in order.
HEADLINE_KPIS = ("days_in_ar", "days_in_ar_net", "ar_total", "ar_over_120_pct", "clean_claim_rate",
                 "initial_denial_rate", "initial_denial_rate_dollars", "net_collection_rate",
                 "patient_collection_rate", "charges", "payments")
_STATUS_WORDS = {"meeting": "Meets target", "near": "Near target", "missing": "Misses target",
                 "no target": "No target", "n/a": "Not computable"}

_e = lambda s: html.escape(str(s), quote=True)  # noqa: E731

_CSS = f"""
* {{ box-sizing: border-box; }}
html, body {{ margin: 0; padding: 0; background: #1d2733; font-family: "DejaVu Sans", Arial, sans-serif;
  color: #1f2933; }}
.deck {{ position: fixed; left: 0; top: 0; width: {SLIDE_WIDTH}px; height: {SLIDE_HEIGHT}px;
  transform-origin: 0 0; }}
.slide {{ display: none; position: absolute; inset: 0; width: {SLIDE_WIDTH}px; height: {SLIDE_HEIGHT}px;
  overflow: hidden; background: #fff; padding: 44px 64px 56px; flex-direction: column; }}
.slide.active {{ display: flex; }}
.slide h2 {{ margin: 0 0 10px; font-size: 34px; color: #0b3c5d; }}
.slide .lead {{ margin: 0 0 18px; font-size: 20px; color: #3e4c59; line-height: 1.35; }}
.slide .lead.cash {{ font-size: 18px; margin-top: -8px; }}
.slide .foot {{ position: absolute; left: 64px; right: 64px; bottom: 18px; font-size: 13px; color: #7b8794;
  display: flex; justify-content: space-between; border-top: 1px solid #e4e7eb; padding-top: 6px; }}
.title-slide {{ justify-content: center; background: #0b3c5d; color: #fff; }}
.title-slide h1 {{ font-size: 52px; margin: 0 0 14px; }}
.title-slide .sub {{ font-size: 30px; margin: 0 0 40px; color: #d9e8f5; }}
.title-slide .meta {{ font-size: 18px; color: #bcccdc; }}
.title-slide .foot {{ color: #9fb3c8; border-top-color: #3b5b78; }}
.cols {{ display: flex; gap: 36px; }}
.cols > div {{ flex: 1; }}
.cols h3 {{ font-size: 22px; margin: 0 0 8px; }}
.good {{ color: #1a7f37; }} .bad {{ color: #b42318; }}
ul.items, ol.items {{ margin: 0; padding-left: 24px; font-size: 19px; line-height: 1.4; }}
ul.items li, ol.items li {{ margin-bottom: 8px; }}
.cards {{ display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }}
.card {{ border: 1px solid #d9e2ec; border-left: 8px solid #9aa5b1; border-radius: 6px; padding: 9px 12px;
  height: 158px; overflow: hidden; }}
.card.meeting {{ border-left-color: #1a7f37; }} .card.near {{ border-left-color: #d29922; }}
.card.missing {{ border-left-color: #b42318; }}
.card .label {{ font-size: 15px; color: #52606d; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.card .value {{ font-size: 32px; font-weight: bold; margin: 4px 0 2px; color: #102a43; }}
.card .target, .card .change {{ font-size: 13.5px; color: #52606d; line-height: 1.35; }}
.card .status {{ font-size: 13.5px; font-weight: bold; }}
.card.meeting .status {{ color: #1a7f37; }} .card.near .status {{ color: #9a6700; }}
.card.missing .status {{ color: #b42318; }}
.chart {{ flex: 1; min-height: 0; display: flex; align-items: center; justify-content: center; }}
.chart img {{ max-width: 100%; max-height: 100%; object-fit: contain; }}
table.deck-table {{ border-collapse: collapse; width: 100%; font-size: 18px; }}
table.deck-table th {{ text-align: left; color: #52606d; font-weight: normal; border-bottom: 2px solid #bcccdc;
  padding: 6px 10px; }}
table.deck-table td {{ border-bottom: 1px solid #e4e7eb; padding: 8px 10px; vertical-align: top; line-height: 1.3; }}
table.deck-table td.num, table.deck-table th.num {{ text-align: right; white-space: nowrap; }}
table.deck-table td.what {{ width: 30%; font-weight: bold; }}
.note {{ color: #7b8794; font-size: 16px; }}
@media print {{
  @page {{ size: 13.333in 7.5in; margin: 0; }}
  html, body {{ background: #fff; -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
  .deck {{ position: static; transform: none !important; width: auto; height: auto; }}
  .slide {{ display: flex !important; position: relative; break-after: page; page-break-after: always; }}
  .slide:last-child {{ break-after: auto; page-break-after: auto; }}
}}
"""

# Navigation: one slide shown at a time, the canvas scaled to the window; arrows/space/Page keys/Home/End and
# clicks (left fifth: back) move; the slide number is kept in the address (#3) so a reload stays put.
_JS = """
(function () {
  var slides = document.querySelectorAll('.slide'), i = 0, deck = document.querySelector('.deck');
  function fit() {
    var s = Math.min(window.innerWidth / %(w)d, window.innerHeight / %(h)d);
    deck.style.transform = 'scale(' + s + ')';
    deck.style.left = Math.max(0, (window.innerWidth - %(w)d * s) / 2) + 'px';
    deck.style.top = Math.max(0, (window.innerHeight - %(h)d * s) / 2) + 'px';
  }
  function show(n) {
    i = Math.max(0, Math.min(slides.length - 1, n));
    for (var k = 0; k < slides.length; k++) { slides[k].classList.toggle('active', k === i); }
    if (location.hash !== '#' + (i + 1)) { history.replaceState(null, '', '#' + (i + 1)); }
  }
  document.addEventListener('keydown', function (ev) {
    var k = ev.key;
    if (k === 'ArrowRight' || k === 'ArrowDown' || k === 'PageDown' || k === ' ' || k === 'Enter') { show(i + 1); }
    else if (k === 'ArrowLeft' || k === 'ArrowUp' || k === 'PageUp' || k === 'Backspace') { show(i - 1); }
    else if (k === 'Home') { show(0); } else if (k === 'End') { show(slides.length - 1); } else { return; }
    ev.preventDefault();
  });
  document.addEventListener('click', function (ev) { show(ev.clientX < window.innerWidth / 5 ? i - 1 : i + 1); });
  window.addEventListener('resize', fit);
  window.rcmDeck = { show: show, count: slides.length };
  var start = parseInt((location.hash || '#1').slice(1), 10);
  fit(); show(isNaN(start) ? 0 : start - 1);
})();
""" % {"w": SLIDE_WIDTH, "h": SLIDE_HEIGHT}


# --------------------------------------------------------------------------------------------- pieces
def figure_png(fig: Any, dpi: int = 130) -> bytes:
    """A matplotlib Figure as the deck's PNG bytes, drawn once and its white border cut
    (:func:`rcmkit.present.charts.figure_png`; no timestamp or software tag: the same figure, the same bytes)."""
    from rcmkit.present import charts

    return charts.figure_png(fig, dpi)


def _figure_uri(fig: Any) -> str:
    """A chart as a PNG data URI."""
    return "data:image/png;base64," + base64.b64encode(figure_png(fig)).decode("ascii")


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _target_text(row: Mapping[str, Any], unit: str) -> str:
    """``"Target 40 days or less (acceptable 50 days)"`` from a benchmark-status row; ``""`` without a target."""
    good, ok = row.get("good"), row.get("acceptable")
    if not _finite(good):
        return ""
    lower_better = _finite(ok) and float(good) < float(ok)
    side = "or less" if lower_better else "or more"
    text = f"Target {fmt.threshold(good, unit)} {side}"
    if _finite(ok):
        text += f" (acceptable {fmt.threshold(ok, unit)})"
    return text


def kpi_cards(report: Any) -> list[dict[str, str]]:
    """The numbers slide's cards: for each headline KPI of the model, its label, value, target, status and change
    from the prior month, as the deck shows them (formatted with :mod:`rcmkit.present.format`)."""
    status = {str(r["key"]): r for r in report.status.to_dict("records")} if len(report.status) else {}
    trend = report.trend
    prior = fmt.previous_month(report.month)
    prior_row = trend[trend["month"] == prior] if len(trend) else trend
    cards = []
    for key in HEADLINE_KPIS:
        kpi = report.kpis.get(key)
        if kpi is None:
            continue
        row = status.get(key, {})
        st = str(row.get("status") or "no target")
        change = ""
        if len(prior_row) and key in prior_row.columns:
            before = prior_row.iloc[0][key]
            if _finite(before) and _finite(kpi.value):
                change = f"{fmt.delta(float(kpi.value) - float(before), kpi.unit)} from {fmt.short_month(prior)}"
        cards.append({"key": key, "label": kpi.label, "value": fmt.kpi_value(kpi), "unit": kpi.unit,
                      "status": st, "status_text": _STATUS_WORDS.get(st, st.capitalize()),
                      "target": _target_text(row, kpi.unit), "change": change})
    return cards


def _value(report: Any, key: str) -> str:
    kpi = report.kpis.get(key)
    return fmt.kpi_value(kpi) if kpi is not None else fmt.MISSING


def _target_of(report: Any, key: str) -> str:
    rows = report.status[report.status["key"] == key] if len(report.status) else report.status
    if not len(rows) or not _finite(rows.iloc[0]["good"]):
        return ""
    kpi = report.kpis[key]
    return f" (target {fmt.threshold(rows.iloc[0]['good'], kpi.unit)})"


def _action(text: str) -> str:
    """The action part of an opportunity's sentence (after its first colon), capitalised."""
    _, sep, rest = text.partition(": ")
    rest = rest.strip().rstrip(".") if sep else text.strip().rstrip(".")
    return rest[:1].upper() + rest[1:]


# --------------------------------------------------------------------------------------------- slides
def _slides(report: Any) -> list[tuple[str, str, str]]:
    """``(css class, heading, inner HTML)`` of every slide, in order."""
    from rcmkit.present import charts

    month = fmt.month_label(report.month)
    who = report.practice_name or report.practice
    out: list[tuple[str, str, str]] = []

    # 1. title
    sub = _e(report.title) if report.title else "Monthly revenue cycle review"
    out.append(("title-slide", "", f"<h1>{_e(who)}</h1><p class=\"sub\">{sub}</p>"
                f"<p class=\"meta\">{_e(month)} &middot; data through {_e(fmt.day_label(report.data_through))}</p>"))

    # 2. the month in brief
    s = report.summary
    body = f'<p class="lead">{_e(s.headline)}</p>'
    cash = tuple(getattr(s, "cash", ()) or ())  # payments and charges against last month and last year
    if cash:
        body += f'<p class="lead cash">{_e(" ".join(cash))}</p>'
    if s.prior_month is not None:
        prior = _e(fmt.month_label(s.prior_month))
        cols = []
        for head, items, cls in ((f"Better than {prior}", s.improved, "good"),
                                 (f"Worse than {prior}", s.worsened, "bad")):
            li = "".join(f"<li>{_e(c.text)}</li>" for c in list(items)[:5]) or "<li>Nothing moved noticeably.</li>"
            cols.append(f'<div><h3 class="{cls}">{head}</h3><ul class="items">{li}</ul></div>')
        body += f'<div class="cols">{"".join(cols)}</div>'
    out.append(("", "The month in brief", body))

    # 3. headline numbers against targets
    cards = []
    for c in kpi_cards(report):
        cards.append(
            f'<div class="card {_e(c["status"]).replace(" ", "-")}" data-kpi="{_e(c["key"])}">'
            f'<div class="label">{_e(c["label"])}</div><div class="value">{_e(c["value"])}</div>'
            f'<div class="status">{_e(c["status_text"])}</div>'
            f'<div class="target">{_e(c["target"])}</div><div class="change">{_e(c["change"])}</div></div>')
    out.append(("", "Headline numbers against targets", f'<div class="cards">{"".join(cards)}</div>'))

    # 4-7. charts
    def chart(heading: str, lead: str, fig: Any) -> None:
        out.append(("", heading, f'<p class="lead">{_e(lead)}</p>'
                    f'<div class="chart"><img alt="{_e(heading)}" src="{_figure_uri(fig)}"></div>'))

    k = report.kpis
    if "days_in_ar" in k:
        chart("Days in A/R, last twelve months",
              f"{_value(report, 'days_in_ar')} at the end of {month}{_target_of(report, 'days_in_ar')}; "
              f"net of expected contractual adjustments {_value(report, 'days_in_ar_net')}.",
              charts.report_chart(report, "days_in_ar"))
    chart("A/R aging by payer",
          f"{_value(report, 'ar_total')} open at month end; {_value(report, 'ar_over_120_pct')} of it is over "
          f"120 days old{_target_of(report, 'ar_over_120_pct')}.",
          charts.report_chart(report, "aging"))
    denied = k.get("initial_denial_rate")
    lead = f"{_value(report, 'initial_denial_rate')} of the claims first answered in {month} were denied"
    if denied is not None and _finite(denied.numerator) and _finite(denied.denominator):
        lead += f" ({fmt.count(denied.numerator)} of {fmt.count(denied.denominator)})"
    chart("Denials by reason", lead + f"{_target_of(report, 'initial_denial_rate')}; the largest reasons by "
          "denied charges.", charts.report_chart(report, "denial_reasons"))
    chart("Charges and payments",
          f"{month}: charges {_value(report, 'charges')}, payments {_value(report, 'payments')}; net collection "
          f"rate over twelve months {_value(report, 'net_collection_rate')}"
          f"{_target_of(report, 'net_collection_rate')}.",
          charts.report_chart(report, "charges_payments"))

    # 8. opportunities in dollars
    opps = list(s.opportunities)
    if opps:
        rows = "".join(f'<tr><td class="what">{_e(o.label or o.subject)}</td>'
                       f'<td class="num">{_e(fmt.usd_whole(o.cents))}</td><td>{_e(_action(o.text))}</td></tr>'
                       for o in opps)
        body = ('<table class="deck-table"><thead><tr><th>Where</th><th class="num">Dollars</th><th>What to do</th>'
                f"</tr></thead><tbody>{rows}</tbody></table>")
    else:
        body = '<p class="note">No dollar amount stood out this month.</p>'
    out.append(("", "Largest dollar opportunities", body))

    # 9. work lists
    lists = list(report.worklists)
    rows = "".join(f'<tr><td class="what">{_e(w.name)}</td><td class="num">{_e(fmt.count(w.claims))}</td>'
                   f'<td class="num">{_e(fmt.usd_whole(w.balance_cents))}</td><td>{_e(_action(w.rule))}</td></tr>'
                   for w in lists)
    out.append(("", f"Claims to work as of {fmt.day_label(fmt.month_end(report.month))}",
                '<table class="deck-table"><thead><tr><th>List</th><th class="num">Claims</th>'
                f'<th class="num">Open balance</th><th>Action</th></tr></thead><tbody>{rows}</tbody></table>'
                '<p class="note">The claims themselves are listed in the full report.</p>'))

    # 10. next steps
    steps = [f"{_action(o.text)} ({fmt.usd_whole(o.cents)})." for o in opps]
    missed = [c for c in kpi_cards(report) if c["status"] == "missing"]
    for c in missed:
        target = c["target"].removeprefix("Target ")
        steps.append(f"Bring the {c['label'][:1].lower() + c['label'][1:]} ({c['value']}) to its target, {target}.")
    busiest = max(lists, key=lambda w: w.balance_cents, default=None)
    if busiest is not None and busiest.claims:
        steps.append(f"Work the list \u201c{busiest.name}\u201d first: {fmt.count(busiest.claims)} claims, "
                     f"{fmt.usd_whole(busiest.balance_cents)}.")
    steps.append(f"Review these numbers again with the report for {fmt.month_label(_next_month(report.month))}.")
    out.append(("", "Next steps", '<ol class="items">' + "".join(f"<li>{_e(x)}</li>" for x in steps[:7]) + "</ol>"))
    return out


def _next_month(month: str) -> str:
    y, m = (int(p) for p in month.split("-"))
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


def build_deck(report: Any, *, title: str | None = None) -> str:
    """The slide deck of ``report`` (a :class:`~rcmkit.report.model.MonthlyReport`) as one HTML document."""
    slides = _slides(report)[:MAX_SLIDES]
    who = report.practice_name or report.practice
    month = fmt.month_label(report.month)
    foot_left = f"{who} \u00b7 {month}" if who else month
    doc_title = title or (f"{who} \u2014 {month} review" if who else f"{month} review")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(doc_title)}</title><style>{_CSS}</style></head><body><div class=\"deck\">"]
    for n, (cls, heading, inner) in enumerate(slides, start=1):
        head = f"<h2>{_e(heading)}</h2>" if heading else ""
        klass = f"slide {cls}".strip()
        parts.append(f'<section class="{klass}" id="slide-{n}">' + head + inner
                     + f'<div class="foot"><span>{_e(foot_left)}</span><span>{n} / {len(slides)}</span></div>'
                     + "</section>")
    parts.append(f"</div><script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


#: The deck's file name in a published report folder.
DECK_FILE = "monthly_report.slides.html"


def write_deck(output_dir: str | os.PathLike | None, report: Any) -> str | None:
    """Write ``report``'s deck (:func:`build_deck`) to ``<output_dir>/monthly_report.slides.html`` atomically and
    return its path; does nothing when ``output_dir`` is None (a notebook run by hand). The report notebook calls
    it beside :func:`rcmkit.report.write_metrics`, so the runner does not build the model a second time."""
    if output_dir is None:
        return None
    from rcmkit.core import store

    path = os.path.join(os.fspath(output_dir), DECK_FILE)
    tmp = path + ".tmp"
    store.write_file(tmp, build_deck(report).encode("utf-8"))
    os.replace(tmp, path)
    return path


def deck_from_params(params: Any) -> str:
    """Build the report model for validated report parameters (:class:`rcmkit.report.params.ReportParams`) and
    return its deck (the runner calls this after the notebook ran, so the month's data is known to load)."""
    from rcmkit.core.store import load_tables
    from rcmkit.report.model import build_report

    # the store snapshot the notebook read (run_report pins one), so the deck shows the report's numbers
    tables = load_tables(os.fspath(params.data_root), params.practice, required=False,
                         version=getattr(params, "store_version", None))
    report = build_report(tables, params.month, dict(params.metric_options),
                          benchmark_overrides={k: dict(v) for k, v in params.benchmark_overrides.items()},
                          practice=params.practice, practice_name=params.practice_name, title=params.title)
    return build_deck(report)

