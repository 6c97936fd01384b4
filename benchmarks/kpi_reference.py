"""A hand-written DuckDB SQL reference of rcmkit's monthly KPI suite, straight over a practice's parquet files.

    from kpi_reference import reference_suite
    suite = reference_suite("data", "demo", "2026-09")   # {"kpis": {...}, "aging": df, "reimbursement": df,
                                                         #  "denial_reasons": df}

It is what an analyst fluent in SQL would write against the parquet files of the practice's Delta tables (the
file list of the newest snapshot, :func:`rcmkit.core.store.committed_paths`) without rcmkit: plain
SQL (views over ``read_parquet``, a few temp tables, one ``SELECT`` per result), computing the same numbers as
``rcmkit.metrics`` for one month, as of the month's last day:

* ``kpis``: what :func:`rcmkit.metrics.monthly_kpis` returns (days in A/R gross and net, A/R total and % over
  120 days, clean-claim and initial denial rates (claims and dollars), net collection rate, charges, payments),
  each as ``{"value", "numerator", "denominator"}`` in the KPI's own units (dollars, counts, fractions, days);
* ``aging``: :func:`rcmkit.metrics.ar_aging` ``by="payer"``;
* ``reimbursement``: :func:`rcmkit.metrics.reimbursement_by_payer_code`;
* ``denial_reasons``: :func:`rcmkit.metrics.denial_reasons` with ``top=None``.

It is both the speed yardstick of ``benchmarks/kpi_scale.py`` and an independent check of the pandas metrics:
``tests/test_kpi_reference.py`` proves the two agree to the cent on a demo practice. The subtle points of the
pandas code are reproduced on purpose and marked ``-- rcmkit:`` in the SQL (first adjudication ties go to the
lower remit_id; claims whose first submission is a replacement or void are left out; "resubmitted" is judged by
the month's end; net A/R takes off each payer's expected contractual rate on balances it has not priced).
Adjustments are classified by joining the CARC crosswalk ``rcmkit/data/carc_crosswalk.csv`` loaded as a table.

Supported options: every :class:`rcmkit.metrics.MetricOptions` field except ``denial_policy="at_remit"`` (that
variant needs the ledger rebuilt; the reference reads the stored, default-policy ledger as rcmkit does).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from string import Template
from typing import Any, Mapping

import duckdb
import pandas as pd

__all__ = ["ReferenceOptions", "reference_suite", "normalize_suite", "compare_suites", "SQL", "TABLES",
           "CROSSWALK"]

#: The canonical tables the suite reads (the stored ledger included: A/R is computed from it).
TABLES = ("payers", "claims", "remittances", "remit_lines", "adjustments", "ledger")
CROSSWALK = Path(__file__).resolve().parents[1] / "rcmkit" / "data" / "carc_crosswalk.csv"
AGING_BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")


@dataclass(frozen=True)
class ReferenceOptions:
    """The metric options the reference understands; the same names and defaults as rcmkit's MetricOptions."""

    days_in_ar: str = "gross_3m"
    days_in_ar_net_months: int = 3
    aging_basis: str = "service_date"
    aged_over_days: int = 120
    denial_policy: str = "keep_in_ar"
    denial_scope: str = "any"
    collection_months: int = 12
    reimbursement_months: int = 3
    min_cell_count: int = 5

    @classmethod
    def of(cls, options: Any) -> "ReferenceOptions":
        """From None, a mapping, or any object with these attributes (rcmkit's MetricOptions)."""
        if options is None:
            return cls()
        if isinstance(options, Mapping):
            return cls(**options)
        return cls(**{f: getattr(options, f) for f in cls.__dataclass_fields__})


