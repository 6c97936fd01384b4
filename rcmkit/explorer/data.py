"""The explorer's model: what the controls select (:class:`ExplorerState`) and the practice's tables with everything
that does not depend on the selection computed once (:class:`ExplorerData`).

A control change makes a new state; :class:`ExplorerData` answers it from the cut-down tables (a numpy take per
table through a :class:`~rcmkit.explorer.filters.ClaimIndex`), from its filter-independent caches (first
adjudications, classified adjustments, the ledger under the options' denial policy) and from a small memo of
recent answers, so going back to a selection seen before costs nothing.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping

import numpy as np
import pandas as pd

from rcmkit.metrics import KPI, MetricOptions, Prepared, first_adjudications, last_full_month, ledger_for
from rcmkit.metrics.denials import clean_counts, denial_sums
from rcmkit.metrics.providers import provider_label, provider_names
from rcmkit.metrics.summary import prepare
from rcmkit.core.refdata import classify_adjustments
from rcmkit.explorer import views
from rcmkit.explorer.filters import ClaimIndex, Filters, Period, filter_tables

__all__ = ["METRICS", "LEVELS", "TABS", "TABLES", "ExplorerState", "ExplorerData", "Selection", "data_months"]

#: The metric control: key -> label. Each metric has its chart and its drill-down levels (:data:`LEVELS`).
METRICS: dict[str, str] = {
    "initial_denial_rate": "Initial denial rate",
    "clean_claim_rate": "Clean-claim rate",
    "ar": "A/R and aging",
    "charges_payments": "Charges and payments",
}

#: Drill-down levels per metric, from the broadest to the claims behind the KPI: (label, key).
LEVELS: dict[str, tuple[tuple[str, str], ...]] = {
    "initial_denial_rate": (("By category", "category"), ("By code", "code"), ("By payer", "payer"),
                            ("Claims", "claims")),
    "clean_claim_rate": (("By payer", "payer"), ("Claims", "claims")),
    "ar": (("By payer", "payer"), ("Claims", "claims")),
    "charges_payments": (("By payer", "payer"), ("Claims", "claims")),
}

#: The tabs, in their order on the page: key -> title.
TABS: dict[str, str] = {"drill": "Drill-down", "reimbursement": "Reimbursement", "forecast": "Cash forecast",
                        "checks": "Claim checks"}

#: The tables the explorer reads (``providers`` names the NPIs; a practice without it shows bare NPIs).
TABLES = ("payers", "claims", "claim_lines", "remittances", "remit_lines", "adjustments", "postings", "contracts",
          "ledger", "providers")

#: Which KPI keys each metric's chart plots month by month.
_TREND_KEYS = {
    "initial_denial_rate": ("initial_denial_rate", "initial_denial_rate_dollars"),
    "clean_claim_rate": ("clean_claim_rate",),
    "charges_payments": ("charges", "payments"),
    "ar": (),
}


#: The flow KPI keys by the metric function that computes them (one call gives the whole group).
_KEY_GROUPS: tuple[tuple[str, ...], ...] = (("charges",), ("payments",),
                                            ("initial_denial_rate", "initial_denial_rate_dollars"),
                                            ("clean_claim_rate",))


@dataclass(frozen=True)
class ExplorerState:
    """Everything the controls say, as one value: the selection (``filters``, ``period``), the drill-down
    (``metric``, ``level``, ``category``, ``code``), the tab shown and the reimbursement view's settings."""

    period: Period
    filters: Filters = field(default_factory=Filters)
    metric: str = "initial_denial_rate"
    level: str = "category"
    category: str | None = None
    code: tuple[str, str] | None = None
    tab: str = "drill"  # one of TABS: "drill", "reimbursement", "forecast", "checks"
    measure: str = "paid_per_unit"
    rank_by: str = "units"
    top: int = 12
    sort_payers: str = "name"
    pair: tuple[str, str] | None = None  # the claim checks' drill-down: (payer_id, procedure_code)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        levels = [k for _, k in LEVELS[self.metric]]
        if self.level not in levels:
            raise ValueError(f"level {self.level!r} is not a drill-down level of {self.metric!r}: {levels}")
        if self.tab not in TABS:
            raise ValueError(f"tab must be one of {list(TABS)}, got {self.tab!r}")
        if self.measure not in views.MEASURES:
            raise ValueError(f"measure must be one of {list(views.MEASURES)}, got {self.measure!r}")

    def replace(self, **changes) -> "ExplorerState":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Selection:
    """The tables cut down to the claims of ``filters``, with the caches cut the same way."""

    filters: Filters
    tables: Mapping[str, pd.DataFrame]
    first: pd.DataFrame  # first adjudications of the selected claims
    adjustments: pd.DataFrame  # their adjustments, classified
    claims: int  # number of selected claims


