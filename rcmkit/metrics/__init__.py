"""rcmkit metrics: pure functions over the canonical tables, one definition per KPI, each citing its source.

Families: A/R (:mod:`.ar`), claims and denials (:mod:`.denials`), reimbursement (:mod:`.reimbursement`),
collections (:mod:`.collections`); :mod:`.summary` assembles the month's KPI set for reports.
Every function takes a :class:`MetricOptions`; no function mutates its inputs or reads today's date.
The tables may be pandas DataFrames, DuckDB relations or Spark DataFrames (:mod:`rcmkit.core.engine`): the KPI suite
(:func:`kpi_suite`) is written once on narwhals and runs on each; the functions marked pandas-only collect a
lazy engine's tables first. What other packages share (:class:`Prepared`, :func:`prepare`, :func:`with_tables`,
:func:`ledger_for`, :func:`ratio`, ...) is imported from here: ``rcmkit.metrics._common`` is private to the package.
"""

from rcmkit.metrics._common import (
    EVENT_DATES, KPI, MetricOptions, Prepared, Window, as_pandas, first_ledger_month, last_full_month, latest_event,
    ledger_for, month_window, parse_month, ratio, read_columns, table_rows, with_tables,
)
from rcmkit.metrics.ar import AGING_BUCKETS, ar_aging, ar_balances, ar_total, days_in_ar, days_in_ar_net
from rcmkit.metrics.benchmarks import STATUSES, benchmark_status
from rcmkit.metrics.collections import (
    adjustment_shares, charges, gross_collection_rate, net_collection_rate, patient_collection_rate, payments,
    payments_by_payer_class, unapplied_postings,
)
from rcmkit.metrics.denials import (
    clean_claim_rate, denial_outcomes, denial_rates_by, denial_reasons, first_adjudications, initial_denial_rate,
)
from rcmkit.metrics.lags import charge_lag, days_to_pay, unbilled_charges
from rcmkit.metrics.payers import open_denials, payer_scorecard
from rcmkit.metrics.reimbursement import reimbursement_by_payer_code
from rcmkit.metrics.contracts import contract_lines, underpayment_summary, underpayments
from rcmkit.metrics.worklists import denied_not_resubmitted, no_response, timely_filing_limits, timely_filing_risk
from rcmkit.metrics.summary import SUITE_COLUMNS, definitions_used, kpi_suite, kpi_trend, monthly_kpis, prepare
from rcmkit.metrics import registry

__all__ = [
    "KPI", "MetricOptions", "Prepared", "Window", "as_pandas", "first_ledger_month", "last_full_month",
    "latest_event", "ledger_for", "month_window",
    "parse_month", "ratio", "read_columns", "table_rows", "with_tables", "EVENT_DATES",
    "AGING_BUCKETS", "ar_aging", "ar_balances", "ar_total", "days_in_ar", "days_in_ar_net",
    "STATUSES", "benchmark_status", "charges", "net_collection_rate", "payments", "charge_lag", "days_to_pay",
    "unbilled_charges", "unapplied_postings", "adjustment_shares", "gross_collection_rate", "patient_collection_rate",
    "payments_by_payer_class", "denial_outcomes",
    "denial_rates_by",
    "clean_claim_rate", "denial_reasons", "first_adjudications", "initial_denial_rate",
    "open_denials", "payer_scorecard",
    "reimbursement_by_payer_code", "contract_lines", "underpayment_summary", "underpayments",
    "denied_not_resubmitted", "no_response", "timely_filing_limits", "timely_filing_risk",
    "SUITE_COLUMNS", "definitions_used", "kpi_suite", "kpi_trend", "monthly_kpis", "prepare",
]
