"""The cash forecast as it was computed before issue #15 made it fast, kept verbatim as the reference the fast
path must equal: every as-of date on its own (each earlier month end's point forecast filters the whole ledger
again and rebuilds its curves), with its own :class:`Book` (the old construction) and the old estimators of
:mod:`rcmkit.forecast.curves`, so nothing here shares work or code paths with the fast one.

Not used by the package. tests/test_forecast_speed.py asserts that :func:`rcmkit.forecast.month_forecast` equals
:func:`month_forecast` here on the small practice and a 1,000-claim demo; benchmarks/forecast_speed.py times both.
The method and its sources: rcmkit/forecast/model.py and docs/forecast.md. Do not change the numbers here.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from rcmkit.core.ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS
from rcmkit.forecast.model import Forecast, ForecastOptions
from rcmkit.forecast.report import MonthForecast
from rcmkit.metrics import AGING_BUCKETS, MetricOptions, ledger_for, month_window


#: The horizons of the summary (days after as_of) and the weeks of the 13-week view (the treasury convention).
HORIZONS = (30, 60, 90)
WEEKS = 13
#: Ledger kinds that are cash (AAFP: payments net of reversals and refunds), as rcmkit.metrics.collections.
CASH_KINDS = ("insurance_payment", "patient_payment", "reversal", "refund")
MAX_AGE = 1095  # ages past three years are pooled into one
_EPOCH = pd.Timestamp("1970-01-01")
_NEVER = 10**9  # the day number of an adjudication that has not happened
_SOURCES = ("open A/R", "new charges")
PARTS = {
    "awaiting payer": "open A/R",
    "payer balance after adjudication": "open A/R",
    "patient balance": "open A/R",
    "patient share of claims awaiting payer": "open A/R",
    "new charges": "new charges",
}





def windows(as_of=None) -> pd.DataFrame:
    """The forecast windows: ``window`` ('30 days', ..., 'week 1'..'week 13', 'next month'), ``kind`` (horizon,
    week, month), ``start_day`` and ``end_day`` (cash posted on days ``start_day + 1 .. end_day`` after as_of).
    'next month' is the calendar month after ``as_of`` when as_of is a month's last day (what the monthly
    report compares with the month that followed), else the next 30 days."""
    rows = [(f"{h} days", "horizon", 0, h) for h in HORIZONS]
    rows += [(f"week {w}", "week", 7 * (w - 1), 7 * w) for w in range(1, WEEKS + 1)]
    month = 30
    if as_of is not None:
        as_of = pd.Timestamp(as_of)
        if as_of.is_month_end:
            month = (as_of + pd.offsets.MonthEnd(1) - as_of).days
    rows.append(("next month", "month", 0, month))
    return pd.DataFrame(rows, columns=["window", "kind", "start_day", "end_day"])


_WINDOWS = windows()
_HMAX = int(_WINDOWS["end_day"].max())  # 91


def _days(dates: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(dates) - _EPOCH).dt.days).to_numpy(dtype=np.int64)


def day_number(date) -> int:
    """A date as whole days since 1970-01-01 (the forecast's day numbers)."""
    return int((pd.Timestamp(date).normalize() - _EPOCH).days)


class Book:
    """A practice's tables indexed for repeated forecasts (a backtest forecasts at many month ends): ledger
    events as day numbers, each claim's charge day and payer, each (claim, payer)'s first adjudication day,
    the lines of first adjudications and of each claim's billed submission. Nothing here depends on an as-of
    date except through the day columns every forecast filters on."""

    def __init__(self, tables: Mapping[str, Any], options: MetricOptions = MetricOptions()) -> None:
        get = lambda name: tables.get(name) if tables.get(name) is not None else None  # noqa: E731
        ledger = ledger_for(tables, options)
        if not isinstance(ledger, pd.DataFrame):
            raise TypeError("the forecast runs on pandas tables: load them with rcmkit.core.store.load_tables")
        payers = get("payers")
        self.payer_names = dict(zip(payers["payer_id"], payers["payer_name"])) if payers is not None else {}
        self.payer_class = dict(zip(payers["payer_id"], payers["payer_class"])) if payers is not None else {}
        self.options = options
        ledger = ledger[ledger["amount_cents"] != 0]
        claim_codes, claim_ids = pd.factorize(ledger["claim_id"], sort=True)
        self.claim_ids = np.asarray(claim_ids, dtype=object)
        party_codes, parties = pd.factorize(ledger["responsible"], sort=True)
        self.parties = list(parties)
        self.patient = self.parties.index("patient") if "patient" in self.parties else -1
        day = _days(ledger["posted_on"])
        amount = ledger["amount_cents"].to_numpy(dtype=np.float64)
        kind = ledger["kind"].to_numpy()
        cash = np.where(np.isin(kind, CASH_KINDS), -amount, 0.0)
        self.ev = {"claim": claim_codes.astype(np.int64), "party": party_codes.astype(np.int64), "day": day,
                   "amount": amount, "cash": cash}
        n = len(self.claim_ids)
        # each claim's charge: its first positive charge (else its first event: a claim known from an 835 only)
        is_charge = (kind == "charge") & (amount > 0)
        first_any = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first_any, claim_codes, day)
        charge_day = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(charge_day, claim_codes[is_charge], day[is_charge])
        self.charge_day = np.where(charge_day == np.iinfo(np.int64).max, first_any, charge_day)
        charge_rows = pd.DataFrame({"claim": claim_codes[is_charge], "day": day[is_charge],
                                    "party": party_codes[is_charge], "amount": amount[is_charge]})
        charge_rows = charge_rows.sort_values(["claim", "day"], kind="mergesort")
        firsts = charge_rows.drop_duplicates("claim")
        self.charge_party = np.full(n, -1, dtype=np.int64)
        self.charge_party[firsts["claim"].to_numpy()] = firsts["party"].to_numpy()
        self.charges = charge_rows  # every charge posting (for the new-charge rate)
        self.charge_cents = np.zeros(n)
        self.charge_cents[firsts["claim"].to_numpy()] = firsts["amount"].to_numpy()
        self._remits(get("remittances"), get("remit_lines"), get("claims"), get("claim_lines"), get("contracts"))
        # the first adjudication day of each event's (claim, party), and of each claim's billed payer
        never = _NEVER
        fa = pd.Series(self.fa_day, dtype="int64")
        keys = pd.MultiIndex.from_arrays([self.ev["claim"], self.ev["party"]])
        self.ev["fa"] = fa.reindex(keys).fillna(never).to_numpy(dtype=np.int64) if len(fa) else np.full(
            len(day), never, dtype=np.int64)
        keys = pd.MultiIndex.from_arrays([np.arange(n), self.charge_party])
        self.claim_fa = fa.reindex(keys).fillna(never).to_numpy(dtype=np.int64) if len(fa) else np.full(
            n, never, dtype=np.int64)
        self._memo: dict[tuple, dict] = {}

    # ----------------------------------------------------------------------------------------- set-up
    def _remits(self, remits, remit_lines, claims, claim_lines, contracts) -> None:
        party_index = {p: i for i, p in enumerate(self.parties)}
        claim_index = pd.Series(np.arange(len(self.claim_ids)), index=pd.Index(self.claim_ids, dtype=object))
        self.fa_day = {}  # (claim, party) -> day of the payer's first adjudication
        # each claim's month of service (1-12; the month its charge posted when the claims table has no date)
        self.service_month = (_EPOCH + pd.to_timedelta(self.charge_day, unit="D")).month.to_numpy().copy()
        if claims is not None and len(claims):
            c = claims[(claims["frequency_code"] != "8") & claims["claim_id"].isin(claim_index.index)]
            c = c.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort").drop_duplicates(
                "claim_id").dropna(subset=["service_from"])
            self.service_month[c["claim_id"].map(claim_index).to_numpy(dtype=np.int64)] = pd.to_datetime(
                c["service_from"]).dt.month.to_numpy()
        self.first_lines = pd.DataFrame(columns=["party", "code", "day", "billed", "paid", "contract"])
        self.first_claims = pd.DataFrame(columns=["party", "day", "month", "billed", "paid", "pr"])
        if remits is not None and len(remits):
            r = remits[~remits["status_code"].isin(NON_PAYMENT_STATUSES + (REVERSAL_STATUS,))
                       & remits["claim_id"].isin(claim_index.index) & remits["payer_id"].isin(party_index)]
            r = r.assign(claim=r["claim_id"].map(claim_index).astype(np.int64),
                         party=r["payer_id"].map(party_index).astype(np.int64), day=_days(r["paid_on"]))
            first = r.sort_values(["claim", "party", "day", "remit_id"], kind="mergesort").drop_duplicates(
                ["claim", "party"])
            self.fa_day = dict(zip(zip(first["claim"], first["party"]), first["day"]))
            self.first_claims = pd.DataFrame({"party": first["party"].to_numpy(), "day": first["day"].to_numpy(),
                                              "month": self.service_month[first["claim"].to_numpy()],
                                              "billed": first["billed_cents"].to_numpy(dtype=float),
                                              "paid": first["paid_cents"].to_numpy(dtype=float),
                                              "pr": first["patient_responsibility_cents"].fillna(0).to_numpy(
                                                  dtype=float)})
            if remit_lines is not None and len(remit_lines):
                lines = remit_lines.merge(first[["remit_id", "party", "day", "payer_id"]], on="remit_id")
                lines = _with_contract(lines, contracts, "payer_id")
                self.first_lines = pd.DataFrame({
                    "party": lines["party"].to_numpy(), "code": lines["procedure_code"].astype(str).to_numpy(),
                    "day": lines["day"].to_numpy(), "billed": lines["billed_cents"].to_numpy(dtype=float),
                    "paid": lines["paid_cents"].to_numpy(dtype=float), "contract": lines["contract"].to_numpy()})
        # the lines of each claim's billed submission (its first that is not a void), for expected payments
        self.bill_lines = pd.DataFrame(columns=["claim", "code", "charge", "contract"])
        if claims is not None and claim_lines is not None and len(claims) and len(claim_lines):
            c = claims[(claims["frequency_code"] != "8") & claims["claim_id"].isin(claim_index.index)]
            c = c.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort").drop_duplicates(
                "claim_id")
            lines = claim_lines.merge(c[["submission_id", "claim_id", "payer_id"]], on="submission_id")
            lines = _with_contract(lines, contracts, "payer_id")
            self.bill_lines = pd.DataFrame({
                "claim": lines["claim_id"].map(claim_index).to_numpy(dtype=np.int64),
                "code": lines["procedure_code"].astype(str).to_numpy(),
                "charge": lines["charge_cents"].to_numpy(dtype=float), "contract": lines["contract"].to_numpy()})

    def class_of(self, party: str) -> str:
        return "patient" if party == "patient" else self.payer_class.get(party, "other")

    def name_of(self, party: str) -> str:
        return "Patients" if party == "patient" else self.payer_names.get(party, party)


