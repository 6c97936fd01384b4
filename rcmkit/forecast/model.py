"""What the open A/R will bring in: a cash forecast by payer, from payer lag curves estimated on the practice's own
history (issue #18).

The forecast as of a date ``as_of`` uses only ledger events posted on or before it. It has four parts, each an
explainable curve applied to today's balances (the method, with its sources, is in docs/forecast.md):

1. **Claims waiting for the payer** (an insurance balance with no 835 from that payer yet): expected payment =
   the claim's expected allowed (the contract rate x units x the payer's paid-to-contract ratio when the
   contracts table has the code, else the charge x the payer x code paid-to-billed ratio of first adjudications)
   x the chance the payer answers within the window, from a Kaplan-Meier curve of days from billing to first
   adjudication (claims still waiting are censored). The patient's share that the answer will create (the
   payer's patient-responsibility ratio) is then collected along the patient curve.
2. **Payer balances after adjudication** (denied, underpaid, appealed) and 3. **patient balances**: dollar-weighted
   product-limit liquidation curves by age (:func:`rcmkit.forecast.curves.money_hazards`): of the dollars open
   at age a, the share collected within the next h days, with still-open balances censored at the as-of date.
4. **New charges** (reported apart, in the "all cash" total only): the last 13 weeks' daily charges by payer,
   carried through the same curves, so the total can be set against what actually comes in.

Curves are by payer (shrunk toward the payer class, then all insurance) and, for patients, by self-pay vs the
patient share of an insured claim; they are read over a look-back window (default 365 days). Intervals (80% by
default) come from the errors of the forecasts made at earlier month ends whose windows had closed by
``as_of`` (split-conformal), widened when too few to the spread of a balance that is either collected in the
window or not. Expected write-offs: the part of today's balances not expected to be collected within 120 and
365 days.

Sources: Kaplan & Meier (1958, JASA 53:457) for the product-limit estimator under censoring; Aalen & Johansen
(1978, Scand. J. Statist. 5:141) for cash as one of competing exits; Buhlmann (1967) credibility for the
shrinkage; Vovk et al. (2005) and Lei et al. (2018, JASA 113:1094) for split-conformal intervals; HFMA MAP Keys
for the A/R and its aging; the 13-week cash flow convention of treasury practice. Details: docs/forecast.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rcmkit.core.engine import engine_of, lazy
from rcmkit.core.frames import factorize_sorted, isin, positions
from rcmkit.core.ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS
from rcmkit.forecast import curves
from rcmkit.metrics import AGING_BUCKETS, MetricOptions, Prepared, ledger_for, read_columns

__all__ = ["ForecastOptions", "Book", "Forecast", "forecast", "point_forecast", "actual_cash", "windows",
           "calibration_errors", "conformal_quantiles", "day_number", "HORIZONS", "WEEKS", "CASH_KINDS",
           "actual_cash_by_payer"]

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


@dataclass(frozen=True)
class ForecastOptions:
    """The forecast's choices (docs/forecast.md says why each default).

    * ``lookback_days``: the history the curves are read from (ages observed in the last year).
    * ``smooth_days``: hazards are pooled over this many neighbouring ages (payers pay on a few weekdays).
    * ``money_weight_cents`` / ``claim_weight``: how much a payer's curve leans on its class's (pseudo-dollars of
      open balance per age day / pseudo-claims), and ``ratio_weight_cents`` a payer x code ratio on the payer's.
    * ``new_charge_days``: the trailing days whose average daily charges are carried forward, times the seasonal
      ratio of the same weeks a year earlier when ``seasonal`` and the data holds them.
    * ``level``: the interval's coverage; ``calibration_months``: earlier month ends whose errors set it;
      ``min_history_days``: how much data a month end needs before its forecast is used for calibration.
    """

    lookback_days: int = 365
    smooth_days: int = 7
    money_weight_cents: float = 2_000_000.0
    claim_weight: float = 30.0
    ratio_weight_cents: float = 200_000.0
    new_charge_days: int = 91
    seasonal: bool = True
    level: float = 0.8
    calibration_months: int = 12
    min_history_days: int = 120

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise ValueError(f"level must be between 0 and 1, got {self.level!r}")
        for name in ("lookback_days", "smooth_days", "new_charge_days", "calibration_months"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive number of days or months, got {getattr(self, name)!r}")


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
_DENSE_KEYS = 1 << 22  # the contract match's table of payer x code x modifiers cells, when no larger
_CHUNK = 1 << 21  # lines matched to contracts at a time (issue #15: the temporaries of 10 M lines at once)


def _days(dates: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(dates) - _EPOCH).dt.days).to_numpy(dtype=np.int64)


def day_number(date) -> int:
    """A date as whole days since 1970-01-01 (the forecast's day numbers)."""
    return int((pd.Timestamp(date).normalize() - _EPOCH).days)


#: The columns of each table the forecast reads (:class:`Book`); on a lazy engine only these are collected.
BOOK_COLUMNS: dict[str, list[str]] = {
    "ledger": ["claim_id", "posted_on", "kind", "amount_cents", "responsible"],
    "payers": ["payer_id", "payer_name", "payer_class"],
    "claims": ["claim_id", "submission_id", "frequency_code", "submitted_on", "service_from", "payer_id"],
    "remittances": ["remit_id", "claim_id", "payer_id", "status_code", "paid_on", "billed_cents", "paid_cents",
                    "patient_responsibility_cents"],
    "remit_lines": ["remit_id", "procedure_code", "modifiers", "units", "service_date", "billed_cents", "paid_cents"],
    "claim_lines": ["submission_id", "procedure_code", "modifiers", "units", "service_date", "charge_cents"],
    "contracts": ["payer_id", "procedure_code", "modifiers", "effective_from", "allowed_cents"],
}


class Book:
    """A practice's tables indexed for repeated forecasts (a backtest forecasts at many month ends): ledger
    events as day numbers, each claim's charge day and payer, each (claim, payer)'s first adjudication day,
    the lines of first adjudications and of each claim's billed submission. Nothing here depends on an as-of
    date except through the day columns every forecast filters on. Ledger events (``ev``) are in posting order.

    A Book memoizes the point forecasts and calibration errors of the dates it was asked for (a month's forecast
    and last month's share most of their calibration month ends); a new Book starts empty."""

    def __init__(self, tables: Mapping[str, Any], options: MetricOptions = MetricOptions()) -> None:
        # only the columns read here: a table left on the engine is queried (read_columns)
        get = lambda name: read_columns(tables, name, BOOK_COLUMNS[name])  # noqa: E731
        source = _ledger_events(tables, options)
        payers = get("payers")
        self.payer_names = dict(zip(payers["payer_id"], payers["payer_name"])) if payers is not None else {}
        self.payer_class = dict(zip(payers["payer_id"], payers["payer_class"])) if payers is not None else {}
        self.options = options
        self.claim_ids, self.parties = source["claim_ids"], source["parties"]
        self.patient = self.parties.index("patient") if "patient" in self.parties else -1
        self.ev = source["ev"]
        # claim and party numbers as int32 (a few million claims, a few parties): 128 MB less at 10 M claim lines
        for k in ("claim", "party"):
            self.ev[k] = _int32(self.ev[k])
        claim_codes, day = self.ev["claim"], self.ev["day"]
        n = len(self.claim_ids)
        # each claim's charge: its first positive charge (else its first event: a claim known from an 835 only)
        first_any = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first_any, claim_codes, day)
        ch = source["charges"]  # every positive charge posting: claim, day, party, amount
        charge_day = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(charge_day, ch["claim"], ch["day"])
        self.charge_day = np.where(charge_day == np.iinfo(np.int64).max, first_any, charge_day)
        charge_rows = pd.DataFrame(ch)
        # a claim's first charge: its earliest; of two on that day (never in a built ledger: one charge per claim),
        # the lower party code, then the smaller amount, so the choice does not hang on the engine's row order
        charge_rows = charge_rows.sort_values(["claim", "day", "party", "amount"], kind="mergesort")
        firsts = charge_rows.drop_duplicates("claim")
        self.charge_party = np.full(n, -1, dtype=np.int64)
        self.charge_party[firsts["claim"].to_numpy()] = firsts["party"].to_numpy()
        self.charges = charge_rows  # every charge posting (for the new-charge rate; _arrays keeps its arrays)
        self.charge_cents = np.zeros(n)
        self.charge_cents[firsts["claim"].to_numpy()] = firsts["amount"].to_numpy()
        del source, ch, claim_codes, day, first_any, charge_day, firsts, charge_rows  # self.ev, self.charges stay
        self._remits(tables, get)
        # the first adjudication day of each event's (claim, party), and of each claim's billed payer
        self.ev["fa"] = self._fa_of(self.ev["claim"], self.ev["party"])
        self.claim_fa = self._fa_of(np.arange(n, dtype=np.int64), self.charge_party)
        self._arrays()
        # events in posting order: the events known at a date are a prefix, the cash of a window a slice
        order = _stable_argsort(self.ev["day"])
        for k in list(self.ev):  # one array at a time: the unsorted one goes as its sorted copy comes
            self.ev[k] = self.ev[k][order]
        del order
        self._curve_events()
        self._memo: dict[tuple, dict] = {}

    def _curve_events(self) -> None:
        """The money curves' events, set apart once so that each forecast date reads a prefix of them (views, not
        masks and copies of every event: issue #15, a report forecasts at 18 dates): the patients' events in
        posting order (known at T: a prefix) with their segment (1 self-pay, 2 the patient share of an insured
        claim), and the payers' events of adjudicated balances in order of the day they are both posted and
        adjudicated (max(day, first adjudication): known and adjudicated at T, a prefix). Day columns are int32
        (day numbers; _NEVER fits), the segment int64. The curves' sums are sums of whole cents, exact in float64
        in any order, so reading the events in this order gives the same numbers, bit for bit. ``ev["fa"]`` goes
        (only the payers' curve read it); each party's first posting day stays (who is seen at T)."""
        e = self.ev
        self._first_day = np.full(self._n_parties, np.iinfo(np.int64).max)
        has = e["party"] >= 0
        np.minimum.at(self._first_day, e["party"][has], e["day"][has])  # each party's earliest event (no sort)
        del has
        charged = self.charge_day[e["claim"]]
        at = np.nonzero(e["party"] == self.patient)[0]  # in posting order
        self._pat = {"key": e["day"][at].astype(np.int32), "charged": charged[at].astype(np.int32),
                     "age": (e["day"][at] - charged[at]).astype(np.int32), "amount": e["amount"][at],
                     "cash": e["cash"][at],
                     "seg": np.where(self.charge_party[e["claim"][at]] == self.patient, 1, 2).astype(np.int64)}
        at = np.nonzero((e["party"] != self.patient) & (e["fa"] < _NEVER))[0]
        key = np.maximum(e["day"][at], e["fa"][at])
        order = _stable_argsort(key)
        at = at[order]
        self._ins = {"key": key[order].astype(np.int32), "party": e["party"][at].astype(np.int32),
                     "charged": charged[at].astype(np.int32), "fa": e["fa"][at].astype(np.int32),
                     "age": (e["day"][at] - charged[at]).astype(np.int32), "amount": e["amount"][at],
                     "cash": e["cash"][at]}
        del e["fa"], charged, at, key, order
        # the events the curves cannot tell apart merged (issue #15: 7 M and 9 M events at 10 M claim lines, read at
        # each of 18 dates): the curves read a patient event by its day, charge day and segment, a payer's by its
        # day known, party, charge day, first adjudication and age, and each by the sign of its amount
        self._pat = _merged(self._pat, ["key", "charged", "seg"])
        self._ins = _merged(self._ins, ["key", "party", "charged", "fa", "age"])
        # each event's (claim, party) balance: today's balances are its sums. The balances are numbered in the
        # order of their flat key claim * parties + party (``_balance_keys``: the key of each number), so a date's
        # sums are over the (claim, party) pairs that have events, not every claim x party (issue #15: 40 M at 10 M
        # claim lines, at each of 18 dates); numbered without a sort (a mark per flat key, then its rank)
        flat = e["claim"].astype(np.int64) * self._n_parties + e["party"]
        mark = np.zeros(len(self.claim_ids) * self._n_parties, dtype=bool)
        mark[flat] = True
        self._balance_keys = np.nonzero(mark)[0]
        rank = np.cumsum(mark, dtype=np.int32 if len(self._balance_keys) < 2**31 else np.int64)
        del mark
        self._ev_balance = rank[flat] - 1
        del rank, flat

    def _arrays(self) -> None:
        """The first-adjudication claims and the charges as numpy arrays for the per-date sums (np.bincount over
        party and code numbers), and the billed lines sorted by claim (each claim's lines in their order); the
        lines' arrays come from :meth:`_remits`, their codes numbered across both (:meth:`_code_numbers`)."""
        self._n_codes = max(len(self._code_of), 1)
        order = np.argsort(self._bl["claim"], kind="stable")
        self._bl = {k: v[order] for k, v in self._bl.items()}
        fc = self.first_claims
        self._fc = {"party": fc["party"].to_numpy(np.int64), "day": fc["day"].to_numpy(np.int64),
                    "month": fc["month"].to_numpy(np.int64), "billed": fc["billed"].to_numpy(float),
                    "paid": fc["paid"].to_numpy(float), "pr": fc["pr"].to_numpy(float)}
        # first adjudications by day, so a date's look-back window is a slice (issue #15: 18 dates a report): their
        # sums over a window are of whole cents, exact in any order; the lines too when their contract amounts
        # (allowed x units) are whole as well, else they stay in their order (a window is then a mask)
        order = _stable_argsort(self._fc["day"])
        self._fc = {k: v[order] for k, v in self._fc.items()}
        self._fl_by_day = _whole(self._fl["contract"])
        if self._fl_by_day:
            order = _stable_argsort(self._fl["day"])
            self._fl = {k: v[order] for k, v in self._fl.items()}
        # the window sums of _ratios and _month_factors from cumulative sums by day (:class:`_DaySums`), when exact
        n_p, n_c = self._n_parties, self._n_codes
        fl, fc = self._fl, self._fc
        self._fl_sums = self._fc_sums = None
        if self._fl_by_day and _exact(fl["paid"], fl["billed"]) and _DaySums.fits(fl["day"], n_p * n_c, 5):
            c = ~np.isnan(fl["contract"])
            self._fl_sums = _DaySums(fl["day"], fl["party"].astype(np.int64) * n_c + fl["code"], n_p * n_c, {
                "count": None, "paid": fl["paid"], "billed": fl["billed"],
                "contract": np.where(c, fl["contract"], 0.0), "contract_paid": np.where(c, fl["paid"], 0.0)})
        if _exact(fc["billed"], fc["paid"], fc["pr"]) and _DaySums.fits(fc["day"], n_p * 13, 4):
            self._fc_sums = _DaySums(fc["day"], fc["party"] * 13 + fc["month"], n_p * 13, {
                "count": None, "billed": fc["billed"], "paid": fc["paid"], "pr": fc["pr"]})
        self._ch_day = self.charges["day"].to_numpy(np.int64)
        self._ch_party = self.charges["party"].to_numpy(np.int64)
        self._ch_amount = self.charges["amount"].to_numpy(float)
        # the arrays above are what the forecasts read: the frames go (issue #15: a gigabyte at 10 M claim lines)
        del self.first_claims, self.charges

    def _fa_of(self, claim: np.ndarray, party: np.ndarray) -> np.ndarray:
        """The payer's first adjudication day of each (claim, party) (_NEVER without one, or party -1)."""
        out = np.full(len(claim), _NEVER, dtype=np.int64)
        has = party >= 0
        out[has] = self._fa_flat[claim[has].astype(np.int64) * self._n_parties + party[has]]
        return out

    # ----------------------------------------------------------------------------------------- set-up
    def _remits(self, tables: Mapping[str, Any], get) -> None:
        """First adjudications and billed lines from the claims, remittances and their lines, each table read
        (``get(name)``) when it is used and let go after, so a large practice's tables are not held at once
        (issue #15: the 10 M-line report's memory)."""
        contracts = get("contracts")
        claim_index = self.claim_ids
        party_index = pa.array(self.parties, type=pa.string())
        n = len(self.claim_ids)
        self._n_parties = max(len(self.parties), 1)
        # (claim, party) -> day of the payer's first adjudication, flat at claim * parties + party
        self._fa_flat = np.full(n * self._n_parties, _NEVER, dtype=np.int32)  # day numbers (_NEVER fits)
        # each claim's month of service (1-12; the month its charge posted when the claims table has no date)
        self.service_month = (_EPOCH + pd.to_timedelta(self.charge_day, unit="D")).month.to_numpy().copy()
        billed = None  # each claim's billed submission: its first that is not a void
        claims = _read_columns(tables, "claims", get)
        if claims is not None:
            code = positions(claims["claim_id"], claim_index)
            keep = np.nonzero(np.asarray(pc.not_equal(claims["frequency_code"], "8").fill_null(True), dtype=bool)
                              & (code >= 0))[0]
            # each claim's first submission that is not a void (the order of sort_order: stable, missing last)
            order = keep[_sort_indices([code[keep], _take(claims["submitted_on"], keep),
                                        _take(claims["submission_id"], keep)])]
            order = order[_first_of_runs(code[order])]
            billed = {"_claim": code[order], "submission_id": _take(claims["submission_id"], order),
                      "payer_id": _take(claims["payer_id"], order)}  # what the billed lines' look-up reads
            month = pc.month(_take(claims["service_from"], order))
            dated = np.asarray(month.is_valid(), dtype=bool)
            self.service_month[billed["_claim"][dated]] = np.asarray(month.filter(month.is_valid()), dtype=np.int64)
            del code, keep, order, month, dated
        _release_arrow_memory()
        del claims
        no_int, no_float = np.zeros(0, dtype=np.int64), np.zeros(0)
        self._code_of: dict = {}  # procedure code -> its number in the lines' arrays
        self._fl = {"party": no_int, "code": no_int, "day": no_int, "billed": no_float, "paid": no_float,
                    "contract": no_float}
        self._bl = {"claim": no_int, "code": no_int, "charge": no_float, "contract": no_float}
        self.first_claims = pd.DataFrame(columns=["party", "day", "month", "billed", "paid", "pr"])
        remits = _read_columns(tables, "remittances", get)
        if remits is not None:
            claim = positions(remits["claim_id"], claim_index)
            party = positions(remits["payer_id"], party_index)
            status = pc.is_in(remits["status_code"], value_set=pa.array(NON_PAYMENT_STATUSES + (REVERSAL_STATUS,)))
            keep = np.nonzero(~np.asarray(status, dtype=bool) & (claim >= 0) & (party >= 0))[0]
            day = _day_numbers(remits["paid_on"], keep)
            # each (claim, payer)'s first adjudication: its earliest remit (then the smallest remit ID)
            order = _sort_indices([claim[keep], party[keep], day, _take(remits["remit_id"], keep)])
            order = order[_first_of_runs(claim[keep][order] * self._n_parties + party[keep][order])]
            rows, day = keep[order], day[order]
            claim, party = claim[rows], party[rows]
            self._fa_flat[claim * self._n_parties + party] = day
            self.first_claims = pd.DataFrame({"party": party, "day": day, "month": self.service_month[claim],
                                              "billed": _floats(remits["billed_cents"], rows),
                                              "paid": _floats(remits["paid_cents"], rows),
                                              "pr": _floats(remits["patient_responsibility_cents"], rows, missing=0.0)})
            # what the lines' look-up reads
            first = {"remit_id": _take(remits["remit_id"], rows), "party": party, "day": day,
                     "payer_id": _take(remits["payer_id"], rows)}
            del remits, claim, party, status, keep, order, rows, day
            _release_arrow_memory()
            lines = _read_columns(tables, "remit_lines", get)
            if lines is not None:
                # the lines of first adjudications: their remit's party, day and payer, as integer arrays
                at, hit, code, contract = self._owned_lines(lines, "remit_id", first, contracts)
                self._fl = {"party": _int32(first["party"][at]), "code": code, "day": first["day"][at],
                            "billed": _floats(lines["billed_cents"], hit), "paid": _floats(lines["paid_cents"], hit),
                            "contract": contract}
                del lines, at, hit, code, contract
                _release_arrow_memory()
            del first
        # the lines of each claim's billed submission, for expected payments
        lines = _read_columns(tables, "claim_lines", get) if billed is not None else None
        if lines is not None:
            at, hit, code, contract = self._owned_lines(lines, "submission_id", billed, contracts)
            self._bl = {"claim": billed["_claim"][at], "code": code, "charge": _floats(lines["charge_cents"], hit),
                        "contract": contract}
        del lines, billed
        _release_arrow_memory()

    def _owned_lines(self, lines: dict, key: str, owners: dict, contracts: pd.DataFrame | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The lines (arrow columns) whose ``key`` is one of ``owners``' (the first adjudications' remits, the
        claims' billed submissions; ``key`` is popped: the IDs go once looked up): each kept line's owner
        position, its row in ``lines``, its code number (:meth:`_code_numbers`) and its contract amount for the
        owner's payer (:func:`_line_contracts`)."""
        at = positions(lines.pop(key), owners[key])
        hit = np.nonzero(at >= 0)[0]
        at = at[hit]
        payer, payer_names = factorize_sorted(owners["payer_id"])
        code, code_names = _coded(lines["procedure_code"], hit)
        mods, mod_names = _coded(lines["modifiers"], hit)
        numbers = _int32(self._code_numbers(code, code_names))
        contract = _line_contracts(contracts, payer[at], payer_names, code, code_names, mods, mod_names,
                                   _day_numbers(lines["service_date"], hit), _floats(lines["units"], hit, missing=1.0))
        return at, hit, numbers, contract

    def _code_numbers(self, codes: np.ndarray, names: list) -> np.ndarray:
        """Procedure codes (positions in ``names``, -1 missing) as the Book's code numbers, shared by the
        first-adjudication and billed lines (numbered as they are first met; a missing code is one code too)."""
        names = list(names) + ([None] if (codes < 0).any() else [])
        for name in names:
            self._code_of.setdefault(name, len(self._code_of))
        lookup = np.array([self._code_of[name] for name in names] or [0], dtype=np.int64)
        return lookup[codes]  # -1: the last entry, the missing code's number

    def class_of(self, party: str) -> str:
        return "patient" if party == "patient" else self.payer_class.get(party, "other")

    def name_of(self, party: str) -> str:
        return "Patients" if party == "patient" else self.payer_names.get(party, party)


def _ledger_events(tables: Mapping[str, Any], options: MetricOptions) -> dict:
    """What the Book reads of the ledger (rows with an amount): the claim IDs and responsible parties (sorted:
    their positions are the integer codes), the events (``ev``: claim, party, day, amount, cash) and every
    positive charge posting (``charges``: claim, day, party, amount).

    On pandas tables the events are the ledger's rows. When the ledger is still on DuckDB (prepared tables that
    :meth:`~rcmkit.metrics.Prepared.collected` left on the engine), the engine sums them by claim, party, day and
    sign (credits apart: the money curves count them alone) and only those sums come to numpy, so the ledger is
    never collected whole (issue #15: 31 M rows at 10 M claim lines). Every use of the events is a sum of
    amounts or cash by claim, party, day or sign (or a count > 0), and the sums of whole cents are exact in
    float64, so the forecast's numbers are the same, bit for bit."""
    if isinstance(tables, Prepared) and tables.denial_policy == options.denial_policy:
        native = tables.engine_frame("ledger")
        if native is not None and engine_of(native) == "duckdb":
            return _duckdb_ledger_events(lazy(native).to_native())
        ledger = read_columns(tables, "ledger", BOOK_COLUMNS["ledger"])
    else:
        ledger = ledger_for(tables, options)
    if not isinstance(ledger, pd.DataFrame):
        raise TypeError("the forecast runs on pandas tables: load them with rcmkit.core.store.load_tables")
    ledger = ledger[ledger["amount_cents"] != 0]
    claim_codes, claim_ids = _sorted_codes(ledger["claim_id"])  # integer keys from here on
    party_codes, parties = factorize_sorted(ledger["responsible"])
    day = _days(ledger["posted_on"])
    amount = ledger["amount_cents"].to_numpy(dtype=np.float64)
    cash = np.where(isin(ledger["kind"], CASH_KINDS).to_numpy(dtype=bool), -amount, 0.0)
    claim_codes, party_codes = claim_codes.astype(np.int64), party_codes.astype(np.int64)
    is_charge = (ledger["kind"] == "charge").to_numpy(dtype=bool) & (amount > 0)
    return {"claim_ids": claim_ids, "parties": list(parties),
            "ev": {"claim": claim_codes, "party": party_codes, "day": day, "amount": amount, "cash": cash},
            "charges": {"claim": claim_codes[is_charge], "day": day[is_charge], "party": party_codes[is_charge],
                        "amount": amount[is_charge]}}


def _duckdb_ledger_events(relation) -> dict:
    """:func:`_ledger_events` of a ledger on DuckDB: the events summed by claim, party, day and sign there, and the
    positive charge postings, each with its claim ID and party as arrow strings, numbered here
    (:func:`rcmkit.core.frames.factorize_sorted`, :func:`rcmkit.core.frames.positions`) as the pandas path
    numbers the ledger's."""
    def run(sql: str) -> pa.Table:
        return relation.query("forecast_ledger", sql).to_arrow_table()

    day = "datediff('day', DATE '1970-01-01', posted_on)"
    kinds = ", ".join(f"'{k}'" for k in CASH_KINDS)
    ev = run(f"""SELECT claim_id, responsible, {day} AS day, CAST(sum(amount_cents) AS BIGINT) AS amount,
                        CAST(sum(CASE WHEN kind IN ({kinds}) THEN -amount_cents ELSE 0 END) AS BIGINT) AS cash
                 FROM forecast_ledger WHERE amount_cents <> 0
                 GROUP BY claim_id, responsible, {day}, amount_cents < 0""")
    claim, claim_ids = _sorted_codes(ev.column("claim_id"))
    ev = ev.drop_columns(["claim_id"])  # the IDs go once numbered, one column at a time (issue #15: the peak)
    _release_arrow_memory()
    party, parties = factorize_sorted(ev.column("responsible"))
    party = _int32(party)
    ev = ev.drop_columns(["responsible"])
    events = {"claim": claim, "party": party, "day": ev.column("day").to_numpy().astype(np.int64),
              "amount": ev.column("amount").to_numpy().astype(np.float64),
              "cash": ev.column("cash").to_numpy().astype(np.float64)}
    del ev
    _release_arrow_memory()
    ch = run(f"""SELECT claim_id, responsible, {day} AS day, amount_cents FROM forecast_ledger
                 WHERE kind = 'charge' AND amount_cents > 0""")
    charges = {"claim": positions(ch.column("claim_id"), claim_ids),
               "day": ch.column("day").to_numpy().astype(np.int64),
               "party": positions(ch.column("responsible"), pa.array(list(parties), type=pa.string())),
               "amount": ch.column("amount_cents").to_numpy().astype(np.float64)}
    del ch
    _release_arrow_memory()
    return {"claim_ids": claim_ids, "parties": list(parties), "ev": events, "charges": charges}


def _sorted_codes(values) -> tuple[np.ndarray, pa.Array]:
    """:func:`rcmkit.core.frames.factorize_sorted` with the distinct values kept as an arrow string array (the
    claim IDs: the Book looks claims up in them, and 5 M Python strings are a few hundred MB: issue #15)."""
    array = _as_arrow(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = array.dictionary_encode()
    del array
    order = np.asarray(pc.sort_indices(encoded.dictionary), dtype=np.int64)
    rank = np.empty(len(order) + 1, dtype=np.int64)  # the last: a missing value's (index -1)
    rank[order] = np.arange(len(order), dtype=np.int64)
    rank[-1] = -1
    dtype = np.int32 if len(order) < 2**31 else np.int64  # 4 bytes a row (issue #15: 16 M events)
    codes = rank.astype(dtype)[np.asarray(encoded.indices.fill_null(-1)).astype(np.int64, copy=False)]
    return codes, encoded.dictionary.take(pa.array(order, type=pa.int64())).cast(pa.string())


def _release_arrow_memory() -> None:
    """Give the memory arrow's allocator keeps for reuse (mimalloc, jemalloc) back to the system once a large
    table's arrow columns are let go: the numpy arrays that follow do not allocate from it, so without this the
    process holds both (issue #15: the 10 M-line forecast's peak)."""
    pa.default_memory_pool().release_unused()


def _int32(values: np.ndarray) -> np.ndarray:
    """Small non-negative numbers (claim, party and code numbers; -1 for none) as int32: half the memory."""
    if len(values) and int(values.max()) >= 2**31:
        return values
    return values.astype(np.int32, copy=False)


def _whole(values: np.ndarray) -> bool:
    """Whether every number of ``values`` (NaN aside) is whole and their sum far below 2**53: sums of any of them
    are then exact in float64, in any order."""
    finite = values[~np.isnan(values)]
    return bool(np.all(finite == np.round(finite)) and np.abs(finite).sum() < 2.0**52)


def _merged(events: dict, keys: list[str]) -> dict:
    """The money curves' ``events`` (columns of equal length, ``amount`` and ``cash`` among them) with the rows
    alike in ``keys`` and in the sign of ``amount`` merged into one, ``amount`` and ``cash`` summed, the other
    columns (alike in those rows) kept; rows ordered by ``keys`` (the first: the day by which a date reads a
    prefix). curves.money_hazards reads a row by those columns and the sign of its amount and sums amounts and
    cash by bin, so it gives the same numbers, bit for bit, when the sums are exact (whole cents: :func:`_exact`);
    otherwise, or when the keys' ranges do not fit one 63-bit number, the events are returned as they are."""
    amount = events["amount"]
    if not len(amount) or not _exact(amount, events["cash"]):
        return events
    combined = np.zeros(len(amount), dtype=np.int64)
    room = 1
    for column in [events[k] for k in keys] + [amount < 0]:  # mixed radix, the first key the most significant
        lo, hi = int(column.min()), int(column.max())
        span = hi - lo + 1
        room *= span
        if room >= 2**62:
            return events
        combined *= span
        combined += column - lo if lo else column
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    del combined
    inverse = inverse.reshape(-1)
    out = {k: v[first] for k, v in events.items() if k not in ("amount", "cash")}
    for k in ("amount", "cash"):
        out[k] = np.bincount(inverse, weights=events[k], minlength=len(first))
    return out


def _stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` (the one stable order), by numpy's radix sort of 16-bit offsets when
    the values span fewer than 2**16 (day numbers: a few years), a few times faster than its merge sort of 64-bit
    integers (issue #15: 16 M events at 10 M claim lines)."""
    if len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 2**16:
            return np.argsort((values - lo).astype(np.uint16), kind="stable")
    return np.argsort(values, kind="stable")


def _exact(*columns: np.ndarray) -> bool:
    """Whether the sums of any rows of each column are exact in float64, in any order: whole numbers, none missing,
    far below 2**53 in all (:func:`_whole`)."""
    return all(_whole(v) and not np.isnan(v).any() for v in columns)


class _DaySums:
    """Sums by cell of columns of whole numbers (:func:`_exact`) over any range of days, as differences of their
    cumulative sums by day: ``between(first, last)`` is what ``np.bincount(cell[rows], weights=column[rows],
    minlength=n_cells)`` gives over the rows of days ``first..last`` (a count for a column None), the same
    numbers bit for bit, since every partial sum of whole numbers below 2**53 is exact. A forecast date's
    look-back window then costs a few thousand cells, not a pass over millions of lines (issue #15: 18 dates a
    report at 10 M claim lines). A table of days x cells per column: :meth:`fits` says whether it stays small
    (a practice of thousands of codes and many payers would need gigabytes; the window's lines are then summed
    at each date instead)."""

    #: the most memory the cumulative sums of one Book may take
    MAX_BYTES = 256 * 2**20

    @classmethod
    def fits(cls, day: np.ndarray, n_cells: int, n_columns: int) -> bool:
        """Whether the sums of ``n_columns`` columns over ``n_cells`` cells and the days of ``day`` (at most its
        span: no sort of millions of days to count them) fit :attr:`MAX_BYTES`."""
        days = int(day.max()) - int(day.min()) + 1 if len(day) else 0
        return (days + 1) * n_cells * n_columns * 8 <= cls.MAX_BYTES

    def __init__(self, day: np.ndarray, cell: np.ndarray, n_cells: int, columns: dict) -> None:
        self.days, at = np.unique(day, return_inverse=True)
        key = at.reshape(-1).astype(np.int64) * n_cells + cell
        size = len(self.days) * n_cells
        self.cum = {}
        for name, weights in columns.items():
            by_day = (np.bincount(key, minlength=size) if weights is None else
                      np.bincount(key, weights=weights, minlength=size)).reshape(len(self.days), n_cells)
            cum = np.zeros((len(self.days) + 1, n_cells), dtype=by_day.dtype)
            np.cumsum(by_day, axis=0, out=cum[1:])
            self.cum[name] = cum

    def between(self, first: int | None, last: int) -> dict[str, np.ndarray]:
        """Each column's sums by cell over the rows of days ``first..last`` (from the first day when None)."""
        hi = int(np.searchsorted(self.days, last, side="right"))
        lo = 0 if first is None else int(np.searchsorted(self.days, first, side="left"))
        return {name: cum[hi] - cum[lo] for name, cum in self.cum.items()}


def _first_of_runs(keys: np.ndarray) -> np.ndarray:
    """A mask of the first row of each run of equal ``keys`` (sorted rows: each key's first row)."""
    mask = np.ones(len(keys), dtype=bool)
    mask[1:] = keys[1:] != keys[:-1]
    return mask


def _read_columns(tables: Mapping[str, Any], name: str, get) -> dict[str, pa.ChunkedArray] | None:
    """The columns the Book reads of a table (BOOK_COLUMNS) as arrow arrays, None without rows: queried on DuckDB
    when the table was left there (:meth:`~rcmkit.metrics.Prepared.engine_frame`), so no pandas frame of 10 M
    lines is made (issue #15: the 10 M-line report's memory), else the pandas table's columns (arrow-backed
    ones without a copy). Either way the rows in the table's order."""
    columns = BOOK_COLUMNS[name]
    native = tables.engine_frame(name) if isinstance(tables, Prepared) else None
    if native is not None and engine_of(native) == "duckdb":
        select = ", ".join(f'"{c}"' for c in columns)
        table = lazy(native).to_native().query("forecast_table", f"SELECT {select} FROM forecast_table"
                                               ).to_arrow_table()
        return {c: table.column(c) for c in columns} if table.num_rows else None
    frame = get(name)
    return {c: _as_arrow(frame[c]) for c in columns} if frame is not None and len(frame) else None


def _take(values: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    return values.take(pa.array(rows, type=pa.int64()))


def _sort_indices(keys: list) -> np.ndarray:
    """The row positions sorted by ``keys`` (arrays of one length; ascending, stable, missing values last): the
    order :func:`rcmkit.core.frames.sort_order` gives a frame of those columns."""
    table = pa.table({f"k{i}": k for i, k in enumerate(keys)})
    return np.asarray(pc.sort_indices(table, sort_keys=[(f"k{i}", "ascending") for i in range(len(keys))]),
                      dtype=np.int64)


def _coded(values, rows: np.ndarray) -> tuple[np.ndarray, list]:
    """Strings at ``rows`` as (positions in the distinct values, -1 for a missing one; the distinct values)."""
    array = _as_arrow(values)
    names = pc.unique(array)
    names = names.filter(names.is_valid())
    return positions(array, names)[rows], names.to_pylist()


def _as_arrow(values) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    array = getattr(values.array, "_pa_array", None)  # an arrow-backed Series: no copy
    return array if array is not None else pa.array(values.to_numpy(), from_pandas=True)


def _floats(values, rows: np.ndarray, missing: float = np.nan) -> np.ndarray:
    """Numbers at ``rows`` as float64, ``missing`` where missing (or not a number, as pd.to_numeric coerces)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        out = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)[rows]
    else:
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)[rows]
    return out if np.isnan(missing) else np.where(np.isnan(out), missing, out)


def _day_numbers(values, rows: np.ndarray) -> np.ndarray:
    """Dates at ``rows`` as day numbers (1970-01-01 for a missing date, as the contract match's Timestamp(0))."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)) and pa.types.is_date32(values.type):
        return np.asarray(pc.cast(values, pa.int32()).fill_null(0), dtype=np.int64)[rows]
    dates = pd.to_datetime(pd.Series(values.to_pandas() if isinstance(values, (pa.Array, pa.ChunkedArray)) else
                                     values).iloc[rows]).fillna(pd.Timestamp(0))
    return ((dates - _EPOCH).dt.days).to_numpy(dtype=np.int64)


def _line_contracts(contracts: pd.DataFrame | None, payer: np.ndarray, payer_names: list, code: np.ndarray,
                    code_names: list, mods: np.ndarray, mod_names: list, day: np.ndarray, units: np.ndarray
                    ) -> np.ndarray:
    """Each line's contract amount: the allowed amount per unit x ``units`` of the contract row for the line's
    payer, procedure code and modifiers (the exact modifiers' rate, else the code's any-modifier rate, '') in
    effect on its service day (``day``, a day number): the latest ``effective_from`` on or before it; NaN without
    one. The lines' keys are integer positions in ``*_names`` (-1 missing: no contract; missing modifiers are '');
    each distinct key is matched to the contracts once, then every line's date by a binary search (what
    ``pd.merge_asof(direction="backward")`` by payer, code and modifiers gives, on integers instead of a merge
    of 10 M lines' strings: issue #15)."""
    out = np.full(len(day), np.nan)
    if contracts is None or not len(contracts) or not len(day):
        return out * units
    if len(day) > _CHUNK:  # a few million lines at a time: each line's match is its own, the temporaries are not
        for lo in range(0, len(day), _CHUNK):
            part = slice(lo, lo + _CHUNK)
            out[part] = _line_contracts(contracts, payer[part], payer_names, code[part], code_names, mods[part],
                                        mod_names, day[part], units[part])
        return out
    terms = contracts.assign(_date=pd.to_datetime(contracts["effective_from"]))
    terms = terms[terms["_date"].notna() & terms["allowed_cents"].notna()]
    t_day = ((terms["_date"] - _EPOCH).dt.days).to_numpy(dtype=np.int64)
    t_keys = list(zip(terms["payer_id"], terms["procedure_code"], terms["modifiers"]))
    t_allowed = terms["allowed_cents"].to_numpy(dtype=float)
    mod_names = list(mod_names) + [""]  # a missing modifier (position -1) is '' (fillna(""))
    shift = 1 << 32  # key * shift + day + 2**31: the day's order within a key
    for exact in (True, False):
        want = np.nonzero(np.isnan(out))[0]
        if not len(want):
            break
        # the contract rows this pass reads, numbered by key
        group_of: dict = {}
        rows = [i for i, k in enumerate(t_keys) if all(isinstance(x, str) for x in k) and (exact or k[2] == "")]
        groups = np.array([group_of.setdefault(t_keys[i] if exact else t_keys[i][:2], len(group_of))
                           for i in rows], dtype=np.int64)
        if not len(rows):
            continue
        sorted_keys = np.sort(groups * shift + t_day[rows] + (1 << 31))
        allowed = t_allowed[rows][np.argsort(groups * shift + t_day[rows] + (1 << 31), kind="stable")]
        # each line's key: its distinct (payer, code, modifiers) looked up once
        n_c, n_m = len(code_names) + 1, len(mod_names)  # a missing payer or code: position len(names), no key
        p = np.where(payer[want] < 0, len(payer_names), payer[want]).astype(np.int64)
        c = np.where(code[want] < 0, len(code_names), code[want]).astype(np.int64)
        m = np.where(mods[want] < 0, n_m - 1, mods[want]).astype(np.int64)
        cell = (p * n_c + c) * n_m + m
        size = (len(payer_names) + 1) * n_c * n_m
        if size <= _DENSE_KEYS:  # every (payer, code, modifiers) cell's group in a table: one gather a line
            table = np.full(size, -1, dtype=np.int64)
            p_at = {name: i for i, name in enumerate(payer_names)}
            c_at = {name: i for i, name in enumerate(code_names)}
            m_at: dict = {}
            for i, name in enumerate(mod_names):  # '' twice: a line's '' and its missing modifiers
                m_at.setdefault(name, []).append(i)
            for key, group in group_of.items():
                if key[0] in p_at and key[1] in c_at:
                    base = (p_at[key[0]] * n_c + c_at[key[1]]) * n_m
                    table[[base + i for i in (m_at.get(key[2], []) if exact else range(n_m))]] = group
            g = table[cell]
        else:  # each distinct cell of the lines looked up once
            distinct, inverse = np.unique(cell, return_inverse=True)
            line_group = np.full(len(distinct), -1, dtype=np.int64)
            for j, key in enumerate(distinct.tolist()):
                kp, rest = divmod(key, n_c * n_m)
                kc, km = divmod(rest, n_m)
                if kp >= len(payer_names) or kc >= len(code_names):
                    continue
                name = (payer_names[kp], code_names[kc], mod_names[km]) if exact else (payer_names[kp],
                                                                                        code_names[kc])
                line_group[j] = group_of.get(name, -1)
            g = line_group[inverse.reshape(-1)]
        has = np.nonzero(g >= 0)[0]
        at = np.searchsorted(sorted_keys, g[has] * shift + day[want[has]] + (1 << 31), side="right") - 1
        ok = (at >= 0) & ((sorted_keys[np.maximum(at, 0)] >> 32) == g[has])
        out[want[has[ok]]] = allowed[at[ok]]
    return out * units


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
    cash, out, risk = curves.money_hazards(seg, ev["age"], ev["amount"], ev["cash"], lo, hi, n_rows, MAX_AGE)
    # a parent's sums are its children's (leaves only carry events)
    levels, parents = _levels(parent_of)
    for rows in levels[:0:-1]:  # a parent's sums are its children's (leaves only carry events), deepest first
        for a in (cash, out, risk):
            np.add.at(a, parents[rows], a[rows])
    cash_s, risk_s = curves.smooth(cash, risk, fo.smooth_days)
    out_s, _ = curves.smooth(out, risk, fo.smooth_days)
    h_cash = np.zeros_like(cash_s)
    h_exit = np.zeros_like(out_s)
    for depth, rows in enumerate(levels):  # parents first: each level shrinks toward the one above
        up = parents[rows]
        pc = h_cash[up] if depth else np.zeros((len(rows), cash_s.shape[1]))
        px = h_exit[up] if depth else np.zeros((len(rows), cash_s.shape[1]))
        w = fo.money_weight_cents * fo.smooth_days if depth else 1e-9
        h_exit[rows] = curves.shrink(out_s[rows], risk_s[rows], px, w)
        h_cash[rows] = np.minimum(curves.shrink(cash_s[rows], risk_s[rows], pc, w), h_exit[rows])
    return _Curves(h_cash, h_exit, seg_rows)


def _levels(parent_of: list) -> tuple[list[np.ndarray], np.ndarray]:
    """The rows of a hierarchy by depth (roots first) and each row's parent (-1 for a root): a level's rows are
    computed together, their parents' before them."""
    parents = np.asarray(parent_of, dtype=np.int64)
    depth = np.zeros(len(parents), dtype=np.int64)
    for row, up in enumerate(parent_of):  # rows are ordered parents first
        depth[row] = depth[up] + 1 if up >= 0 else 0
    return [np.nonzero(depth == k)[0] for k in range(int(depth.max(initial=-1)) + 1)], parents


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


# --------------------------------------------------------------------------------------------- forecast
def point_forecast(book: Book, as_of, fo: ForecastOptions = ForecastOptions(), *, writeoffs: bool = True
                   ) -> dict:
    """The expected cash of every window (no intervals) as of ``as_of``: ``{"detail": frame, "writeoffs":
    frame or None}``. ``detail``: one row per window x party x part with ``expected_cents`` and ``var_cents2``
    (the variance of a balance paid whole or not at all within the window, summed)."""
    T = day_number(as_of)
    key = (T, fo, writeoffs)
    if key in book._memo:
        return book._memo[key]
    e = book.ev
    known = slice(0, int(np.searchsorted(e["day"], T, side="right")))  # events are in posting order
    window_start = T - fo.lookback_days + 1
    patient = book.patient
    billed_to = book.charge_party[(book.charge_day <= T) & (book.charge_party >= 0)]
    seen = (book._first_day <= T) | (np.bincount(billed_to, minlength=book._n_parties) > 0)
    insured_parties = [p for p in np.nonzero(seen)[0].tolist() if p != patient]
    # ---- curves: payer balances after adjudication (observed from the window's start or the day after the
    # first adjudication, to as_of), from the events known and adjudicated at T: a prefix (Book._curve_events)
    rows, parent, leaf = _hierarchy(book, insured_parties)
    leaf_of = np.full(book._n_parties, -1, dtype=np.int64)  # party -> its row (payers only)
    for p, row in leaf.items():
        leaf_of[p] = row
    e = book._ins
    n = int(np.searchsorted(e["key"], T, side="right"))
    charged = e["charged"][:n]
    sub = {k: e[k][:n] for k in ("age", "amount", "cash")}
    adj_curves = _money_curves(rows, leaf_of[e["party"][:n]], parent, book, sub, np.maximum(
        window_start - charged, e["fa"][:n] - charged + 1), T - charged, fo)
    # ---- curves: patient balances, self-pay claims vs the patient share of insured claims (events known at T)
    e = book._pat
    n = int(np.searchsorted(e["key"], T, side="right"))
    charged = e["charged"][:n]
    pat_rows = {("all",): 0, ("self_pay",): 1, ("insured",): 2}
    sub = {k: e[k][:n] for k in ("age", "amount", "cash")}
    pat_curves = _money_curves(pat_rows, e["seg"][:n], [-1, 0, 0], book, sub, window_start - charged, T - charged,
                               fo)
    del e, charged, sub
    # ---- curves: days from billing to the payer's first adjudication (Kaplan-Meier, claims censored)
    claims_known = np.nonzero((book.charge_day <= T) & (book.charge_party >= 0) & (book.charge_party != patient))[0]
    c_party = book.charge_party[claims_known]
    c_day = book.charge_day[claims_known]
    fa = book.claim_fa[claims_known]
    done = fa <= T
    entry = np.maximum(window_start - c_day, 0)
    exit_ = np.where(done, fa - c_day, T - c_day)
    km_seg = leaf_of[c_party]
    d, n = curves.claim_hazards(km_seg, entry, exit_, done, len(rows), MAX_AGE)
    levels, parents = _levels(parent)
    for level in levels[:0:-1]:
        np.add.at(d, parents[level], d[level])
        np.add.at(n, parents[level], n[level])
    d_s, n_s = curves.smooth(d, n, fo.smooth_days)
    h_fa = np.zeros_like(d_s)
    for depth, level in enumerate(levels):
        h_fa[level] = curves.shrink(d_s[level], n_s[level], h_fa[parents[level]] if depth else 0.0,
                                    fo.claim_weight * fo.smooth_days if depth else 1e-9)
    # ---- expected payment and patient share of a first adjudication, from first adjudications in the window
    rt = _ratios(book, T, window_start, fo)
    paid_factor, share_factor = _month_factors(book, T, fo)
    next_month = int((_EPOCH + pd.Timedelta(days=T + 1)).month)
    # ---- today's open balances: each (claim, party)'s sum of the events known, in (claim, party) order
    n_p = book._n_parties
    sums = np.bincount(book._ev_balance[known], weights=book.ev["amount"][known],
                       minlength=len(book._balance_keys))
    open_ = np.nonzero(sums > 0)[0]
    b_amount = sums[open_]
    open_ = book._balance_keys[open_]  # the flat keys claim * parties + party, ascending
    b_claim, b_party = open_ // n_p, open_ % n_p
    b_age = T - book.charge_day[b_claim]
    b_pending = (b_party != patient) & (book._fa_flat[open_] > T)

    wins = windows(_EPOCH + pd.Timedelta(days=T))
    ends = wins["end_day"].to_numpy()
    starts = wins["start_day"].to_numpy()
    parts = []  # (party, part, expected per window, variance per window)

    def add(party: int, part: str, cum: np.ndarray | None, size: np.ndarray | None = None, *,
            at_ends: np.ndarray | None = None, at_starts: np.ndarray | None = None) -> None:
        """``cum``: (n, _HMAX + 1) cumulative expected cash of n balances, or only its window columns
        (``at_ends``, ``at_starts``: ``cum[:, ends]``, ``cum[:, starts]``, the same numbers without the other
        days' columns); ``size``: their amounts (variance)."""
        # column-major, as cum[:, ends] is: the sums over balances below then add in the same (pairwise) order
        exp = cum[:, ends] - cum[:, starts] if cum is not None else np.asfortranarray(at_ends - at_starts)
        if size is None:
            var = np.zeros(len(ends))
        else:
            share = np.clip(exp / np.maximum(size[:, None], 1e-9), 0, 1)
            var = (size[:, None] ** 2 * share * (1 - share)).sum(axis=0)
        parts.append((party, part, exp.sum(axis=0), var))

    idx = lambda ages: np.minimum(np.maximum(ages, -1), MAX_AGE) + 1  # noqa: E731 - row of a share table for an age
    clip = lambda ages: np.clip(ages, -1, MAX_AGE)  # noqa: E731 - ages past MAX_AGE share its curve
    # the patients' curves: the insured-patient share at every age (the chains below read it anywhere), the
    # self-pay share at the ages of today's patient balances and of a charge about to be billed (-1)
    pm = b_party == patient
    full = np.arange(-1, MAX_AGE + 1)
    self_ages = np.unique(np.concatenate([[-1], clip(b_age[pm])]))
    g, _ = curves.cumulative_share_rows(pat_curves.cash, pat_curves.exit, np.repeat(
        [2, 1], [len(full), len(self_ages)]), np.concatenate([full, self_ages]), _HMAX)
    pat_ins_share, pat_self_share = g[:len(full)], g[len(full):]
    # payer balances after adjudication: each payer's curve at the ages of its balances
    adj = [(p, (b_party == p) & ~b_pending) for p in insured_parties]
    adj_ages = [np.unique(clip(b_age[m])) for _, m in adj]
    g, _ = curves.cumulative_share_rows(adj_curves.cash, adj_curves.exit, np.repeat(
        [leaf[p] for p, _ in adj], [len(u) for u in adj_ages]).astype(np.int64), np.concatenate(
        adj_ages + [np.zeros(0, np.int64)]), _HMAX)
    adj_share = dict(zip(insured_parties, np.split(g, np.cumsum([len(u) for u in adj_ages])[:-1])))
    adj_ages = dict(zip(insured_parties, adj_ages))
    # the time to the payer's answer of claims waiting for it, at their ages (and -1: a claim about to be billed),
    # and the patient's share that the answer creates, carried along the insured-patient curve: one batched chain
    waiting = {p: np.unique(np.concatenate([[-1], b_age[(b_party == p) & b_pending]])) for p in insured_parties}
    all_ages = np.concatenate([waiting[p] for p in insured_parties] + [np.zeros(0, np.int64)]).astype(np.int64)
    g, dens = curves.cumulative_share_rows(h_fa, h_fa, np.repeat([leaf[p] for p in insured_parties],
                                                                 [len(waiting[p]) for p in insured_parties]
                                                                 ).astype(np.int64), clip(all_ages), _HMAX)
    # the window bounds only (what add reads), then every day of a charge about to be billed (new charges)
    bounds_ = np.unique(np.concatenate([starts, ends]))
    follows = np.zeros((len(all_ages), _HMAX + 1))
    follows[:, bounds_] = curves.chain_share_at(dens, all_ages, lambda a, lag: pat_ins_share[
        idx(a)[:, None], lag[None, :]], bounds_)
    new = all_ages == -1
    follows[new] = curves.chain_share(dens[new], all_ages[new], lambda a: pat_ins_share[idx(a)])
    bounds = np.cumsum([0] + [len(waiting[p]) for p in insured_parties])
    km = {p: (g[bounds[i]:bounds[i + 1]], follows[bounds[i]:bounds[i + 1]]) for i, p in enumerate(insured_parties)}
    wo = []  # write-off requests (_collectables): balances along a curve, claims waiting for the payer
    # patient balances
    if pm.any():
        ages, amounts = b_age[pm], b_amount[pm]
        selfpay = book.charge_party[b_claim[pm]] == patient
        at_self, at_ins = np.searchsorted(self_ages, clip(ages)), idx(ages)
        # the share at the window bounds only: amount x share of each (balance, bound), as amount x share[:, day]
        # of the whole (n, _HMAX + 1) matrix would give it, without its other 75 columns
        # each balance's row of its curve: the self-pay table's rows, then the insured table's
        both = np.concatenate([pat_self_share, pat_ins_share])
        at_both = np.where(selfpay, at_self, len(pat_self_share) + at_ins)
        add(patient, "patient balance", None, amounts, at_ends=_times_rows(amounts, both, at_both, ends),
            at_starts=_times_rows(amounts, both, at_both, starts))
        del both, at_both
        if writeoffs:
            for is_self, row in ((True, 1), (False, 2)):
                m = selfpay == is_self
                if m.any():
                    wo.append(("balance", pat_curves, row, ages[m], amounts[m]))
    # payer balances after adjudication, and claims waiting for the payer
    for p in insured_parties:
        row = leaf[p]
        ab = (b_party == p) & ~b_pending
        if ab.any():
            ages, amounts = b_age[ab], b_amount[ab]
            at = np.searchsorted(adj_ages[p], clip(ages))
            add(p, "payer balance after adjudication", None, amounts,
                at_ends=_times_rows(amounts, adj_share[p], at, ends),
                at_starts=_times_rows(amounts, adj_share[p], at, starts))
            if writeoffs:
                wo.append(("balance", adj_curves, row, ages, amounts))
        pw = (b_party == p) & b_pending
        if pw.any():
            ages, claims_, balances = b_age[pw], b_claim[pw], b_amount[pw]
            at = np.searchsorted(waiting[p], ages)
            months = book.service_month[claims_]
            paid = _expected_paid(book, claims_, balances, p, rt, paid_factor[p, months])
            add(p, "awaiting payer", None, paid, at_ends=_times_rows(paid, km[p][0], at, ends),
                at_starts=_times_rows(paid, km[p][0], at, starts))
            pr = book.charge_cents[claims_] * rt.pr[p] * share_factor[p, months]
            pr = np.minimum(pr, balances - paid)
            # the patient's share appears when the payer answers, then follows the insured-patient curve
            add(patient, "patient share of claims awaiting payer", None, pr,
                at_ends=_times_rows(pr, km[p][1], at, ends), at_starts=_times_rows(pr, km[p][1], at, starts))
            if writeoffs:
                wo.append(("waiting", h_fa, row, ages, balances, paid, pr))
    # new charges: the trailing daily charge rate carried through the same curves
    ch = (book._ch_day <= T) & (book._ch_day > T - fo.new_charge_days)
    count = np.bincount(book._ch_party[ch], minlength=n_p)
    total = np.bincount(book._ch_party[ch], weights=book._ch_amount[ch], minlength=n_p)
    seasonal = _seasonal_factor(book, T, fo)
    for p in np.nonzero(count)[0].tolist():
        rate = total[p] / fo.new_charge_days * seasonal
        if rate <= 0:
            continue
        if p == patient:
            cum = np.concatenate([[0.0], np.cumsum(pat_self_share[0, 1:])]) * rate  # row 0: age -1
            add(patient, "new charges", cum[None, :])
            continue
        if p not in leaf:
            continue
        at = np.searchsorted(waiting[p], -1)  # the row of age -1
        g_fa = km[p][0][at:at + 1]
        paid_share = rt.ratio[p] * paid_factor[p, next_month]
        cum_ins = np.concatenate([[0.0], np.cumsum(g_fa[0, 1:])]) * rate * paid_share
        add(p, "new charges", cum_ins[None, :])
        follow = km[p][1][at]
        cum_pat = np.concatenate([[0.0], np.cumsum(follow[1:])]) * rate * rt.pr[p] * share_factor[p, next_month]
        add(patient, "new charges", cum_pat[None, :])
    detail = _detail(book, parts, wins)
    result = {"detail": detail, "writeoffs": _writeoff_frame(_collectables(wo, pat_curves)) if writeoffs else None,
              "open_cents": float(b_amount.sum())}
    book._memo[key] = result
    return result


def _times_rows(amounts: np.ndarray, table: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``amounts[:, None] * table[:, cols][rows]`` (each balance's amount times its row of a share table at the
    window bounds ``cols``), the same numbers laid out column-major, as point_forecast's ``add`` sums them
    (np.asfortranarray then copies nothing): each column gathered and multiplied in one pass over the balances
    (issue #15: millions of patient balances at each of 18 dates)."""
    return (amounts[None, :] * np.ascontiguousarray(table[:, cols].T).take(rows, axis=1)).T


def _seasonal_factor(book: Book, T: int, fo: ForecastOptions) -> float:
    """How the coming 13 weeks' charges compared with the 13 weeks before them one year earlier (a seasonal
    ratio, as in classical decomposition); 1 without a full year and 13 weeks of history or with
    ``seasonal=False``."""
    if not fo.seasonal:
        return 1.0
    day, amount = book._ch_day, book._ch_amount
    year = T - 364  # 52 weeks: the same weekdays
    if int(book.charge_day.min()) > year - fo.new_charge_days:
        return 1.0
    before = amount[(day <= year) & (day > year - fo.new_charge_days)].sum()
    after = amount[(day > year) & (day <= year + _HMAX)].sum() / _HMAX * fo.new_charge_days
    return float(after / before) if before > 0 and after > 0 else 1.0


@dataclass(frozen=True)
class _Ratios:
    """By party (arrays indexed by party code): ``ratio`` paid/billed (0 without first adjudications), ``code``
    the payer x code ratio (party, code) shrunk toward it (the payer's ratio for a code it never paid), ``contract``
    paid / contract allowed (NaN without contract lines) and ``pr`` patient responsibility / billed."""

    ratio: np.ndarray
    code: np.ndarray
    contract: np.ndarray
    pr: np.ndarray


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else 0."""
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def _ratios(book: Book, T: int, window_start: int, fo: ForecastOptions) -> _Ratios:
    """From the first adjudications in the look-back window: each payer's paid/billed ratio, the payer x code
    ratio (shrunk toward the payer's), the payer's paid / contract-allowed ratio and its patient-responsibility
    / billed ratio."""
    n_p, n_c = book._n_parties, book._n_codes
    if book._fl_sums is not None and book._fc_sums is not None:
        return _ratios_by_day(book, T, window_start, fo)
    fl = book._fl
    if book._fl_by_day:  # the window's lines: a slice (Book._arrays)
        m = slice(*np.searchsorted(fl["day"], [window_start, T + 1], side="left").tolist())
    else:
        m = (fl["day"] <= T) & (fl["day"] >= window_start)
    party, code = fl["party"][m], fl["code"][m]
    paid, billed = fl["paid"][m], fl["billed"][m]
    ratio = _ratio(np.bincount(party, weights=paid, minlength=n_p), np.bincount(party, weights=billed, minlength=n_p))
    cell = party * n_c + code
    seen = np.bincount(cell, minlength=n_p * n_c).reshape(n_p, n_c) > 0
    w = fo.ratio_weight_cents
    base = np.repeat(ratio[:, None], n_c, axis=1)
    shrunk = (np.bincount(cell, weights=paid, minlength=n_p * n_c).reshape(n_p, n_c) + w * base) / (
        np.bincount(cell, weights=billed, minlength=n_p * n_c).reshape(n_p, n_c) + w)
    code_ratio = np.where(seen, shrunk, base)
    amount = fl["contract"][m]
    c = ~np.isnan(amount)
    allowed = np.bincount(party[c], weights=amount[c], minlength=n_p)
    contract = np.full(n_p, np.nan)
    np.divide(np.bincount(party[c], weights=paid[c], minlength=n_p), allowed, out=contract, where=allowed > 0)
    fc = book._fc
    m = slice(*np.searchsorted(fc["day"], [window_start, T + 1], side="left").tolist())  # by day (Book._arrays)
    pr = _ratio(np.bincount(fc["party"][m], weights=fc["pr"][m], minlength=n_p),
                np.bincount(fc["party"][m], weights=fc["billed"][m], minlength=n_p))
    return _Ratios(ratio, code_ratio, contract, pr)


def _ratios_by_day(book: Book, T: int, window_start: int, fo: ForecastOptions) -> _Ratios:
    """:func:`_ratios` from the Book's cumulative sums by day (:class:`_DaySums`): the same sums of whole cents,
    so the same numbers, bit for bit (a party's sum is its cells' sum, exact as well)."""
    n_p, n_c = book._n_parties, book._n_codes
    s = book._fl_sums.between(window_start, T)
    paid, billed = s["paid"].reshape(n_p, n_c), s["billed"].reshape(n_p, n_c)
    ratio = _ratio(paid.sum(axis=1), billed.sum(axis=1))
    seen = s["count"].reshape(n_p, n_c) > 0
    w = fo.ratio_weight_cents
    base = np.repeat(ratio[:, None], n_c, axis=1)
    code_ratio = np.where(seen, (paid + w * base) / (billed + w), base)
    allowed = s["contract"].reshape(n_p, n_c).sum(axis=1)
    contract = np.full(n_p, np.nan)
    np.divide(s["contract_paid"].reshape(n_p, n_c).sum(axis=1), allowed, out=contract, where=allowed > 0)
    f = book._fc_sums.between(window_start, T)
    pr = _ratio(f["pr"].reshape(n_p, 13).sum(axis=1), f["billed"].reshape(n_p, 13).sum(axis=1))
    return _Ratios(ratio, code_ratio, contract, pr)


def _month_factors(book: Book, T: int, fo: ForecastOptions) -> tuple[np.ndarray, np.ndarray]:
    """How a payer's first adjudications of claims served in each calendar month compare with its year: the
    paid/billed and patient-responsibility/billed ratios by payer x month of service, over every first
    adjudication by ``T``, each shrunk toward the payer's own ratio and divided by it. A deductible that resets
    in January (Medicare Part B, most commercial plans) makes January's claims pay less and patients owe more;
    a 12-month average misses it. Returns ``(paid factor, share factor)``, arrays [party, month 1-12] (1 where a
    payer has no first adjudication of the month's claims; all 1 with ``seasonal=False``)."""
    n_p = book._n_parties
    paid, share = np.ones((n_p, 13)), np.ones((n_p, 13))
    if not fo.seasonal:
        return paid, share
    if book._fc_sums is not None:  # the same sums from the cumulative sums by day (_DaySums)
        s = book._fc_sums.between(None, T)
        if not s["count"].any():
            return paid, share
        seen = s["count"] > 0
        billed_year = s["billed"].reshape(n_p, 13).sum(axis=1)
        sums = {col: (s[col].reshape(n_p, 13).sum(axis=1), s[col]) for col in ("paid", "pr")}
        return _month_factor_arrays(paid, share, seen, billed_year, s["billed"], sums, fo)
    fc = book._fc
    m = slice(0, int(np.searchsorted(fc["day"], T, side="right")))  # by day (Book._arrays)
    if m.stop == 0:
        return paid, share
    party, month = fc["party"][m], fc["month"][m]
    cell = party * 13 + month
    seen = np.bincount(cell, minlength=n_p * 13) > 0
    billed_year = np.bincount(party, weights=fc["billed"][m], minlength=n_p)
    billed_cell = np.bincount(cell, weights=fc["billed"][m], minlength=n_p * 13)
    sums = {col: (np.bincount(party, weights=fc[col][m], minlength=n_p),
                  np.bincount(cell, weights=fc[col][m], minlength=n_p * 13)) for col in ("paid", "pr")}
    return _month_factor_arrays(paid, share, seen, billed_year, billed_cell, sums, fo)


def _month_factor_arrays(paid: np.ndarray, share: np.ndarray, seen: np.ndarray, billed_year: np.ndarray,
                         billed_cell: np.ndarray, sums: dict, fo: ForecastOptions) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_month_factors`' factors from its sums: billed by payer and by payer x month (``seen``: the cells
    with first adjudications), ``sums[col]``: paid and patient responsibility by payer and by payer x month."""
    w = fo.ratio_weight_cents * 5  # a month of a payer counts fully once it holds well over $10,000 billed
    for col, out in (("paid", paid), ("pr", share)):
        base = _ratio(sums[col][0], billed_year)
        b = np.repeat(base, 13)
        r = (sums[col][1] + w * b) / (billed_cell + w)
        factor = np.where(b > 0, r / np.where(b > 0, b, 1.0), 1.0)
        out.reshape(-1)[seen] = factor[seen]
    return paid, share


def _expected_paid(book: Book, claims: np.ndarray, balances: np.ndarray, party: int, rt: _Ratios,
                   factor: np.ndarray | None = None) -> np.ndarray:
    """Expected payment of each waiting claim at its first adjudication: by line, the contract allowed x the
    payer's paid-to-contract ratio, else the charge x the payer x code paid-to-billed ratio; a claim without
    lines, its balance x the payer's ratio. Never more than the open balance."""
    bl = book._bl
    lo = np.searchsorted(bl["claim"], claims, "left")
    count = np.searchsorted(bl["claim"], claims, "right") - lo
    owner = np.repeat(np.arange(len(claims)), count)
    line = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count - lo, count)
    base = rt.ratio[party]
    exp = bl["charge"][line] * rt.code[party, bl["code"][line]]
    k = rt.contract[party]
    if not np.isnan(k):
        allowed = bl["contract"][line]
        exp = np.where(~np.isnan(allowed), allowed * k, exp)
    out = np.where(count > 0, np.bincount(owner, weights=exp, minlength=len(claims)), balances * base)
    if factor is not None:  # the month of service (rcmkit.forecast.model._month_factors)
        out = out * factor
    return np.minimum(out, balances)


