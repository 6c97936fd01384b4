"""The portfolio page: ``<output_root>/<YYYY-MM>/index.html``, every practice's headline KPIs for one month.

An RCM company sees its whole book at once: one row per practice with its headline KPIs coloured by benchmark
status (each practice's own targets, as its report used them), the change since the practice's previous month
(its ``<practice>/<previous month>/metrics.json``, when there is one), its rank among the practices on each KPI,
the book's median per KPI, its largest dollar opportunity and relative links to every output of its report that
exists (report, PDF, slides, data). The table is sorted by days in A/R (best first) and re-sorts on any KPI with
a few lines of inline JavaScript (no library, nothing fetched; without JavaScript the page reads the same in the
default order). A practice whose report could not be produced shows only client-safe text; the reason stays in
the terminal and the run log.

It is built from the ``metrics.json`` files on disk (plus this run's failures) with no wall-clock time in it:
the same reports give the same bytes. Like every report file it is private to its owner (``0600`` in ``0700``
folders, or ``RCMKIT_FILE_MODE``: :func:`rcmkit.core.store.write_file`).
"""

from __future__ import annotations

import html
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from rcmkit.core import store
from rcmkit.metrics.registry import better, portfolio_keys, spec
from rcmkit.present import format as fmt
from rcmkit.report.record import METRICS_FILE

__all__ = ["PortfolioRow", "HEADLINE_KPIS", "DEFAULT_SORT", "OUTPUTS", "FAILED_TEXT", "collect_rows",
           "has_reports", "kpi_ranks", "kpi_medians", "portfolio_html", "write_portfolio", "INDEX_FILE"]

INDEX_FILE = "index.html"
#: The KPIs shown per practice, in column order: the registry's portfolio columns (rcmkit.metrics.registry;
#: the aged-over column takes whichever of the two a report has).
HEADLINE_KPIS = portfolio_keys()
#: The KPI the table is sorted by when the page opens (best first).
DEFAULT_SORT = "days_in_ar"
#: A report's outputs the page links to when they exist, as (link text, file name), in link order.
OUTPUTS = (("Report", "monthly_report.html"), ("PDF", "monthly_report.pdf"),
           ("Slides", "monthly_report.slides.html"), ("Data", METRICS_FILE))
#: What the page says about a practice whose report could not be produced (the reason is in the run log).
FAILED_TEXT = "Report could not be produced; see the run log."
STALE_TEXT = "The latest run failed; these figures are from the last report produced. See the run log."

_STATUS_BG = {"meeting": "#dff3e4", "near": "#fff1cc", "missing": "#fbdcd8"}
_STATUS_WORD = {"meeting": "meets target", "near": "near target", "missing": "misses target"}


@dataclass(frozen=True)
class PortfolioRow:
    practice: str
    month: str
    metrics: Mapping[str, Any] | None  # the practice's metrics.json, None when there is no report
    error: str | None = None  # this run's failure (first line): for the terminal and run log, never shown
    outputs: tuple[str, ...] = ()  # the files of OUTPUTS that exist in the report folder
    previous: Mapping[str, Any] | None = None  # the previous month's metrics.json, when there is one

    @property
    def has_pdf(self) -> bool:
        return "monthly_report.pdf" in self.outputs


