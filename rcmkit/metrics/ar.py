"""Accounts receivable: balances, aging and days in A/R, all point-in-time from the ledger.

Sources: AAFP, "Understanding Financial Benchmarks" / FPM practice-management KPIs (days in A/R = receivables
less credit balances / average daily charges; age from the date of service, never re-aged; % over 120 days);
MGMA Cost & Revenue survey glossary (days of gross FFS charges in A/R = total A/R / (annual gross charges / 365);
A/R aging buckets); HFMA MAP Keys "Net days in A/R" (net A/R / average daily net patient service revenue, 3-month
rolling for internal use, HFMA P&P Board Statement 16). Details: ../shared/reference/kpi-anchors.md, sections 1-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core.engine import (
    between, collect, date_value, day_number, engine_of, int_sum, lazy, lazy_tables, like, materialize,
    on_or_before,
)
from rcmkit.metrics._common import (
    KPI, MetricOptions, Prepared, Window, as_int, lazy_ledger, ledger_for, month_window, ratio,
)

__all__ = ["AGING_BUCKETS", "ar_balances", "ar_aging", "days_in_ar", "days_in_ar_net", "ar_total", "ar_aged_pct",
           "balances_frame", "balances_at", "ledger_months", "money_source", "posted_in", "posted_rows", "aged_at",
           "net_ar_at", "NetAr", "month_number", "date_index", "first_submissions_frame", "FIRST_SUBMISSION_COLUMNS"]

#: The A/R aging buckets (days since the aging start), in order: the one definition the charts and tables use.
AGING_BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")
_UPPER = (30, 60, 90, 120)  # right-closed: 0-30, 31-60, 61-90, 91-120, 121+


def first_rows(frame: nw.LazyFrame, key: str, order: list[str]) -> nw.LazyFrame:
    """One row per ``key``: the first in ``order`` (ascending; the last order column must be unique within a
    key, so no tie remains and every engine keeps the same row)."""
    return frame.unique(key, keep="first", order_by=order)


def claim_first_submissions(claims: nw.LazyFrame, *, voids: bool = True) -> nw.LazyFrame:
    """Each claim's first submission (earliest ``submitted_on``, then lowest ``submission_id``); with
    ``voids=False``, its first submission that is not a void (frequency 8)."""
    if not voids:
        claims = claims.filter(nw.col("frequency_code") != "8")
    return first_rows(claims, "claim_id", ["submitted_on", "submission_id"])


#: the columns of each claim's first submission that its readers use (:func:`first_submissions_frame`)
FIRST_SUBMISSION_COLUMNS = ["claim_id", "submission_id", "submitted_on", "service_from", "payer_id",
                            "total_charge_cents", "frequency_code"]


def first_submissions_frame(tables: Mapping[str, Any], *, computed_only: bool = False) -> nw.LazyFrame | None:
    """Each claim's first submission (:func:`claim_first_submissions`, voids included) with
    :data:`FIRST_SUBMISSION_COLUMNS`, lazily; on prepared tables computed once (materialized): the lags read the
    first submissions four times in a report (issue #15: a pass over every submission each, 3.3 s of DuckDB at
    10 M claim lines), and the report model computes them before its first adjudications, which then leave out
    the claims whose first submission is a replacement or void from them (a lone KPI set keeps that in its query:
    it reads two columns of them once). ``computed_only``: the prepared tables' computed frame, else None (nothing
    is computed)."""
    if computed_only:
        return tables.peek("first_submissions") if isinstance(tables, Prepared) else None
    claims = lazy_tables(tables, ["claims"])["claims"]
    if isinstance(tables, Prepared):
        return tables.memo("first_submissions", lambda: materialize(
            claim_first_submissions(claims).select(*FIRST_SUBMISSION_COLUMNS)))
    return claim_first_submissions(claims).select(*FIRST_SUBMISSION_COLUMNS)


def _claim_dates(claims: nw.LazyFrame) -> nw.LazyFrame:
    """Per claim: its payer, date of service and first bill date, from its first non-void submission."""
    return claim_first_submissions(claims, voids=False).select(
        "claim_id", nw.col("payer_id").alias("claim_payer_id"), "service_from",
        nw.col("submitted_on").alias("first_billed_on"))


def _balances_on(ledger: nw.LazyFrame, claims: nw.LazyFrame, as_of: pd.Timestamp, options: MetricOptions
                 ) -> nw.LazyFrame:
    """:func:`_balances_at` of one date on DuckDB or Spark, in the hand-written SQL's shape (issue #15: a lone KPI
    set at 1 M claim lines): one pass over the ledger gives each (claim, party)'s sum and first posting, computed
    once (materialized: a query engine would plan it again for each reader); the claims' dates are ranked for the
    claims with a balance only. The same rows as the general path (tests/test_backends.py)."""
    parties = materialize(ledger.filter(on_or_before(ledger, "posted_on", as_of))
                          .group_by("claim_id", "responsible")
                          .agg(int_sum("amount_cents", "balance_cents"), nw.col("posted_on").min().alias("_first")))
    first_post = parties.group_by("claim_id").agg(nw.col("_first").min().alias("first_posted_on"))
    bal = parties.filter(nw.col("balance_cents") != 0).select(
        "claim_id", "responsible", "balance_cents", nw.lit(0, nw.Int64).alias("as_of_index"))
    dates_of = _claim_dates(claims.join(bal.select("claim_id").unique(), on="claim_id", how="semi"))
    bal = bal.join(dates_of, on="claim_id", how="left").join(first_post, on="claim_id", how="left")
    as_of_day = (as_of.normalize() - pd.Timestamp("1970-01-01")).days
    return _aged(bal, nw.lit(as_of_day, nw.Int64), options)


def _aged(bal: nw.LazyFrame, as_of_day: nw.Expr, options: MetricOptions) -> nw.LazyFrame:
    """Balances with their claims' dates and first postings, given ``age_days`` (whole days from the date of
    service, or the first bill date, else the claim's first posting, to ``as_of_day``) and their ``bucket``."""
    start = "service_from" if options.aging_basis == "service_date" else "first_billed_on"
    age = as_of_day - day_number(nw.coalesce(nw.col(start), nw.col("first_posted_on")))
    return (bal.with_columns(age_days=age.cast(nw.Int64)).with_columns(bucket=_bucket(nw.col("age_days")))
            .drop("first_posted_on"))


