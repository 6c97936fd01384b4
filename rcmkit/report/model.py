"""The monthly report as one Python value: every number the report shows, computed once.

:func:`build_report` prepares the tables once (:func:`rcmkit.metrics.summary.prepare`: the ledger under the
options' denial policy, its monthly sums and the classified adjustments) and makes each metric call of the report
exactly once; the result is a frozen :class:`MonthlyReport`. The notebook only renders it (one ``tiles`` or
``charts`` call per section) and writes ``metrics.json`` from it (:meth:`MonthlyReport.metrics_document`,
:func:`rcmkit.report.record.write_metrics`), so no notebook cell computes a metric and a test can check the
report's numbers without a kernel::

    from rcmkit.present import format as fmt
    from rcmkit.report.model import build_report
    report = build_report(load_tables("data", "demo", required=False), "2026-09", practice="demo")
    fmt.kpi_value(report.kpis["days_in_ar"]), report.worklists["no_response"].claims
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from rcmkit.metrics import (
    KPI, MetricOptions, adjustment_shares, benchmark_status, charge_lag, definitions_used, denial_outcomes,
    denial_rates_by, gross_collection_rate, kpi_suite, kpi_trend, last_full_month, payments_by_payer_class,
    unapplied_postings, unbilled_charges, underpayment_summary,
)
from rcmkit.metrics.payers import SCORECARD_DEFINITIONS, open_denials, payer_scorecard
from rcmkit.metrics.summary import prepare
from rcmkit.core.refdata import benchmarks
from rcmkit.present.format import month_end, previous_month
from rcmkit.present.narrative import ExecutiveSummary, data_through, executive_summary
from rcmkit.report.record import metrics_document
from rcmkit.report.suite import (
    NO_RESPONSE_DAYS, WARN_DAYS, WorkLists, denial_cohort_month, measure_definitions, worklist_summary,
)

__all__ = ["MonthlyReport", "build_report", "TREND_MONTHS", "TOP_DENIAL_REASONS"]

#: Months in the report's trend charts and tiles' sparklines (the month itself and the 11 before it).
TREND_MONTHS = 12
#: Denial reasons (CARCs) in the denial-reasons chart and table; the category chart shows every reason.
TOP_DENIAL_REASONS = 10


@dataclass(frozen=True, eq=False)
class MonthlyReport:
    """Everything the monthly report shows for one practice and month, in report order.

    Frames are the metric functions' results as returned; treat them as read-only. ``tables`` are the prepared
    tables the numbers were computed from (for the renderers that name payers or contracts).
    """

    # who, when, how
    practice: str
    practice_name: str | None
    title: str | None
    month: str
    options: MetricOptions
    data_through: str  # the data's as-of date (its latest event), not the wall clock
    tables: Mapping[str, Any]
    colors: Mapping[str, str]  # one colour per payer in every chart and table
    # headline KPIs, their trend and targets
    kpis: Mapping[str, KPI]
    trend: pd.DataFrame
    targets: pd.DataFrame
    status: pd.DataFrame
    summary: ExecutiveSummary
    # A/R and denials
    aging: pd.DataFrame
    denial_reasons_all: pd.DataFrame  # every CARC of the month's initial denials
    denial_reasons: pd.DataFrame  # the TOP_DENIAL_REASONS largest
    open_denials: pd.DataFrame
    denial_cohort: str
    denial_outcomes: pd.DataFrame
    denial_rates_by_code: pd.DataFrame
    # collections and lags
    collection_kpis: Mapping[str, KPI]
    collection_status: pd.DataFrame
    adjustments: pd.DataFrame
    payments_by_class: pd.DataFrame
    lags: pd.DataFrame
    unbilled: pd.DataFrame
    unbilled_prior: pd.DataFrame
    # payers, reimbursement, work
    scorecard: pd.DataFrame
    reimbursement: pd.DataFrame
    underpayments: pd.DataFrame
    worklists: WorkLists
    suspense: Mapping[str, int]
    # methods
    definitions: pd.DataFrame
    measures: pd.DataFrame

    @property
    def as_of(self) -> str:
        """The month's last day ('YYYY-MM-DD'): balances, work lists and denial outcomes are as of it."""
        return month_end(self.month)

    @property
    def scorecard_definitions(self) -> Mapping[str, Any]:
        """What each payer-scorecard column means (:data:`rcmkit.metrics.payers.SCORECARD_DEFINITIONS`)."""
        return SCORECARD_DEFINITIONS

    @property
    def payers(self) -> pd.DataFrame:
        return self.tables["payers"]

    @property
    def contracts(self) -> Any:
        return self.tables.get("contracts")

    def metrics_document(self) -> dict:
        """The ``metrics.json`` payload (:func:`rcmkit.report.record.metrics_document`): the KPIs, definitions,
        benchmark status, executive summary, payer scorecard, work lists, underpayment totals and suspense."""
        return metrics_document(
            self.practice, self.month, self.kpis, self.definitions, status=self.status, summary=self.summary,
            scorecard=self.scorecard, data_through=self.data_through, practice_name=self.practice_name,
            worklists=self.worklists, underpayments=self.underpayments, suspense=self.suspense,
        )