def _collectables(requests: list[tuple], pat_curves: _Curves) -> list[tuple]:
    """The write-off rows of each request, in order: per balance its age, amount, the expected cash within 120
    and 365 days and the contractual adjustment expected on it (arrays; the adjustment 0 for balances).

    * ``("balance", curves, row, ages, amounts)``: balances collected along ``curves``' segment ``row``;
    * ``("waiting", hazards, row, ages, balances, paid, pr)``: claims waiting for the payer (``hazards[row]``:
      of its first adjudication), expected to bring ``paid``, then the patient's share ``pr`` along the
      insured-patient curve; what the payer's answer adjusts off under contract is neither cash nor a write-off.

    The share curves of every request of one set of curves come from one
    :func:`rcmkit.forecast.curves.cumulative_share_rows` call, at each distinct age once."""
    distinct = [np.unique(r[3], return_inverse=True) for r in requests]
    shares: list = [None] * len(requests)
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(id(r[1]), []).append(i)
    for ids in groups.values():
        src = requests[ids[0]][1]
        cash, exit_ = (src.cash, src.exit) if isinstance(src, _Curves) else (src, src)
        ages = np.concatenate([distinct[i][0] for i in ids]).astype(np.int64)
        if len(ages) and ages.min() < -1:  # not a real age (a claim charged after as_of): cumulative_share's own
            for i in ids:
                row = requests[i][2]
                g, d = curves.cumulative_share(cash[row], exit_[row], distinct[i][0], 365)
                shares[i] = (g[:, [120, 365]], d)
            continue
        rows = np.repeat([requests[i][2] for i in ids], [len(distinct[i][0]) for i in ids]).astype(np.int64)
        # balances need the shares at 120 and 365 days only; waiting claims the density of every day (their chain)
        if requests[ids[0]][0] == "waiting":
            g, d = curves.cumulative_share_rows(cash, exit_, rows, ages, 365)
            g = g[:, [120, 365]]
        else:
            g, d = curves.cumulative_share_rows(cash, exit_, rows, ages, 365, columns=(120, 365))
        bounds = np.cumsum([0] + [len(distinct[i][0]) for i in ids])
        for j, i in enumerate(ids):
            shares[i] = (g[bounds[j]:bounds[j + 1]], None if d is None else d[bounds[j]:bounds[j + 1]])
    waiting = [i for i, r in enumerate(requests) if r[0] == "waiting"]
    follow: dict[int, np.ndarray] = {}
    if waiting:
        table = curves.cumulative_share(pat_curves.cash[2], pat_curves.exit[2], np.arange(-1, MAX_AGE + 1), 365)[0]
        f = curves.chain_share_at(np.concatenate([shares[i][1] for i in waiting]),
                                  np.concatenate([distinct[i][0] for i in waiting]),
                                  lambda a, lag: table[np.clip(a, -1, MAX_AGE)[:, None] + 1, lag[None, :]], [120, 365])
        bounds = np.cumsum([0] + [len(distinct[i][0]) for i in waiting])
        follow = {i: f[bounds[j]:bounds[j + 1]] for j, i in enumerate(waiting)}
    out = []
    for i, r in enumerate(requests):
        at = distinct[i][1].reshape(-1)
        g = shares[i][0]
        if r[0] == "balance":
            ages, amounts = r[3], r[4]
            out.append((ages, amounts, amounts * g[at, 0], amounts * g[at, 1], 0.0))
            continue
        ages, amounts, paid, pr = r[3], r[4], r[5], r[6]
        contractual = np.clip(amounts - paid - pr, 0.0, None)
        out.append((ages, amounts, paid * g[at, 0] + pr * follow[i][at, 0], paid * g[at, 1] + pr * follow[i][at, 1],
                    contractual))
    return out


