"""The client report's appendix, "How these numbers are defined": every indicator in words, with its source.

The practice owner reads definitions, sources and the variant used in plain words ("Days in A/R: gross A/R over
average daily charges of the last 3 months (AAFP)"); the analyst's technical definitions (formulas, function
names, the metric options) stay in ``metrics.json`` and in the notebook's model
(:attr:`rcmkit.report.model.MonthlyReport.definitions` and ``measures``), never in the client HTML.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import pandas as pd

from rcmkit.metrics import MetricOptions
from rcmkit.metrics.contracts import underpayment_tolerance
from rcmkit.present import format as fmt
from rcmkit.present.tiles import STATUS_COLORS, STYLE, html_table, target_text

__all__ = ["kpi_words", "measure_words", "definitions_appendix", "targets_table", "ABOUT"]

#: What every reader should know about how the report is made (data, money, dates, privacy).
ABOUT = ("Every number comes from the practice's own claims (837), remittances (835) and practice-management "
         "postings. Money is added up exactly to the cent and rounded only for display. The report is dated by its "
         "data (the last day with a claim, payment or posting), so the same data always gives the same report. No "
         "patient-level data appears in it: no names, member IDs, birth dates or account numbers.")


def _months(n: int) -> str:
    return "month" if int(n) == 1 else f"{int(n)} months"


def kpi_words(key: str, options: MetricOptions | None = None) -> str | None:
    """The headline KPI ``key`` defined in words under ``options`` (the variant in force, named in words);
    None for a key this table does not know."""
    o = options or MetricOptions()
    ar_months = 12 if o.days_in_ar == "gross_12m" else 3
    basis = "date of service" if o.aging_basis == "service_date" else "first submission date"
    scope = ("denied in whole or in part (any denial on the claim)" if o.denial_scope == "any"
             else "denied in full (nothing paid)")
    words = {
        "days_in_ar": f"Gross A/R at month end divided by the average daily charges of the last "
                      f"{_months(ar_months)}: how many days of charges are still unpaid.",
        "days_in_ar_net": f"A/R after the contractual adjustments payers are expected to take, divided by the average "
                          f"daily charges less contractual adjustments of the last {_months(o.days_in_ar_net_months)}."
                          " It does not depend on how high the fee schedule is set.",
        "ar_total": "Everything payers and patients still owe at month end; credit balances are left out.",
        "ar_over": f"The share of open A/R whose {basis} is more than {o.aged_over_days} days before month end. "
                   "Rebilling a claim never makes it younger.",
        "clean_claim_rate": "Of the original claims a payer answered for the first time this month, the share paid "
                            "without any denial and not resubmitted by month end (the payer's first-pass rate; a claim "
                            "scrubber's rate needs clearinghouse data the remittances do not carry).",
        "initial_denial_rate": f"Of the claims a payer answered for the first time this month, the share {scope}. "
                               "Duplicate-claim rejections and payer take-backs are left out.",
        "initial_denial_rate_dollars": "The same as the initial denial rate, counted in the claims' charge dollars "
                                       "instead of claims.",
        "net_collection_rate": f"Payments (less refunds and payer take-backs) divided by charges less contractual "
                               f"adjustments, both posted in the last {_months(o.collection_months)}: how much of "
                               "what the practice could expect to collect it did collect.",
        "patient_collection_rate": f"Patient payments divided by what payers assigned to patients (deductibles, "
                                   f"coinsurance, copays), both posted in the last {_months(o.collection_months)}.",
        "charges": "Gross charges of the claims first sent in the month (voided claims removed).",
        "payments": "Insurance and patient payments posted in the month, less payer take-backs and refunds.",
    }
    if key.startswith("ar_over_"):
        key = "ar_over"
    return words.get(key)


def measure_words(options: MetricOptions | None = None, *, no_response_days: int = 30, warn_days: int = 30,
                  cohort_back: int = 3) -> list[tuple[str, str]]:
    """(measure, definition in words) for the report's measures beyond the headline KPIs."""
    o = options or MetricOptions()
    pct, cents = underpayment_tolerance()
    return [
        ("Gross collection rate", f"Payments divided by gross charges, both posted in the last "
                                  f"{_months(o.collection_months)}; depends on how high the fee schedule is set."),
        ("Adjustments as a share of charges", "Contractual adjustments, denial write-offs and other adjustments "
                                              "posted in the same months, divided by the charges of those months."),
        ("Payer mix", "Each payer class's share of the payments posted in each month."),
        ("Charge lag", "Days from the date of service to the claim's first submission, for the claims first sent "
                       "in the month: the median claim and the slowest tenth (90th percentile)."),
        ("Unbilled charges", "Services of the month not yet billed at its end; known only once the data runs past "
                             "the month's end."),
        ("Denial reasons", "The claim adjustment reason codes (CARC, maintained by X12) on the month's first "
                           "denials, grouped into categories, with the denied charges."),
        ("Denial rate by procedure code", "Of the claims first answered this month that billed a code, the share "
                                          "with that code denied."),
        ("Denial outcomes", f"The claims first denied {cohort_back} months earlier, as of this month's end: paid "
                            "after all (overturned), written off, or still open."),
        ("Providers", "The month's charges and new claims by rendering provider, and the first-pass denial and "
                      "clean-claim rates of the claims first answered this month, defined as above."),
        ("Underpayments", f"Lines a payer allowed below the contract rate by more than "
                          f"{fmt.threshold(pct, 'pct')} of the contract amount or {fmt.usd_cents(cents)}, "
                          "whichever is larger."),
        ("No payer response", f"Claims sent more than {no_response_days} days ago that the payer has not answered."),
        ("Timely filing at risk", f"Claims never answered whose payer filing deadline has passed or falls within "
                                  f"{warn_days} days."),
        ("Denied, not resubmitted", "Open claims whose latest payer answer is a denial, with no corrected claim or "
                                    "appeal sent since."),
    ]


