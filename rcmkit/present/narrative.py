"""The executive summary: the month in words, generated from the metrics API (nothing computed in a notebook).

:func:`executive_summary` compares the month's KPIs with the prior month's (what improved, what got worse),
says how cash and volume moved (payments and charges against the prior month and the same month last year,
with a sentence when a change is large), counts the KPIs meeting, near and missing their benchmark targets,
and names the three largest dollar
opportunities: A/R over 120 days by payer, denied dollars not yet resubmitted by category, and the payer with
the most open insurance A/R past 60 days. The result is a frozen value with ``to_text()``, ``to_html()`` and
``to_dict()``; the same inputs give the same words.
"""

from __future__ import annotations

import csv
import html
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import pandas as pd

from rcmkit.metrics import first_ledger_month, latest_event
from rcmkit.present import format as fmt
from rcmkit.present.tiles import BETTER

__all__ = ["Change", "Opportunity", "ExecutiveSummary", "executive_summary", "data_through", "opportunities",
           "cash_and_volume", "denial_actions", "denial_action", "BETTER", "STEADY", "LARGE_CHANGE"]

#: A change smaller than this (in the KPI's unit: days, or a fraction for percentages) is "steady".
STEADY = {"days": 0.5, "pct": 0.005}
#: A relative change of payments or charges at least this large gets its own sentence in the summary.
LARGE_CHANGE = 0.10
#: What a large fall of payments or charges usually means, and where the report shows it.
_CASH_FALL = {
    "payments": "check that every remittance and patient payment of the month has been posted, and which payer "
                "paid less (payer scorecard)",
    "charges": "check for fewer visits or services not yet billed (charge lag and unbilled charges)",
}

@lru_cache(maxsize=1)
def denial_actions() -> dict[str, tuple[str, str]]:
    """``{denial category: (recommended action, source)}`` from ``rcmkit/data/denial_actions.csv`` (one row per
    category of the CARC crosswalk, plus "Other")."""
    path = resources.files("rcmkit") / "data" / "denial_actions.csv"
    with path.open("r", encoding="utf-8", newline="") as f:
        return {r["category"]: (r["action"], r["source"]) for r in csv.DictReader(f)}


def denial_action(category: str) -> str:
    """The recommended action for a denial category (:func:`denial_actions`; "Other" for one it lacks)."""
    actions = denial_actions()
    return (actions.get(str(category)) or actions["Other"])[0]


@dataclass(frozen=True)
class Change:
    """One KPI's move from the prior month: ``verdict`` is improved, worse, steady or changed (no direction)."""

    key: str
    label: str
    unit: str
    before: float | None
    after: float | None
    verdict: str
    text: str


@dataclass(frozen=True)
class Opportunity:
    """A dollar amount the practice can act on. ``kind``: aged_ar, open_denials or insurance_ar_60."""

    kind: str
    subject: str
    cents: int
    text: str
    payer_id: str | None = None
    claims: int | None = None
    label: str = ""  # a short name for tables: "Patient balances over 120 days"


@dataclass(frozen=True)
class ExecutiveSummary:
    practice: str
    month: str
    headline: str
    improved: tuple[Change, ...] = ()
    worsened: tuple[Change, ...] = ()
    steady: tuple[Change, ...] = ()
    opportunities: tuple[Opportunity, ...] = ()
    status_counts: Mapping[str, int] = field(default_factory=dict)
    prior_month: str | None = None
    cash: tuple[str, ...] = ()  # payments and charges against the prior month and a year ago (cash_and_volume)

    def to_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "prior_month": self.prior_month,
            "cash_and_volume": list(self.cash),
            "improved": [c.text for c in self.improved],
            "worsened": [c.text for c in self.worsened],
            "steady": [c.label for c in self.steady],
            "status_counts": dict(self.status_counts),
            "opportunities": [asdict(o) for o in self.opportunities],
        }

    def _compare_lines(self) -> tuple[str, str]:
        if self.prior_month is None:
            return "There is no prior month in the data to compare with.", ""
        prior = fmt.month_label(self.prior_month)
        better = "; ".join(_lower_first(c.text) for c in self.improved) or "nothing moved noticeably"
        worse = "; ".join(_lower_first(c.text) for c in self.worsened) or "nothing moved noticeably"
        return f"Better than {prior}: {better}.", f"Worse than {prior}: {worse}."

    def to_text(self) -> str:
        lines = [self.headline, *self.cash, *[s for s in self._compare_lines() if s]]
        if self.opportunities:
            lines.append("Largest dollar opportunities:")
            lines += [f"{i}. {o.text}" for i, o in enumerate(self.opportunities, start=1)]
        return "\n".join(lines)

    def to_html(self) -> str:
        from rcmkit.present.tiles import STYLE

        e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
        better, worse = self._compare_lines()
        parts = [STYLE, '<div class="rcm rcm-summary">', f'<p class="rcm-lead">{e(self.headline)}</p>']
        if self.cash:
            parts.append(f'<h4>Cash and volume</h4><p class="rcm-cash">{e(" ".join(self.cash))}</p>')
        if self.prior_month is None:
            parts.append(f"<p>{e(better)}</p>")
        else:
            prior = e(fmt.month_label(self.prior_month))
            parts.append('<div class="rcm-cols">')
            for title, items, cls in ((f"Better than {prior}", self.improved, "rcm-good"),
                                      (f"Worse than {prior}", self.worsened, "rcm-bad")):
                li = "".join(f"<li>{e(c.text)}</li>" for c in items) or '<li class="rcm-note">Nothing moved noticeably.</li>'
                parts.append(f'<div><h4 class="{cls}">{title}</h4><ul>{li}</ul></div>')
            parts.append("</div>")
        if self.opportunities:
            n = len(self.opportunities)
            head = "The largest dollar opportunity" if n == 1 else f"The {n} largest dollar opportunities"
            items = "".join(f"<li>{e(o.text)}</li>" for o in self.opportunities)
            parts.append(f'<h4>{head}</h4><ol class="rcm-opps">{items}</ol>')
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:  # a notebook cell can show the summary as its last value
        return self.to_html()


