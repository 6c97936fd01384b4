"""The KPI registry: every headline KPI declared once, with what the rest of rcmkit needs to know about it.

A KPI's entry names its key, label, unit, which direction is better, its family in the metrics reference, the
function that computes it, whether that function runs natively on DuckDB/Spark, and where it is shown (a tile
in the report, a column of the portfolio page, a flow or month-end figure in the explorer). Everything that
lists KPIs derives from here: :func:`rcmkit.metrics.monthly_kpis` (and so the report's tiles, trend and
methods section, ``metrics.json``, ``rcmkit kpis``), the tiles' colours (:data:`rcmkit.present.tiles.BETTER`),
the portfolio's columns, the explorer's flow KPIs, the engine parity tests and the benchmark-direction check.

Adding a KPI is one function (with its source in the docstring), one :class:`KpiSpec` below and one
hand-computed test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Mapping

from rcmkit.core.engine import materialize
from rcmkit.metrics._common import KPI, MetricOptions, month_window
from rcmkit.metrics.ar import ar_aged_pct, balances_frame, days_in_ar, days_in_ar_net
from rcmkit.metrics.collections import charges, net_collection_rate, patient_collection_rate, payments
from rcmkit.metrics.denials import clean_claim_rate, first_adjudications_in_month, initial_denial_rate

__all__ = ["KpiSpec", "KPIS", "MonthContext", "spec", "better", "headline_keys", "portfolio_keys", "explorer_keys",
           "compute"]


class MonthContext:
    """What several KPIs of one month share, each computed on first use: the month-end balances and the
    month's first adjudications (lazy frames on the tables' engine), the aged share and the initial denial
    rates. ``tables`` are prepared once per options (:func:`rcmkit.metrics.summary.prepare`).

    ``parts``: sums a trend computed for many months in one pass each (:func:`rcmkit.metrics.summary.kpi_trend`),
    this month's: ``aged`` (:func:`rcmkit.metrics.ar.aged_at`), ``net`` (:func:`rcmkit.metrics.ar.net_ar_at`),
    ``clean`` (:func:`rcmkit.metrics.denials.clean_counts`), ``denials``
    (:func:`rcmkit.metrics.denials.denial_sums`), ``patient`` (:func:`rcmkit.metrics.collections.patient_sums`).
    A KPI whose part is missing computes it for this month alone, through the same function."""

    def __init__(self, tables: Mapping[str, Any], month: str, options: MetricOptions, *, first: Any = None,
                 balances: Any = None, parts: Mapping[str, Any] | None = None) -> None:
        self.tables, self.month, self.options = tables, month, options
        self._first, self._balances = first, balances
        self.parts = dict(parts or {})

    @property
    def balances(self):
        if self._balances is None:
            self._balances = materialize(balances_frame(self.tables, month_window(self.month).end, self.options))
        return self._balances

    @property
    def first(self):
        if self._first is None:
            self._first = materialize(first_adjudications_in_month(self.tables, self.month, self.options))
        return self._first

    @cached_property
    def denial_rates(self) -> tuple[KPI, KPI]:
        return initial_denial_rate(self.tables, self.month, self.options, first=self.first,
                                   sums=self.parts.get("denials"))

    @cached_property
    def aged(self) -> tuple[int, int]:
        """(cents aged over ``options.aged_over_days``, open A/R cents) at the month's end."""
        if "aged" in self.parts:
            return self.parts["aged"]
        return ar_aged_pct(self.balances, self.options.aged_over_days)


def _ar_total(c: MonthContext) -> KPI:
    total = c.aged[1]
    return KPI("ar_total", "A/R total", total / 100, "usd", total / 100, None,
               "open balances at month end, credit balances excluded", "AAFP; MGMA")


def _ar_over(c: MonthContext) -> KPI:
    aged, total = c.aged
    n = c.options.aged_over_days
    basis = "date of service (never re-aged)" if c.options.aging_basis == "service_date" else "first bill date"
    return KPI(f"ar_over_{n}_pct", f"A/R over {n} days", aged / total if total else None, "pct", aged / 100,
               total / 100, f"open A/R aged more than {n} days from the {basis} / total open A/R",
               "AAFP; MGMA" if n == 120 else "HFMA MAP Key AR-3 style (total A/R)")


