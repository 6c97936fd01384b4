"""The scrub work list as people read it: a terminal table, a CSV (formula-injection safe) and an offline HTML page.

Codes, dates, amounts and claim numbers only: the batch's patient names, member IDs and birth dates are never read
into the findings (the X12 reader keeps only a salted patient key), so none can appear here.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

import pandas as pd

from rcmkit.present.csvsafe import neutralise_frame
from rcmkit.scrub.rules import RULES

__all__ = ["work_list", "terminal_table", "write_csv", "write_html", "write_atomic"]

_COLUMNS = {"severity": "Severity", "claim_id": "Claim", "line_number": "Line", "rule": "Rule", "evidence": "Evidence",
            "fix": "Fix", "payer_id": "Payer", "service_date": "Service date", "at_stake": "At stake"}


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then move it into place (no half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def percent(p: float) -> str:
    """A probability as people read it: never a flat 0% or 100% for what is a chance."""
    return ">99%" if p >= 0.995 else "<1%" if p < 0.005 else f"{p:.0%}"


def work_list(findings: pd.DataFrame, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The findings as a people's table (already sorted by severity, then dollars), with the claim's risk score
    when scores are given."""
    out = pd.DataFrame({
        "severity": findings["severity"], "claim_id": findings["claim_id"],
        "line_number": findings["line_number"].astype("string").fillna(""),
        "rule": findings["rule"], "evidence": findings["evidence"], "fix": findings["fix"],
        "payer_id": findings["payer_id"], "service_date": findings["service_date"].dt.strftime("%Y-%m-%d"),
        "at_stake": findings["at_stake_cents"].map(lambda c: f"${c / 100:,.2f}"),
    })
    if scores is not None and len(scores):
        risk = scores.set_index("submission_id")["risk"]
        out["denial_risk"] = findings["submission_id"].map(risk).map(lambda r: "" if pd.isna(r) else percent(r))
    return out.reset_index(drop=True)


def terminal_table(findings: pd.DataFrame, limit: int = 50, width: int = 60) -> str:
    """A plain text table of the first ``limit`` findings (long texts cut to ``width`` characters)."""
    if findings.empty:
        return "no findings"
    wl = work_list(findings).head(limit)[["severity", "claim_id", "line_number", "rule", "at_stake", "evidence"]]
    wl["evidence"] = wl["evidence"].map(lambda s: s if len(s) <= width else s[: width - 3] + "...")
    text = wl.to_string(index=False)
    if len(findings) > limit:
        text += f"\n... and {len(findings) - limit:,} more (see the CSV or HTML work list)"
    return text