# The SQL. $-placeholders are filled by reference_suite(): file paths (quoted), dates (DATE '...') and the
# option-dependent bits (integers and fixed keywords only).
SQL = Template(r"""
-- Inputs: only the columns the suite reads.
CREATE OR REPLACE TEMP VIEW ledger AS
    SELECT claim_id, posted_on, kind, amount_cents, responsible FROM read_parquet($ledger);
CREATE OR REPLACE TEMP VIEW claims AS
    SELECT claim_id, submission_id, frequency_code, submitted_on, service_from, payer_id FROM read_parquet($claims);
CREATE OR REPLACE TEMP VIEW remittances AS
    SELECT remit_id, claim_id, status_code, billed_cents, paid_cents, payer_id, paid_on FROM read_parquet($remittances);
CREATE OR REPLACE TEMP VIEW remit_lines AS
    SELECT remit_id, line_number, procedure_code, billed_cents, paid_cents, allowed_cents, units
    FROM read_parquet($remit_lines);
CREATE OR REPLACE TEMP VIEW adjustments AS
    SELECT remit_id, line_number, group_code, reason_code, amount_cents FROM read_parquet($adjustments);
CREATE OR REPLACE TEMP VIEW payers AS SELECT payer_id, payer_name FROM read_parquet($payers);
CREATE OR REPLACE TEMP TABLE carc AS
    SELECT group_code, reason_code, treatment, category FROM read_csv($crosswalk, header = true, all_varchar = true);

-- Adjustments classified through the crosswalk: exact (group, code), then (group, '*'), then ('*', code), else a
-- denial in category Other. The 4010 group CR is looked up as CO.
CREATE OR REPLACE TEMP VIEW adj AS
SELECT a.remit_id, a.line_number, a.group_code, a.reason_code, a.amount_cents,
       coalesce(e.treatment, g.treatment, c.treatment, 'denial') AS treatment,
       coalesce(e.category, g.category, c.category, 'Other') AS category
FROM (SELECT *, CASE upper(group_code) WHEN 'CR' THEN 'CO' ELSE upper(group_code) END AS g,
             upper(reason_code) AS r
      FROM adjustments) a
LEFT JOIN carc e ON e.group_code = a.g AND e.reason_code = a.r
LEFT JOIN carc g ON g.reason_code = '*' AND g.group_code = a.g
LEFT JOIN carc c ON c.group_code = '*' AND c.reason_code = a.r;

-- Open A/R at the as-of date: per (claim, responsible party) the ledger posted by then, positive balances only
-- (credit balances are excluded from every A/R figure). Age in whole days from the date of service of the claim's
-- first non-void submission (or its first bill date), else from the claim's first posting (835-only claims).
CREATE OR REPLACE TEMP TABLE open_ar AS
WITH by_party AS (
    SELECT claim_id, responsible, sum(amount_cents)::BIGINT AS balance_cents, min(posted_on) AS first_posted_on
    FROM ledger WHERE posted_on <= $as_of GROUP BY claim_id, responsible),
balances AS (SELECT claim_id, responsible, balance_cents FROM by_party WHERE balance_cents > 0),
first_posted AS (  -- over all of the claim's rows, zero balances included
    SELECT claim_id, min(first_posted_on) AS first_posted_on
    FROM by_party WHERE claim_id IN (SELECT claim_id FROM balances) GROUP BY claim_id),
claim_dates AS (
    SELECT claim_id, service_from, submitted_on AS first_billed_on
    FROM claims WHERE frequency_code <> '8' AND claim_id IN (SELECT claim_id FROM balances)
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY submitted_on, submission_id) = 1)
SELECT b.claim_id, b.responsible, b.balance_cents,
       date_diff('day', coalesce(d.$age_from, f.first_posted_on), $as_of) AS age_days
FROM balances b LEFT JOIN claim_dates d USING (claim_id) LEFT JOIN first_posted f USING (claim_id);

-- Ledger sums over the windows the KPIs use (all end at the as-of date).
CREATE OR REPLACE TEMP TABLE ledger_sums AS
SELECT
    coalesce(sum(amount_cents) FILTER (WHERE kind = 'charge' AND posted_on >= $dar_start), 0)::BIGINT AS dar_charges,
    coalesce(sum(amount_cents) FILTER (WHERE kind IN ('charge', 'contractual') AND posted_on >= $net_start), 0)::BIGINT
        AS net_revenue,
    coalesce(-sum(amount_cents) FILTER (WHERE kind IN ('insurance_payment', 'patient_payment', 'reversal', 'refund')
                                          AND posted_on >= $collection_start), 0)::BIGINT AS collected,
    coalesce(sum(amount_cents) FILTER (WHERE kind IN ('charge', 'contractual') AND posted_on >= $collection_start),
             0)::BIGINT AS adjusted_charges,
    coalesce(sum(amount_cents) FILTER (WHERE kind = 'charge' AND posted_on >= $month_start), 0)::BIGINT AS charges,
    coalesce(-sum(amount_cents) FILTER (WHERE kind IN ('insurance_payment', 'patient_payment', 'reversal', 'refund')
                                          AND posted_on >= $month_start), 0)::BIGINT AS payments,
    -- patient collection rate: patient responsibility assigned (PR moved to the patient), and what patients
    -- paid net of refunds on claims whose charge went to a payer (self-pay claims are no 835 assignment)
    coalesce(sum(amount_cents) FILTER (WHERE kind = 'patient_responsibility' AND responsible = 'patient'
                                         AND posted_on >= $collection_start), 0)::BIGINT AS patient_assigned,
    coalesce(-sum(amount_cents) FILTER (WHERE kind IN ('patient_payment', 'refund') AND responsible = 'patient'
                                          AND posted_on >= $collection_start
                                          AND claim_id IN (SELECT claim_id FROM ledger
                                                           WHERE kind = 'charge' AND responsible <> 'patient')),
             0)::BIGINT AS patient_paid
FROM ledger
WHERE posted_on BETWEEN $earliest_start AND $as_of;

-- Net A/R (HFMA): gross open A/R less the contractual allowance still expected on insurance balances the payer
-- has not priced (no contractual adjustment posted by the as-of date), at the payer's rate over the year before.
-- rcmkit: the rate is contractual / charges of the claims charged in (as_of - 1 year, as_of] that have a
-- contractual posted. A claim's payer is its first charge row's responsible party. A payer with no priced
-- charges (or charges <= 0) takes the practice-wide rate, 0 when there is none.
CREATE OR REPLACE TEMP TABLE net_ar AS
WITH contractual AS (
    SELECT claim_id, sum(amount_cents) AS amount FROM ledger
    WHERE kind = 'contractual' AND posted_on <= $as_of GROUP BY claim_id),
charged AS (
    SELECT claim_id, first(responsible ORDER BY posted_on, responsible, amount_cents) AS payer,
           sum(amount_cents) AS charge
    FROM ledger WHERE kind = 'charge' AND posted_on <= $as_of AND posted_on > $as_of - INTERVAL 1 YEAR
    GROUP BY claim_id),
by_payer AS (
    SELECT payer, sum(-c.amount) AS contractual, sum(ch.charge) AS charge
    FROM charged ch JOIN contractual c USING (claim_id) GROUP BY payer),
overall AS (
    SELECT coalesce(CASE WHEN sum(charge) <> 0 THEN sum(contractual) / sum(charge) END, 0.0) AS rate FROM by_payer),
rates AS (SELECT payer, contractual / charge AS rate FROM by_payer WHERE charge > 0)
SELECT fsum(o.balance_cents * (1 - CASE WHEN o.responsible <> 'patient' AND c.claim_id IS NULL
                                        THEN coalesce(r.rate, overall.rate) ELSE 0.0 END)) AS net_ar
FROM open_ar o
CROSS JOIN overall
LEFT JOIN rates r ON r.payer = o.responsible
LEFT JOIN contractual c ON c.claim_id = o.claim_id;

-- First adjudications in the month: each claim's earliest 835 claim payment that is not a reversal (22), not a
-- predetermination (25/27) and not a duplicate rejection (an OA-18-class adjustment). Ties on the payment date go
-- to the lower remit_id. Remits paid after the as-of date cannot be a month's first adjudication, so they are
-- left out before ranking (same result, less work).
CREATE OR REPLACE TEMP TABLE cohort AS
WITH flags AS (
    SELECT remit_id, bool_or(treatment = 'denial' AND amount_cents > 0) AS any_denial,
           bool_or(treatment = 'duplicate') AS duplicate
    FROM adj WHERE treatment IN ('denial', 'duplicate') GROUP BY remit_id),
adjudications AS (
    SELECT r.remit_id, r.claim_id, r.payer_id, r.paid_on, r.billed_cents, r.paid_cents,
           coalesce(f.any_denial, false) OR r.status_code = '4' AS any_denial,  -- CLP02 4: denied
           r.status_code = '4' AS denied_status
    FROM remittances r LEFT JOIN flags f USING (remit_id)
    WHERE r.status_code NOT IN ('22', '25', '27') AND NOT coalesce(f.duplicate, false) AND r.paid_on <= $as_of),
firsts AS (
    SELECT * FROM adjudications
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY paid_on, remit_id) = 1),
-- rcmkit: a claim whose first known submission (by date, then submission_id) is a replacement or void (7/8) is
-- not a new claim in any denominator.
not_original AS (
    SELECT claim_id FROM claims
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY submitted_on, submission_id) = 1
            AND frequency_code IN ('7', '8'))
SELECT f.remit_id, f.claim_id, f.payer_id, f.paid_on, f.billed_cents, f.paid_cents, f.any_denial,
       (f.any_denial AND f.paid_cents = 0) OR f.denied_status AS full_denial
FROM firsts f
WHERE f.paid_on >= $month_start AND f.claim_id NOT IN (SELECT claim_id FROM not_original);

-- Claim rates of the cohort. rcmkit: "clean" = no denial adjustment on the first adjudication and no second
-- submission of the claim (of any frequency) submitted by the month's end.
CREATE OR REPLACE TEMP TABLE claim_rates AS
WITH submissions AS (
    SELECT claim_id, count(*) AS n FROM claims
    WHERE submitted_on <= $as_of AND claim_id IN (SELECT claim_id FROM cohort) GROUP BY claim_id)
SELECT count(*) AS adjudicated,
       count(*) FILTER (WHERE NOT c.any_denial AND coalesce(s.n, 1) <= 1) AS clean,
       count(*) FILTER (WHERE c.$denied) AS denied,
       coalesce(sum(c.billed_cents) FILTER (WHERE c.$denied), 0)::BIGINT AS denied_billed_cents,
       coalesce(sum(c.billed_cents), 0)::BIGINT AS billed_cents
FROM cohort c LEFT JOIN submissions s USING (claim_id);
""")