def build_report(
    tables: Mapping[str, Any],
    month: str | None = None,
    options: MetricOptions | Mapping[str, Any] = MetricOptions(),
    *,
    benchmark_overrides: Mapping[str, Any] | None = None,
    practice: str = "",
    practice_name: str | None = None,
    title: str | None = None,
) -> MonthlyReport:
    """Compute the monthly report of ``month`` ('YYYY-MM'; None: the last full month in the data).

    ``options``: a :class:`~rcmkit.metrics.MetricOptions` or a parameter file's ``metrics`` mapping (unknown keys
    raise a ValueError). ``benchmark_overrides``: this practice's benchmark targets over
    ``rcmkit/data/benchmarks.csv``. Each metric is called once, on the tables prepared once for ``options``.
    """
    from rcmkit.present.charts import payer_colors  # matplotlib: imported when a report is built, not with rcmkit.report

    opts = options if isinstance(options, MetricOptions) else MetricOptions.from_dict(options)
    month = month or last_full_month(tables)
    as_of = month_end(month)
    prepared = prepare(tables, opts)

    # the KPI suite shares the month's first adjudications and month-end balances among the KPIs, the aging
    # and the denial reasons
    suite = kpi_suite(prepared, month, opts)
    kpis = suite["kpis"]
    trend = kpi_trend(prepared, month, months=TREND_MONTHS, options=opts)
    targets = benchmarks(overrides=dict(benchmark_overrides or {}))
    status = benchmark_status(kpis, targets)
    aging = suite["aging"]
    denials_open = open_denials(prepared, month, opts)
    suspense = unapplied_postings(prepared, month)
    summary = executive_summary(prepared, month, opts, kpis=kpis, trend=trend, status=status, practice=practice,
                                practice_name=practice_name, aging=aging, open_denials=denials_open,
                                suspense=suspense)
    reasons_all = suite["denial_reasons"]
    cohort = denial_cohort_month(month)
    collection_kpis = {"gross_collection_rate": gross_collection_rate(prepared, month, opts),
                       "net_collection_rate": kpis["net_collection_rate"]}
    return MonthlyReport(
        practice=practice,
        practice_name=practice_name,
        title=title,
        month=month,
        options=opts,
        data_through=data_through(tables),
        tables=prepared,
        colors=payer_colors(prepared["payers"]),
        kpis=kpis,
        trend=trend,
        targets=targets,
        status=status,
        summary=summary,
        aging=aging,
        denial_reasons_all=reasons_all,
        denial_reasons=reasons_all.head(TOP_DENIAL_REASONS).reset_index(drop=True),
        open_denials=denials_open,
        denial_cohort=cohort,
        denial_outcomes=denial_outcomes(prepared, cohort, opts, as_of=as_of),
        denial_rates_by_code=denial_rates_by(prepared, month, opts, by="procedure_code"),
        collection_kpis=collection_kpis,
        collection_status=benchmark_status(collection_kpis, targets),
        adjustments=adjustment_shares(prepared, month, opts),
        payments_by_class=payments_by_payer_class(prepared, month, opts),
        lags=charge_lag(prepared, month, opts),
        unbilled=unbilled_charges(prepared, month, opts),
        unbilled_prior=unbilled_charges(prepared, previous_month(month), opts),
        scorecard=payer_scorecard(prepared, month, opts),
        reimbursement=suite["reimbursement"],
        underpayments=underpayment_summary(prepared, month, opts),
        worklists=worklist_summary(prepared, month, opts, no_response_days=NO_RESPONSE_DAYS, warn_days=WARN_DAYS),
        suspense=suspense,
        definitions=definitions_used(opts, month),
        measures=measure_definitions(opts, no_response_days=NO_RESPONSE_DAYS, warn_days=WARN_DAYS),
    )
