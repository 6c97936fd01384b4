"""Shared pieces of the metrics: the KPI result type, the options every metric reads, and month arithmetic.

A private module of :mod:`rcmkit.metrics`: code outside the package imports these names from ``rcmkit.metrics``
(``tests/test_layers.py`` checks that no module reaches into another's private names).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import narwhals as nw
import pandas as pd

from rcmkit.core.engine import collect, lazy
from rcmkit.core.ledger import DENIAL_POLICIES, build_ledger

__all__ = ["as_int", "pandas_only", "KPI", "MetricOptions", "Prepared", "Window",
           "month_window", "last_full_month", "latest_event", "EVENT_DATES", "ledger_for", "parse_month", "ratio",
           "read_columns", "table_rows", "with_tables"]


@dataclass(frozen=True)
class KPI:
    """One number of the report with everything needed to defend it.

    ``value`` is ``None`` when the metric is undefined (an empty denominator), never a silent zero.
    Units: ``pct`` values are fractions (0.935), ``usd`` values are dollars, ``days`` are days. People read it
    through :func:`rcmkit.present.format.kpi_value` (metrics never format).
    """

    key: str
    label: str
    value: float | None
    unit: str
    numerator: float | None
    denominator: float | None
    definition: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def as_int(value) -> int:
    """A collected sum as a Python int: an empty sum (null on a lazy engine) is 0."""
    return 0 if value is None or pd.isna(value) else int(value)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is empty: an undefined KPI, never a silent 0."""
    return None if not denominator else numerator / denominator