KPIS_SQL = Template(r"""
WITH a AS (SELECT coalesce(sum(balance_cents), 0)::BIGINT AS total,
                  coalesce(sum(balance_cents) FILTER (WHERE age_days > $aged_over), 0)::BIGINT AS aged
           FROM open_ar),
s AS (SELECT *, dar_charges / $dar_days AS dar_daily, net_revenue / $net_days AS net_daily FROM ledger_sums),
n AS (SELECT net_ar FROM net_ar),
k AS (SELECT * FROM claim_rates)
SELECT 'days_in_ar' AS key, CASE WHEN s.dar_daily <> 0 THEN a.total / s.dar_daily END AS value,
       a.total / 100 AS numerator, s.dar_daily / 100 AS denominator FROM a, s
UNION ALL
SELECT 'days_in_ar_net', CASE WHEN s.net_daily <> 0 THEN n.net_ar / s.net_daily END,
       round_even(n.net_ar, 0) / 100, s.net_daily / 100 FROM n, s
UNION ALL
SELECT 'ar_total', a.total / 100, a.total / 100, NULL FROM a
UNION ALL
SELECT 'ar_over_${aged_over}_pct', CASE WHEN a.total <> 0 THEN a.aged / a.total END, a.aged / 100, a.total / 100
FROM a
UNION ALL
SELECT 'clean_claim_rate', CASE WHEN k.adjudicated <> 0 THEN k.clean / k.adjudicated END, k.clean, k.adjudicated FROM k
UNION ALL
SELECT 'initial_denial_rate', CASE WHEN k.adjudicated <> 0 THEN k.denied / k.adjudicated END, k.denied, k.adjudicated
FROM k
UNION ALL
SELECT 'initial_denial_rate_dollars', CASE WHEN k.billed_cents <> 0 THEN k.denied_billed_cents / k.billed_cents END,
       k.denied_billed_cents / 100, k.billed_cents / 100 FROM k
UNION ALL
SELECT 'net_collection_rate', CASE WHEN s.adjusted_charges <> 0 THEN s.collected / s.adjusted_charges END,
       s.collected / 100, s.adjusted_charges / 100 FROM s
UNION ALL
SELECT 'patient_collection_rate', CASE WHEN s.patient_assigned <> 0 THEN s.patient_paid / s.patient_assigned END,
       s.patient_paid / 100, s.patient_assigned / 100 FROM s
UNION ALL
SELECT 'charges', s.charges / 100, s.charges / 100, NULL FROM s
UNION ALL
SELECT 'payments', s.payments / 100, s.payments / 100, NULL FROM s
""")

