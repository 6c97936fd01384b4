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

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from rcmkit.metrics import (
    KPI, MetricOptions, Prepared, adjustment_shares, as_pandas, benchmark_status, charge_lag, definitions_used,
    denial_outcomes, denial_rates_by, first_ledger_month, gross_collection_rate, kpi_suite, kpi_trend, last_full_month,
    payments_by_payer_class, unapplied_postings, unbilled_charges, underpayment_summary,
)
from rcmkit.metrics.ar import first_submissions_frame
from rcmkit.metrics.denials import pinned_first_adjudications
from rcmkit.metrics.payers import SCORECARD_DEFINITIONS, open_denials, payer_scorecard
from rcmkit.metrics.providers import provider_summary
from rcmkit.metrics.summary import prepare, trend_kpis
from rcmkit.core.refdata import benchmarks
from rcmkit.present.format import month_end, months_back, previous_month
from rcmkit.present.narrative import ExecutiveSummary, data_through, executive_summary
from rcmkit.report.record import metrics_document
from rcmkit.report.suite import (
    NO_RESPONSE_DAYS, WARN_DAYS, WorkLists, denial_cohort_month, measure_definitions, worklist_summary,
)

__all__ = ["MonthlyReport", "build_report", "practice_targets", "kpi_comparison", "TREND_MONTHS",
           "TOP_DENIAL_REASONS", "YTD_KEYS"]

#: Months in the report's trend charts and tiles' sparklines (the month itself and the 11 before it).
TREND_MONTHS = 12
#: Denial reasons (CARCs) in the denial-reasons chart and table; the category chart shows every reason.
TOP_DENIAL_REASONS = 10
#: Headline KPIs with a year-to-date value: the month's sums (charges, payments). A ratio or a balance has no
#: year-to-date sum, so the comparison table leaves those cells empty.
YTD_KEYS = ("charges", "payments")


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
    comparison: pd.DataFrame  # headline KPIs: the month, the prior month, the same month last year, year to date
    payer_mix: pd.DataFrame  # payments by payer class for each trend month
    providers: pd.DataFrame  # the month by rendering provider
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
    # the cash forecast (issue #18): rcmkit.forecast.report.MonthForecast, None on a lazy engine's tables
    cash_forecast: Any = None
    # the month's denied claims a scrub would have caught (issue #17): rcmkit.scrub.caught_denials
    caught_denials: pd.DataFrame | None = None

    @property
    def as_of(self) -> str:
        """The month's last day ('YYYY-MM-DD'): balances, work lists and denial outcomes are as of it."""
        return month_end(self.month)

    @property
    def scorecard_definitions(self) -> Mapping[str, Any]:
        """What each payer-scorecard column means (:data:`rcmkit.metrics.payers.SCORECARD_DEFINITIONS`)."""
        return SCORECARD_DEFINITIONS

    @property
    def forecast_weeks(self) -> pd.DataFrame | None:
        """The 13 weeks of expected cash from the month-end open A/R (None without a forecast)."""
        return None if self.cash_forecast is None else self.cash_forecast.weeks

    @property
    def forecast_check(self) -> pd.DataFrame | None:
        """Last month's forecast for this month against what came in (None without a forecast)."""
        return None if self.cash_forecast is None else self.cash_forecast.check

    @property
    def payers(self) -> pd.DataFrame:
        return self.tables["payers"]

    @property
    def contracts(self) -> Any:
        return self.tables.get("contracts")

    def metrics_document(self) -> dict:
        """The ``metrics.json`` payload (:func:`rcmkit.report.record.metrics_document`): the KPIs, definitions,
        benchmark status, executive summary, payer scorecard, work lists, underpayment totals, suspense, the
        cash forecast and the analyst's technical definitions of the other measures."""
        return metrics_document(
            self.practice, self.month, self.kpis, self.definitions, status=self.status, summary=self.summary,
            scorecard=self.scorecard, data_through=self.data_through, practice_name=self.practice_name,
            worklists=self.worklists, underpayments=self.underpayments, suspense=self.suspense,
            measures=self.measures, cash_forecast=self.cash_forecast,
        )