@dataclass(frozen=True)
class KpiSpec:
    """One headline KPI. ``key`` may hold ``{aged_over_days}`` (the key then follows the option);
    ``better``: +1 higher is better, -1 lower is better, 0 neither (volumes); ``engine``: computed natively
    on DuckDB and Spark (else the tables are collected to pandas first); ``explorer``: ``"flow"`` for a sum
    over the explorer's period, ``"end"`` for a month-end figure, None when the explorer does not show it."""

    key: str
    label: str
    unit: str
    better: int
    family: str
    compute: Callable[[MonthContext], KPI]
    function: Callable | None = None
    engine: bool = True
    headline: bool = True
    portfolio: bool = False
    explorer: str | None = None

    def key_for(self, options: MetricOptions = MetricOptions()) -> str:
        return self.key.format(aged_over_days=options.aged_over_days)

    def matches(self, key: str) -> bool:
        return key == self.key or (
            "{aged_over_days}" in self.key and key.startswith(self.key.split("{")[0])
            and key.endswith(self.key.split("}")[1]))


#: The headline KPIs in report order.
KPIS: tuple[KpiSpec, ...] = (
    KpiSpec("days_in_ar", "Days in A/R", "days", -1, "Accounts receivable",
            lambda c: days_in_ar(c.tables, c.month, c.options, balances=c.balances, gross=c.aged[1]), days_in_ar,
            portfolio=True,
            explorer="end"),
    KpiSpec("days_in_ar_net", "Net days in A/R", "days", -1, "Accounts receivable",
            lambda c: days_in_ar_net(c.tables, c.month, c.options, balances=c.balances, gross=c.aged[1],
                                     net=c.parts.get("net")), days_in_ar_net,
            explorer="end"),
    KpiSpec("ar_total", "A/R total", "usd", 0, "Accounts receivable", _ar_total, portfolio=True, explorer="end"),
    KpiSpec("ar_over_{aged_over_days}_pct", "A/R over N days", "pct", -1, "Accounts receivable", _ar_over,
            portfolio=True, explorer="end"),
    KpiSpec("clean_claim_rate", "Clean-claim rate", "pct", 1, "Claims and denials",
            lambda c: clean_claim_rate(c.tables, c.month, c.options, first=c.first, counts=c.parts.get("clean")),
            clean_claim_rate,
            portfolio=True, explorer="flow"),
    KpiSpec("initial_denial_rate", "Initial denial rate (claims)", "pct", -1, "Claims and denials",
            lambda c: c.denial_rates[0], initial_denial_rate, portfolio=True, explorer="flow"),
    KpiSpec("initial_denial_rate_dollars", "Initial denial rate (dollars)", "pct", -1, "Claims and denials",
            lambda c: c.denial_rates[1], initial_denial_rate, explorer="flow"),
    KpiSpec("net_collection_rate", "Net collection rate", "pct", 1, "Collections",
            lambda c: net_collection_rate(c.tables, c.month, c.options), net_collection_rate, portfolio=True),
    KpiSpec("patient_collection_rate", "Patient collection rate", "pct", 1, "Collections",
            lambda c: patient_collection_rate(c.tables, c.month, c.options, sums=c.parts.get("patient")),
            patient_collection_rate),
    KpiSpec("charges", "Charges", "usd", 0, "Collections", lambda c: charges(c.tables, c.month, c.options), charges,
            portfolio=True, explorer="flow"),
    KpiSpec("payments", "Payments", "usd", 0, "Collections", lambda c: payments(c.tables, c.month, c.options),
            payments, portfolio=True, explorer="flow"),
)


def spec(key: str) -> KpiSpec:
    """The entry of a KPI key (``ar_over_90_pct`` finds the aged-over entry); KeyError names the known keys."""
    for s in KPIS:
        if s.matches(key):
            return s
    raise KeyError(f"unknown KPI {key!r}; the registry has {[s.key for s in KPIS]}")


def better(key: str) -> int:
    """+1 when a higher value is better, -1 when lower is, 0 for volumes and unknown keys."""
    try:
        return spec(key).better
    except KeyError:
        return 0


def headline_keys(options: MetricOptions = MetricOptions()) -> list[str]:
    return [s.key_for(options) for s in KPIS if s.headline]


def portfolio_keys(options: MetricOptions = MetricOptions()) -> tuple[str, ...]:
    return tuple(s.key_for(options) for s in KPIS if s.portfolio)


def explorer_keys(kind: str, options: MetricOptions = MetricOptions()) -> tuple[str, ...]:
    return tuple(s.key_for(options) for s in KPIS if s.explorer == kind)


def compute(context: MonthContext, specs: tuple[KpiSpec, ...] = KPIS) -> dict[str, KPI]:
    """The KPIs of ``specs`` for the context's month, in registry order, keyed by KPI key. Each entry's KPI
    must carry the key and unit the registry declares (checked: a drifting function fails loudly)."""
    out = {}
    for s in specs:
        kpi = s.compute(context)
        if kpi.key != s.key_for(context.options) or kpi.unit != s.unit:
            raise AssertionError(f"KPI {kpi.key!r} ({kpi.unit}) does not match its registry entry {s.key!r} ({s.unit})")
        out[kpi.key] = kpi
    return out