def _with_contract(lines: pd.DataFrame, contracts: pd.DataFrame | None, payer_col: str) -> pd.DataFrame:
    """``lines`` with ``contract``: the contract's allowed amount x units for the line's payer, code and service
    date (the exact modifiers' rate, else the code's any-modifier rate; NaN without one)."""
    lines = lines.reset_index(drop=True)
    out = pd.Series(np.nan, index=lines.index)
    if contracts is None or not len(contracts) or not len(lines):
        return lines.assign(contract=out.to_numpy())
    units = pd.to_numeric(lines["units"], errors="coerce").fillna(1.0).to_numpy()
    base = lines.assign(_row=lines.index, _date=pd.to_datetime(lines["service_date"]).fillna(pd.Timestamp(0)),
                        _mods=lines["modifiers"].fillna(""))
    terms = contracts.assign(_date=pd.to_datetime(contracts["effective_from"])).sort_values("_date")
    for mods_exact in (True, False):
        want = base[out.isna().to_numpy()]
        if not len(want):
            break
        t = terms if mods_exact else terms[terms["modifiers"] == ""]
        left = want.drop(columns=[c for c in ("allowed_cents",) if c in want.columns]).sort_values("_date")
        keys_l = [payer_col, "procedure_code"] + (["_mods"] if mods_exact else [])
        keys_r = ["payer_id", "procedure_code"] + (["modifiers"] if mods_exact else [])
        right = t.rename(columns={**dict(zip(keys_r, keys_l)), "allowed_cents": "_allowed"})[
            keys_l + ["_date", "_allowed"]]
        for col in keys_l:
            left[col] = left[col].astype(str)
            right[col] = right[col].astype(str)
        hit = pd.merge_asof(left, right.sort_values("_date"), on="_date", by=keys_l, direction="backward")
        found = hit.dropna(subset=["_allowed"])
        out[found["_row"].to_numpy()] = found["_allowed"].to_numpy(dtype=float)
    return lines.assign(contract=out.to_numpy() * units)


# --------------------------------------------------------------------------------------------- curves
@dataclass
class _Curves:
    """Hazards by segment (rows) and age (columns)."""

    cash: np.ndarray
    exit: np.ndarray
    index: dict  # segment key -> row