def _read_doc(path: Path, month: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("month") == month else None


def collect_rows(output_root: str | os.PathLike, month: str,
                 failures: Mapping[str, str] | None = None) -> list[PortfolioRow]:
    """One row per practice with a report for ``month`` under ``output_root`` (``<practice>/<month>/metrics.json``,
    with the previous month's beside it when present), plus a row per failure of this run for this month
    (``{practice: first error line}``), sorted by practice."""
    root = Path(output_root)
    prev = fmt.previous_month(month)
    rows: dict[str, PortfolioRow] = {}
    if root.is_dir():
        for path in sorted(root.glob(f"*/{month}/{METRICS_FILE}")):
            doc = _read_doc(path, month)
            if doc is None:
                continue
            practice = str(doc.get("practice") or "")
            if not store.PRACTICE_NAME.fullmatch(practice) or ".." in practice:
                practice = path.parent.parent.name  # links are built from it: only a plain folder name
            outputs = tuple(f for _, f in OUTPUTS if (path.parent / f).is_file())
            previous = _read_doc(path.parent.parent / prev / METRICS_FILE, prev)
            rows[practice] = PortfolioRow(practice, month, doc, None, outputs, previous)
    for practice, error in (failures or {}).items():
        old = rows.get(practice)
        rows[practice] = (PortfolioRow(practice, month, old.metrics, error, old.outputs, old.previous) if old
                          else PortfolioRow(practice, month, None, error))
    return [rows[k] for k in sorted(rows)]


def has_reports(output_root: str | os.PathLike, month: str) -> bool:
    """True when some practice under ``output_root`` has a report (a readable metrics.json) for ``month``."""
    return any(r.metrics is not None for r in collect_rows(output_root, month))


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _kpi(doc: Mapping[str, Any] | None, key: str) -> tuple[str, Mapping[str, Any] | None]:
    """The KPI entry a cell shows and its key: the aged-over column falls back to the 90-day share."""
    kpis = (doc or {}).get("kpis")
    kpis = kpis if isinstance(kpis, Mapping) else {}
    if kpis.get(key) is None and key == "ar_over_120_pct" and kpis.get("ar_over_90_pct") is not None:
        key = "ar_over_90_pct"
    kpi = kpis.get(key)
    return key, kpi if isinstance(kpi, Mapping) else None


def _value(doc: Mapping[str, Any] | None, key: str) -> float | None:
    """The column's own value (a fallback KPI is shown, not ranked), None when missing."""
    used, kpi = _kpi(doc, key)
    if used != key or kpi is None or fmt.is_missing(kpi.get("value")):
        return None
    try:
        return float(kpi["value"])
    except (TypeError, ValueError):
        return None


def _direction(key: str) -> int:
    """+1 when a larger value ranks first: higher-is-better KPIs and volumes (largest first); -1 otherwise."""
    return -1 if better(key) < 0 else 1


def kpi_ranks(rows: Iterable[PortfolioRow], key: str) -> dict[str, int]:
    """Each practice's rank on ``key`` among the practices with a value, best first (volumes: largest first);
    equal values share a rank (1, 1, 3)."""
    values = {r.practice: v for r in rows if r.metrics is not None and (v := _value(r.metrics, key)) is not None}
    d = _direction(key)
    return {p: 1 + sum(d * w > d * v for w in values.values()) for p, v in values.items()}


def kpi_medians(rows: Iterable[PortfolioRow]) -> dict[str, float | None]:
    """The book's median of each headline KPI over the practices with a value (None when none has one)."""
    rows = [r for r in rows if r.metrics is not None]
    out: dict[str, float | None] = {}
    for key in HEADLINE_KPIS:
        values = [v for r in rows if (v := _value(r.metrics, key)) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def _change(row: PortfolioRow, key: str) -> float | None:
    now, before = _value(row.metrics, key), _value(row.previous, key)
    return None if now is None or before is None else now - before


def _kpi_cell(row: PortfolioRow, key: str, rank: int | None, n_ranked: int) -> str:
    doc = row.metrics or {}
    used, kpi = _kpi(doc, key)
    if kpi is None:
        return f'<td class="num na">{fmt.MISSING}</td>'
    unit = kpi.get("unit", "")
    text = _e(fmt.by_unit(kpi.get("value"), unit))
    if used != key:
        text += '<small class="alt"> (over 90 days)</small>'
    extra = []
    change = _change(row, key)
    if change is not None:
        way = better(key) * (1 if change > 0 else -1 if change < 0 else 0)
        cls, word = {1: ("better", "better"), -1: ("worse", "worse")}.get(way, ("same", ""))
        tip = f"change since {fmt.month_label(row.previous['month'])}" + (f" ({word})" if word else "")
        extra.append(f'<span class="chg {cls}" title="{_e(tip)}">{_e(fmt.delta(change, unit))}</span>')
    if rank is not None:
        extra.append(f'<span class="rk" title="{_e(f"rank {rank} of {n_ranked}")}">#{rank}</span>')
    below = f'<div class="sub2">{" ".join(extra)}</div>' if extra else ""
    data = f' data-rank="{rank}"' if rank is not None else ""
    status = ((doc.get("benchmarks") or {}).get(used) or {}).get("status")
    if status in _STATUS_BG:
        target = (doc.get("benchmarks") or {})[used]
        tip = (f"{_STATUS_WORD[status]}; target {fmt.threshold(target.get('good'), unit)} "
               f"(source: {target.get('source')})")
        return (f'<td class="num st-{status}"{data} title="{_e(tip)}">{text}'
                f'<span class="sr"> ({_STATUS_WORD[status]})</span>{below}</td>')
    return f'<td class="num"{data}>{text}{below}</td>'


def _opportunity(doc: Mapping[str, Any]) -> str:
    opps = ((doc.get("summary") or {}).get("opportunities")) or []
    if not opps:
        return fmt.MISSING
    o = opps[0]
    return f"{o.get('label') or o.get('subject')}: {fmt.usd_whole(int(o.get('cents') or 0))}"


def _label(key: str) -> str:
    return spec(key).label.replace(" N ", " 120 ").removesuffix(" (claims)")


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; margin: 28px auto;
       max-width: 1400px; padding: 0 20px; }
h1 { font-size: 1.7em; margin: 0 0 .2em 0; }
h2 { font-size: 1.15em; margin: 1.4em 0 .4em 0; }
.sub { color: #555; margin-bottom: 1em; }
.totals { display: flex; gap: 14px; flex-wrap: wrap; margin: 10px 0 18px 0; }
.total { border: 1px solid #dcdcdc; border-radius: 6px; padding: 8px 14px; background: #fafafa; min-width: 150px; }
.total .l { font-size: .78em; color: #555; text-transform: uppercase; letter-spacing: .03em; }
.total .v { font-size: 1.35em; font-weight: 600; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; font-size: .88em; font-variant-numeric: tabular-nums; width: 100%; }
th { background: #f0f2f4; border-bottom: 2px solid #c8cdd2; padding: 6px 8px; text-align: left;
     vertical-align: bottom; }
th button { font: inherit; font-weight: 600; color: #0b5cad; background: none; border: 0; padding: 0; cursor: pointer;
            text-align: inherit; }
th button::after { content: "\\00a0\\2195"; color: #999; font-weight: 400; }
th[aria-sort="ascending"] button::after { content: "\\00a0\\25B2"; color: #222; }
th[aria-sort="descending"] button::after { content: "\\00a0\\25BC"; color: #222; }
td { border-bottom: 1px solid #e6e6e6; padding: 5px 8px; vertical-align: top; }
td.num, th.num { text-align: right; } td.num { white-space: nowrap; }
th.num button { text-align: right; }
td.rank { text-align: center; font-weight: 600; color: #444; }
td.st-meeting { background: #dff3e4; color: #14622b; font-weight: 600; }
td.st-near { background: #fff1cc; color: #7a5200; font-weight: 600; }
td.st-missing { background: #fbdcd8; color: #9b2a1d; font-weight: 600; }
td.na { color: #999; }
td.date { white-space: nowrap; }
.sub2 { font-size: .8em; font-weight: 400; margin-top: 2px; }
.chg.better { color: #14622b; } .chg.worse { color: #9b2a1d; } .chg.same { color: #555; }
.rk { color: #555; margin-left: 4px; }
.alt { font-weight: 400; color: #555; }
.links { font-size: .85em; margin-top: 2px; white-space: nowrap; }
td.name { min-width: 10em; }
td.opp { min-width: 11em; font-size: .95em; }
table.failures { width: auto; } table.failures td { padding-right: 16px; }
tfoot td { border-top: 2px solid #c8cdd2; background: #f7f8f9; font-weight: 600; }
tr.failed td.name, table.failures td { background: #fff6f5; }
.err { color: #9b2a1d; font-size: .88em; }
.tag { display: inline-block; font-size: .75em; font-weight: 600; padding: 1px 7px; border-radius: 9px; color: #fff; }
.tag.failed { background: #c0392b; } .tag.stale { background: #b7791f; }
.legend { font-size: .82em; color: #555; margin: 10px 0; }
.legend span { display: inline-block; padding: 1px 8px; border-radius: 3px; margin-right: 6px; }
.note { color: #666; font-size: .82em; margin-top: 14px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
a { color: #0b5cad; }
@page { size: Letter landscape; margin: 0.5in; }
@media print { tr { break-inside: avoid; } body { margin: 0; } th button::after { content: ""; } }
"""

#: Sorting: a column's button sorts the rows by the rank in that column (practices without a value last),
#: again to reverse; the rank column follows the KPI sorted by. No library, no attribute handlers.
_JS = """
(function () {
  var table = document.getElementById("book"), body = table.tBodies[0], by = document.getElementById("rank-by");
  var heads = table.tHead.rows[0].cells;
  function key(row, col) {
    if (col < 0) { return row.getAttribute("data-name"); }
    var r = row.cells[col].getAttribute("data-rank");
    return r === null ? Infinity : Number(r);
  }
  function sort(col, desc) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col), c = 0;
      if (x !== y) { c = (x === Infinity) ? 1 : (y === Infinity) ? -1 : (x < y ? -1 : 1) * (desc ? -1 : 1); }
      return c || (a.getAttribute("data-name") < b.getAttribute("data-name") ? -1 : 1);
    });
    rows.forEach(function (row) {
      body.appendChild(row);
      if (col >= 0) { row.cells[0].textContent = row.cells[col].getAttribute("data-rank") || "n/a"; }
    });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[col < 0 ? 1 : col].setAttribute("aria-sort", desc ? "descending" : "ascending");
    if (col >= 0) { by.textContent = heads[col].getAttribute("data-label"); }
  }
  Array.prototype.forEach.call(table.querySelectorAll("th button"), function (button) {
    button.addEventListener("click", function () {
      var th = button.parentNode, col = th.getAttribute("data-col") === "name" ? -1 : th.cellIndex;
      sort(col, th.getAttribute("aria-sort") === "ascending");
    });
  });
})();
"""


def portfolio_html(rows: Iterable[PortfolioRow], month: str, *, title: str | None = None) -> str:
    """The portfolio page's HTML for ``rows`` (see :func:`collect_rows`). Links are relative to
    ``<output_root>/<month>/``."""
    rows = list(rows)
    from rcmkit import __version__

    reported = [r for r in rows if r.metrics is not None]
    failed = [r for r in rows if r.metrics is None]
    stale = [r for r in reported if r.error is not None]

    def total(key: str) -> float:
        return sum(float(((r.metrics.get("kpis") or {}).get(key) or {}).get("value") or 0) for r in reported)

    counts = {s: 0 for s in _STATUS_BG}
    for r in reported:
        for b in (r.metrics.get("benchmarks") or {}).values():
            if b.get("status") in counts:
                counts[b["status"]] += 1
    ranks = {k: kpi_ranks(reported, k) for k in HEADLINE_KPIS}
    medians = kpi_medians(reported)
    names = {r.practice: str((r.metrics or {}).get("practice_name") or r.practice) for r in rows}
    order = sorted(reported, key=lambda r: (ranks[DEFAULT_SORT].get(r.practice, len(rows) + 1),
                                            names[r.practice].casefold(), r.practice))
    heading = title or f"Portfolio: {fmt.month_label(month)}"
    sub = (f"{len(rows)} practice{'s' if len(rows) != 1 else ''}"
           + (f"; {len(reported)} with a report" if len(reported) != len(rows) else "")
           + (f"; {len(failed)} could not be produced" if failed else "")
           + (f"; {len(stale)} shown from an earlier run" if stale else "") + ".")
    prev_label = fmt.month_label(fmt.previous_month(month))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>", f'<div class="sub">{_e(sub)} Balances as of each practice\'s month end; '
        "each practice is measured against its own benchmark targets.</div>",
        '<div class="totals">',
    ]
    for label, value in (("Charges, all practices", fmt.usd(total("charges"))),
                         ("Payments, all practices", fmt.usd(total("payments"))),
                         ("Open A/R, all practices", fmt.usd(total("ar_total"))),
                         ("Indicators: meet / near / miss target",
                          f"{counts['meeting']} / {counts['near']} / {counts['missing']}")):
        parts.append(f'<div class="total"><div class="l">{_e(label)}</div><div class="v">{_e(value)}</div></div>')
    parts.append("</div>")
    parts.append('<div class="legend">Cell colour: <span style="background:#dff3e4;color:#14622b">meets target</span>'
                 '<span style="background:#fff1cc;color:#7a5200">near target</span>'
                 '<span style="background:#fbdcd8;color:#9b2a1d">misses target</span>'
                 "uncoloured: no target (balances and volumes). Under each value: the change since "
                 f"{_e(prev_label)} (green better, red worse) and the practice's rank (#1 best; balances and "
                 "volumes: #1 largest). Select a column heading to sort by it; again to reverse.</div>")
    if reported:
        sort_label = _label(DEFAULT_SORT)
        heads = [f'<th class="num">Rank<br><small id="rank-by">{_e(sort_label)}</small></th>',
                 '<th data-col="name"><button type="button">Practice</button></th>', "<th>Data through</th>"]
        for k in HEADLINE_KPIS:
            sort_attr = ' aria-sort="ascending"' if k == DEFAULT_SORT else ""
            heads.append(f'<th class="num" data-label="{_e(_label(k))}"{sort_attr}><button type="button">'
                         f"{_e(_label(k))}</button></th>")
        heads.append("<th>Largest dollar opportunity</th>")
        parts.append('<table id="book"><thead><tr>' + "".join(heads) + "</tr></thead><tbody>")
        for r in order:
            doc, name = r.metrics, names[r.practice]
            base = f"../{r.practice}/{month}/"
            links = " &middot; ".join(f'<a href="{_e(base + f)}">{_e(label)}</a>' for label, f in OUTPUTS
                                      if f in r.outputs)
            cells = "".join(_kpi_cell(r, k, ranks[k].get(r.practice), len(ranks[k])) for k in HEADLINE_KPIS)
            title_cell = (f'<a href="{_e(base)}monthly_report.html">{_e(name)}</a>'
                          if "monthly_report.html" in r.outputs else _e(name))
            warn = (f'<div><span class="tag stale">latest run failed</span></div><div class="err">{_e(STALE_TEXT)}'
                    "</div>" if r.error is not None else "")
            rank = ranks[DEFAULT_SORT].get(r.practice)
            cls = ' class="failed"' if warn else ""
            parts.append(f'<tr data-name="{_e(name.casefold())}"{cls}>'
                         f'<td class="rank">{rank if rank is not None else fmt.MISSING}</td>'
                         f'<td class="name"><strong>{title_cell}</strong><div class="links">{links}</div>{warn}</td>'
                         f"<td class=\"date\">{_e(doc.get('data_through') or doc.get('as_of'))}</td>"
                         f'{cells}<td class="opp">{_e(_opportunity(doc))}</td></tr>')
        parts.append("</tbody><tfoot><tr><td></td>"
                     f"<td>Median of {len(reported)} practice{'s' if len(reported) != 1 else ''}</td><td></td>")
        for k in HEADLINE_KPIS:
            parts.append(f'<td class="num">{_e(fmt.by_unit(medians[k], spec(k).unit))}</td>')
        parts.append("<td></td></tr></tfoot></table>")
        parts.append(f"<script>{_JS}</script>")
    else:
        parts.append(f'<p class="note">No practice has a report for {_e(fmt.month_label(month))}.</p>')
    if failed:
        parts.append(f"<h2>Not produced for {_e(fmt.month_label(month))}</h2>")
        parts.append('<table class="failures"><tbody>')
        for r in failed:
            parts.append(f'<tr class="failed"><td><strong>{_e(names[r.practice])}</strong></td>'
                         f'<td><span class="tag failed">not produced</span></td>'
                         f'<td class="err">{_e(FAILED_TEXT)}</td></tr>')
        parts.append("</tbody></table>")
    parts.append(f'<p class="note">Built by rcmkit {_e(__version__)} from each practice\'s report data. '
                 "Definitions and targets are in each practice's report. No patient-level data.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_portfolio(output_root: str | os.PathLike, month: str, failures: Mapping[str, str] | None = None,
                    *, title: str | None = None) -> Path:
    """Write ``<output_root>/<month>/index.html`` (atomically) and return its path. ValueError, before anything
    is written, for a month not written "YYYY-MM" with a month from 01 to 12."""
    from rcmkit.metrics import parse_month

    month = parse_month(month, "portfolio month")
    rows = collect_rows(output_root, month, failures)
    folder = store.make_dirs(Path(output_root) / month)
    path = folder / INDEX_FILE
    tmp = path.with_name(f".{INDEX_FILE}.tmp-{os.getpid()}")
    store.write_file(tmp, portfolio_html(rows, month, title=title).encode("utf-8"))
    os.replace(tmp, path)
    return path