@dataclass(frozen=True)
class MetricOptions:
    """Every definitional choice a metric makes. Defaults follow ../shared/DESIGN.md; each report prints them.

    * ``days_in_ar``: ``"gross_3m"`` (AAFP: gross A/R / average daily gross charges of the last 3 full
      months) or ``"gross_12m"`` (MGMA: 12 months of charges / their days).
    * ``days_in_ar_net_months``: months of net revenue in the HFMA net variant (3 = HFMA's internal rolling
      average; 12 = the external, annual / 365 convention).
    * ``aging_basis``: ``"service_date"`` (AAFP: never re-aged) or ``"submission_date"`` (MGMA: from invoice).
    * ``aged_over_days``: 120 (MGMA/AAFP, total A/R) or 90 (HFMA AR-3 style).
    * ``denial_policy``: ``"keep_in_ar"`` (a denied balance stays in A/R until paid or written off) or
      ``"at_remit"`` (the 835 denial removes it at once; flatters A/R).
    * ``denial_scope``: a claim is an initial denial when its first adjudication carries ``"any"`` denial
      adjustment, or only when it was ``"full"``-y denied (paid 0).
    * ``collection_months``: trailing months of the net collection rate (default 12, as AAFP advises: adjustments
      and payments post weeks after their charges, so 1- or 3-month windows swing with charge volume).
    * ``reimbursement_months``: trailing months of the payer x code table; ``min_cell_count``: cells with
      fewer claims are suppressed.
    """

    days_in_ar: str = "gross_3m"
    days_in_ar_net_months: int = 3
    aging_basis: str = "service_date"
    aged_over_days: int = 120
    denial_policy: str = "keep_in_ar"
    denial_scope: str = "any"
    collection_months: int = 12
    reimbursement_months: int = 3
    min_cell_count: int = 5

    #: The values each option may take (the explorer's period lengths are ``CHOICES["reimbursement_months"]``).
    CHOICES: ClassVar[dict[str, tuple]] = {
        "days_in_ar": ("gross_3m", "gross_12m"),
        "days_in_ar_net_months": (3, 12),
        "aging_basis": ("service_date", "submission_date"),
        "aged_over_days": (90, 120),
        "denial_policy": DENIAL_POLICIES,
        "denial_scope": ("any", "full"),
        "collection_months": (1, 3, 12),
        "reimbursement_months": (1, 3, 6, 12),
    }

    def __post_init__(self) -> None:
        for name, allowed in self.CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"metric option {name!r} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        if not isinstance(self.min_cell_count, int) or self.min_cell_count < 1:
            raise ValueError(f"metric option 'min_cell_count' must be a positive integer, got {self.min_cell_count!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> "MetricOptions":
        """Build options from a parameter file's ``metrics`` mapping; unknown keys raise a ValueError naming them."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown metric option(s) {unknown}; known options: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("_")}


@dataclass(frozen=True)
class Window:
    """A span of whole calendar months: ``start`` (first day) to ``end`` (last day), inclusive."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def days(self) -> int:
        return int((self.end - self.start).days) + 1

    def contains(self, dates: pd.Series) -> pd.Series:
        return (dates >= self.start) & (dates <= self.end)


_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def parse_month(value: Any, name: str = "month") -> str:
    """The one month parser: ``value`` as 'YYYY-MM' when it is a month written so (surrounding spaces allowed)
    or a monthly pandas Period; ValueError naming ``name`` otherwise. Strict on purpose: pandas alone would read
    'March' as March of the current year, and '2026-3' or '2026-03-31' as months."""
    if isinstance(value, pd.Period):
        value = str(value.asfreq("M"))
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _MONTH.fullmatch(text):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ValueError(f"{name} must look like 'YYYY-MM', got {shown}")
    return text


def _period(month: str | pd.Period) -> pd.Period:
    return pd.Period(parse_month(month), freq="M")


def month_window(month: str | pd.Period, months: int = 1) -> Window:
    """The ``months`` full calendar months ending with ``month`` ('2026-03', 3 -> 2026-01-01..2026-03-31)."""
    p = _period(month)
    return Window((p - (months - 1)).start_time.normalize(), p.end_time.normalize())


#: The dated events that say how far a practice's data reaches: (table, date column).
EVENT_DATES: tuple[tuple[str, str], ...] = (
    ("claims", "submitted_on"), ("remittances", "paid_on"), ("postings", "posted_on"), ("ledger", "posted_on"))


def latest_event(tables: Mapping[str, Any]) -> pd.Timestamp:
    """The data's end: its latest dated event (:data:`EVENT_DATES`: a submission, payment or posting), on any
    engine (pandas frames, DuckDB relations, Spark DataFrames). ValueError when the tables have no dated event."""
    dates = []
    for name, col in EVENT_DATES:
        frame = tables.get(name)
        if frame is None:
            continue
        value = collect(lazy(frame).select(nw.col(col).max()))[col].iloc[0]
        if value is not None and not pd.isna(value):
            dates.append(pd.Timestamp(value))
    if not dates:
        raise ValueError("the practice has no dated events: no claims, remittances or postings")
    return max(dates)


def first_ledger_month(tables: Mapping[str, Any]) -> str | None:
    """The month ('YYYY-MM') of the ledger's first posting, on any engine (None without ledger rows): months
    before it have no data, so a comparison leaves them empty rather than showing zeros."""
    months = getattr(tables, "ledger_months", None)
    if isinstance(months, pd.DataFrame) and "_ym" in months.columns:  # prepared tables: their monthly sums
        if not len(months):
            return None
        ym = int(months["_ym"].min())
        return f"{ym // 12:04d}-{ym % 12 + 1:02d}"
    ledger = tables.get("ledger")
    if ledger is None:
        return None
    value = collect(lazy(ledger).select(nw.col("posted_on").min()))["posted_on"].iloc[0]
    return None if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m")


def last_full_month(tables: Mapping[str, Any]) -> str:
    """The last calendar month that the data covers completely, as 'YYYY-MM', on any engine.

    The data's end is its latest event (:func:`latest_event`). Practices bill and payers pay on business days,
    so a month counts as complete once the data reaches its last weekday (Monday-Friday): data ending Friday
    2026-10-30 covers October 2026 even though the 31st is a Saturday. Otherwise the month before is the last
    full one. Nothing here reads today's date.
    """
    end = latest_event(tables)
    p = pd.Period(end, freq="M")
    last_weekday = pd.offsets.BMonthEnd().rollforward(p.start_time).normalize()
    return str(p if end.normalize() >= last_weekday else p - 1)


class Prepared(Mapping[str, Any]):
    """A practice's tables whose ``ledger`` was built under a declared ``denial_policy`` (and, optionally, its
    monthly sums: ``ledger_months``). It is the mapping of tables every metric takes, so a KPI set, the explorer
    or a month's slice hands the ledger on once instead of each metric rebuilding it; the policy travels as a
    typed attribute, never as a magic key, a frame's metadata or options that pretend another policy.

    A plain mapping's ``ledger`` is the stored one, the default policy's (``keep_in_ar``). Never mutated:
    :meth:`replace` returns a new one (a table replaced; the monthly sums are dropped with a new ledger)."""

    def __init__(self, tables: Mapping[str, Any], denial_policy: str, *, ledger_months: Any = None) -> None:
        if denial_policy not in DENIAL_POLICIES:
            raise ValueError(f"denial_policy must be one of {DENIAL_POLICIES}, got {denial_policy!r}")
        self._tables = dict(tables)
        self.denial_policy = denial_policy
        self.ledger_months = ledger_months
        self._memo: dict[Any, Any] = {}
        self._pinned: set[Any] = set()  # memo entries already materialized (pin)
        self._pending: dict[str, Any] = {}  # collected(): the engine's tables not yet collected to pandas

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``'s result, computed once for these tables: for intermediates that many metrics derive
        from the same tables (the remittances' denial flags, each claim's first adjudication). ``key`` names
        the intermediate and every option it depends on. The tables never change, so neither does the result;
        :meth:`replace` starts a new memo."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def peek(self, key: Any) -> Any:
        """The memo's entry ``key`` when it has been computed, else None (nothing is computed)."""
        return self._memo.get(key)

    def is_pinned(self, key: Any) -> bool:
        """Whether the memo's entry ``key`` has been computed once (:meth:`pin`) rather than left a query."""
        return key in self._pinned

    def pin(self, key: Any) -> Any:
        """The memo's entry ``key`` computed once: a lazy query there (an intermediate left a query on DuckDB and
        Spark, :func:`rcmkit.core.engine.held`) is replaced by its materialized result, which later readers share;
        returns it."""
        from rcmkit.core.engine import engine_of, materialize

        value = self._memo[key]
        if key not in self._pinned and engine_of(value) in ("duckdb", "spark"):
            value = self._memo[key] = materialize(value)
        self._pinned.add(key)
        return value

    def forget_engine_copies(self) -> None:
        """Drop the tables' copies converted for the query engine (:func:`rcmkit.core.engine.lazy_tables`: pandas
        tables as Polars frames, as large as the tables themselves); the intermediates computed from them stay. A
        later query converts what it reads again. The report model calls this once its queries are done, before
        the pandas-only forecast, so the two do not hold memory at once. Query frames over a lazy engine's files
        (DuckDB, Spark: :meth:`collected`) hold no copy of the data and stay."""
        from rcmkit.core.engine import engine_of

        for key in [k for k, v in self._memo.items() if isinstance(k, tuple) and k and k[0] == "lazy"
                    and engine_of(v) == "polars"]:
            del self._memo[key]

    def forget_intermediates(self) -> None:
        """Drop what the memo computed from the tables (first adjudications, balances, the claims' dates, ...)
        and the tables' Polars copies (:meth:`forget_engine_copies`); the engine's query frames (which hold no
        data) and the collected tables stay. A later metric computes what it needs again. The report model calls
        this once its metrics are done, before the cash forecast, which reads none of them (issue #15: on DuckDB
        at 10 M claim lines they are about half a GiB next to the forecast's own peak)."""
        self.forget_engine_copies()
        for key in [k for k in self._memo if k != "pandas" and not (isinstance(k, tuple) and k and k[0] == "lazy")]:
            del self._memo[key]
        self._pinned.clear()

    def collected(self) -> "Prepared":
        """These tables as pandas DataFrames (:func:`as_pandas`), for the computations that run in pandas only,
        while their queries stay on the engine: the new tables' query frames
        (:func:`rcmkit.core.engine.lazy_tables`) are these tables' (DuckDB, Spark) and they share what this memo
        computed (first adjudications, balances, ...: the same rows give the same intermediates). So a query of a
        pandas-only metric reads the engine's files instead of a Polars copy of the collected tables, which
        would be as large as the tables themselves (issue #15: the report's peak memory on a large practice).
        Each table is collected when pandas code first reads it (:func:`rcmkit.core.engine.pandas_table`), once:
        a table only queried is never collected (issue #15: the 10 M-line report's memory)."""
        from rcmkit.core.engine import lazy_tables

        out = Prepared({n: None for n in self._tables}, self.denial_policy, ledger_months=self.ledger_months)
        out._pending = {n: v for n, v in self._tables.items() if v is not None}
        lazy_tables(self, list(self._tables))  # the engine's query frames, in this memo
        out._memo.update({k: v for k, v in self._memo.items() if k != "pandas"})
        out._pinned = set(self._pinned)
        out._memo["pandas"] = out  # already pandas: as_pandas returns it as it is
        return out

    def holds(self, name: str) -> bool:
        """Whether these tables have a table ``name`` (without collecting a table :meth:`collected` left on the
        engine)."""
        return name in self._pending or self._tables.get(name) is not None

    def engine_frame(self, name: str) -> Any:
        """The engine's native frame of table ``name`` when :meth:`collected` left it on the engine and no pandas
        code has read it yet (a DuckDB relation, a Spark DataFrame), else None: for a pandas-only computation that
        can ask the engine for what it needs aggregated instead of the table's rows (the cash forecast's ledger
        events by claim, party and day: issue #15)."""
        return self._pending.get(name)

    def read(self, name: str, columns: list[str]) -> pd.DataFrame | None:
        """Table ``name`` as a pandas DataFrame holding at least ``columns`` (None without the table): the table
        itself when it is pandas, or, for a table :meth:`collected` left on the engine, those columns queried and
        not kept (a computation that reads a few columns of a large table once, such as the cash forecast: issue
        #15)."""
        if name in self._pending:
            from rcmkit.core.engine import lazy, pandas_table

            return pandas_table(name, lazy(self._pending[name]).select(*columns))
        return self._tables.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def __getitem__(self, name: str) -> Any:
        if name in self._pending:
            from rcmkit.core.engine import pandas_table

            self._tables[name] = pandas_table(name, self._pending.pop(name))
        return self._tables[name]

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __repr__(self) -> str:
        return f"Prepared({sorted(self._tables)}, denial_policy={self.denial_policy!r})"

    def replace(self, **tables: Any) -> "Prepared":
        months = None if "ledger" in tables else self.ledger_months
        out = Prepared({**self._tables, **tables}, self.denial_policy, ledger_months=months)
        out._pending = {n: v for n, v in self._pending.items() if n not in tables}  # still on the engine
        out._memo.update({k: v for k, v in self._memo.items() if k[:1] == ("lazy",) and k[1:] and k[1] in out._pending})
        return out


def with_tables(tables: Mapping[str, Any], **changes: Any) -> Mapping[str, Any]:
    """``tables`` with some tables replaced (a slice, a narrowed claim set), keeping what a :class:`Prepared`
    declares about its ledger."""
    return tables.replace(**changes) if isinstance(tables, Prepared) else {**tables, **changes}


def ledger_for(tables: Mapping[str, pd.DataFrame], options: MetricOptions) -> pd.DataFrame:
    """The ledger under the options' denial policy: a :class:`Prepared` mapping's when it declares that policy,
    a plain mapping's stored ledger for the default policy (the store keeps the default policy's), else rebuilt
    from the tables.

    On a lazy engine (DuckDB, Spark) another policy rebuilds it in pandas from the collected tables and hands it
    back to the engine (one practice at a time).
    """
    stored = tables.get("ledger")
    if isinstance(tables, Prepared):
        if stored is not None and tables.denial_policy == options.denial_policy:
            return stored  # built for this policy (a KPI set, the explorer), on any engine
    elif stored is not None and options.denial_policy == "keep_in_ar":
        return stored
    frames = {k: v for k, v in tables.items() if k != "ledger"}
    if all(v is None or isinstance(v, pd.DataFrame) for v in frames.values()):
        return build_ledger(frames, denial_policy=options.denial_policy)
    from rcmkit.core.engine import lazy, like, pandas_tables

    sources = pandas_tables({k: v for k, v in frames.items() if k != "ledger"})
    template = lazy(next(v for v in frames.values() if v is not None and not isinstance(v, pd.DataFrame)))
    return like(build_ledger(sources, denial_policy=options.denial_policy), template)


def lazy_ledger(tables: Mapping[str, Any], options: MetricOptions):
    """:func:`ledger_for` as a lazy frame on the tables' engine; prepared tables convert theirs once."""
    from rcmkit.core.engine import lazy, lazy_tables

    if isinstance(tables, Prepared) and tables.holds("ledger") and tables.denial_policy == options.denial_policy:
        return lazy_tables(tables, ["ledger"])["ledger"]
    return lazy(ledger_for(tables, options))


def as_pandas(tables: Mapping[str, Any]) -> Mapping[str, Any]:
    """``tables`` with every table a pandas DataFrame (lazy tables collected), for the computations that run in
    pandas only. Prepared tables become, once, prepared tables that keep the engine's query frames, share its
    intermediates and collect each table when pandas code first reads it (:meth:`Prepared.collected`), however
    many pandas-only metrics a report calls; pandas tables are returned as they are."""
    if isinstance(tables, Prepared):  # the same rows: the ledger's monthly sums still hold
        return tables.memo("pandas", lambda: tables if all(
            v is None or isinstance(v, pd.DataFrame) for v in tables._tables.values()) else tables.collected())
    if all(v is None or isinstance(v, pd.DataFrame) for v in tables.values()):
        return tables
    from rcmkit.core.engine import pandas_tables

    return pandas_tables(dict(tables))


def table_rows(tables: Mapping[str, Any], name: str, columns: list[str] | None = None, *, query=None,
               among: pd.DataFrame | None = None, base: nw.LazyFrame | None = None) -> pd.DataFrame:
    """The rows of table ``name`` a pandas-only metric reads, queried on the tables' engine and collected to
    pandas (canonical dtypes, :func:`rcmkit.core.engine.collect`), so a large practice's table is never collected
    whole: ``query(frame)``, the table's narwhals LazyFrame filtered or extended (date literals from
    :func:`rcmkit.core.engine.date_value`); ``among``, a small pandas frame whose rows the table's rows must match
    on its columns (a semi join); ``columns``, the columns returned (default: all); ``base``, the rows to start
    from instead of the table's own (an intermediate of the table that the caller computed once, such as each
    claim's first submission). Rows of the table's own columns come in the stored tables' dtypes
    (:func:`rcmkit.core.engine.pandas_table`), as the table itself would. Row order is the engine's: callers group
    or sort."""
    from rcmkit.core import schema
    from rcmkit.core.engine import lazy_tables, like, pandas_table

    frame = lazy_tables(tables, [name])[name] if base is None else base
    if query is not None:
        frame = query(frame)
    if among is not None:
        frame = frame.join(like(among.drop_duplicates().reset_index(drop=True), frame), on=list(among.columns),
                           how="semi")
    frame = frame.select(*columns) if columns is not None else frame
    if name in schema.TABLES and set(frame.columns) <= set(schema.TABLES[name].names):
        return pandas_table(name, frame)
    return collect(frame)


def read_columns(tables: Mapping[str, Any], name: str, columns: list[str]) -> pd.DataFrame | None:
    """Table ``name`` as pandas holding at least ``columns``, in the table's row order (None without the table):
    :meth:`Prepared.read` for prepared tables (a table left on the engine: those columns queried, not kept), else
    the table itself. For a pandas-only computation that reads a few columns of every row of a large table."""
    if isinstance(tables, Prepared):
        return tables.read(name, columns) if tables.holds(name) else None
    return tables.get(name)


def pandas_only(func):
    """For the metrics computed in pandas only (work lists, scorecards, lags): tables on a lazy engine are
    collected first (one practice at a time). The KPI suite itself runs on every engine."""
    import functools

    @functools.wraps(func)
    def wrapper(tables, *args, **kwargs):
        return func(as_pandas(tables), *args, **kwargs)

    wrapper.pandas_only = True
    return wrapper