def _money_curves(seg_rows: dict, seg: np.ndarray, parent_of: list, book: Book, ev: dict, lo: np.ndarray,
                  hi: np.ndarray, fo: ForecastOptions) -> _Curves:
    """Dollar-weighted curves for leaf segments ``seg`` (codes into ``seg_rows``), each shrunk toward its parent
    chain: ``parent_of[row]`` is the row of its parent (-1 for the root). Rows are ordered parents first."""
    n_rows = len(seg_rows)
    cash, out, risk = money_hazards(seg, ev["age"], ev["amount"], ev["cash"], lo, hi, n_rows, MAX_AGE)
    # a parent's sums are its children's (leaves only carry events)
    for row in range(n_rows - 1, -1, -1):
        parent = parent_of[row]
        if parent >= 0:
            cash[parent] += cash[row]
            out[parent] += out[row]
            risk[parent] += risk[row]
    cash_s, risk_s = smooth(cash, risk, fo.smooth_days)
    out_s, _ = smooth(out, risk, fo.smooth_days)
    h_cash = np.zeros_like(cash_s)
    h_exit = np.zeros_like(out_s)
    for row in range(n_rows):
        parent = parent_of[row]
        pc = h_cash[parent] if parent >= 0 else np.zeros(cash_s.shape[1])
        px = h_exit[parent] if parent >= 0 else np.zeros(cash_s.shape[1])
        w = fo.money_weight_cents * fo.smooth_days if parent >= 0 else 1e-9
        h_exit[row] = shrink(out_s[row], risk_s[row], px, w)
        h_cash[row] = np.minimum(shrink(cash_s[row], risk_s[row], pc, w), h_exit[row])
    return _Curves(h_cash, h_exit, seg_rows)


def _hierarchy(book: Book, parties: list[int]) -> tuple[dict, list, dict]:
    """Rows for 'all insurance' > payer class > payer: (key -> row, parent row of each row, party -> row)."""
    rows: dict = {("all",): 0}
    parent = [-1]
    leaf = {}
    for p in sorted(parties, key=lambda p: (book.class_of(book.parties[p]), book.parties[p])):
        cls = ("class", book.class_of(book.parties[p]))
        if cls not in rows:
            rows[cls] = len(rows)
            parent.append(0)
        rows[("payer", p)] = len(rows)
        parent.append(rows[cls])
        leaf[p] = rows[("payer", p)]
    return rows, parent, leaf


def _share_table(c: _Curves, row: int) -> np.ndarray:
    """Cumulative cash share over 0.._HMAX days of a balance open at the end of every age -1..MAX_AGE."""
    ages = np.arange(-1, MAX_AGE + 1)
    return cumulative_share(c.cash[row], c.exit[row], ages, _HMAX)[0]


# --------------------------------------------------------------------------------------------- forecast
def _segment_state(book: Book, as_of: int, fo: ForecastOptions) -> dict:
    """Everything a forecast as of day ``as_of`` needs: events known then, with ages, states and """
    e = book.ev
    known = e["day"] <= as_of
    claim = e["claim"][known]
    charged = book.charge_day[claim]
    ev = {"claim": claim, "party": e["party"][known], "day": e["day"][known], "amount": e["amount"][known],
          "cash": e["cash"][known], "age": e["day"][known] - charged, "fa": e["fa"][known]}
    window_start = as_of - fo.lookback_days + 1
    lo_cal = window_start - charged
    hi = as_of - charged
    adjudicated = ev["fa"] <= as_of
    ev["fa_age"] = np.where(adjudicated, ev["fa"] - charged, -1)
    ev["adjudicated"] = adjudicated
    return {"ev": ev, "lo_cal": lo_cal, "hi": hi, "window_start": window_start}