def practice_targets(overrides: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The benchmark targets with this practice's ``overrides``; a days-in-A/R override also sets the net
    days-in-A/R target (same bands, as the packaged table applies AAFP's to the HFMA variant) unless that one is
    overridden itself. An override without a ``source`` is credited to the practice, not to the published
    source it replaces."""
    overrides = {k: dict(v) for k, v in (overrides or {}).items()}
    for values in overrides.values():
        if {"good", "acceptable"} & set(values):
            values.setdefault("source", "This practice's target")
    if "days_in_ar" in overrides and "days_in_ar_net" not in overrides:
        net = {k: v for k, v in overrides["days_in_ar"].items() if k in ("good", "acceptable")}
        if net:
            overrides["days_in_ar_net"] = dict(net, source="This practice's days-in-A/R target, applied to net days")
    return benchmarks(overrides=overrides)


def kpi_comparison(kpis: Mapping[str, KPI], trend: pd.DataFrame, month: str, *, first_month: str | None = None
                   ) -> pd.DataFrame:
    """The headline KPIs beside their prior month, the same month last year and the year to date.

    ``trend``: :func:`rcmkit.metrics.kpi_trend` holding at least the 13 months ending with ``month``. Columns:
    key, label, unit, value, prior, year_ago, ytd (the sum of the year's months up to ``month`` for
    :data:`YTD_KEYS`, else None). A month missing from ``trend``, or before ``first_month`` (the data's first
    month: the practice's data does not reach back that far, so its zeros are unknowns), gives None.
    """
    rows = {str(r["month"]): r for r in trend.to_dict("records")
            if first_month is None or str(r["month"]) >= first_month}
    prior, year_ago = rows.get(previous_month(month), {}), rows.get(months_back(month, 12), {})
    ytd_months = [f"{month[:4]}-{m:02d}" for m in range(1, int(month[5:7]) + 1)]
    out = []
    for key, kpi in kpis.items():
        ytd = None
        if key in YTD_KEYS and all(m in rows for m in ytd_months):
            vals = [rows[m].get(key) for m in ytd_months]
            ytd = None if any(v is None or pd.isna(v) for v in vals) else float(sum(vals))
        out.append({"key": key, "label": kpi.label, "unit": kpi.unit, "value": kpi.value,
                    "prior": prior.get(key), "year_ago": year_ago.get(key), "ytd": ytd})
    return pd.DataFrame(out, columns=["key", "label", "unit", "value", "prior", "year_ago", "ytd"])


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
    the packaged benchmark table (:func:`practice_targets`). Each metric is called once, on the tables prepared
    once for ``options``.
    """
    from rcmkit.present.charts import payer_colors  # matplotlib: imported when a report is built, not on import

    opts = options if isinstance(options, MetricOptions) else MetricOptions.from_dict(options)
    month = month or last_full_month(tables)
    as_of = month_end(month)
    prepared = prepare(tables, opts)

    # Each claim's first adjudication is read by the suite, the trend, the work lists, the scorecard and the caught
    # denials: computed once, before them (on DuckDB otherwise a query run again by each: issue #15, 10 M lines).
    # Each claim's first submission, read by the first adjudications and the lags: computed once, before them.
    first_submissions_frame(prepared)
    pinned_first_adjudications(prepared, opts)
    # The KPIs of the trend's months, the report's month among them, in one pass over the ledger each (one month
    # more than the charts show: the same month last year, for the comparison and the summary); the KPI suite
    # takes its month's KPIs from there and its month-end balances from the trend's (issue #15), and shares its
    # month's first adjudications and balances among the aging and the denial reasons.
    by_month = trend_kpis(prepared, month, months=max(TREND_MONTHS, 13), options=opts)
    suite = kpi_suite(prepared, month, opts, kpis=by_month[month])
    kpis = suite["kpis"]
    long_trend = kpi_trend(prepared, month, months=max(TREND_MONTHS, 13), options=opts, known=by_month)
    trend = long_trend.tail(TREND_MONTHS).reset_index(drop=True)
    # The KPI suite and trend above run on the tables' engine (DuckDB for a large practice); the other sections
    # run in pandas on as_pandas' tables, which share the engine's intermediates (first adjudications, balances)
    # and collect a table only when pandas code reads it whole: the sections query their rows and columns on the
    # engine (table_rows, posted_rows, read_columns), so on DuckDB only the small reference tables are collected.
    pt = as_pandas(prepared)
    first_month = first_ledger_month(pt)
    comparison = kpi_comparison(kpis, long_trend, month, first_month=first_month)
    targets = practice_targets(benchmark_overrides)
    status = benchmark_status(kpis, targets)
    aging = suite["aging"]
    denials_open = open_denials(pt, month, opts)
    suspense = unapplied_postings(pt, month)
    summary = executive_summary(pt, month, opts, kpis=kpis, trend=trend, status=status, practice=practice,
                                practice_name=practice_name, aging=aging, open_denials=denials_open,
                                suspense=suspense, comparison=comparison)
    reasons_all = suite["denial_reasons"]
    cohort = denial_cohort_month(month)
    # payments by payer class of each trend month: the payer-mix chart, and the month's own for collections
    payer_mix = pd.concat([payments_by_payer_class(pt, m, opts).assign(month=m) for m in trend["month"]],
                          ignore_index=True)
    collection_kpis = {"gross_collection_rate": gross_collection_rate(pt, month, opts),
                       "net_collection_rate": kpis["net_collection_rate"]}
    report = MonthlyReport(
        practice=practice,
        practice_name=practice_name,
        title=title,
        month=month,
        options=opts,
        data_through=data_through(tables),
        tables=pt,
        colors=payer_colors(pt["payers"]),
        kpis=kpis,
        trend=trend,
        comparison=comparison,
        payer_mix=payer_mix,
        providers=provider_summary(pt, month, opts),
        targets=targets,
        status=status,
        summary=summary,
        aging=aging,
        denial_reasons_all=reasons_all,
        denial_reasons=reasons_all.head(TOP_DENIAL_REASONS).reset_index(drop=True),
        open_denials=denials_open,
        denial_cohort=cohort,
        denial_outcomes=denial_outcomes(pt, cohort, opts, as_of=as_of),
        denial_rates_by_code=denial_rates_by(pt, month, opts, by="procedure_code"),
        collection_kpis=collection_kpis,
        collection_status=benchmark_status(collection_kpis, targets),
        adjustments=adjustment_shares(pt, month, opts),
        payments_by_class=payer_mix[payer_mix["month"] == month].drop(columns="month").reset_index(drop=True),
        lags=charge_lag(pt, month, opts),
        unbilled=unbilled_charges(pt, month, opts),
        unbilled_prior=unbilled_charges(pt, previous_month(month), opts),
        scorecard=payer_scorecard(pt, month, opts),
        reimbursement=suite["reimbursement"],
        underpayments=underpayment_summary(pt, month, opts),
        worklists=worklist_summary(pt, month, opts, no_response_days=NO_RESPONSE_DAYS, warn_days=WARN_DAYS),
        suspense=suspense,
        definitions=definitions_used(opts, month),
        measures=measure_definitions(opts, no_response_days=NO_RESPONSE_DAYS, warn_days=WARN_DAYS),
    )
    caught = _caught_denials(pt, month)
    # The metrics are done: the Polars copies of the tables and the intermediates (first adjudications, balances)
    # go before the forecast (pandas, numpy) builds its own indexes, so the two never hold memory at once (issue
    # #15: the peak at 1 M and 10 M claim lines).
    for held_tables in {id(t): t for t in (prepared, pt)}.values():
        if isinstance(held_tables, Prepared):
            held_tables.forget_intermediates()
    return dataclasses.replace(report, cash_forecast=_cash_forecast(pt, month, opts), caught_denials=caught)


def _caught_denials(tables: Mapping[str, Any], month: str) -> pd.DataFrame:
    """The month's initially denied claims by the scrub check that would have stopped them
    (:func:`rcmkit.scrub.caught_denials`; the scrub runs on pandas, on the rows and columns it queries)."""
    from rcmkit.scrub import caught_denials

    return caught_denials(as_pandas(tables), month)


def _cash_forecast(tables: Mapping[str, Any], month: str, options: MetricOptions):
    """The month's cash forecast and last month's check (:func:`rcmkit.forecast.report.month_forecast`; the
    forecast runs on pandas, on the columns it queries: forecast.model.BOOK_COLUMNS); None when the tables hold no
    ledger rows."""
    from rcmkit.forecast.report import month_forecast

    tables = as_pandas(tables)
    if first_ledger_month(tables) is None:  # no ledger rows (without collecting the ledger)
        return None
    return month_forecast(tables, month, options)
