"""The rest of the KPI suite, shaped for the report: work lists, the denial cohort and the definitions of the
measures the report shows beside its headline KPIs (underpayment totals: :mod:`rcmkit.metrics.contracts`).

Nothing here computes a metric: every number comes from a call into :mod:`rcmkit.metrics`, and these helpers
only name, order and count its results. Work-list rows carry claim_id and payer only, never patient data.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import pandas as pd

from rcmkit.metrics.contracts import underpayment_tolerance
from rcmkit.present import format as fmt

__all__ = ["WorkList", "WorkLists", "worklist_summary", "denial_cohort_month", "measure_definitions",
           "WORKLIST_COLUMNS", "NO_RESPONSE_DAYS", "WARN_DAYS", "DENIAL_COHORT_BACK",
           "APPEAL_WINDOW_DAYS"]

#: The work lists' thresholds, defined once: the report's lists (:func:`worklist_summary`) and the methods
#: section (:func:`measure_definitions`) both read them. A claim is on the no-response list after this many days
#: without a payer answer ...
NO_RESPONSE_DAYS = 30
#: ... and on the timely-filing list when its filing deadline falls within this many days (or has passed).
WARN_DAYS = 30
#: Denials younger than this are listed first in the denied-not-resubmitted list, oldest first (closest to the
#: appeal limit: Medicare's redetermination window is 120 days from the notice, 42 CFR 405.942; most commercial
#: payers allow 90 to 180 days); older denials follow, largest balance first.
APPEAL_WINDOW_DAYS = 120
#: The denial cohort the report follows up: the initial denials of this many months before the report month.
DENIAL_COHORT_BACK = 3

#: The columns a work list shows, per list (claim and payer only: no patient identifiers).
WORKLIST_COLUMNS = {
    "no_response": ("claim_id", "payer_id", "last_submitted_on", "days_waiting", "balance_cents"),
    "timely_filing_risk": ("claim_id", "payer_id", "deadline", "days_left", "balance_cents"),
    "denied_not_resubmitted": ("claim_id", "payer_id", "last_answer_on", "days_since_denial", "balance_cents"),
}


@dataclass(frozen=True)
class WorkList:
    """One work list: ``rows`` is the metric function's result, unchanged (largest balance first); :meth:`top`
    is the report's order (:attr:`order`)."""

    key: str
    name: str
    rule: str
    rows: pd.DataFrame

    @property
    def claims(self) -> int:
        return len(self.rows)

    @property
    def balance_cents(self) -> int:
        return int(self.rows["balance_cents"].sum()) if len(self.rows) else 0

    @property
    def order(self) -> str:
        """How :meth:`top` orders the list, in words (the report's table caption)."""
        if self.key == "denied_not_resubmitted":
            return (f"denials of the last {APPEAL_WINDOW_DAYS} days first, oldest first as the nearest to the payer's "
                    "appeal limit; older denials after them, largest balance first")
        return "largest open balance first"

    def ordered(self) -> pd.DataFrame:
        """Every row in the report's order (:attr:`order`): largest balance first, except the denied list, whose
        denials within :data:`APPEAL_WINDOW_DAYS` come first, oldest first (ties: larger balance, claim ID),
        then the older ones by balance. A 579-day-old denial no longer crowds out one that can still be
        appealed."""
        rows = self.rows
        if self.key != "denied_not_resubmitted" or not len(rows):
            return rows
        age = pd.to_numeric(rows["days_since_denial"], errors="coerce")
        recent = age <= APPEAL_WINDOW_DAYS
        key = pd.DataFrame({"_old": (~recent).astype(int), "_age": (-age).where(recent, 0),
                            "_bal": -rows["balance_cents"], "_id": rows["claim_id"].astype(str)}, index=rows.index)
        order = key.sort_values(["_old", "_age", "_bal", "_id"], kind="stable").index
        return rows.loc[order]

    def top(self, n: int = 10) -> pd.DataFrame:
        """The first ``n`` rows in the report's order (:meth:`ordered`), only the columns of
        :data:`WORKLIST_COLUMNS`."""
        return self.ordered().loc[:, list(WORKLIST_COLUMNS[self.key])].head(n).reset_index(drop=True)