def point_forecast(book: Book, as_of, fo: ForecastOptions = ForecastOptions(), *, writeoffs: bool = True
                   ) -> dict:
    """The expected cash of every window (no intervals) as of ``as_of``: ``{"detail": frame, "writeoffs":
    frame or None}``. ``detail``: one row per window x party x part with ``expected_cents`` and ``var_cents2``
    (the variance of a balance paid whole or not at all within the window, summed)."""
    T = day_number(as_of)
    key = (T, fo, writeoffs)
    if key in book._memo:
        return book._memo[key]
    st = _segment_state(book, T, fo)
    ev, lo_cal, hi = st["ev"], st["lo_cal"], st["hi"]
    patient = book.patient
    insured_parties = sorted(set(ev["party"][ev["party"] != patient].tolist()) | set(
        book.charge_party[(book.charge_day <= T) & (book.charge_party >= 0) & (book.charge_party != patient)]
        .tolist()))
    # ---- curves: payer balances after adjudication
    rows, parent, leaf = _hierarchy(book, insured_parties)
    ins = (ev["party"] != patient) & ev["adjudicated"]
    seg = np.array([leaf[p] for p in ev["party"][ins]], dtype=np.int64)
    sub = {k: v[ins] for k, v in ev.items()}
    adj_curves = _money_curves(rows, seg, parent, book, sub, np.maximum(lo_cal[ins], sub["fa_age"] + 1), hi[ins], fo)
    # ---- curves: patient balances, self-pay claims vs the patient share of insured claims
    pat = ev["party"] == patient
    self_pay = book.charge_party[ev["claim"][pat]] == patient
    pat_rows = {("all",): 0, ("self_pay",): 1, ("insured",): 2}
    sub = {k: v[pat] for k, v in ev.items()}
    pat_curves = _money_curves(pat_rows, np.where(self_pay, 1, 2), [-1, 0, 0], book, sub, lo_cal[pat], hi[pat], fo)
    # ---- curves: days from billing to the payer's first adjudication (Kaplan-Meier, claims censored)
    claims_known = np.nonzero((book.charge_day <= T) & (book.charge_party >= 0) & (book.charge_party != patient))[0]
    c_party = book.charge_party[claims_known]
    c_day = book.charge_day[claims_known]
    fa = book.claim_fa[claims_known]
    done = fa <= T
    entry = np.maximum(st["window_start"] - c_day, 0)
    exit_ = np.where(done, fa - c_day, T - c_day)
    km_seg = np.array([leaf[p] for p in c_party], dtype=np.int64)
    d, n = claim_hazards(km_seg, entry, exit_, done, len(rows), MAX_AGE)
    for row in range(len(rows) - 1, -1, -1):
        if parent[row] >= 0:
            d[parent[row]] += d[row]
            n[parent[row]] += n[row]
    d_s, n_s = smooth(d, n, fo.smooth_days)
    h_fa = np.zeros_like(d_s)
    for row in range(len(rows)):
        p = parent[row]
        h_fa[row] = shrink(d_s[row], n_s[row], h_fa[p] if p >= 0 else 0.0,
                                  fo.claim_weight * fo.smooth_days if p >= 0 else 1e-9)
    # ---- expected payment and patient share of a first adjudication, from first adjudications in the window
    ratio, code_ratio, contract_ratio, pr_ratio = _ratios(book, T, st["window_start"], fo)
    paid_factor, share_factor = _month_factors(book, T, fo)
    next_month = int((_EPOCH + pd.Timedelta(days=T + 1)).month)
    # ---- today's open balances
    bal = pd.DataFrame({"claim": ev["claim"], "party": ev["party"], "amount": ev["amount"],
                        "fa": ev["fa"]}).groupby(["claim", "party"], sort=True).agg(amount=("amount", "sum"),
                                                                                   fa=("fa", "min"))
    bal = bal[bal["amount"] > 0].reset_index()
    bal["age"] = T - book.charge_day[bal["claim"].to_numpy()]
    bal["pending"] = (bal["party"] != patient) & (bal["fa"] > T)
    tables: dict[str, np.ndarray] = {}

    def table(kind: str, c: _Curves | None, row: int, hazard=None) -> np.ndarray:
        if (kind, row) not in tables:
            if hazard is not None:
                ages = np.arange(-1, MAX_AGE + 1)
                tables[(kind, row)] = cumulative_share(hazard, hazard, ages, _HMAX)
            else:
                tables[(kind, row)] = _share_table(c, row)
        return tables[(kind, row)]

    wins = windows(_EPOCH + pd.Timedelta(days=T))
    ends = wins["end_day"].to_numpy()
    starts = wins["start_day"].to_numpy()
    parts = []  # (party, part, expected per window, variance per window)

    def add(party: int, part: str, cum: np.ndarray, size: np.ndarray | None = None) -> None:
        """``cum``: (n, _HMAX + 1) cumulative expected cash of n balances; ``size``: their amounts (variance)."""
        exp = cum[:, ends] - cum[:, starts]
        if size is None:
            var = np.zeros(len(ends))
        else:
            share = np.clip(exp / np.maximum(size[:, None], 1e-9), 0, 1)
            var = (size[:, None] ** 2 * share * (1 - share)).sum(axis=0)
        parts.append((party, part, exp.sum(axis=0), var))

    idx = lambda ages: np.clip(ages, -1, MAX_AGE) + 1  # noqa: E731 - row of a share table for an age
    pat_ins_share = table("money-pat", pat_curves, 2)
    pat_self_share = table("money-pat", pat_curves, 1)
    wo = []  # (bucket age, amount, expected collected within 120, within 365)
    # patient balances
    pb = bal[bal["party"] == patient]
    if len(pb):
        selfpay = book.charge_party[pb["claim"].to_numpy()] == patient
        share = np.where(selfpay[:, None], pat_self_share[idx(pb["age"].to_numpy())],
                         pat_ins_share[idx(pb["age"].to_numpy())])
        amounts = pb["amount"].to_numpy()
        add(patient, "patient balance", amounts[:, None] * share, amounts)
        if writeoffs:
            for is_self, row in ((True, 1), (False, 2)):
                m = selfpay == is_self
                if m.any():
                    wo.append(_collectable(pat_curves, row, pb["age"].to_numpy()[m], amounts[m]))
    # payer balances after adjudication, and claims waiting for the payer
    for p in insured_parties:
        row = leaf[p]
        ab = bal[(bal["party"] == p) & ~bal["pending"]]
        if len(ab):
            amounts = ab["amount"].to_numpy()
            add(p, "payer balance after adjudication", amounts[:, None] * table("money-adj", adj_curves, row)[
                idx(ab["age"].to_numpy())], amounts)
            if writeoffs:
                wo.append(_collectable(adj_curves, row, ab["age"].to_numpy(), amounts))
        pb_ = bal[(bal["party"] == p) & bal["pending"]]
        if len(pb_):
            g_fa, dens = table("km", None, row, hazard=h_fa[row])
            ages = pb_["age"].to_numpy()
            claims_ = pb_["claim"].to_numpy()
            months = book.service_month[claims_]
            paid = _expected_paid(book, claims_, pb_["amount"].to_numpy(), p, ratio, code_ratio, contract_ratio,
                                  np.array([paid_factor.get((p, m), 1.0) for m in months]))
            add(p, "awaiting payer", paid[:, None] * g_fa[idx(ages)], paid)
            pr = book.charge_cents[claims_] * pr_ratio.get(p, 0.0) * np.array(
                [share_factor.get((p, m), 1.0) for m in months])
            pr = np.minimum(pr, pb_["amount"].to_numpy() - paid)
            # the patient's share appears when the payer answers, then follows the insured-patient curve
            follow = chain_share(dens[idx(ages)], ages, lambda a: pat_ins_share[idx(a)])
            add(patient, "patient share of claims awaiting payer", pr[:, None] * follow, pr)
            if writeoffs:
                wo.append(_pending_collectable(book, ages, pb_["amount"].to_numpy(), paid, pr, h_fa[row],
                                               pat_curves))
    # new charges: the trailing daily charge rate carried through the same curves
    ch = book.charges[(book.charges["day"] <= T) & (book.charges["day"] > T - fo.new_charge_days)]
    daily = ch.groupby("party")["amount"].sum() / fo.new_charge_days * _seasonal_factor(book, T, fo)
    for p, rate in daily.items():
        if rate <= 0:
            continue
        if p == patient:
            cum = np.concatenate([[0.0], np.cumsum(pat_self_share[0, 1:])]) * rate
            add(patient, "new charges", cum[None, :])
            continue
        if p not in leaf:
            continue
        g_fa, dens = table("km", None, leaf[p], hazard=h_fa[leaf[p]])
        paid_share = ratio.get(p, 0.0) * paid_factor.get((p, next_month), 1.0)
        cum_ins = np.concatenate([[0.0], np.cumsum(g_fa[0, 1:])]) * rate * paid_share
        add(p, "new charges", cum_ins[None, :])
        follow = chain_share(dens[:1], np.array([-1]), lambda a: pat_ins_share[idx(a)])[0]
        cum_pat = np.concatenate([[0.0], np.cumsum(follow[1:])]) * rate * pr_ratio.get(p, 0.0) * share_factor.get(
            (p, next_month), 1.0)
        add(patient, "new charges", cum_pat[None, :])
    detail = _detail(book, parts, wins)
    result = {"detail": detail, "writeoffs": _writeoff_frame(wo) if writeoffs else None,
              "open_cents": float(bal["amount"].sum())}
    book._memo[key] = result
    return result


def _seasonal_factor(book: Book, T: int, fo: ForecastOptions) -> float:
    """How the coming 13 weeks' charges compared with the 13 weeks before them one year earlier (a seasonal
    ratio, as in classical decomposition); 1 without a full year and 13 weeks of history or with
    ``seasonal=False``."""
    if not fo.seasonal:
        return 1.0
    c = book.charges
    year = T - 364  # 52 weeks: the same weekdays
    if int(book.charge_day.min()) > year - fo.new_charge_days:
        return 1.0
    before = c.loc[(c["day"] <= year) & (c["day"] > year - fo.new_charge_days), "amount"].sum()
    after = c.loc[(c["day"] > year) & (c["day"] <= year + _HMAX), "amount"].sum() / _HMAX * fo.new_charge_days
    return float(after / before) if before > 0 and after > 0 else 1.0