# Open A/R by responsible party (each payer, and the patient) and age bucket; every bucket for every party.
AGING_SQL = r"""
WITH bucketed AS (
    SELECT responsible, CASE WHEN age_days <= 30 THEN '0-30' WHEN age_days <= 60 THEN '31-60'
                             WHEN age_days <= 90 THEN '61-90' WHEN age_days <= 120 THEN '91-120'
                             ELSE '120+' END AS bucket,
           sum(balance_cents) AS balance_cents
    FROM open_ar GROUP BY ALL),
buckets(bucket, ord) AS (VALUES ('0-30', 1), ('31-60', 2), ('61-90', 3), ('91-120', 4), ('120+', 5)),
parties AS (SELECT DISTINCT responsible FROM open_ar)
SELECT p.responsible AS payer_id,
       CASE WHEN p.responsible = 'patient' THEN 'Patient' ELSE coalesce(n.payer_name, p.responsible) END AS payer_name,
       b.bucket, coalesce(s.balance_cents, 0)::BIGINT AS balance_cents
FROM parties p CROSS JOIN buckets b
LEFT JOIN bucketed s ON s.responsible = p.responsible AND s.bucket = b.bucket
LEFT JOIN payers n ON n.payer_id = p.responsible
ORDER BY payer_id, payer_name, b.ord
"""