# --------------------------------------------------------------------------------------------- helpers
def data_through(tables: Mapping[str, Any]) -> str:
    """The data's as-of date ('YYYY-MM-DD'): its latest dated event (:func:`rcmkit.metrics.latest_event`: a
    submission, payment or posting), on any engine.

    A report says this instead of the wall-clock time it was made, so a rerun on the same data is identical.
    """
    return latest_event(tables).strftime("%Y-%m-%d")


def _change(kpi: Any, before: Any) -> Change:
    key, unit, after = kpi.key, kpi.unit, kpi.value
    label = kpi.label
    if fmt.is_missing(before) or fmt.is_missing(after):
        return Change(key, label, unit, None if fmt.is_missing(before) else float(before),
                      None if fmt.is_missing(after) else float(after), "n/a", f"{label}: no comparison")
    before, after = float(before), float(after)
    delta = after - before
    direction = BETTER.get(key, 0)
    if direction == 0:
        verdict = "changed"
    elif abs(delta) < STEADY.get(unit, 0.0):
        verdict = "steady"
    else:
        verdict = "improved" if delta * direction > 0 else "worse"
    text = f"{label} from {fmt.by_unit(before, unit)} to {fmt.by_unit(after, unit)} ({fmt.delta(delta, unit)})"
    return Change(key, label, unit, before, after, verdict, text)


def _pct_change(after: Any, before: Any) -> float | None:
    if fmt.is_missing(after) or fmt.is_missing(before) or float(before) == 0:
        return None
    return float(after) / float(before) - 1.0


def _move(change: float) -> str:
    if abs(change) < 0.005:
        return "about the same as"
    return f"{'up' if change > 0 else 'down'} {fmt.pct(abs(change), 0)} from"


def cash_and_volume(comparison: pd.DataFrame | None, month: str) -> tuple[str, ...]:
    """Payments and charges of ``month`` in words, against the prior month and the same month last year
    (``comparison``: :func:`rcmkit.report.model.kpi_comparison`), then one sentence for each fall or rise of at
    least :data:`LARGE_CHANGE` from the prior month. Months without data are left out; no comparison at all:
    ``()``."""
    if comparison is None or not len(comparison):
        return ()
    rows = {str(r["key"]): r for r in comparison.to_dict("records")}
    prior_label = fmt.month_label(fmt.previous_month(month))
    year_label = fmt.month_label(fmt.months_back(month, 12))
    out: list[str] = []
    large: list[str] = []
    for key, noun in (("payments", "Payments"), ("charges", "Charges")):
        r = rows.get(key)
        if r is None or fmt.is_missing(r.get("value")):
            continue
        cents = round(float(r["value"]) * 100)
        parts = []
        for before, label in ((r.get("prior"), prior_label), (r.get("year_ago"), year_label)):
            change = _pct_change(r["value"], before)
            if change is not None:
                parts.append(f"{_move(change)} {label} ({fmt.usd_whole(round(float(before) * 100))})")
        out.append(f"{noun} were {fmt.usd_whole(cents)}" + (f", {' and '.join(parts)}." if parts else "."))
        change = _pct_change(r["value"], r.get("prior"))
        if change is not None and abs(change) >= LARGE_CHANGE:
            if change < 0:
                large.append(f"{noun} fell {fmt.pct(-change, 0)} in a month: {_CASH_FALL[key]}.")
            else:
                large.append(f"{noun} rose {fmt.pct(change, 0)} in a month.")
    return tuple(out + large)