def _ratios(book: Book, T: int, window_start: int, fo: ForecastOptions):
    """From the first adjudications in the look-back window: each payer's paid/billed ratio, the payer x code
    ratio (shrunk toward the payer's), the payer's paid / contract-allowed ratio and its patient-responsibility
    / billed ratio."""
    fl = book.first_lines
    fl = fl[(fl["day"] <= T) & (fl["day"] >= window_start)]
    by_payer = fl.groupby("party")[["paid", "billed"]].sum()
    ratio = (by_payer["paid"] / by_payer["billed"].where(by_payer["billed"] > 0)).fillna(0.0).to_dict()
    by_code = fl.groupby(["party", "code"])[["paid", "billed"]].sum().reset_index()
    base = by_code["party"].map(ratio).fillna(0.0)
    w = fo.ratio_weight_cents
    by_code["r"] = (by_code["paid"] + w * base) / (by_code["billed"] + w)
    code_ratio = {(p, c): r for p, c, r in zip(by_code["party"], by_code["code"], by_code["r"])}
    withc = fl.dropna(subset=["contract"])
    cr = withc.groupby("party")[["paid", "contract"]].sum()
    contract_ratio = (cr["paid"] / cr["contract"].where(cr["contract"] > 0)).dropna().to_dict()
    fc = book.first_claims
    fc = fc[(fc["day"] <= T) & (fc["day"] >= window_start)].groupby("party")[["pr", "billed"]].sum()
    pr_ratio = (fc["pr"] / fc["billed"].where(fc["billed"] > 0)).fillna(0.0).to_dict()
    return ratio, code_ratio, contract_ratio, pr_ratio


def _month_factors(book: Book, T: int, fo: ForecastOptions) -> tuple[dict, dict]:
    """How a payer's first adjudications of claims served in each calendar month compare with its year: the
    paid/billed and patient-responsibility/billed ratios by payer x month of service, over every first
    adjudication by ``T``, each shrunk toward the payer's own ratio and divided by it. A deductible that resets
    in January (Medicare Part B, most commercial plans) makes January's claims pay less and patients owe more;
    a 12-month average misses it. Returns ``({(party, month): paid factor}, {(party, month): share factor})``;
    empty with ``seasonal=False``."""
    if not fo.seasonal:
        return {}, {}
    fc = book.first_claims[book.first_claims["day"] <= T]
    if not len(fc):
        return {}, {}
    w = fo.ratio_weight_cents * 5  # a month of a payer counts fully once it holds well over $10,000 billed
    year = fc.groupby("party")[["paid", "pr", "billed"]].sum()
    cells = fc.groupby(["party", "month"])[["paid", "pr", "billed"]].sum().reset_index()
    paid, share = {}, {}
    for col, out in (("paid", paid), ("pr", share)):
        base = (year[col] / year["billed"].where(year["billed"] > 0)).fillna(0.0)
        b = cells["party"].map(base).to_numpy(dtype=float)
        r = (cells[col].to_numpy(dtype=float) + w * b) / (cells["billed"].to_numpy(dtype=float) + w)
        factor = np.where(b > 0, r / np.where(b > 0, b, 1.0), 1.0)
        out.update(dict(zip(zip(cells["party"], cells["month"]), factor)))
    return paid, share


def _expected_paid(book: Book, claims: np.ndarray, balances: np.ndarray, party: int, ratio, code_ratio,
                   contract_ratio, factor: np.ndarray | None = None) -> np.ndarray:
    """Expected payment of each waiting claim at its first adjudication: by line, the contract allowed x the
    payer's paid-to-contract ratio, else the charge x the payer x code paid-to-billed ratio; a claim without
    lines, its balance x the payer's ratio. Never more than the open balance."""
    lines = book.bill_lines[np.isin(book.bill_lines["claim"].to_numpy(), claims)]
    base = ratio.get(party, 0.0)
    by_code = np.array([code_ratio.get((party, c), base) for c in lines["code"]], dtype=float)
    k = contract_ratio.get(party)
    exp = lines["charge"].to_numpy() * by_code
    if k is not None:
        has = ~np.isnan(lines["contract"].to_numpy(dtype=float))
        exp = np.where(has, lines["contract"].to_numpy(dtype=float) * k, exp)
    per_claim = pd.Series(exp).groupby(lines["claim"].to_numpy()).sum()
    out = pd.Series(claims).map(per_claim).to_numpy(dtype=float)
    out = np.where(np.isnan(out), balances * base, out)
    if factor is not None:  # the month of service (rcmkit.forecast.model._month_factors)
        out = out * factor
    return np.minimum(out, balances)


def _collectable(c: _Curves, row: int, ages: np.ndarray, amounts: np.ndarray) -> pd.DataFrame:
    """Per balance: its age, amount and the expected cash within 120 and 365 days."""
    g = cumulative_share(c.cash[row], c.exit[row], ages, 365)[0]
    return pd.DataFrame({"age": ages, "amount": amounts, "in120": amounts * g[:, 120], "in365": amounts * g[:, 365],
                         "contractual": 0.0})


def _pending_collectable(book, ages, amounts, paid, pr, h_fa, pat_curves) -> pd.DataFrame:
    g, dens = cumulative_share(h_fa, h_fa, ages, 365)
    table = cumulative_share(pat_curves.cash[2], pat_curves.exit[2], np.arange(-1, MAX_AGE + 1), 365)[0]
    follow = chain_share(dens, ages, lambda a: table[np.clip(a, -1, MAX_AGE) + 1])
    # what the payer's answer is expected to adjust off under contract: neither cash nor a write-off
    contractual = np.clip(amounts - paid - pr, 0.0, None)
    return pd.DataFrame({"age": ages, "amount": amounts, "in120": paid * g[:, 120] + pr * follow[:, 120],
                         "in365": paid * g[:, 365] + pr * follow[:, 365], "contractual": contractual})