def _bucket(age: nw.Expr) -> nw.Expr:
    expr = nw.lit(AGING_BUCKETS[-1])
    for upper, label in reversed(list(zip(_UPPER, AGING_BUCKETS))):
        expr = nw.when(age <= upper).then(nw.lit(label)).otherwise(expr)
    return expr


def balances_frame(tables: Mapping[str, Any], as_of: pd.Timestamp, options: MetricOptions) -> nw.LazyFrame:
    """:func:`ar_balances` as a lazy frame on the tables' engine (what the A/R metrics aggregate). The A/R
    functions take it as ``balances=`` when the caller has it for the month's end (every window they use ends
    there), so a KPI set computes the balances once. The balances of one date: :func:`balances_at`."""
    return balances_at(tables, [as_of], options).drop("as_of_index")


def balances_at(tables: Mapping[str, Any], dates, options: MetricOptions) -> nw.LazyFrame:
    """The open balances of several dates in one pass over the ledger: :func:`ar_balances`' rows for each date
    of ``dates`` (ascending, distinct), told apart by ``as_of_index`` (the date's position in ``dates``).

    Each ledger row counts from the first of the dates on or after its posting day; the rows of a (claim,
    responsible party) are summed per date and accumulated in date order, and a running balance holds until the
    party's next date with postings. A 12-month trend thus reads the ledger once instead of twelve times. The one
    definition of a balance: :func:`balances_frame` is this with one date."""
    dates = [pd.Timestamp(d) for d in dates]
    if not dates or any(b <= a for a, b in zip(dates, dates[1:])):
        raise ValueError(f"dates must be distinct and ascending, got {[str(d.date()) for d in dates]}")
    if not isinstance(tables, Prepared):
        return _balances_at(tables, dates, options)
    # the work lists, the KPIs and the aging ask for the same month end: computed once per prepared tables; the
    # balances of several dates also serve each date alone (its rows: the one definition, the same numbers)
    key = lambda ds: ("balances", tuple(ds), options.denial_policy, options.aging_basis)  # noqa: E731
    out = tables.memo(key(dates), lambda: materialize(_balances_at(tables, dates, options)))
    for i, d in enumerate(dates if len(dates) > 1 else ()):
        tables.memo(key([d]), lambda i=i: out.filter(nw.col("as_of_index") == i).with_columns(
            as_of_index=nw.lit(0, nw.Int64)))
    return out


