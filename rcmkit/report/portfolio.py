"""The portfolio page: ``<output_root>/<YYYY-MM>/index.html``, every practice's headline KPIs for one month.

An RCM company sees its whole book at once: one row per practice with its headline KPIs coloured by benchmark
status (each practice's own targets, as its report used them), its largest dollar opportunity, and relative links
to its HTML and PDF report. Static HTML with inline CSS: no JavaScript, nothing fetched. It is built from the
``metrics.json`` files on disk (plus this run's failures), sorted by practice, with no wall-clock time in it:
the same reports give the same page. Like every report file it is private to its owner (``0600`` in ``0700``
folders, or ``RCMKIT_FILE_MODE``: :func:`rcmkit.core.store.write_file`).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from rcmkit.core import store
from rcmkit.metrics.registry import portfolio_keys, spec
from rcmkit.present import format as fmt
from rcmkit.report.record import METRICS_FILE

__all__ = ["PortfolioRow", "HEADLINE_KPIS", "collect_rows", "portfolio_html", "write_portfolio", "INDEX_FILE"]

INDEX_FILE = "index.html"
#: The KPIs shown per practice, in column order: the registry's portfolio columns (rcmkit.metrics.registry;
#: the aged-over column takes whichever of the two a report has).
HEADLINE_KPIS = portfolio_keys()

_STATUS_BG = {"meeting": "#dff3e4", "near": "#fff1cc", "missing": "#fbdcd8"}
_STATUS_FG = {"meeting": "#14622b", "near": "#7a5200", "missing": "#9b2a1d"}
_STATUS_WORD = {"meeting": "meets target", "near": "near target", "missing": "misses target"}


@dataclass(frozen=True)
class PortfolioRow:
    practice: str
    month: str
    metrics: Mapping[str, Any] | None  # the practice's metrics.json, None when there is no report
    error: str | None = None  # this run's failure (first line), if any
    has_pdf: bool = False


def collect_rows(output_root: str | os.PathLike, month: str,
                 failures: Mapping[str, str] | None = None) -> list[PortfolioRow]:
    """One row per practice with a report for ``month`` under ``output_root`` (``<practice>/<month>/metrics.json``),
    plus a row per failure of this run (``{practice: first error line}``), sorted by practice."""
    root = Path(output_root)
    rows: dict[str, PortfolioRow] = {}
    if root.is_dir():
        for path in sorted(root.glob(f"*/{month}/{METRICS_FILE}")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if doc.get("month") != month:
                continue
            practice = str(doc.get("practice") or "")
            if not store.PRACTICE_NAME.fullmatch(practice) or ".." in practice:
                practice = path.parent.parent.name  # links are built from it: only a plain folder name
            rows[practice] = PortfolioRow(practice, month, doc, None,
                                          has_pdf=(path.parent / "monthly_report.pdf").is_file())
    for practice, error in (failures or {}).items():
        old = rows.get(practice)
        rows[practice] = PortfolioRow(practice, month, old.metrics if old else None, error,
                                      has_pdf=old.has_pdf if old else False)
    return [rows[k] for k in sorted(rows)]


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _kpi_cell(doc: Mapping[str, Any], key: str) -> str:
    kpi = (doc.get("kpis") or {}).get(key)
    if kpi is None and key == "ar_over_120_pct":
        key = "ar_over_90_pct"
        kpi = (doc.get("kpis") or {}).get(key)
    if kpi is None:
        return f'<td class="num na">{fmt.MISSING}</td>'
    text = fmt.by_unit(kpi.get("value"), kpi.get("unit", ""))
    status = ((doc.get("benchmarks") or {}).get(key) or {}).get("status")
    if status in _STATUS_BG:
        target = (doc.get("benchmarks") or {})[key]
        tip = (f"{_STATUS_WORD[status]}; target {fmt.threshold(target.get('good'), kpi.get('unit', ''))} "
               f"(source: {target.get('source')})")
        return (f'<td class="num st-{status}" title="{_e(tip)}">{_e(text)}'
                f'<span class="sr"> ({_STATUS_WORD[status]})</span></td>')
    return f'<td class="num">{_e(text)}</td>'


def _opportunity(doc: Mapping[str, Any]) -> str:
    opps = ((doc.get("summary") or {}).get("opportunities")) or []
    if not opps:
        return fmt.MISSING
    o = opps[0]
    return f"{o.get('label') or o.get('subject')}: {fmt.usd_whole(int(o.get('cents') or 0))}"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; margin: 28px auto;
       max-width: 1400px; padding: 0 20px; }
h1 { font-size: 1.7em; margin: 0 0 .2em 0; }
.sub { color: #555; margin-bottom: 1em; }
.totals { display: flex; gap: 14px; flex-wrap: wrap; margin: 10px 0 18px 0; }
.total { border: 1px solid #dcdcdc; border-radius: 6px; padding: 8px 14px; background: #fafafa; min-width: 150px; }
.total .l { font-size: .78em; color: #555; text-transform: uppercase; letter-spacing: .03em; }
.total .v { font-size: 1.35em; font-weight: 600; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; font-size: .88em; font-variant-numeric: tabular-nums; width: 100%; }
th { background: #f0f2f4; border-bottom: 2px solid #c8cdd2; padding: 6px 8px; text-align: left; vertical-align: bottom; }
td { border-bottom: 1px solid #e6e6e6; padding: 5px 8px; vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.st-meeting { background: #dff3e4; color: #14622b; font-weight: 600; }
td.st-near { background: #fff1cc; color: #7a5200; font-weight: 600; }
td.st-missing { background: #fbdcd8; color: #9b2a1d; font-weight: 600; }
td.na { color: #999; }
td.date { white-space: nowrap; }
tr.failed td { background: #fff6f5; }
.err { color: #9b2a1d; }
.tag { display: inline-block; font-size: .75em; font-weight: 600; padding: 1px 7px; border-radius: 9px; color: #fff; }
.tag.ok { background: #1a7f37; } .tag.failed { background: #c0392b; } .tag.stale { background: #b7791f; }
.legend { font-size: .82em; color: #555; margin: 10px 0; }
.legend span { display: inline-block; padding: 1px 8px; border-radius: 3px; margin-right: 6px; }
.note { color: #666; font-size: .82em; margin-top: 14px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
a { color: #0b5cad; }
@page { size: Letter landscape; margin: 0.5in; }
@media print { tr { break-inside: avoid; } body { margin: 0; } }
"""