@dataclass(frozen=True)
class WorkLists:
    """The month's work lists, in report order; ``worklists["no_response"]`` or iterate."""

    month: str
    lists: tuple[WorkList, ...]

    def __iter__(self) -> Iterator[WorkList]:
        return iter(self.lists)

    def __getitem__(self, key: str) -> WorkList:
        for wl in self.lists:
            if wl.key == key:
                return wl
        raise KeyError(key)

    def summary(self) -> pd.DataFrame:
        """One row per list: key, name, rule, claims, balance_cents."""
        return pd.DataFrame([{"key": w.key, "name": w.name, "rule": w.rule, "claims": w.claims,
                              "balance_cents": w.balance_cents} for w in self.lists],
                            columns=["key", "name", "rule", "claims", "balance_cents"])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{key: {"name", "claims", "balance_cents"}}`` for metrics.json."""
        return {w.key: {"name": w.name, "claims": w.claims, "balance_cents": w.balance_cents} for w in self.lists}


def worklist_summary(
    tables: Mapping[str, pd.DataFrame], month: str, options: Any = None, *, no_response_days: int = NO_RESPONSE_DAYS,
    warn_days: int = WARN_DAYS,
) -> WorkLists:
    """The three work lists at the end of ``month``: :func:`~rcmkit.metrics.no_response` (no payer answer for more
    than ``no_response_days`` days), :func:`~rcmkit.metrics.timely_filing_risk` (filing deadline within
    ``warn_days`` days or passed) and :func:`~rcmkit.metrics.denied_not_resubmitted`. Each list's rows are the
    metric's result as returned."""
    from rcmkit.metrics import MetricOptions, denied_not_resubmitted, no_response, timely_filing_risk

    options = options or MetricOptions()
    return WorkLists(month, (
        WorkList("no_response", "No payer response",
                 f"submitted, open with the payer and no payer answer for more than {no_response_days} days: "
                 "check claim status with the payer",
                 no_response(tables, month, options, days=no_response_days)),
        WorkList("timely_filing_risk", "Timely filing at risk",
                 f"never adjudicated and the payer's filing deadline passed or falls within {warn_days} days: "
                 "file (again) now, or appeal with proof of timely filing",
                 timely_filing_risk(tables, month, options, warn_days=warn_days)),
        WorkList("denied_not_resubmitted", "Denied, not resubmitted",
                 "open with the payer, latest answer a denial and no submission since: correct and resubmit, "
                 "or appeal",
                 denied_not_resubmitted(tables, month, options)),
    ))


def denial_cohort_month(month: str, back: int = DENIAL_COHORT_BACK) -> str:
    """The month whose initial denials the report follows up: ``back`` months before ``month`` (October ->
    July), long enough for appeals and resubmissions to have been answered."""
    return fmt.months_back(month, back)


# --------------------------------------------------------------------------------------------- methods
def _first_paragraph(fn: Callable, values: Mapping[str, Any]) -> str:
    """The docstring's first paragraph as plain text, with ``parameter`` names replaced by the values used."""
    doc = inspect.getdoc(fn) or ""
    text = doc.split("\n\n")[0]
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?(\w+)`", r"\1", text)  # :func:`~rcmkit.metrics.x.name` -> name
    text = re.sub(r"``(\w+)``", lambda mt: str(values.get(mt.group(1), mt.group(1))), text)
    text = re.sub(r"\s*\(default:[^)]*\)", "", text.replace("``", ""))  # the values used replace the defaults
    return re.sub(r"\s+", " ", text).strip()


def measure_definitions(
    options: Any = None, *, no_response_days: int = NO_RESPONSE_DAYS, warn_days: int = WARN_DAYS,
) -> pd.DataFrame:
    """The definitions of the measures the report shows beside its headline KPIs: measure, definition (the
    metric function's own docstring, its parameter names replaced by the values this report uses, so it cannot
    drift from the code) and function."""
    from rcmkit import metrics as m

    options = options or m.MetricOptions()
    pct, cents = underpayment_tolerance()
    values = {"month": "the month", "collection_months": options.collection_months, "days": no_response_days,
              "warn_days": warn_days, "as_of": "the end of the report month",
              "tolerance_pct": f"{pct:g}", "tolerance_cents": f"{cents} cents"}
    rows = [
        ("Gross collection rate", m.gross_collection_rate),
        ("Adjustments as a share of charges", m.adjustment_shares),
        ("Payments by payer class", m.payments_by_payer_class),
        ("Charge lag", m.charge_lag),
        ("Unbilled charges", m.unbilled_charges),
        ("Denial rate by procedure code", m.denial_rates_by),
        ("Denial outcomes", m.denial_outcomes),
        ("Underpayments", m.underpayments),
        ("No payer response", m.no_response),
        ("Timely filing at risk", m.timely_filing_risk),
        ("Denied, not resubmitted", m.denied_not_resubmitted),
    ]
    out = [{"metric": label, "definition": _first_paragraph(fn, values), "function": f"rcmkit.metrics.{fn.__name__}"}
           for label, fn in rows]
    return pd.DataFrame(out, columns=["metric", "definition", "function"])