def targets_table(status: pd.DataFrame | None, kpis: Mapping[str, Any] | None = None) -> str:
    """The benchmark targets the tiles and charts use: indicator, target, this month's status, source and
    evidence grade (A: a professional body; C: vendor consensus)."""
    rows = []
    for r in ([] if status is None else status.to_dict("records")):
        if r.get("status") not in STATUS_COLORS:
            continue
        kpi = (kpis or {}).get(r["key"])
        unit = getattr(kpi, "unit", "pct" if str(r["key"]).endswith(("_pct", "_rate", "_dollars")) else "days")
        rows.append({"label": r["label"], "target": target_text(str(r["key"]), unit, r["good"], r["acceptable"]),
                     "status": STATUS_COLORS[r["status"]][1], "source": r["source"], "grade": r["grade"]})
    cols = [("label", "Indicator", None, False), ("target", "Target", None, False),
            ("status", "This month", None, False), ("source", "Source of the target", None, False),
            ("grade", "Evidence", None, False)]
    return html_table(rows, cols, caption="Benchmark targets (published targets, with this practice's own where it "
                                          "set one)", empty="No benchmark targets.")


def definitions_appendix(kpis: Mapping[str, Any], status: pd.DataFrame | None = None, *,
                         options: MetricOptions | None = None, no_response_days: int = 30, warn_days: int = 30,
                         cohort_back: int = 3) -> str:
    """The appendix: what the report is made from, each headline KPI in words with its source, the other
    measures in words, and the benchmark targets. No formula, code name or option name."""
    from rcmkit import __version__

    rows = []
    for key, kpi in kpis.items():
        words = kpi_words(key, options) or str(getattr(kpi, "definition", "") or "")
        rows.append({"metric": getattr(kpi, "label", key), "definition": words,
                     "source": str(getattr(kpi, "source", "") or "")})
    kpi_html = html_table(rows, [("metric", "Indicator", None, False), ("definition", "Definition", None, False),
                                 ("source", "Source", None, False)], caption="Headline indicators")
    other = [{"metric": m, "definition": d} for m, d in measure_words(options, no_response_days=no_response_days,
                                                                      warn_days=warn_days, cohort_back=cohort_back)]
    other_html = html_table(other, [("metric", "Measure", None, False), ("definition", "Definition", None, False)],
                            caption="Other measures in this report")
    about = html.escape(ABOUT)
    made = html.escape(f"Prepared with rcmkit version {__version__}.")
    return (f'{STYLE}<div class="rcm rcm-definitions"><p class="rcm-note">{about} {made}</p></div>'
            f"{kpi_html}{other_html}{targets_table(status, kpis)}")