def portfolio_html(rows: Iterable[PortfolioRow], month: str, *, title: str | None = None) -> str:
    """The portfolio page's HTML for ``rows`` (see :func:`collect_rows`). Links are relative to
    ``<output_root>/<month>/``."""
    rows = list(rows)
    from rcmkit import __version__

    reported = [r for r in rows if r.metrics is not None]
    failed = [r for r in rows if r.error is not None]

    def total(key: str) -> float:
        return sum(float(((r.metrics.get("kpis") or {}).get(key) or {}).get("value") or 0) for r in reported)

    counts = {s: 0 for s in _STATUS_BG}
    for r in reported:
        for b in (r.metrics.get("benchmarks") or {}).values():
            if b.get("status") in counts:
                counts[b["status"]] += 1
    heading = title or f"Portfolio: {fmt.month_label(month)}"
    sub = (f"{len(rows)} practice{'s' if len(rows) != 1 else ''}; {len(reported)} with a report"
           + (f", {len(failed)} failed in the latest run" if failed else "") + ".")
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
                 "uncoloured: no target (balances and volumes).</div>")
    heads = (["Practice", "Report", "Data through"]
             + [spec(k).label.replace(" N ", " 120 ").removesuffix(" (claims)") for k in HEADLINE_KPIS]
             + ["Largest dollar opportunity"])
    numeric = set(range(3, 3 + len(HEADLINE_KPIS)))
    parts.append("<table><thead><tr>" + "".join(
        f'<th class="{"num" if i in numeric else ""}">{_e(h)}</th>' for i, h in enumerate(heads)) + "</tr></thead><tbody>")
    for r in rows:
        doc = r.metrics
        name = (doc or {}).get("practice_name") or r.practice
        base = f"../{r.practice}/{month}/"
        if doc is None:
            parts.append(f'<tr class="failed"><td><strong>{_e(name)}</strong></td><td><span class="tag failed">failed'
                         f'</span></td><td colspan="{len(heads) - 2}" class="err">{_e(r.error)}</td></tr>')
            continue
        links = f'<a href="{_e(base)}monthly_report.html">HTML</a>'
        if r.has_pdf:
            links += f' &middot; <a href="{_e(base)}monthly_report.pdf">PDF</a>'
        tag = '<span class="tag ok">ok</span>' if r.error is None else '<span class="tag stale">last run failed</span>'
        cells = "".join(_kpi_cell(doc, k) for k in HEADLINE_KPIS)
        cls = ' class="failed"' if r.error else ""
        err = f'<div class="err">{_e(r.error)}</div>' if r.error else ""
        parts.append(f"<tr{cls}><td><strong><a href=\"{_e(base)}monthly_report.html\">{_e(name)}</a></strong>"
                     f"{'' if name == r.practice else f'<br><small>{_e(r.practice)}</small>'}</td>"
                     f"<td>{tag}<br>{links}</td><td class=\"date\">{_e(doc.get('data_through') or doc.get('as_of'))}</td>"
                     f"{cells}<td>{_e(_opportunity(doc))}{err}</td></tr>")
    parts.append("</tbody></table>")
    parts.append(f'<p class="note">Built by rcmkit {_e(__version__)} from each practice\'s metrics.json. '
                 "Definitions and targets are in each practice's report (Methods). No patient-level data.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_portfolio(output_root: str | os.PathLike, month: str, failures: Mapping[str, str] | None = None,
                    *, title: str | None = None) -> Path:
    """Write ``<output_root>/<month>/index.html`` (atomically) and return its path."""
    from rcmkit.metrics import parse_month

    month = parse_month(month, "portfolio month")
    rows = collect_rows(output_root, month, failures)
    folder = store.make_dirs(Path(output_root) / month)
    path = folder / INDEX_FILE
    tmp = path.with_name(f".{INDEX_FILE}.tmp-{os.getpid()}")
    store.write_file(tmp, portfolio_html(rows, month, title=title).encode("utf-8"))
    os.replace(tmp, path)
    return path