# Denial adjustments (any amount) on the claims initially denied in the month, by category, group and CARC.
DENIAL_REASONS_SQL = Template(r"""
SELECT a.category, a.group_code, a.reason_code, count(DISTINCT c.claim_id) AS claims, count(*) AS lines,
       sum(a.amount_cents)::BIGINT AS denied_cents
FROM adj a JOIN cohort c ON c.remit_id = a.remit_id
WHERE a.treatment = 'denial' AND c.$denied
GROUP BY ALL
ORDER BY denied_cents DESC, claims DESC, category, group_code, reason_code
""")

# Lines paid in the trailing months by payer x procedure code. Reversals (22) count with negative amounts and
# units; duplicate rejections (a remit with an OA-18-class adjustment) and predeterminations are left out;
# allowed = AMT*B6, else paid + the line's patient responsibility; cells under min_cell_count claims are blanked.
REIMBURSEMENT_SQL = Template(r"""
WITH remits AS (
    SELECT remit_id, claim_id, payer_id, CASE WHEN status_code = '22' THEN -1 ELSE 1 END AS sign
    FROM remittances
    WHERE status_code NOT IN ('25', '27') AND paid_on BETWEEN $reimbursement_start AND $as_of
      AND remit_id NOT IN (SELECT remit_id FROM adj WHERE treatment = 'duplicate')),
patient AS (
    SELECT remit_id, line_number, sum(amount_cents) AS pr_cents FROM adj
    WHERE treatment = 'patient' AND line_number IS NOT NULL AND remit_id IN (SELECT remit_id FROM remits)
    GROUP BY ALL),
lines AS (
    SELECT r.payer_id, l.procedure_code, r.claim_id, r.sign, l.billed_cents, l.paid_cents,
           coalesce(l.allowed_cents, l.paid_cents + coalesce(p.pr_cents, 0)) AS allowed_cents,
           abs(l.units) * r.sign AS units
    FROM remit_lines l JOIN remits r USING (remit_id)
    LEFT JOIN patient p USING (remit_id, line_number)),
cells AS (
    SELECT payer_id, procedure_code, count(DISTINCT claim_id) AS claims, sum(sign)::BIGINT AS lines,
           sum(units) AS units, sum(billed_cents)::BIGINT AS billed_cents, sum(allowed_cents)::BIGINT AS allowed_cents,
           sum(paid_cents)::BIGINT AS paid_cents
    FROM lines GROUP BY ALL)
SELECT * FROM (
SELECT c.payer_id, coalesce(p.payer_name, c.payer_id) AS payer_name, c.procedure_code, c.claims, c.lines, c.units,
       CASE WHEN NOT suppressed THEN c.billed_cents::DOUBLE END AS billed_cents,
       CASE WHEN NOT suppressed THEN c.allowed_cents::DOUBLE END AS allowed_cents,
       CASE WHEN NOT suppressed THEN c.paid_cents::DOUBLE END AS paid_cents,
       CASE WHEN NOT suppressed THEN c.paid_cents / nullif(c.allowed_cents, 0) END AS paid_to_allowed,
       CASE WHEN NOT suppressed THEN c.paid_cents / nullif(c.units, 0) END AS paid_per_unit_cents,
       suppressed
FROM (SELECT *, claims < $min_cell_count AS suppressed FROM cells) c
LEFT JOIN payers p ON p.payer_id = c.payer_id)
ORDER BY paid_cents DESC NULLS LAST, payer_id, procedure_code
""")