def _writeoff_frame(parts: list[tuple]) -> pd.DataFrame:
    """Expected write-offs by aging bucket (age from the charge): open balance, the contractual adjustment
    expected on claims still waiting for the payer, expected cash within 120 and 365 days, and what is left:
    not expected to be collected (open - contractual - cash). ``parts``: (age, amount, in120, in365,
    contractual) arrays of balances (:func:`_collectables`)."""
    cols = ["bucket", "open_cents", "contractual_cents", "collected_120_cents", "not_collected_120_cents",
            "collected_365_cents", "not_collected_365_cents"]
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    age = np.concatenate([p[0] for p in parts])
    # the buckets (-1, 30], (30, 60], (60, 90], (90, 120], (120, inf) of AGING_BUCKETS; an age of -1 or less in none
    bucket = np.searchsorted(np.array([-1, 30, 60, 90, 120]), age, side="left") - 1
    inside = bucket >= 0
    n = len(AGING_BUCKETS)
    amount, in120, in365, contractual = (np.bincount(bucket[inside], weights=np.concatenate(
        [np.broadcast_to(np.asarray(p[i], dtype=float), np.shape(p[0])) for p in parts])[inside], minlength=n)
        for i in (1, 2, 3, 4))
    rest = amount - contractual
    return pd.DataFrame({"bucket": list(AGING_BUCKETS), "open_cents": amount, "contractual_cents": contractual,
                         "collected_120_cents": in120, "not_collected_120_cents": np.clip(rest - in120, 0, None),
                         "collected_365_cents": in365, "not_collected_365_cents": np.clip(rest - in365, 0, None)})


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
    for t in (progress(ends) if progress else ends):
        rows += [r[:-1] for r in _month_end_errors(book, t, fo) if r[-1] <= T]
    df = pd.DataFrame(rows, columns=["month_end", "window", "source", "payer_class", "forecast_cents",
                                     "actual_cents", "log_ratio"])
    # the latest calibration_months month ends that have each window
    keys = ["window", "source", "payer_class"]
    df = df.sort_values(keys + ["month_end"], kind="mergesort")
    return df.groupby(keys, sort=False).tail(fo.calibration_months).reset_index(drop=True)