def data_months(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """The months a period can end in: from the first month with a submission or a payment to the last full month
    (:func:`rcmkit.metrics.last_full_month`), oldest first."""
    end = pd.Period(last_full_month(tables), freq="M")
    starts = [t[c].min() for n, c in (("claims", "submitted_on"), ("remittances", "paid_on"))
              if (t := tables.get(n)) is not None and len(t)]
    start = pd.Period(min(starts), freq="M") if starts else end
    return [str(p) for p in pd.period_range(min(start, end), end, freq="M")]


def _patient_numbers(claims: pd.DataFrame) -> pd.Series:
    """submission_id -> a number per patient (the order patients first appear in); a claim without a patient key
    gets a number of its own (no duplicate can match it)."""
    if "patient_key" not in claims.columns:
        return pd.Series(-1 - np.arange(len(claims)), index=claims["submission_id"].to_numpy())
    codes, _ = pd.factorize(claims["patient_key"])
    codes = np.where(codes < 0, -1 - np.arange(len(codes)), codes)
    return pd.Series(codes, index=claims["submission_id"].to_numpy())


def _split_by(frame: pd.DataFrame, key: np.ndarray) -> dict[Any, pd.DataFrame]:
    """``frame``'s rows by ``key`` (one value per row): {value: the rows with it, in their order, index kept} -
    what ``frame[key == value]`` gives for each value, in one sort instead of one scan per value."""
    if not len(frame):
        return {}
    codes, uniques = pd.factorize(key)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {u: frame.iloc[order[bounds[i]:bounds[i + 1]]] for i, u in enumerate(uniques)}


class Memo:
    """A small least-recently-used memo: the last ``size`` answers by key."""

    def __init__(self, size: int = 40):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items


class ExplorerData:
    """A practice's tables prepared for exploring.

    Built once (about a second for 25,000 claims): the claim index, each claim's first adjudication, the classified
    adjustments, and the ledger under ``options.denial_policy``. Patient keys are dropped on the way in, so no
    view can show one. Every method is a pure function of its arguments and these tables (answers are memoized).
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame], options: MetricOptions = MetricOptions(), *,
                 practice: str = "", practice_name: str | None = None):
        missing = [n for n in ("payers", "claims", "remittances", "adjustments", "ledger") if n not in tables]
        if missing:
            raise ValueError(f"the explorer needs the tables {missing}")
        t = {n: tables[n] for n in TABLES if n in tables}
        # The claim checks' duplicate rule compares patients: it gets a number per patient of this practice (0, 1,
        # ...), by submission, never the key itself; no view or export reads it.
        self._patient_number = _patient_numbers(t["claims"])
        t["claims"] = t["claims"].drop(columns=[c for c in views.PATIENT_COLUMNS if c in t["claims"].columns])
        # Built once under the options' denial policy, and declared so: every metric call reuses it.
        t["ledger"] = ledger_for(t, options)
        t["adjustments"] = classify_adjustments(t["adjustments"])
        self.options = options
        self.call_options = options
        # With the ledger's monthly sums (rcmkit.metrics.prepare), which charges, payments and the trailing-window
        # KPIs read instead of the ledger; each selection's tables get their own (see _select).
        self.tables: Prepared = prepare(Prepared(t, options.denial_policy), options)
        self.practice = practice
        self.practice_name = practice_name or practice
        self.index = ClaimIndex(t)
        self.first = first_adjudications(t, self.call_options)
        self._first_pos = self.index.positions(self.first["claim_id"])
        self.months = data_months(t)
        payers = t["payers"]
        self.payer_names: dict[str, str] = dict(zip(payers["payer_id"], payers["payer_name"]))
        self.payer_names.setdefault("patient", "Patient")
        self.provider_names: dict[str, str] = provider_names(t)  # NPI -> 'LAST, FIRST' or organization name
        # The claim's payer for the rows the by-payer splits cut (claims, ledger, first adjudications).
        claim_payer = self.index.attributes["payer_id"].astype(str).to_numpy(dtype=object)
        self._claim_payer = claim_payer
        self._memo = Memo()
        self.charts = Memo(64)  # the widgets' rendered charts (rcmkit.explorer.widget): pure functions of their key
        self._end_balances = None  # month -> the practice's open balances at its end (see end_balances)
        self._months = Memo()  # filters -> {(month, key group): that month's flow KPIs} (see monthly)
        self._book = None  # the forecast's indexed ledger, built when the Cash forecast tab is first shown
        self._forecasts: dict[Hashable, Any] = {}  # forecasts by month / date: a few seconds each, kept

    # ----------------------------------------------------------------------------------------- choices
    @property
    def last_month(self) -> str:
        return self.months[-1]

    def payer_choices(self) -> list[tuple[str, str]]:
        """(label, payer_id) for every payer with claims, by name."""
        counts = self.index.attributes["payer_id"].value_counts()
        ids = sorted(counts.index, key=lambda p: (self.payer_names.get(p, p), p))
        return [(f"{self.payer_names.get(p, p)} ({p})", p) for p in ids]

    def payer_class_choices(self) -> list[tuple[str, str]]:
        classes = self.index.attributes["payer_class"].value_counts()
        return [(c.replace("_", "-").capitalize(), c) for c in sorted(classes.index)]

    def provider_label(self, npi: str) -> str:
        """"SMITH, JANE (1234567893)", or the NPI alone when the practice has no name for it."""
        return provider_label(npi, self.provider_names)

    def provider_choices(self) -> list[tuple[str, str]]:
        """(label, rendering NPI) by number of claims; the label names the provider when its name is known:
        "SMITH, JANE (1234567893): 1,234 claims", else "1234567893: 1,234 claims"."""
        npis = self.index.attributes["rendering_npi"].dropna().astype(str)
        counts = npis.value_counts()
        order = sorted(counts.index, key=lambda n: (-counts[n], n))
        return [(f"{self.provider_label(n)}: {counts[n]:,} claim{'s' if counts[n] != 1 else ''}", n) for n in order]

    # ----------------------------------------------------------------------------------------- selection
    def select(self, filters: Filters) -> Selection:
        """The tables and caches cut down to the claims ``filters`` selects."""
        return self._memo.get(("select", filters), lambda: self._select(filters))

    def _select(self, filters: Filters) -> Selection:
        if filters.is_empty:
            return Selection(filters, self.tables, self.first, self.tables["adjustments"], self.index.size)
        mask = self.index.claim_mask(filters)
        tables = prepare(filter_tables(self.tables, filters, index=self.index), self.call_options)
        keep = np.zeros(len(self._first_pos), dtype=bool)
        known = self._first_pos >= 0
        keep[known] = mask[self._first_pos[known]]
        first = self.first[keep].reset_index(drop=True)
        return Selection(filters, tables, first, tables["adjustments"], int(mask.sum()))

    # ----------------------------------------------------------------------------------------- numbers
    def monthly(self, filters: Filters, months: tuple[str, ...], keys: tuple[str, ...] = views.FLOW_KEYS
                ) -> dict[str, dict[str, KPI]]:
        """Flow KPIs per month (:func:`rcmkit.explorer.views.monthly_flow_kpis`) for the selection.

        Kept per selection, month and metric function (:data:`_KEY_GROUPS`): each month's KPIs are computed once
        and shared by the tiles of every period and the chart's 12 months that contain the month, so a change of
        the period's length or end, or of the metric, computes only the months (and metrics) not seen yet. A
        month's KPIs do not depend on the other months asked with it (each metric call reads the month's slice)."""
        groups = [g for g in _KEY_GROUPS if any(k in keys for k in g)]
        groups += [(k,) for k in keys if not any(k in g for g in _KEY_GROUPS)]  # a flow KPI added later
        known: dict[tuple[str, tuple[str, ...]], dict[str, KPI]] = self._months.get(filters, dict)
        missing: dict[tuple[str, ...], list[tuple[str, ...]]] = {}  # months to compute -> the key groups they need
        for g in groups:
            todo = tuple(m for m in months if (m, g) not in known)
            if todo:
                missing.setdefault(todo, []).append(g)
        if missing:
            sel = self.select(filters)
            for todo, gs in missing.items():
                need = tuple(k for g in gs for k in g)
                got = views.monthly_flow_kpis(sel.tables, list(todo), self.call_options, first=sel.first, keys=need)
                for m in todo:
                    for g in gs:
                        known[(m, g)] = {k: got[m][k] for k in g if k in got[m]}
        return {m: {k: v for g in groups for k, v in known[(m, g)].items() if k in keys} for m in months}

    def kpis(self, filters: Filters, period: Period) -> dict[str, KPI]:
        """The tiles: :func:`rcmkit.explorer.views.period_kpis` of the selection."""
        def compute():
            sel = self.select(filters)
            monthly = self.monthly(filters, tuple(period.month_list))
            return views.period_kpis(sel.tables, period, self.call_options, first=sel.first, monthly=monthly,
                                     balances=self.end_balances(filters, period.end))
        return self._memo.get(("kpis", filters, period), compute)

    def end_balances(self, filters: Filters, month: str) -> pd.DataFrame | None:
        """The open balances of the selection at ``month``'s end (:func:`rcmkit.metrics.ar.balances_frame` of the
        selection's tables), or None for a month outside the data.

        The practice's balances at every month end of the data are computed in one pass over the ledger
        (:func:`rcmkit.metrics.ar.balances_at`) when first needed; a selection takes the rows of its claims. A
        balance is a claim's own ledger rows summed, so the rows of the selected claims are exactly the balances
        of the selected claims' tables."""
        if month not in self.months:
            return None

        def compute():
            frame, pos = self._month_end_balances()[month]
            if filters.is_empty:
                return frame
            mask = self.index.claim_mask(filters)
            keep = np.zeros(len(pos), dtype=bool)
            known = pos >= 0  # a claim the index does not know is in no filtered selection (as filter_tables)
            keep[known] = mask[pos[known]]
            return frame[keep].reset_index(drop=True)
        return self._memo.get(("end_balances", filters, month), compute)

    def _month_end_balances(self) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
        """month -> (the practice's balances at its end, each row's claim position in the index). Built once."""
        if self._end_balances is None:
            from rcmkit.core.engine import collect
            from rcmkit.metrics import month_window
            from rcmkit.metrics.ar import balances_at

            every = collect(balances_at(self.tables, [month_window(m).end for m in self.months], self.call_options))
            at = every["as_of_index"].to_numpy()
            every = every.drop(columns="as_of_index")
            out = {}
            for i, m in enumerate(self.months):
                frame = every[at == i].reset_index(drop=True)
                out[m] = (frame, self.index.positions(frame["claim_id"]))
            self._end_balances = out
        return self._end_balances

    def trend(self, filters: Filters, period: Period, metric: str, months: int = 12) -> pd.DataFrame:
        """The chart's months: the metric's flow KPIs for the ``months`` months ending with the period's end."""
        keys = _TREND_KEYS[metric]
        chart = tuple(Period(period.end, 12).month_list[-months:])
        if not keys:
            return pd.DataFrame({"month": list(chart)})
        return views.monthly_values(self.monthly(filters, chart, keys))  # the period's months: the tiles'

    def by_payer(self, filters: Filters, period: Period, metric: str) -> pd.DataFrame:
        """The metric's period KPIs for each payer of the selection (the payer filter narrowed to one payer: each
        row equals the tiles with that payer selected)."""
        if metric == "ar":
            # the aging the chart draws (self.aging: the same ar_aging call), computed once for both
            return self._memo.get(("aging", filters, period), lambda: views.aging_table(
                self.select(filters).tables, period, self.call_options, aging=self.aging(filters, period)))
        keys = {"initial_denial_rate": ("initial_denial_rate", "initial_denial_rate_dollars"),
                "clean_claim_rate": ("clean_claim_rate",), "charges_payments": ("charges", "payments")}[metric]

        def compute():
            sel = self.select(filters)
            payer_of = {n: self._payer_of_rows(filters, n) for n in ("first", "claims")}
            payers = sorted(set(payer_of["first"]) | set(payer_of["claims"]))
            per_payer = {}
            if metric in ("initial_denial_rate", "clean_claim_rate"):
                # The rates read the first adjudications (and the clean-claim rate the submissions of their claims,
                # each claim the payer's): every payer's months in one query grouped by the claim's payer
                # (denial_sums, clean_counts by="_payer"; each payer's numbers are those of its claims alone)
                first = sel.first.assign(_payer=payer_of["first"])
                months, options = period.month_list, self.call_options
                if metric == "initial_denial_rate":
                    got, name, none = denial_sums(sel.tables, months, options, first[[
                        "claim_id", "paid_on", "denied", "billed_cents", "_payer"]], by="_payer"), "denials", (0,) * 4
                else:
                    got, name, none = clean_counts(sel.tables, months, options, first[[
                        "claim_id", "paid_on", "any_denial", "_payer"]], by="_payer"), "clean", (0, 0)
                for pid in payers:
                    per_month = [views.flow_kpis(sel.tables, m, options, keys=keys, **{name: got.get((pid, m), none)})
                                 for m in months]
                    per_payer[pid] = {k: views.pool([pm[k] for pm in per_month], period.month_list) for k in keys}
                return views.payer_rows(per_payer, metric, self.tables["payers"])
            # Charges and payments: the ledger's rows posted in the period, summed by the claim's payer, kind and
            # month in one grouping; each payer's sums are the monthly sums (rcmkit.metrics.ar.ledger_months) its
            # selection's tables would carry, which charges and payments read (each amount an integer sum: the same
            # cents as the payer's own ledger rows summed).
            sums = self._ledger_sums_by_payer(filters, period)
            none = pd.DataFrame({"kind": pd.Series(dtype=object), "_ym": pd.Series(dtype=np.int64),
                                 "amount_cents": pd.Series(dtype=np.int64)})
            options = self.call_options
            for pid in payers:
                tables = Prepared({}, options.denial_policy, ledger_months=sums.get(pid, none))
                per_month = [views.flow_kpis(tables, m, options, keys=keys) for m in period.month_list]
                per_payer[pid] = {k: views.pool([pm[k] for pm in per_month], period.month_list) for k in keys}
            return views.payer_rows(per_payer, metric, self.tables["payers"])
        return self._memo.get(("by_payer", filters, period, metric), compute)

    def _ledger_sums_by_payer(self, filters: Filters, period: Period) -> dict[str, pd.DataFrame]:
        """The selection's ledger rows posted in ``period`` summed by the claim's payer, kind and month: {payer_id:
        its (kind, _ym, amount_cents) sums, as :func:`rcmkit.metrics.ar.ledger_months` gives them}, in one
        grouping."""
        ledger = ledger_for(self.select(filters).tables, self.call_options)
        inside = np.asarray(period.window.contains(ledger["posted_on"]), dtype=bool)
        posted = pd.DatetimeIndex(ledger["posted_on"].to_numpy()[inside])
        rows = pd.DataFrame({"_payer": self._payer_of_rows(filters, "ledger")[inside],
                             "kind": ledger["kind"].to_numpy()[inside],
                             "_ym": posted.year.to_numpy(dtype=np.int64) * 12 + posted.month.to_numpy() - 1,
                             "amount_cents": ledger["amount_cents"].to_numpy()[inside]})
        sums = rows.groupby(["_payer", "kind", "_ym"], sort=True)["amount_cents"].sum().reset_index()
        return {pid: part.drop(columns="_payer").reset_index(drop=True)
                for pid, part in _split_by(sums, sums["_payer"].to_numpy()).items()}

    def _payer_of_rows(self, filters: Filters, name: str) -> np.ndarray:
        """The claim's payer (as the payer filter sees it) of each row of the selection's ``name``: "claims",
        "ledger" or "first" (first adjudications); each computed when first asked (the ledger's is most of the
        cost, and the denial rates by payer never read it)."""
        def compute():
            sel = self.select(filters)
            frame = sel.first if name == "first" else sel.tables[name]
            return self._claim_payer[self.index.positions(frame["claim_id"])]
        return self._memo.get(("payer_of_rows", filters, name), compute)

    def denial_lines(self, filters: Filters, period: Period) -> pd.DataFrame:
        def compute():
            sel = self.select(filters)
            return views.denial_lines(sel.tables, period, self.call_options, first=sel.first,
                                      adjustments=sel.adjustments)
        return self._memo.get(("denial_lines", filters, period), compute)

    def drill_table(self, state: ExplorerState) -> pd.DataFrame:
        """The drill-down table of ``state``: a breakdown, or the claims behind the KPI (all rows)."""
        f, p = state.filters, state.period
        if state.metric == "initial_denial_rate":
            if state.level in ("category", "code"):
                if state.code is None:
                    return self.breakdown(f, p, state.level, state.category)
                lines = self.denial_lines(f, p)
                lines = lines[(lines["group_code"] == state.code[0]) & (lines["reason_code"] == state.code[1])]
                return views.denial_breakdown(lines, state.level, category=state.category)
            if state.level == "claims":
                def compute():
                    sel = self.select(f)
                    return views.denied_claims(sel.tables, p, self.call_options, first=sel.first,
                                               adjustments=sel.adjustments, category=state.category, code=state.code,
                                               balances=self.end_balances(f, p.end))
                return self._memo.get(("denied_claims", f, p, state.category, state.code), compute)
        if state.level == "payer":
            return self.by_payer(f, p, state.metric)
        sel = self.select(f)
        if state.metric == "clean_claim_rate":
            return self._memo.get(("not_clean", f, p), lambda: views.not_clean_claims(
                sel.tables, p, self.call_options, first=sel.first, adjustments=sel.adjustments,
                balances=self.end_balances(f, p.end)))
        if state.metric == "ar":
            return self._memo.get(("open_ar", f, p), lambda: views.open_ar_claims(
                sel.tables, p, self.call_options, balances=self.end_balances(f, p.end)))
        return self._memo.get(("activity", f, p), lambda: views.activity_claims(sel.tables, p, self.call_options))

    def aging(self, filters: Filters, period: Period) -> pd.DataFrame:
        """Open A/R at the period's end by payer and bucket, long (:func:`rcmkit.metrics.ar_aging`), for the chart."""
        from rcmkit.metrics import ar_aging

        return self._memo.get(("ar_aging", filters, period), lambda: ar_aging(
            self.select(filters).tables, period.end, self.call_options,
            balances=self.end_balances(filters, period.end)))

    def reimbursement(self, filters: Filters, period: Period, measure: str) -> pd.DataFrame:
        """Payer x code cells with the measure (:func:`rcmkit.explorer.views.reimbursement_cells`); the cells
        every measure starts from are computed once per selection and period, so a change of measure computes only
        its own part (the contract's lines for allowed / contract, nothing for the others)."""
        def compute():
            tables = self.select(filters).tables
            base = self._memo.get(("reimbursement_base", filters, period), lambda: views.reimbursement_base(
                tables, period, self.call_options))
            return views.reimbursement_cells(tables, period, self.call_options, measure, cells=base)
        return self._memo.get(("reimbursement", filters, period, measure), compute)

    def breakdown(self, filters: Filters, period: Period, level: str, category: str | None = None) -> pd.DataFrame:
        """:func:`rcmkit.explorer.views.denial_breakdown` of the selection's denial lines (memoized: the drill-down
        table and the category and code choices read the same ones)."""
        return self._memo.get(("breakdown", filters, period, level, category), lambda: views.denial_breakdown(
            self.denial_lines(filters, period), level, category=category))

    def categories(self, filters: Filters, period: Period) -> list[str]:
        """Denial categories present in the selection's period, most dollars first."""
        return list(self.breakdown(filters, period, "category")["category"])

    def codes(self, filters: Filters, period: Period, category: str | None) -> list[tuple[str, str]]:
        """(group, CARC) denial codes present, within ``category`` when given, most dollars first."""
        table = self.breakdown(filters, period, "code", category)
        return list(zip(table["group_code"], table["reason_code"]))

    # ----------------------------------------------------------------------------------------- cash forecast
    def forecast_book(self):
        """The forecast's :class:`rcmkit.forecast.Book` of the whole practice (built once, on first use)."""
        if self._book is None:
            from rcmkit.forecast import Book

            self._book = Book(self.tables, self.call_options)
        return self._book

    def has_month_forecast(self, month: str) -> bool:
        """Whether ``month``'s forecast is computed already."""
        return ("month", month) in self._forecasts

    def month_forecast(self, month: str):
        """:func:`rcmkit.forecast.month_forecast` of the whole practice at the end of ``month`` (memoized)."""
        key = ("month", month)
        if key not in self._forecasts:
            from rcmkit.forecast import month_forecast

            self._forecasts[key] = month_forecast(self.forecast_book(), month, self.call_options)
        return self._forecasts[key]

    def cash(self, filters: Filters, month: str):
        """The Cash forecast tab (:func:`rcmkit.explorer.cash.cash_view`) for ``month``'s end and the payers the
        filters select. The forecast is the practice's, computed once per month; a payer filter only cuts it."""
        from rcmkit.explorer.cash import cash_view
        from rcmkit.forecast.model import actual_cash_by_payer, windows

        payers = Filters(payers=filters.payers, payer_classes=filters.payer_classes)

        def compute():
            mf = self.month_forecast(month)
            prior = actual = None
            if not payers.is_empty and mf.prior is not None:
                before = mf.prior.as_of
                prior = mf.prior  # the forecast made at the end of the month before
                w = windows(before)
                w = w[w["kind"] == "month"].iloc[0]
                actual = actual_cash_by_payer(self.forecast_book(), before, int(w["start_day"]), int(w["end_day"]))
            return cash_view(mf, filters, prior=prior, actual=actual)
        return self._memo.get(("cash", filters, month), compute)

    # ----------------------------------------------------------------------------------------- claim checks
    def scrub_history(self) -> dict[str, pd.DataFrame]:
        """The practice's tables as the scrubber reads them (claims carry the patient numbers as their patient key,
        for the duplicate rule). Built once."""
        if getattr(self, "_scrub_history", None) is None:
            claims = self.tables["claims"]
            number = claims["submission_id"].map(self._patient_number)
            t = {n: self.tables[n] for n in self.tables}
            t["claims"] = claims.assign(patient_key=number.map(lambda v: f"p{v}"))
            self._scrub_history = t
        return self._scrub_history

    def line_outcomes(self) -> pd.DataFrame:
        """:func:`rcmkit.scrub.risk.line_outcomes` of the practice (built once)."""
        key = ("outcomes",)
        if key not in self._forecasts:
            from rcmkit.scrub.risk import line_outcomes

            self._forecasts[key] = line_outcomes(self.scrub_history())
        return self._forecasts[key]

    def risk_model(self, before: pd.Timestamp):
        """The denial-risk model trained on claims first adjudicated before ``before`` (memoized), or the reason
        it could not be trained, in plain words (a str)."""
        key = ("risk", pd.Timestamp(before))
        if key not in self._forecasts:
            from rcmkit.scrub.batch import fit_risk_model

            outcomes = self.line_outcomes()
            decided = outcomes[outcomes["decided_on"].notna() & (outcomes["decided_on"] < pd.Timestamp(before))]
            from rcmkit.present.format import day_label

            day = day_label(before)
            if decided.empty:
                self._forecasts[key] = f"No denial-risk scores: no claim had an answer from a payer before {day}."
            else:
                try:
                    frame, labels = self._risk_training()
                    self._forecasts[key] = fit_risk_model(frame, labels, before)
                except ValueError:
                    self._forecasts[key] = (f"No denial-risk scores: the claims answered before {day} were all "
                                            "paid or all denied, too little history to learn from.")
        return self._forecasts[key]

    def _risk_training(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The risk model's features and labels of every original claim (built once; each cutoff fits on its rows
        first adjudicated before it). Findings are checked as on the data's last day instead of the cutoff: the only
        rule that reads that day (a service date after it) would differ only on a claim answered before its own
        date of service."""
        key = ("risk_training",)
        if key not in self._forecasts:
            from rcmkit.scrub.batch import risk_training_frame

            history = self.scrub_history()
            last = max(history["claims"]["submitted_on"].max(), history["remittances"]["paid_on"].max()
                       if len(history["remittances"]) else history["claims"]["submitted_on"].max())
            self._forecasts[key] = risk_training_frame(history, self.line_outcomes(), last)
        return self._forecasts[key]

    def has_checks(self, filters: Filters, period: Period) -> bool:
        """Whether the claim checks of this selection are computed already (in the memo)."""
        return ("checks", filters, period) in self._memo

    def checks(self, filters: Filters, period: Period):
        """The Claim checks tab (:class:`rcmkit.explorer.checks.ChecksView`): the scrub of the claims first sent in
        ``period`` among those ``filters`` selects, their risk scores and the payer x code pairs to drill into."""
        return self._memo.get(("checks", filters, period), lambda: self._checks(filters, period))

    def _scrub_context(self, batch: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp | None = None):
        """The rules' context for a batch: checked as on its last submission (``end`` when empty), with the
        practice's earlier claims and the payer x code denial history of 835s dated before ``start``."""
        from rcmkit.scrub.batch import context_for
        from rcmkit.scrub.codesets import default_icd

        as_of = batch["submitted_on"].max() if len(batch) else end
        return context_for(pd.Timestamp(as_of).date(), self.scrub_history(), icd=default_icd(),
                           outcomes=self.line_outcomes(), history_before=start)

    def _checks(self, filters: Filters, period: Period):
        from rcmkit.explorer import checks
        from rcmkit.scrub.batch import score_batch
        from rcmkit.scrub.rules import run_rules
        from rcmkit.scrub.codesets import default_icd

        start = pd.Period(period.start, freq="M").start_time
        end = pd.Period(period.end, freq="M").end_time.normalize()
        history = self.scrub_history()
        chosen = set(self.select(filters).tables["claims"]["submission_id"])
        claims = history["claims"][history["claims"]["submission_id"].isin(chosen)]
        batch = checks.batch_submissions(claims, start, end)
        lines = history["claim_lines"][history["claim_lines"]["submission_id"].isin(batch["submission_id"])]
        icd = default_icd()
        outcomes = self.line_outcomes()
        as_of = batch["submitted_on"].max() if len(batch) else None
        found = run_rules(batch, lines, self._scrub_context(batch, start, end))
        findings = checks.findings_table(found, lines, self.payer_names)
        pairs = checks.pair_choices(lines, batch, found)
        risk, note = None, ""
        if len(batch):
            model = self.risk_model(start)
            if isinstance(model, str):
                note = model
            else:
                scores = score_batch(model, batch, lines, outcomes, start, found)
                risk = checks.risk_table(scores, found, self.payer_names)
                from rcmkit.present.format import day_label

                note = f"Trained on {model.trained_on:,} claims the payers answered before {day_label(start)}."
        return checks.ChecksView(start, as_of, len(batch), int(batch["total_charge_cents"].sum()), findings, risk,
                                 note, pairs, icd.label)

    def pair_history(self, payer_id: str, code: str, before: pd.Timestamp):
        """A payer x code's denial history before ``before`` (:func:`rcmkit.explorer.checks.pair_history`)."""
        from rcmkit.explorer.checks import pair_history

        return self._memo.get(("pair_history", payer_id, code, pd.Timestamp(before)),
                              lambda: pair_history(self.line_outcomes(), payer_id, code, before))