def _over_buckets(over_days: int) -> list[str]:
    from rcmkit.metrics import AGING_BUCKETS

    edges = {"0-30": 0, "31-60": 30, "61-90": 60, "91-120": 90, "120+": 120}
    return [b for b in AGING_BUCKETS if edges[b] >= over_days]


def opportunities(
    tables: Mapping[str, pd.DataFrame], month: str, options: Any = None, *, top: int = 3,
    aging: pd.DataFrame | None = None, denials: pd.DataFrame | None = None,
) -> list[Opportunity]:
    """The ``top`` largest dollar opportunities at the end of ``month``, largest first.

    Candidates: each responsible party's A/R older than ``options.aged_over_days`` (``ar_aging`` by payer); each
    denial category's open balance not yet resubmitted (``open_denials``); and the single payer with the most
    open insurance A/R past 60 days. A/R candidates of a payer already chosen are skipped, so no dollar is
    counted twice among the A/R items (a denied claim's balance is also A/R: the denial item names the work,
    not new money).
    """
    from rcmkit.metrics import MetricOptions, ar_aging
    from rcmkit.metrics.payers import open_denials

    options = options or MetricOptions()
    aging = ar_aging(tables, month, options, by="payer") if aging is None else aging
    denials = open_denials(tables, month, options) if denials is None else denials
    n = options.aged_over_days
    cands: list[Opportunity] = []
    if len(aging):
        a = aging.assign(payer_id=aging["payer_id"].astype(str), bucket=aging["bucket"].astype(str))
        names = a.drop_duplicates("payer_id").set_index("payer_id")["payer_name"].to_dict()
        total = a.groupby("payer_id")["balance_cents"].sum()
        over = a[a["bucket"].isin(_over_buckets(n))].groupby("payer_id")["balance_cents"].sum()
        for pid, cents in over.items():
            if cents <= 0:
                continue
            share = fmt.pct(cents / total[pid], 0)
            if pid == "patient":
                text = (f"{fmt.usd_whole(cents)} of patient balances are over {n} days old ({share} of what patients "
                        "owe): send final statements, offer payment plans, and decide what goes to collections or "
                        "is written off.")
                subject = "Patient balances"
            else:
                name = names.get(pid) or pid
                text = (f"{fmt.usd_whole(cents)} owed by {name} is over {n} days old ({share} of its open balance): "
                        "work these claims oldest first, appeal or correct what is collectible and write off what is "
                        "not.")
                subject = str(name)
            cands.append(Opportunity("aged_ar", subject, int(cents), text, payer_id=pid,
                                     label=f"{subject} over {n} days" if pid == "patient"
                                     else f"{subject} A/R over {n} days"))
        ins = a[(a["payer_id"] != "patient") & a["bucket"].isin(_over_buckets(60))]
        past60 = ins.groupby("payer_id")["balance_cents"].sum()
        past60 = past60[past60 > 0]
        if len(past60):
            pid = sorted(past60.index, key=lambda p: (-int(past60[p]), p))[0]
            name = names.get(pid) or pid
            cents = int(past60[pid])
            text = (f"{name} holds the most insurance A/R past 60 days, {fmt.usd_whole(cents)}: call the payer "
                    "about every claim still unpaid after 60 days (claim status, missing information, denials not yet "
                    "worked).")
            cands.append(Opportunity("insurance_ar_60", str(name), cents, text, payer_id=pid,
                                     label=f"{name}: insurance A/R past 60 days"))
    for row in denials.to_dict("records"):
        cents = int(row["balance_cents"])
        if cents <= 0:
            continue
        cat = str(row["category"])
        claims = int(row["claims"])
        action = _lower_first(denial_action(cat).split(";")[0])
        text = (f"{fmt.usd_whole(cents)} on {claims:,} claim{'s' if claims != 1 else ''} denied for "
                f"{_lower_first(cat)}, not yet resubmitted: {action}.")
        cands.append(Opportunity("open_denials", cat, cents, text, claims=claims,
                                 label=f"Denials not resubmitted: {_lower_first(cat)}"))
    kind_rank = {"aged_ar": 0, "insurance_ar_60": 1, "open_denials": 2}
    cands.sort(key=lambda o: (-o.cents, kind_rank[o.kind], o.subject))
    chosen: list[Opportunity] = []
    payers_chosen: set[str] = set()
    for o in cands:
        if len(chosen) >= top:
            break
        if o.payer_id is not None:
            if o.payer_id in payers_chosen:
                continue
            payers_chosen.add(o.payer_id)
        chosen.append(o)
    return chosen