def _month_end_errors(book: Book, t: pd.Timestamp, fo: ForecastOptions) -> list[tuple]:
    """The errors of the forecast made at month end ``t``, every window's, each row ending with the last day its
    window needs (calibration_errors keeps the windows closed by its as-of date). Nothing here depends on that
    date: memoized on the Book, so the month ends two forecasts share (this month's, last month's) are
    computed once."""
    t_day = day_number(t)
    key = ("errors", t_day, fo)
    if key in book._memo:
        return book._memo[key]
    det = point_forecast(book, t, fo, writeoffs=False)["detail"]
    wins = windows(t)
    n_w = len(wins)
    n_k = len(det) // n_w  # the detail is every window of one (payer, part), then of the next
    expected = det["expected_cents"].to_numpy(dtype=float).reshape(n_k, n_w)
    source = det["part"].to_numpy(object)[::n_w] if n_k else np.array([], dtype=object)
    source = np.array([PARTS[p] for p in source], dtype=object)
    forecasts = {"all cash": expected.sum(axis=0)}
    for s in _SOURCES:
        forecasts[s] = expected[source == s].sum(axis=0)
    opened = source == "open A/R"
    payer_class = np.array([book.class_of(p) for p in det["payer_id"].to_numpy(object)[::n_w]], dtype=object)
    classes = sorted(set(payer_class[opened].tolist()))
    by_class = {cls: expected[opened & (payer_class == cls)].sum(axis=0) for cls in classes}
    # cash posted on each of the _HMAX days after t: in all, on the claims billed by t, by class of who paid
    e = book.ev
    lo, hi = np.searchsorted(e["day"], [t_day, t_day + _HMAX], side="right")
    sel = slice(lo, hi)
    offset = e["day"][sel] - t_day
    cash = e["cash"][sel]
    billed = book.charge_day[e["claim"][sel]] <= t_day
    width = _HMAX + 1
    cum_all = np.cumsum(np.bincount(offset, weights=cash, minlength=width))
    cum_open = np.cumsum(np.bincount(offset[billed], weights=cash[billed], minlength=width))
    class_names = sorted({book.class_of(p) for p in book.parties})
    class_of_party = np.array([class_names.index(book.class_of(p)) for p in book.parties], dtype=np.int64)
    cls = class_of_party[e["party"][sel][billed]] if len(book.parties) else np.zeros(0, dtype=np.int64)
    cum_class = np.cumsum(np.bincount(cls * width + offset[billed], weights=cash[billed],
                                      minlength=len(class_names) * width).reshape(-1, width), axis=1)
    rows = []
    for i, (window, start, end) in enumerate(zip(wins["window"], wins["start_day"], wins["end_day"])):
        start, end = int(start), int(end)
        on_open = float(cum_open[end] - cum_open[start])
        total = float(cum_all[end] - cum_all[start])
        act = {"open A/R": on_open, "new charges": total - on_open, "all cash": total}
        for s in ("open A/R", "new charges", "all cash"):
            f = float(forecasts[s][i]) if n_k else 0.0
            a = act[s]
            rows.append((t, window, s, "all", f, a, math.log(a / f) if a > 0 and f > 0 else np.nan, t_day + end))
        for c in classes:
            f = float(by_class[c][i])
            a = float(cum_class[class_names.index(c), end] - cum_class[class_names.index(c), start]) if (
                c in class_names) else 0.0
            rows.append((t, window, "open A/R", c, f, a, math.log(a / f) if a > 0 and f > 0 else np.nan,
                         t_day + end))
    book._memo[key] = rows
    return rows


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