def date_index(frame: nw.LazyFrame, column: str, dates: list[pd.Timestamp]) -> nw.Expr:
    """The position in ``dates`` (ascending) of the first date on or after each row's ``column``: the as-of date
    from which the row counts; ``len(dates)`` for a row after the last date."""
    index = nw.lit(len(dates))
    for i, d in reversed(list(enumerate(dates))):
        index = nw.when(on_or_before(frame, column, d)).then(nw.lit(i)).otherwise(index)
    return index.cast(nw.Int64)


def _balances_at(tables: Mapping[str, Any], dates: list[pd.Timestamp], options: MetricOptions) -> nw.LazyFrame:
    ledger = lazy_ledger(tables, options)
    claims = lazy_tables(tables, ["claims"])["claims"]
    if len(dates) == 1 and engine_of(ledger) in ("duckdb", "spark"):
        return _balances_on(ledger, claims, dates[0], options)
    posted = ledger.with_columns(_i=date_index(ledger, "posted_on", dates)).filter(nw.col("_i") < len(dates))
    as_of_days = [(d.normalize() - pd.Timestamp("1970-01-01")).days for d in dates]
    steps = posted.group_by("claim_id", "responsible", "_i").agg(int_sum("amount_cents", "_step"))
    if len(dates) == 1:  # one date: each party's one sum is its balance (the running sum of a single step)
        bal = (steps.filter(nw.col("_step") != 0)
               .select("claim_id", "responsible", nw.col("_step").alias("balance_cents"),
                       nw.lit(0, nw.Int64).alias("as_of_index"), nw.lit(as_of_days[0], nw.Int64).alias("_as_of_day")))
    else:
        steps = (steps.with_columns(
                     balance_cents=nw.col("_step").cum_sum().over("claim_id", "responsible", order_by="_i")
                     .cast(nw.Int64),
                     _until=nw.col("_i").shift(-1).over("claim_id", "responsible", order_by="_i")
                     .fill_null(len(dates)).cast(nw.Int64))
                 .filter(nw.col("balance_cents") != 0))
        grid = like(pd.DataFrame({"as_of_index": range(len(dates)), "_as_of_day": as_of_days}, dtype="int64"),
                    ledger)
        bal = (steps.join(grid, how="cross")
               .filter(nw.col("_i") <= nw.col("as_of_index"), nw.col("as_of_index") < nw.col("_until"))
               .select("claim_id", "responsible", "balance_cents", "as_of_index", "_as_of_day"))
    # A claim known only from an 835 (no 837 loaded): age it from its first ledger posting (its earliest row, so
    # on or before every date it has a balance at).
    first_post = posted.group_by("claim_id").agg(nw.col("posted_on").min().alias("first_posted_on"))
    # each claim's dates, one row per claim: the same for every date, computed once per prepared tables
    dates_of = tables.memo("claim_dates", lambda: materialize(_claim_dates(claims))) \
        if isinstance(tables, Prepared) else _claim_dates(claims)
    bal = (bal.join(dates_of, on="claim_id", how="left")
           .join(first_post, on="claim_id", how="left"))
    return _aged(bal, nw.col("_as_of_day"), options).drop("_as_of_day")