def _month_end(month: str) -> date:
    try:
        year, mon = (int(part) for part in month.split("-"))
        return date(year, mon, calendar.monthrange(year, mon)[1])
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"month must look like 'YYYY-MM', got {month!r}") from exc


def _window_start(month: str, months: int) -> date:
    end = _month_end(month)
    index = end.year * 12 + end.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _date(value: date) -> str:
    return f"DATE '{value.isoformat()}'"


def reference_suite(
    root: str | Path, practice: str, month: str, options: Any = None, *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """The KPI suite of ``month`` for the practice stored under ``root/practice`` (rcmkit's store layout), by the
    hand-written SQL. ``options``: rcmkit's MetricOptions, a mapping, or None for the defaults. ``con``: a DuckDB
    connection to run in (a fresh in-memory one by default; its temp views and tables are replaced)."""
    opts = ReferenceOptions.of(options)
    if opts.denial_policy != "keep_in_ar":
        raise NotImplementedError("the SQL reference reads the stored ledger: denial_policy='keep_in_ar' only")
    if opts.aging_basis not in ("service_date", "submission_date") or opts.denial_scope not in ("any", "full"):
        raise ValueError(f"unsupported options {opts}")
    from rcmkit.core import store

    paths = store.committed_paths(root, practice, TABLES)  # the parquet files of the newest snapshot's versions
    missing = [name for name in TABLES if not paths.get(name)]
    if missing:
        raise FileNotFoundError(f"the SQL reference needs these tables: {missing}")
    files = {name: [p.as_posix() for p in paths[name]] for name in TABLES}

    end = _month_end(month)
    dar_months = 3 if opts.days_in_ar == "gross_3m" else 12
    starts = {
        "month_start": _window_start(month, 1),
        "dar_start": _window_start(month, dar_months),
        "net_start": _window_start(month, opts.days_in_ar_net_months),
        "collection_start": _window_start(month, opts.collection_months),
        "reimbursement_start": _window_start(month, opts.reimbursement_months),
    }
    earliest = min(starts["month_start"], starts["dar_start"], starts["net_start"], starts["collection_start"])
    params = {name: "[" + ", ".join(_quote(path) for path in paths) + "]" for name, paths in files.items()}
    params.update({name: _date(day) for name, day in starts.items()})
    params.update(
        crosswalk=_quote(CROSSWALK.as_posix()), as_of=_date(end), earliest_start=_date(earliest),
        age_from="service_from" if opts.aging_basis == "service_date" else "first_billed_on",
        denied="any_denial" if opts.denial_scope == "any" else "full_denial",
        aged_over=str(int(opts.aged_over_days)), min_cell_count=str(int(opts.min_cell_count)),
        dar_days=str((end - starts["dar_start"]).days + 1), net_days=str((end - starts["net_start"]).days + 1),
    )
    con = con if con is not None else duckdb.connect()
    con.execute(SQL.substitute(params))
    kpi_rows = con.execute(KPIS_SQL.substitute(params)).fetchall()
    return {
        "kpis": {key: {"value": value, "numerator": numerator, "denominator": denominator}
                 for key, value, numerator, denominator in kpi_rows},
        "aging": con.execute(AGING_SQL).df(),
        "reimbursement": con.execute(REIMBURSEMENT_SQL.substitute(params)).df(),
        "denial_reasons": con.execute(DENIAL_REASONS_SQL.substitute(params)).df(),
    }


# ------------------------------------------------------------------------------------------ comparison helpers
_FRAME_COLUMNS = {
    "aging": ["payer_id", "payer_name", "bucket", "balance_cents"],
    "reimbursement": ["payer_id", "payer_name", "procedure_code", "claims", "lines", "units", "billed_cents",
                      "allowed_cents", "paid_cents", "paid_to_allowed", "paid_per_unit_cents", "suppressed"],
    "denial_reasons": ["category", "group_code", "reason_code", "claims", "lines", "denied_cents"],
}


def _to_pandas(frame: Any) -> pd.DataFrame:
    """A result frame as pandas, whatever produced it (pandas, narwhals, DuckDB relation, Polars, Spark)."""
    if isinstance(frame, pd.DataFrame):
        return frame
    for attempt in ("to_native", "collect", "df", "toPandas", "to_pandas"):
        method = getattr(frame, attempt, None)
        if callable(method):
            out = method()
            if not isinstance(out, pd.DataFrame):
                return _to_pandas(out)
            return out
    raise TypeError(f"cannot turn {type(frame).__name__} into a pandas DataFrame")


def _kpi_dict(kpi: Any) -> dict[str, Any]:
    if isinstance(kpi, Mapping):
        return {k: kpi.get(k) for k in ("value", "numerator", "denominator")}
    return {"value": kpi.value, "numerator": kpi.numerator, "denominator": kpi.denominator}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def normalize_suite(suite: Mapping[str, Any]) -> dict[str, Any]:
    """A suite from rcmkit (KPI objects, any frame type) or from :func:`reference_suite`, in one plain form:
    KPIs as ``{key: {value, numerator, denominator}}`` of floats/None, frames as pandas with the canonical columns
    in order, plain dtypes and a fresh index. Picklable, comparable with :func:`compare_suites`."""
    out: dict[str, Any] = {"kpis": {key: {k: _number(v) for k, v in _kpi_dict(kpi).items()}
                                    for key, kpi in suite["kpis"].items()}}
    for name, columns in _FRAME_COLUMNS.items():
        frame = _to_pandas(suite[name]).reset_index(drop=True)
        frame = frame[columns].copy()
        for column in frame.columns:
            if column in ("claims", "lines") or column in ("balance_cents", "denied_cents"):
                frame[column] = frame[column].astype("int64")
            elif column == "suppressed":
                frame[column] = frame[column].astype(bool)
            elif column in ("units", "billed_cents", "allowed_cents", "paid_cents", "paid_to_allowed",
                            "paid_per_unit_cents"):
                frame[column] = frame[column].astype("float64")
            else:
                frame[column] = frame[column].astype(str).astype(object)
        out[name] = frame
    return out


def _same(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def compare_suites(expected: Mapping[str, Any], actual: Mapping[str, Any], *, rel: float = 1e-12,
                   money_rel: float = 0.0) -> list[str]:
    """Differences between two suites (either form; they are normalized first), as readable lines; [] when equal.

    KPI numerators and denominators are money in dollars (from integer cents) or counts: they must be equal
    (``money_rel`` loosens that, e.g. for an engine that sums floats); values (ratios) may differ by ``rel``.
    Frames: equal keys and integer columns, float columns within ``rel``."""
    expected, actual = normalize_suite(expected), normalize_suite(actual)
    problems = []
    keys_e, keys_a = list(expected["kpis"]), list(actual["kpis"])
    if sorted(keys_e) != sorted(keys_a):
        problems.append(f"KPI keys differ: {keys_e} vs {keys_a}")
    for key in keys_e:
        if key not in actual["kpis"]:
            continue
        e, a = expected["kpis"][key], actual["kpis"][key]
        for part in ("numerator", "denominator", "value"):
            tolerance = rel if part == "value" else money_rel
            if not _same(e[part], a[part], tolerance):
                problems.append(f"KPI {key}.{part}: {e[part]!r} vs {a[part]!r}")
    for name in _FRAME_COLUMNS:
        e, a = expected[name], actual[name]
        try:
            pd.testing.assert_frame_equal(e, a, check_dtype=False, rtol=rel, atol=0.0)
        except AssertionError as exc:
            detail = " ".join(str(exc).split())[:400]
            problems.append(f"{name} ({len(e)} vs {len(a)} rows): {detail}")
    return problems