def _writeoff_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Expected write-offs by aging bucket (age from the charge): open balance, the contractual adjustment
    expected on claims still waiting for the payer, expected cash within 120 and 365 days, and what is left:
    not expected to be collected (open - contractual - cash)."""
    cols = ["bucket", "open_cents", "contractual_cents", "collected_120_cents", "not_collected_120_cents",
            "collected_365_cents", "not_collected_365_cents"]
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    df = pd.concat(parts, ignore_index=True)
    upper = (30, 60, 90, 120)
    df["bucket"] = pd.cut(df["age"], [-1, *upper, np.inf], labels=list(AGING_BUCKETS))
    g = df.groupby("bucket", observed=False)[["amount", "in120", "in365", "contractual"]].sum().reindex(
        list(AGING_BUCKETS), fill_value=0.0)
    rest = g["amount"] - g["contractual"]
    return pd.DataFrame({"bucket": list(AGING_BUCKETS), "open_cents": g["amount"].to_numpy(),
                         "contractual_cents": g["contractual"].to_numpy(),
                         "collected_120_cents": g["in120"].to_numpy(),
                         "not_collected_120_cents": np.clip(rest - g["in120"], 0, None).to_numpy(),
                         "collected_365_cents": g["in365"].to_numpy(),
                         "not_collected_365_cents": np.clip(rest - g["in365"], 0, None).to_numpy()})


def _detail(book: Book, parts: list, wins: pd.DataFrame) -> pd.DataFrame:
    """One row per window x party x part (parts of one party and name summed)."""
    cols = ["window", "kind", "start_day", "end_day", "payer_id", "part", "expected_cents", "var_cents2"]
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    sums: dict[tuple, list] = {}
    for party, part, exp, var in parts:
        key = (book.parties[party], part)
        if key in sums:
            sums[key][0] = sums[key][0] + exp
            sums[key][1] = sums[key][1] + var
        else:
            sums[key] = [np.asarray(exp, float), np.asarray(var, float)]
    n, k = len(wins), len(sums)
    keys = list(sums)
    return pd.DataFrame({
        "window": np.tile(wins["window"].to_numpy(object), k),
        "kind": np.tile(wins["kind"].to_numpy(object), k),
        "start_day": np.tile(wins["start_day"].to_numpy(), k),
        "end_day": np.tile(wins["end_day"].to_numpy(), k),
        "payer_id": np.repeat(np.array([p for p, _ in keys], dtype=object), n),
        "part": np.repeat(np.array([q for _, q in keys], dtype=object), n),
        "expected_cents": np.concatenate([sums[key][0] for key in keys]),
        "var_cents2": np.concatenate([sums[key][1] for key in keys])})


def actual_cash(book: Book, as_of, start_day: int, end_day: int) -> dict[str, float]:
    """Cash that came in on days ``as_of + start_day + 1 .. as_of + end_day``: on the claims billed by as_of
    ("open A/R"), on later ones ("new charges") and in all ("all cash"), in cents."""
    T = day_number(as_of)
    e = book.ev
    inside = (e["day"] > T + start_day) & (e["day"] <= T + end_day)
    old = book.charge_day[e["claim"]] <= T
    total = float(e["cash"][inside].sum())
    on_open = float(e["cash"][inside & old].sum())
    return {"open A/R": on_open, "new charges": total - on_open, "all cash": total}


def actual_cash_by_payer(book: Book, as_of, start_day: int, end_day: int) -> pd.DataFrame:
    """:func:`actual_cash` by who paid (payer_id; 'patient' for patients): columns payer_id, source ('open A/R',
    'new charges', 'all cash'), actual_cents. The explorer's check of last month's forecast for chosen payers."""
    T = day_number(as_of)
    e = book.ev
    inside = (e["day"] > T + start_day) & (e["day"] <= T + end_day)
    old = book.charge_day[e["claim"]] <= T
    party = np.asarray(book.parties, dtype=object)[e["party"][inside]] if len(book.parties) else np.array([])
    frame = pd.DataFrame({"payer_id": party, "cash": e["cash"][inside], "old": old[inside]})
    rows = []
    for pid, g in frame.groupby("payer_id", sort=True):
        on_open = float(g.loc[g["old"], "cash"].sum())
        total = float(g["cash"].sum())
        rows += [(pid, "open A/R", on_open), (pid, "new charges", total - on_open), (pid, "all cash", total)]
    return pd.DataFrame(rows, columns=["payer_id", "source", "actual_cents"])


# --------------------------------------------------------------------------------------------- intervals
def _totals(detail: pd.DataFrame) -> pd.DataFrame:
    d = detail.assign(source=detail["part"].map(PARTS))
    t = d.groupby(["window", "source"], sort=False)[["expected_cents", "var_cents2"]].sum().reset_index()
    allc = d.groupby("window", sort=False)[["expected_cents", "var_cents2"]].sum().reset_index().assign(
        source="all cash")
    return pd.concat([t, allc], ignore_index=True)


def _month_ends_before(book: Book, T: int, fo: ForecastOptions) -> list[pd.Timestamp]:
    first = int(book.charge_day.min()) if len(book.charge_day) else T
    start = pd.Timestamp(_EPOCH + pd.Timedelta(days=first + fo.min_history_days))
    ends = pd.date_range(start, _EPOCH + pd.Timedelta(days=T - 1), freq="ME")
    return list(ends[-(fo.calibration_months + 3):])  # the last few whose 90-day windows can have closed


def calibration_errors(book: Book, as_of, fo: ForecastOptions = ForecastOptions(), *, progress=None
                       ) -> pd.DataFrame:
    """The log errors, log(actual / forecast), of the forecasts made at earlier month ends whose window had
    closed by ``as_of``: columns month_end, window, source, payer_class ('all' for the practice; each payer
    class and 'patient' for the open A/R), forecast_cents, actual_cents, log_ratio. Only events posted by
    ``as_of`` are read (a window still open at as_of is left out)."""
    T = day_number(as_of)
    rows = []
    ends = _month_ends_before(book, T, fo)
    party_class = np.array([book.class_of(p) for p in book.parties], dtype=object)
    e = book.ev
    for t in (progress(ends) if progress else ends):
        t_day = day_number(t)
        det = point_forecast(book, t, fo, writeoffs=False)["detail"]
        tot = _totals(det)
        by_key = dict(zip(zip(tot["window"], tot["source"]), tot["expected_cents"]))
        opened = det[det["part"].map(PARTS) == "open A/R"]
        by_class = opened.groupby([opened["window"], opened["payer_id"].map(book.class_of)])["expected_cents"].sum()
        billed = book.charge_day[e["claim"]] <= t_day
        wins = windows(t)
        for window, start, end in zip(wins["window"], wins["start_day"], wins["end_day"]):
            if t_day + int(end) > T:
                continue
            act = actual_cash(book, t, int(start), int(end))
            for source in ("open A/R", "new charges", "all cash"):
                f = float(by_key.get((window, source), 0.0))
                a = act[source]
                rows.append((t, window, source, "all", f, a, math.log(a / f) if a > 0 and f > 0 else np.nan))
            inside = billed & (e["day"] > t_day + int(start)) & (e["day"] <= t_day + int(end))
            got = pd.Series(e["cash"][inside]).groupby(party_class[e["party"][inside]]).sum()
            for cls, f in by_class.loc[window].items() if window in by_class.index.get_level_values(0) else []:
                a = float(got.get(cls, 0.0))
                rows.append((t, window, "open A/R", cls, float(f), a,
                             math.log(a / f) if a > 0 and f > 0 else np.nan))
    df = pd.DataFrame(rows, columns=["month_end", "window", "source", "payer_class", "forecast_cents",
                                     "actual_cents", "log_ratio"])
    # the latest calibration_months month ends that have each window
    keys = ["window", "source", "payer_class"]
    df = df.sort_values(keys + ["month_end"], kind="mergesort")
    return df.groupby(keys, sort=False).tail(fo.calibration_months).reset_index(drop=True)


def conformal_quantiles(log_ratios: np.ndarray, level: float) -> tuple[float, float] | None:
    """Split-conformal quantiles of the log errors: the k-th smallest with k = ceil((n + 1) * q) (Vovk et al.;
    Lei et al. 2018), for the lower and upper tail of a central ``level`` interval; None under 3 errors."""
    x = np.sort(log_ratios[np.isfinite(log_ratios)])
    n = len(x)
    if n < 3:
        return None
    a = (1 - level) / 2
    k_hi = min(math.ceil((n + 1) * (1 - a)), n)
    k_lo = max(math.floor((n + 1) * a), 1)
    return float(x[k_lo - 1]), float(x[k_hi - 1])


def _band(expected: np.ndarray, var: np.ndarray, q: tuple[float, float] | None, level: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """The interval: the wider of the conformal band (expected x exp(q)) and expected +- z * sd."""
    z = float(_z(level))
    sd = np.sqrt(np.maximum(var, 0.0))
    low, high = expected - z * sd, expected + z * sd
    if q is not None:
        low = np.minimum(low, expected * math.exp(min(q[0], 0.0)))
        high = np.maximum(high, expected * math.exp(max(q[1], 0.0)))
    return np.maximum(low, 0.0), high


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _week_start(frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """The first day of each week window (as_of + start_day + 1); NaT for a horizon."""
    start = as_of + pd.to_timedelta(frame["start_day"] + 1, unit="D")
    return start.where(frame["kind"] == "week").astype("datetime64[ns]")


# --------------------------------------------------------------------------------------------- public



def forecast(tables: Mapping[str, Any] | Book, as_of, options: MetricOptions = MetricOptions(),
             forecast_options: ForecastOptions = ForecastOptions(), *, progress=None) -> Forecast:
    """The cash forecast of the open A/R as of ``as_of`` (a date; only events posted on or before it are used),
    with intervals from the errors of earlier month ends' forecasts. ``tables``: the canonical tables
    (:func:`rcmkit.core.store.load_tables`; a :func:`rcmkit.metrics.prepare` mapping uses its ledger) or a
    :class:`Book` built from them (reused across calls: a backtest). ``progress``: an optional wrapper (tqdm)
    of the loop over the earlier month ends."""
    book = tables if isinstance(tables, Book) else Book(tables, options)
    fo = forecast_options
    as_of = pd.Timestamp(as_of).normalize()
    point = point_forecast(book, as_of, fo, writeoffs=True)
    errors = calibration_errors(book, as_of, fo, progress=progress)
    quantiles = {}
    for (window, source, cls), g in (errors.groupby(["window", "source", "payer_class"]) if len(errors) else []):
        quantiles[(window, source, cls)] = conformal_quantiles(g["log_ratio"].to_numpy(dtype=float), fo.level)
    det = point["detail"].copy()
    det["source"] = det["part"].map(PARTS)
    det["responsibility"] = np.where(det["payer_id"] == "patient", "patient", "insurance")
    det["payer_name"] = det["payer_id"].map(book.name_of)
    det["payer_class"] = det["payer_id"].map(book.class_of)
    det["week_start"] = _week_start(det, as_of)
    low = np.zeros(len(det))
    high = np.zeros(len(det))
    for (window, source, cls), idx in det.groupby(["window", "source", "payer_class"]).groups.items():
        # a class's own past errors when it has them, else the practice's (new charges: the practice's)
        q = quantiles.get((window, source, cls)) or quantiles.get((window, source, "all"))
        lo, hi = _band(det.loc[idx, "expected_cents"].to_numpy(), det.loc[idx, "var_cents2"].to_numpy(), q,
                       fo.level)
        low[det.index.get_indexer(idx)] = lo
        high[det.index.get_indexer(idx)] = hi
    det["low_cents"], det["high_cents"] = low, high
    tot = _totals(point["detail"])
    tot = tot.merge(windows(as_of), on="window")
    tl, th = np.zeros(len(tot)), np.zeros(len(tot))
    for i, r in tot.iterrows():
        lo, hi = _band(np.array([r["expected_cents"]]), np.array([r["var_cents2"]]),
                       quantiles.get((r["window"], r["source"], "all")), fo.level)
        tl[i], th[i] = lo[0], hi[0]
    tot["low_cents"], tot["high_cents"] = tl, th
    tot["week_start"] = _week_start(tot, as_of)
    cols = ["window", "kind", "start_day", "end_day", "week_start", "payer_id", "payer_name", "payer_class",
            "responsibility", "part", "source", "expected_cents", "low_cents", "high_cents"]
    tcols = ["window", "kind", "start_day", "end_day", "week_start", "source", "expected_cents", "low_cents",
             "high_cents"]
    return Forecast(as_of, det[cols].reset_index(drop=True), tot[tcols].reset_index(drop=True),
                    point["writeoffs"], errors, point["open_cents"], fo)


# ---------------------------------------------------------------- rcmkit/forecast/curves.py as it was
def _window_sum(values: np.ndarray, width: int) -> np.ndarray:
    """Centered moving sum over the last axis (``width`` odd), shrinking at the edges."""
    if width <= 1:
        return values
    half = width // 2
    padded = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)], axis=-1)
    n = values.shape[-1]
    hi = np.minimum(np.arange(n) + half + 1, n)
    lo = np.maximum(np.arange(n) - half, 0)
    return padded[..., hi] - padded[..., lo]


def smooth(num: np.ndarray, den: np.ndarray, width: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator summed over ``width`` neighbouring ages (a hazard's weekly smoothing)."""
    return _window_sum(num, width), _window_sum(den, width)