def ar_balances(
    tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Open balance of every (claim, responsible party) as of a date: the sum of its ledger rows posted by then.

    Returns claim_id, responsible ('patient' or a payer_id), balance_cents, claim_payer_id, service_from,
    first_billed_on, age_days and bucket, for every non-zero balance. Credit balances (negative) are returned
    too; :func:`ar_total` and :func:`ar_aging` exclude them (AAFP/MGMA: A/R less credit balances, shown apart).
    Age counts whole days from the date of service (``aging_basis="service_date"``, AAFP: never re-aged on a
    transfer to a secondary payer or the patient) or from the claim's first bill date (MGMA variant).
    """
    out = collect(balances_frame(tables, as_of, options).sort("claim_id", "responsible"))
    out = out[["claim_id", "responsible", "balance_cents", "claim_payer_id", "service_from", "first_billed_on",
               "age_days", "bucket"]]
    out["balance_cents"] = out["balance_cents"].astype("int64")
    out["age_days"] = out["age_days"].astype("int64")
    out["bucket"] = pd.Categorical(out["bucket"], categories=list(AGING_BUCKETS), ordered=True)
    return out


def _open(balances) -> nw.LazyFrame:
    return lazy(balances).filter(nw.col("balance_cents") > 0)


def ar_total(balances) -> int:
    """Gross A/R in cents: the sum of positive balances (credit balances excluded, AAFP/MGMA). ``balances``:
    :func:`ar_balances` (or its lazy form on another engine)."""
    return ar_aged_pct(balances, None)[1]


def ar_aging(
    tables: Mapping[str, pd.DataFrame],
    month: str,
    options: MetricOptions = MetricOptions(),
    by: str = "payer",
    *,
    balances=None,
) -> pd.DataFrame:
    """Open A/R at the end of ``month`` by age bucket (0-30, 31-60, 61-90, 91-120, 120+ days).

    ``by="payer"``: one group per responsible party (each payer, and 'patient'); ``by="responsible"``:
    'insurance' vs 'patient'; ``by="payer_class"``: medicare, medicaid, commercial, ..., 'patient';
    ``by=None``: the practice total. Returns the group columns, bucket (ordered
    categorical, every bucket present for every group) and balance_cents. Source: AAFP; MGMA aging buckets.
    """
    if by not in ("payer", "responsible", "payer_class", None):
        raise ValueError(f"by must be 'payer', 'responsible', 'payer_class' or None, got {by!r}")
    if balances is None:
        balances = balances_frame(tables, month_window(month).end, options)
    balances = _open(balances)
    sums = collect(balances.group_by("responsible", "bucket").agg(int_sum("balance_cents")))
    who = sums["responsible"]
    payers = collect(lazy(tables["payers"])) if tables.get("payers") is not None else None
    if by == "payer":
        names = payers.set_index("payer_id")["payer_name"] if payers is not None else pd.Series(dtype=str)
        groups = {"payer_id": who, "payer_name": who.map(names).where(who != "patient", "Patient").fillna(who)}
    elif by == "responsible":
        groups = {"responsible": who.where(who == "patient", "insurance")}
    elif by == "payer_class":
        classes = payers.set_index("payer_id")["payer_class"].to_dict() if payers is not None else {}
        groups = {"payer_class": who.map(classes).where(who != "patient", "patient").fillna("other")}
    else:
        groups = {"group": pd.Series("all", index=sums.index)}
    frame = pd.DataFrame({**groups, "bucket": sums["bucket"].astype(str), "balance_cents": sums["balance_cents"]})
    sums = frame.groupby(list(groups) + ["bucket"], sort=True)["balance_cents"].sum()
    wide = sums.unstack("bucket", fill_value=0).reindex(columns=list(AGING_BUCKETS), fill_value=0)
    out = wide.stack().rename("balance_cents").reset_index()
    out["bucket"] = pd.Categorical(out["bucket"], categories=list(AGING_BUCKETS), ordered=True)
    out["balance_cents"] = out["balance_cents"].astype("int64")
    return out


def ar_aged_pct(balances, over_days: int | None) -> tuple[int, int]:
    """(A/R older than ``over_days`` days, total A/R), in cents; positive balances only."""
    open_ = _open(balances)
    over = nw.col("balance_cents") if over_days is None else nw.when(nw.col("age_days") > over_days).then(
        nw.col("balance_cents")).otherwise(0)
    sums = collect(open_.with_columns(_aged=over).select(int_sum("_aged"), int_sum("balance_cents")))
    return as_int(sums["_aged"].iloc[0]), as_int(sums["balance_cents"].iloc[0])


def month_number(expr: nw.Expr) -> nw.Expr:
    """A date expression's calendar month as one integer: year * 12 + month - 1 (the ``_ym`` of the monthly sums)."""
    return expr.dt.year().cast(nw.Int64) * 12 + expr.dt.month().cast(nw.Int64) - 1


def ym(when) -> int:
    """A date's (or a "YYYY-MM" month's) calendar month as :func:`month_number` numbers it."""
    t = pd.Timestamp(when)
    return t.year * 12 + t.month - 1


def ledger_months(ledger) -> nw.LazyFrame:
    """The ledger's amounts summed by kind and calendar month of posting (kind, _ym = year * 12 + month - 1,
    amount_cents): every money window of the metrics is whole months, so a KPI set sums this small table instead
    of scanning the ledger once per KPI. Ordered by kind and month: the same rows in the same order on every
    engine and run (a grouping's order is the engine's, and Polars' in-memory engine varies it from run to run)."""
    return lazy(ledger).with_columns(_ym=month_number(nw.col("posted_on"))).group_by("kind", "_ym").agg(
        int_sum("amount_cents")).sort("kind", "_ym")


def money_source(tables: Mapping[str, Any], options: MetricOptions):
    """What :func:`posted_in` sums: the monthly sums a :class:`Prepared` mapping carries for the options'
    policy (:func:`ledger_months`), else the ledger."""
    if isinstance(tables, Prepared) and tables.ledger_months is not None \
            and tables.denial_policy == options.denial_policy:
        return tables.ledger_months
    return ledger_for(tables, options)


def _whole_months(window: Window) -> tuple[int, int]:
    """The first and last month numbers (:func:`ym`) of a window of whole months."""
    if window.start.day != 1 or (window.end + pd.Timedelta(days=1)).day != 1:
        raise ValueError(f"monthly sums need a window of whole months, got {window}")
    return ym(window.start), ym(window.end)


def posted_rows(tables: Mapping[str, Any], options: MetricOptions, window: Window,
                kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The ledger rows (of ``kinds``, default all) posted within ``window``, under the options' denial policy,
    queried on the tables' engine and collected to pandas: what a pandas-only metric of a month reads, without
    collecting a large practice's ledger (issue #15). Row order is the engine's: callers group."""
    ledger = lazy_ledger(tables, options)
    rows = ledger.filter(between(ledger, "posted_on", window.start, window.end))
    return collect(rows if kinds is None else rows.filter(nw.col("kind").is_in(list(kinds))))


def posted_in(source, window: Window, kinds: tuple[str, ...]) -> int:
    """The sum of ledger amounts of ``kinds`` posted within ``window`` (whole months), in cents. ``source``: the
    ledger, or its :func:`ledger_months`."""
    if isinstance(source, pd.DataFrame) and "_ym" in source.columns:  # the prepared monthly sums: plain arrays
        first, last = _whole_months(window)
        months = source["_ym"].to_numpy()
        rows = (months >= first) & (months <= last) & source["kind"].isin(kinds).to_numpy()
        return as_int(source["amount_cents"].to_numpy()[rows].sum())
    frame = lazy(source)
    if "_ym" in frame.columns:
        first, last = _whole_months(window)
        in_window = (nw.col("_ym") >= first) & (nw.col("_ym") <= last)
    else:
        in_window = between(frame, "posted_on", window.start, window.end)
    rows = frame.filter(nw.col("kind").is_in(list(kinds)), in_window)
    return as_int(collect(rows.select(int_sum("amount_cents")))["amount_cents"].iloc[0])


def days_in_ar(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *, balances=None,
    gross: int | None = None,
) -> KPI:
    """Days in A/R (gross): gross A/R at the end of ``month`` / average daily gross charges.

    Numerator: open A/R, credit balances excluded (AAFP: "total receivables less credit balances").
    Denominator (``gross_3m``, AAFP; DESIGN default): charges posted in the last 3 full months (``month`` and
    the two before) / their calendar days (90 for January-March 2026). ``gross_12m`` (MGMA): 12 months of
    charges / their days (365 or 366). ``gross``: the month-end gross A/R in cents when the caller has it
    (:func:`aged_at`), else summed from ``balances``.
    """
    months = 3 if options.days_in_ar == "gross_3m" else 12
    window = month_window(month, months)
    if gross is None:
        ledger = ledger_for(tables, options)
        if balances is None:
            balances = balances_frame(Prepared({**tables, "ledger": ledger}, options.denial_policy), window.end,
                                      options)
        gross = ar_total(balances)
    ar = gross
    charges = posted_in(money_source(tables, options), window, ("charge",))
    daily = charges / window.days
    src = "AAFP (days in A/R)" if months == 3 else "MGMA (days of gross FFS charges in A/R)"
    return KPI(
        "days_in_ar", "Days in A/R", ratio(ar, daily), "days", ar / 100, daily / 100,
        f"gross A/R at {window.end.date()} (credit balances excluded) / (gross charges posted "
        f"{window.start.date()}..{window.end.date()} / {window.days} days)",
        src,
    )


def aged_at(balances, over_days: int | None, count: int) -> list[tuple[int, int]]:
    """:func:`ar_aged_pct` of each date of a :func:`balances_at` frame of ``count`` dates, in one query:
    (cents aged over ``over_days``, open A/R cents) by ``as_of_index`` (0, 0 for a date without balances)."""
    over = nw.col("balance_cents") if over_days is None else nw.when(nw.col("age_days") > over_days).then(
        nw.col("balance_cents")).otherwise(0)
    sums = collect(_open(balances).with_columns(_aged=over).group_by("as_of_index")
                   .agg(int_sum("_aged"), int_sum("balance_cents")))
    got = {int(i): (as_int(a), as_int(t)) for i, a, t in zip(sums["as_of_index"], sums["_aged"],
                                                             sums["balance_cents"])}
    return [got.get(i, (0, 0)) for i in range(count)]


@dataclass(frozen=True)
class NetAr:
    """What net A/R at a date takes besides the gross (:func:`net_ar_at`): the open insurance balances the payer
    has not priced yet, by payer in payer order (``pending``: (payer, cents) pairs), each payer's contractual rate
    over the trailing 12 months (``rates``) and the practice-wide rate (``overall``, for a payer with none)."""

    pending: tuple[tuple[str, int], ...]
    rates: Mapping[str, float]
    overall: float

    def expected(self) -> float:
        """The contractual allowance still expected on the pending balances, in cents."""
        return sum(float(b) * self.rates.get(p, self.overall) for p, b in self.pending)


def net_ar_at(tables: Mapping[str, Any], dates, options: MetricOptions, balances) -> list[NetAr]:
    """The :class:`NetAr` of each date of ``dates`` (ascending, distinct), from ``balances`` (a
    :func:`balances_at` frame of the same dates), reading the ledger once for all of them: a claim is priced at a
    date once a contractual adjustment of it is posted by then; a payer's rate at a date is the contractual
    adjustments posted by then over the charges posted in the year before, of the claims charged in that year
    that are priced (each claim under the lowest responsible party of its charge rows in that year)."""
    dates = [pd.Timestamp(d) for d in dates]
    if len(dates) == 1:
        return [_net_ar_one(tables, dates[0], options, balances)]
    ledger = lazy_ledger(tables, options)
    posted = ledger.filter(on_or_before(ledger, "posted_on", dates[-1]))
    # each claim's contractual adjustments by the first date they count at (_j), and the date it is priced from
    contractual = materialize(posted.filter(nw.col("kind") == "contractual")
                              .with_columns(_j=date_index(posted, "posted_on", dates))
                              .group_by("claim_id", "_j").agg(int_sum("amount_cents", "contractual")))
    priced_from = contractual.group_by("claim_id").agg(nw.col("_j").min().alias("_priced_from"))
    # the charges of each date's year (year_ago, date], per claim
    day = lambda d: int((d.normalize() - pd.Timestamp("1970-01-01")).days)  # noqa: E731
    year_ago = [d - pd.DateOffset(years=1) for d in dates]
    grid_lo, grid_hi = [day(a) for a in year_ago], [day(d) for d in dates]
    grid = like(pd.DataFrame({"as_of_index": range(len(dates)), "_lo": grid_lo, "_hi": grid_hi}, dtype="int64"),
                ledger)
    # each claim's charges by day in the years that any date reads, under the lowest responsible party of the day
    # (read by five queries: computed once on every engine, a claim-day table)
    charges = materialize(posted.filter(nw.col("kind") == "charge",
                                        nw.col("posted_on") > date_value(posted, "posted_on", year_ago[0]))
                          .with_columns(_day=day_number(nw.col("posted_on")))
                          .group_by("claim_id", "_day").agg(nw.col("responsible").min().alias("payer"),
                                                            int_sum("amount_cents", "charge")))
    multi = (charges.group_by("claim_id").agg(nw.len().alias("_days")).filter(nw.col("_days") > 1)
             .select("claim_id"))
    sums: dict[tuple[int, str], list[int]] = {}  # (date index, payer) -> [contractual, charge]
    # A claim charged on one day counts for the dates a..b: those on or after its day whose year began before
    # it. Its charge counts from the first of them it is priced at, each contractual adjustment from the first
    # of them it is posted by: ranges, summed as +x at their start and -x after their end, accumulated by date.
    first_date = nw.lit(0, nw.Int64)
    last_date = nw.lit(-1, nw.Int64)
    for lo, hi in zip(grid_lo, grid_hi):
        first_date = first_date + (nw.col("_day") > hi).cast(nw.Int64)
        last_date = last_date + (nw.col("_day") > lo).cast(nw.Int64)
    single = (charges.join(multi, on="claim_id", how="anti")
              .with_columns(_a=first_date, _b=last_date).filter(nw.col("_a") <= nw.col("_b")))
    steps: dict[str, np.ndarray] = {}
    for frame, start, value, slot in (
            (single.join(priced_from, on="claim_id", how="inner"), "_priced_from", "charge", 1),
            (single.drop("charge").join(contractual, on="claim_id", how="inner"), "_j", "contractual", 0)):
        # read twice (the range's start and end): computed once
        ranged = materialize(frame.with_columns(_s=nw.max_horizontal("_a", start)).filter(nw.col("_s") <= nw.col("_b"))
                             .select("payer", value, "_s", "_b"))
        for at, sign in (("_s", 1), ("_b", -1)):
            got = collect(ranged.with_columns(_at=nw.col(at) + (0 if sign > 0 else 1))
                          .group_by("payer", "_at").agg(int_sum(value)))
            for payer, i, v in zip(got["payer"], got["_at"], got[value]):
                steps.setdefault(payer, np.zeros((2, len(dates) + 1), dtype=np.int64))[slot, int(i)] += sign * int(v)
    for payer, step in steps.items():
        running = np.cumsum(step, axis=1)
        for i in range(len(dates)):
            if running[0, i] or running[1, i]:
                sums[(i, payer)] = [int(running[0, i]), int(running[1, i])]
    # a claim charged on several days (a few): its rows of each date's year, one row per date
    per_claim = (charges.join(multi, on="claim_id", how="semi").join(grid, how="cross")
                 .filter(nw.col("_day") > nw.col("_lo"), nw.col("_day") <= nw.col("_hi"))
                 .group_by("claim_id", "as_of_index").agg(nw.col("payer").min(), int_sum("charge")))
    priced = (per_claim.select("claim_id", "as_of_index").join(contractual, on="claim_id", how="inner")
              .filter(nw.col("_j") <= nw.col("as_of_index"))
              .group_by("claim_id", "as_of_index").agg(int_sum("contractual")))
    several = collect(per_claim.join(priced, on=["claim_id", "as_of_index"], how="inner")
                      .group_by("as_of_index", "payer").agg(int_sum("contractual"), int_sum("charge")))
    for i, payer, c, ch in zip(several["as_of_index"], several["payer"], several["contractual"], several["charge"]):
        pair = sums.setdefault((int(i), payer), [0, 0])
        pair[0] += int(c)
        pair[1] += int(ch)
    by_payer = pd.DataFrame([(i, payer, c, ch) for (i, payer), (c, ch) in sums.items()],
                            columns=["as_of_index", "payer", "contractual", "charge"]).astype(
        {"as_of_index": "int64", "contractual": "int64", "charge": "int64"})
    pending = (_open(balances).filter(nw.col("responsible") != "patient")
               .join(priced_from, on="claim_id", how="left")
               .filter(nw.col("_priced_from").is_null() | (nw.col("_priced_from") > nw.col("as_of_index")))
               .group_by("as_of_index", "responsible").agg(int_sum("balance_cents")))
    pending = collect(pending)
    out = []
    for i in range(len(dates)):
        rates, overall = _contractual_rates(by_payer[by_payer["as_of_index"] == i])
        mine = pending[pending["as_of_index"] == i].sort_values("responsible")
        out.append(NetAr(tuple(zip(mine["responsible"], (int(b) for b in mine["balance_cents"]))), rates, overall))
    return out


def _net_ar_one(tables: Mapping[str, Any], as_of: pd.Timestamp, options: MetricOptions, balances) -> NetAr:
    """:func:`net_ar_at` of one date, the same definition without the ranges that share passes among dates (a
    month's KPI set: issue #15, the suite against hand-written SQL): the claims priced by ``as_of`` (a contractual
    adjustment posted by then) and their contractuals; the charges of the year before, per claim under its lowest
    responsible party; the open insurance balances of the claims not priced."""
    ledger = lazy_ledger(tables, options)
    posted = ledger.filter(on_or_before(ledger, "posted_on", as_of))
    contractual = (posted.filter(nw.col("kind") == "contractual")
                   .group_by("claim_id").agg(int_sum("amount_cents", "contractual")))
    charged = (posted.filter(nw.col("kind") == "charge",
                             nw.col("posted_on") > date_value(posted, "posted_on", as_of - pd.DateOffset(years=1)))
               .group_by("claim_id").agg(nw.col("responsible").min().alias("payer"), int_sum("amount_cents", "charge")))
    by_payer = collect(charged.join(contractual, on="claim_id", how="inner")
                       .group_by("payer").agg(int_sum("contractual"), int_sum("charge"))).astype(
        {"contractual": "int64", "charge": "int64"})
    pending = collect(_open(balances).filter(nw.col("responsible") != "patient")
                      .join(contractual.select("claim_id"), on="claim_id", how="anti")
                      .group_by("responsible").agg(int_sum("balance_cents"))).sort_values("responsible")
    rates, overall = _contractual_rates(by_payer)
    return NetAr(tuple(zip(pending["responsible"], (int(b) for b in pending["balance_cents"]))), rates, overall)


def _contractual_rates(by_payer: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Per payer: contractual adjustments / charges of its priced claims (payer, contractual, charge: sums in
    cents, contractuals as the ledger signs them), and the practice-wide rate."""
    by_payer = by_payer.assign(contractual=-by_payer["contractual"].astype("int64"))
    overall = ratio(by_payer["contractual"].sum(), by_payer["charge"].sum()) or 0.0
    priced = by_payer[by_payer["charge"] > 0]
    return dict(zip(priced["payer"], priced["contractual"] / priced["charge"])), overall


def days_in_ar_net(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), *, balances=None,
    gross: int | None = None, net: NetAr | None = None,
) -> KPI:
    """Net days in A/R (HFMA MAP Key): net A/R / average daily net revenue of the last N full months.

    Net revenue = charges + contractual adjustments posted in the window (contractuals are credits). Net A/R =
    gross A/R (credit balances excluded) less the contractual allowance still expected on insurance balances
    the payer has not priced yet (no contractual adjustment posted: unadjudicated, or denied and still open),
    at each payer's rate over the trailing 12 months (contractual / charges of its priced claims; the
    practice-wide rate for a payer with none). Patient balances and priced claims are already net.
    HFMA P&P Board Statement 16: 3-month rolling average for internal use (``days_in_ar_net_months=3``), annual
    / 365 for external users (12). ``gross`` and ``net``: the month end's gross A/R and :class:`NetAr` when the
    caller has them (a trend computes every month's in one pass: :func:`aged_at`, :func:`net_ar_at`).
    """
    window = month_window(month, options.days_in_ar_net_months)
    if gross is None or net is None:
        if balances is None:
            prepared = tables if isinstance(tables, Prepared) and tables.denial_policy == options.denial_policy \
                else Prepared({**tables, "ledger": ledger_for(tables, options)}, options.denial_policy)
            balances = balances_frame(prepared, window.end, options)
        if gross is None:
            gross = ar_total(balances)
        if net is None:
            net = net_ar_at(tables, [window.end], options,
                            lazy(balances).with_columns(as_of_index=nw.lit(0, nw.Int64)))[0]
    net_ar = gross - net.expected()
    net_revenue = posted_in(money_source(tables, options), window, ("charge", "contractual"))
    daily = net_revenue / window.days
    return KPI(
        "days_in_ar_net", "Net days in A/R", ratio(net_ar, daily), "days", round(net_ar) / 100, daily / 100,
        f"net A/R at {window.end.date()} (gross A/R less the expected contractual allowance on insurance "
        f"balances not yet priced by the payer) / (charges less contractual adjustments posted {window.start.date()}.."
        f"{window.end.date()} / {window.days} days)",
        "HFMA MAP Keys (net days in A/R); HFMA P&P Board Statement 16",
    )