def write_csv(findings: pd.DataFrame, path: str | os.PathLike, scores: pd.DataFrame | None = None) -> Path:
    """The work list as CSV, every text cell neutralised against spreadsheet formulas."""
    wl = work_list(findings, scores)
    wl.insert(wl.columns.get_loc("rule") + 1, "check", wl["rule"].map(lambda r: RULES[r].title))
    frame = neutralise_frame(wl.rename(columns=_COLUMNS | {"check": "Check", "denial_risk": "Denial risk"}),
                             keep=["At stake"])
    return write_atomic(path, frame.to_csv(index=False))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1f24;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .sub{color:#57606a;margin:0 0 16px}
.tiles{display:flex;gap:12px;flex-wrap:wrap} .tile{border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;
min-width:150px} .tile b{display:block;font-size:22px} .tile span{color:#57606a;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;
text-align:left;vertical-align:top} th{background:#f6f8fa;position:sticky;top:0} td.num{text-align:right;
white-space:nowrap} .error{color:#b42318;font-weight:600} .warning{color:#9a6700;font-weight:600}
.info{color:#57606a} td.nw{white-space:nowrap} td.ev{min-width:260px}
.note{background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:8px 12px;margin:8px 0}
"""


def _cell(value, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{html.escape(str(value))}</td>"


def write_html(result, path: str | os.PathLike, *, title: str = "Claim scrub work list", limit: int = 2000) -> Path:
    """An offline page (no scripts, no links out): totals, notes, the findings (severity, then dollars) and the
    claims with the highest denial risk."""
    f = result.findings
    claims = len(result.claims)
    flagged = f.loc[f["severity"] == "error", "submission_id"].nunique()
    stake = int(f.loc[f["severity"] == "error"].drop_duplicates(["submission_id"])["submission_id"].map(
        result.claims.set_index("submission_id")["total_charge_cents"]).sum()) if flagged else 0
    tiles = [(f"{claims:,}", "claims checked"), (f"{flagged:,}", "claims with errors to fix"),
             (f"${stake / 100:,.2f}", "charges on those claims"),
             (f"{int((f['severity'] == 'warning').sum()):,}", "warnings to look at")]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class=sub>Diagnoses checked against {html.escape(result.icd_label)}. Fix the errors before the "
             "claims go out; warnings are worth a look.</p><div class=tiles>"]
    parts += [f"<div class=tile><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>" for v, k in tiles]
    parts.append("</div>")
    for note in result.notes:
        parts.append(f"<p class=note>{html.escape(note)}</p>")
    if len(result.rejections):
        parts.append("<h2>Files or parts of files that could not be read</h2><ul>")
        parts += [f"<li>{html.escape(m)}</li>" for m in result.rejections["message"]]
        parts.append("</ul>")
    parts.append("<h2>Findings</h2>")
    if f.empty:
        parts.append("<p>No findings: every claim passed every check.</p>")
    else:
        by_rule = f.groupby(["severity", "rule"]).agg(n=("rule", "size"), d=("at_stake_cents", "sum")).reset_index()
        parts.append("<table><tr><th>Severity</th><th>Check</th><th>Findings</th><th>At stake</th></tr>")
        for r in by_rule.sort_values(["severity", "d"], ascending=[True, False]).itertuples():
            parts.append("<tr>" + _cell(r.severity, r.severity) + _cell(RULES[r.rule].title) + _cell(f"{r.n:,}", "num")
                         + _cell(f"${r.d / 100:,.2f}", "num") + "</tr>")
        parts.append("</table><h2>Work list</h2>")
        wl = work_list(f.head(limit), result.risk)
        heads = ["Severity", "Claim", "Line", "Check", "Evidence", "Fix", "Payer", "Service date", "At stake"]
        if "denial_risk" in wl:
            heads.append("Denial risk")
        parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>")
        for r in wl.itertuples(index=False):
            cells = [_cell(r.severity, r.severity), _cell(r.claim_id, "nw"), _cell(r.line_number),
                     _cell(RULES[r.rule].title), _cell(r.evidence, "ev"), _cell(r.fix), _cell(r.payer_id),
                     _cell(r.service_date, "nw"), _cell(r.at_stake, "num")]
            if "denial_risk" in wl:
                cells.append(_cell(r.denial_risk, "num"))
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
        if len(f) > limit:
            parts.append(f"<p>{len(f) - limit:,} more findings are in the CSV work list.</p>")
    if result.risk is not None and len(result.risk):
        parts.append("<h2>Highest denial risk</h2><p class=sub>From the practice's own remittances: the chance the "
                     "payer denies the claim, and the usual rate for its payer and codes.</p>")
        parts.append("<table><tr><th>Claim</th><th>Payer</th><th>Charge</th><th>Denial risk</th>"
                     "<th>Usual rate for payer and codes</th><th>Why</th></tr>")
        for r in result.risk.head(50).itertuples(index=False):
            parts.append("<tr>" + _cell(r.claim_id) + _cell(r.payer_id) + _cell(f"${r.charge_cents / 100:,.2f}", "num")
                         + _cell(percent(r.risk), "num") + _cell(percent(r.baseline), "num") + _cell(r.reasons)
                         + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return write_atomic(path, "\n".join(parts))