def shrink(num: np.ndarray, den: np.ndarray, parent: np.ndarray, weight: float) -> np.ndarray:
    """The hazard ``(num + weight * parent) / (den + weight)``: the raw rate when ``den`` is large, the parent's
    when it is empty (a credibility-weighted rate, Buhlmann style)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (num + weight * parent) / (den + weight)
    return np.nan_to_num(np.clip(out, 0.0, 1.0))


def claim_hazards(segment: np.ndarray, entry: np.ndarray, exit_: np.ndarray, event: np.ndarray,
                  n_segments: int, max_age: int) -> tuple[np.ndarray, np.ndarray]:
    """Events and risk sets of a one-event-per-subject product-limit estimator, by segment and age.

    Subject i is observed from age ``entry[i]`` to ``exit_[i]`` (inclusive; delayed entry = left truncation by
    the look-back window), and has its event at ``exit_[i]`` when ``event[i]``, else is censored there (still
    waiting at the as-of date). Returns ``(d, n)``: events at age k and subjects at risk at age k, arrays of
    shape ``(n_segments, max_age + 1)``. The hazard is ``d / n``; the Kaplan-Meier survival ``prod(1 - d/n)``.
    """
    width = max_age + 2
    entry = np.clip(entry, 0, max_age)
    exit_ = np.clip(exit_, 0, max_age)
    keep = exit_ >= entry
    seg, entry, exit_, event = segment[keep], entry[keep], exit_[keep], event[keep].astype(bool)
    diff = np.zeros(n_segments * width)
    np.add.at(diff, seg * width + entry, 1.0)
    np.add.at(diff, seg * width + exit_ + 1, -1.0)
    n = np.cumsum(diff.reshape(n_segments, width), axis=1)[:, :-1]
    d = np.zeros(n_segments * width)
    np.add.at(d, seg[event] * width + exit_[event], 1.0)
    return d.reshape(n_segments, width)[:, :-1], n


def money_hazards(segment: np.ndarray, age: np.ndarray, amount: np.ndarray, cash: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, n_segments: int, max_age: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dollar-weighted product-limit inputs by segment and age: ``(cash, out, at_risk)``.

    Each row is a ledger event of one balance (a claim's balance with one responsible party): ``amount`` (signed,
    charges +, credits -) posted at ``age``; ``cash`` the amount collected by it (payments +, refunds and
    reversals -, 0 for an adjustment); the balance is observed over ages ``lo..hi`` (from the look-back window's
    start, or the day after its first adjudication, to the as-of date). An event before ``lo`` only carries
    into the balance observed at ``lo``.

    * ``at_risk[s, k]``: dollars open at age k before the day's credits (balance at the end of age k plus the
      credits of age k), summed over the balances observed at age k;
    * ``out[s, k]``: credits posted at age k (every way a dollar leaves: payment, adjustment, transfer);
    * ``cash[s, k]``: dollars collected at age k.
    """
    width = max_age + 2
    age = np.clip(age, 0, max_age)
    lo = np.clip(lo, 0, max_age + 1)
    hi = np.clip(hi, -1, max_age)
    start = np.maximum(age, lo)
    carried = start <= hi
    diff = np.zeros(n_segments * width)
    np.add.at(diff, segment[carried] * width + start[carried], amount[carried])
    np.add.at(diff, segment[carried] * width + hi[carried] + 1, -amount[carried])
    balance = np.cumsum(diff.reshape(n_segments, width), axis=1)[:, :-1]
    seen = (age >= lo) & (age <= hi)
    credit = seen & (amount < 0)
    out = np.zeros(n_segments * width)
    np.add.at(out, segment[credit] * width + age[credit], -amount[credit])
    got = np.zeros(n_segments * width)
    np.add.at(got, segment[seen] * width + age[seen], cash[seen])
    out = out.reshape(n_segments, width)[:, :-1]
    return got.reshape(n_segments, width)[:, :-1], out, np.maximum(balance + out, 0.0)