def executive_summary(
    tables: Mapping[str, pd.DataFrame],
    month: str,
    options: Any = None,
    *,
    kpis: Mapping[str, Any] | None = None,
    prior: Mapping[str, Any] | None = None,
    trend: pd.DataFrame | None = None,
    status: pd.DataFrame | None = None,
    practice: str = "",
    practice_name: str | None = None,
    aging: pd.DataFrame | None = None,
    open_denials: pd.DataFrame | None = None,
    suspense: Mapping[str, int] | None = None,
    comparison: pd.DataFrame | None = None,
) -> ExecutiveSummary:
    """The month in words, from the metrics API.

    ``kpis`` (``monthly_kpis`` of ``month``), ``prior`` (``{key: value}`` of the prior month; taken from
    ``trend``, a ``kpi_trend`` frame, when that holds the prior month), ``status`` (``benchmark_status``),
    ``aging`` (``ar_aging(..., by="payer")`` at the end of ``month``) and ``open_denials``
    (:func:`rcmkit.metrics.payers.open_denials` of ``month``) and ``suspense``
    (:func:`rcmkit.metrics.unapplied_postings` of ``month``) are computed when not given; ``comparison``
(:func:`rcmkit.report.model.kpi_comparison`) adds the cash-and-volume sentences (:func:`cash_and_volume`); a
    caller that has
    them (:func:`rcmkit.report.model.build_report`) passes them, so nothing is computed twice. With no data
    before ``month`` there is nothing to compare: the summary says so.
    """
    from rcmkit.metrics import MetricOptions, benchmark_status, monthly_kpis, unapplied_postings

    options = options or MetricOptions()
    kpis = monthly_kpis(tables, month, options) if kpis is None else kpis
    prior_month = fmt.previous_month(month)
    first = first_ledger_month(tables)
    if first is None or prior_month < first:
        prior = None  # no data before this month: nothing to compare with
    elif prior is None and trend is not None and "month" in trend.columns:
        rows = trend[trend["month"].astype(str) == prior_month].to_dict("records")
        prior = {k: v for k, v in rows[0].items() if k != "month"} if rows else None
    if prior is None and first is not None and prior_month >= first:
        prior = {k: v.value for k, v in monthly_kpis(tables, prior_month, options).items()}
    if not prior:
        prior_month = None
    status = benchmark_status(kpis) if status is None else status

    changes = [_change(k, prior.get(key)) for key, k in kpis.items()] if prior else []
    improved = tuple(c for c in changes if c.verdict == "improved")
    worsened = tuple(c for c in changes if c.verdict == "worse")
    steady = tuple(c for c in changes if c.verdict == "steady")

    counts = {s: int((status["status"] == s).sum()) for s in ("meeting", "near", "missing")}
    who = practice_name or "the practice"
    parts = []
    if "charges" in kpis and "payments" in kpis:
        parts.append(f"In {fmt.month_label(month)} {who} billed {fmt.kpi_value(kpis['charges'])} and collected "
                     f"{fmt.kpi_value(kpis['payments'])}.")
    if "ar_total" in kpis and "days_in_ar" in kpis:
        parts.append(f"Open A/R at month end was {fmt.kpi_value(kpis['ar_total'])}, "
                     f"{fmt.kpi_value(kpis['days_in_ar'])} of charges.")
    waiting = suspense if suspense is not None else unapplied_postings(tables, month)
    if waiting["count"]:
        paid = waiting["payments_cents"]
        money = f"{fmt.usd_whole(paid)} of payments" if paid else "adjustments"
        parts.append(f"{waiting['count']:,} posting(s) from the practice's PM export ({money}) wait for claims not "
                     "loaded yet and are in none of these numbers.")
    rated = sum(counts.values())
    if rated:
        missing = status.loc[status["status"] == "missing", "label"].tolist()
        miss = f": {_join([_lower_first(m) for m in missing])}" if missing else ""
        verb = lambda n, one, many: f"{n} {one if n == 1 else many}"  # noqa: E731
        parts.append(f"Of {rated} indicators with a benchmark target, {verb(counts['meeting'], 'meets', 'meet')} it, "
                     f"{verb(counts['near'], 'is', 'are')} near it and {verb(counts['missing'], 'misses', 'miss')} "
                     f"it{miss}.")
    return ExecutiveSummary(
        practice=practice,
        month=month,
        headline=" ".join(parts),
        improved=improved,
        worsened=worsened,
        steady=steady,
        opportunities=tuple(opportunities(tables, month, options, aging=aging, denials=open_denials)),
        status_counts=counts,
        prior_month=prior_month,
        cash=cash_and_volume(comparison, month),
    )


def _lower_first(text: str) -> str:
    """'Clean-claim rate' -> 'clean-claim rate' inside a sentence; 'A/R over 120 days' stays as it is."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