def _bands(expected: np.ndarray, var: np.ndarray, qs: list, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The interval of each row: the wider of the conformal band (expected x exp(q), ``qs`` the row's quantiles,
    None for none) and expected +- z * sd."""
    z = float(_z(level))
    sd = np.sqrt(np.maximum(var, 0.0))
    low, high = expected - z * sd, expected + z * sd
    has = np.array([q is not None for q in qs], dtype=bool)
    if has.any():
        f_lo = np.array([math.exp(min(q[0], 0.0)) if q is not None else 1.0 for q in qs])
        f_hi = np.array([math.exp(max(q[1], 0.0)) if q is not None else 1.0 for q in qs])
        low = np.where(has, np.minimum(low, expected * f_lo), low)
        high = np.where(has, np.maximum(high, expected * f_hi), high)
    return np.maximum(low, 0.0), high


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _week_start(frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """The first day of each week window (as_of + start_day + 1); NaT for a horizon."""
    start = as_of + pd.to_timedelta(frame["start_day"] + 1, unit="D")
    return start.where(frame["kind"] == "week").astype("datetime64[ns]")


# --------------------------------------------------------------------------------------------- public
@dataclass(frozen=True)
class Forecast:
    """A cash forecast as of a date.

    * ``detail``: one row per window x payer x part: window, kind (horizon, week), start_day, end_day,
      week_start (the first day of a week window), payer_id, payer_name, payer_class, responsibility
      (insurance, patient), part, source (open A/R, new charges), expected_cents, low_cents, high_cents.
    * ``totals``: per window and source (open A/R, new charges, all cash): expected, low and high.
    * ``writeoffs``: by aging bucket, today's open balance and what is not expected to be collected within 120
      and 365 days. ``errors``: the calibration errors the intervals came from.
    """

    as_of: pd.Timestamp
    detail: pd.DataFrame
    totals: pd.DataFrame
    writeoffs: pd.DataFrame
    errors: pd.DataFrame
    open_cents: float
    options: ForecastOptions = field(default_factory=ForecastOptions)

    def summary(self, by: str | None = None, source: str = "open A/R", kind: str = "horizon") -> pd.DataFrame:
        """Expected cash with its interval per window, for ``source`` ('open A/R', 'new charges' or 'all cash'),
        by nothing (the total), 'payer', 'class' (payer class) or 'responsibility'. Rows of a group are summed;
        their interval bounds too (a conservative band: the errors of payers are not independent)."""
        if by is None:
            t = self.totals[self.totals["source"] == source]
            t = t[t["kind"] == kind]
            return t[["window", "start_day", "end_day", "week_start", "expected_cents", "low_cents",
                      "high_cents"]].reset_index(drop=True)
        cols = {"payer": ["payer_id", "payer_name", "payer_class", "responsibility"],
                "class": ["payer_class", "responsibility"], "responsibility": ["responsibility"]}
        if by not in cols:
            raise ValueError(f"by must be None, 'payer', 'class' or 'responsibility', got {by!r}")
        d = self.detail[(self.detail["kind"] == kind)]
        if source != "all cash":
            d = d[d["source"] == source]
        keys = ["window", "start_day", "end_day", "week_start"] + cols[by]
        out = d.groupby(keys, sort=False, dropna=False)[["expected_cents", "low_cents", "high_cents"]].sum()
        return out.reset_index()


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
    # a class's own past errors when it has them, else the practice's (new charges: the practice's)
    q_of = {}
    for key in zip(det["window"], det["source"], det["payer_class"]):
        if key not in q_of:
            q_of[key] = quantiles.get(key) or quantiles.get((key[0], key[1], "all"))
    det["low_cents"], det["high_cents"] = _bands(
        det["expected_cents"].to_numpy(dtype=float), det["var_cents2"].to_numpy(dtype=float),
        [q_of[key] for key in zip(det["window"], det["source"], det["payer_class"])], fo.level)
    tot = _totals(point["detail"])
    tot = tot.merge(windows(as_of), on="window")
    tot["low_cents"], tot["high_cents"] = _bands(
        tot["expected_cents"].to_numpy(dtype=float), tot["var_cents2"].to_numpy(dtype=float),
        [quantiles.get((w, src, "all")) for w, src in zip(tot["window"], tot["source"])], fo.level)
    tot["week_start"] = _week_start(tot, as_of)
    cols = ["window", "kind", "start_day", "end_day", "week_start", "payer_id", "payer_name", "payer_class",
            "responsibility", "part", "source", "expected_cents", "low_cents", "high_cents"]
    tcols = ["window", "kind", "start_day", "end_day", "week_start", "source", "expected_cents", "low_cents",
             "high_cents"]
    return Forecast(as_of, det[cols].reset_index(drop=True), tot[tcols].reset_index(drop=True),
                    point["writeoffs"], errors, point["open_cents"], fo)