def cumulative_share(cash_hazard: np.ndarray, exit_hazard: np.ndarray, ages: np.ndarray, horizon: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """For a dollar open at the end of age ``a`` (each of ``ages``; -1 = a dollar about to be billed), the
    expected share collected within the next ``L`` days, ``L = 0..horizon``: ``G[i, L] = sum_{k=a+1}^{a+L}
    S(k-1 | a) * cash_hazard(k)`` with ``S(k | a) = prod_{j=a+1}^{k} (1 - exit_hazard(j))``; and the density of
    exits, ``D[i, L] = S(a+L-1 | a) * exit_hazard(a+L)`` (``D[:, 0] = 0``). Returns ``(G, D)``, each
    ``(len(ages), horizon + 1)``."""
    ages = np.asarray(ages, dtype=np.int64)
    g = np.zeros((len(ages), horizon + 1))
    dens = np.zeros((len(ages), horizon + 1))
    if not len(ages):
        return g, dens
    # beyond the last age: the last age's hazard (padded once, so the loop indexes without clipping)
    need = int(ages.max()) + horizon + 1
    cash = _pad(cash_hazard, need)
    exit_ = _pad(exit_hazard, need)
    surv = np.ones(len(ages))
    for step in range(1, horizon + 1):
        k = ages + step
        x = exit_[k]
        g[:, step] = g[:, step - 1] + surv * cash[k]
        dens[:, step] = surv * x
        surv = surv * (1.0 - x)
    return g, dens


def _pad(hazard: np.ndarray, length: int) -> np.ndarray:
    if len(hazard) >= length:
        return hazard
    return np.concatenate([hazard, np.full(length - len(hazard), hazard[-1] if len(hazard) else 0.0)])


def chain_share(density: np.ndarray, ages: np.ndarray, next_share) -> np.ndarray:
    """Cash that follows an event: ``out[i, h] = sum_{L=1}^{h} density[i, L] * next_share(ages[i] + L)[h - L]``,
    where ``density[i, L]`` is the chance the event (a first adjudication) happens ``L`` days after age
    ``ages[i]`` and ``next_share(a)`` is the cumulative cash share, over ``0..horizon`` days, of a balance that
    appears at age ``a`` (the patient's share of an adjudicated claim). ``next_share`` takes an array of ages
    and returns a matrix ``(len(ages), horizon + 1)``."""
    n, width = density.shape
    out = np.zeros((n, width))
    ages = np.asarray(ages, dtype=np.int64)
    for step in range(1, width):
        follow = next_share(ages + step)  # (n, width)
        out[:, step:] += density[:, step:step + 1] * follow[:, :width - step]
    return out


# ---------------------------------------------------------------- rcmkit/forecast/report.py as it was
def month_forecast(tables: Mapping[str, Any] | Book, month: str, options: MetricOptions = MetricOptions(),
                   forecast_options: ForecastOptions = ForecastOptions()) -> MonthForecast:
    """The forecast at the end of ``month`` ('YYYY-MM') and the check of last month's forecast. Only events
    posted by the month's last day are read: the report of a month says the same whenever it is run."""
    book = tables if isinstance(tables, Book) else Book(tables, options)
    end = month_window(month).end
    fc = forecast(book, end, options, forecast_options)
    weeks = fc.summary(kind="week")[["week_start", "expected_cents", "low_cents", "high_cents"]]
    horizons = pd.concat([fc.summary(source=s).assign(source=s) for s in ("open A/R", "all cash")],
                         ignore_index=True)[["source", "window", "end_day", "expected_cents", "low_cents",
                                             "high_cents"]]
    before = month_window(month).start - pd.Timedelta(days=1)
    rows = []
    prior = None
    if before >= pd.Timestamp("1970-01-01") + pd.Timedelta(days=int(book.charge_day.min())):
        prior = forecast(book, before, options, forecast_options)
        got = actual_cash(book, before, 0, (end - before).days)
        for source in ("open A/R", "all cash"):
            t = prior.totals[(prior.totals["kind"] == "month") & (prior.totals["source"] == source)].iloc[0]
            rows.append((source, before, float(t["expected_cents"]), float(t["low_cents"]), float(t["high_cents"]),
                         got[source]))
    check = pd.DataFrame(rows, columns=["source", "made_on", "forecast_cents", "low_cents", "high_cents",
                                        "actual_cents"])
    check["inside"] = (check["actual_cents"] >= check["low_cents"]) & (check["actual_cents"] <= check["high_cents"])
    return MonthForecast(month, end, fc, weeks.reset_index(drop=True), horizons, check, prior)
