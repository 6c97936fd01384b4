"""The demo practice: a seeded, deterministic generator of a realistic practice's canonical tables.

:func:`generate` returns the canonical frames (payers, claims, claim_lines, remittances, remit_lines,
adjustments, postings, contracts, providers) of one practice over a span of months;
:func:`rcmkit.demo.write_demo` saves them with :mod:`rcmkit.core.store`. The ledger is not generated:
:func:`rcmkit.core.ledger.build_ledger` derives it as for any other source.

The truth is made in steps, each drawing from its own random stream (``numpy.random.default_rng([seed,
stream])``), so the same seed always gives the same tables and changing one step does not reshuffle the others:

1. the patient roster (:func:`patients`): age, payer, chronic conditions, plan design, usual provider;
2. visits on business days, with flu-season seasonality, practice growth and month-to-month noise;
3. claim content: E/M, preventive, annual wellness or nurse visits with labs, procedures, injections and
   vaccines (with their administration codes), modifiers 25 and 59, and 1-4 ICD-10-CM diagnoses. Codes only:
   CPT descriptors are AMA copyright and appear nowhere;
4. pricing: practice charge, payer contract allowed, deductible, coinsurance, copay, Medicare sequestration;
5. claim flow: charge lag, days to pay, denials with real CARCs, corrected claims (frequency 7, or 1 for
   unprocessable ones), duplicate submissions (OA-18), payer reprocessing (a status 22 reversal and the corrected
   payment in the same 835), voids (frequency 8), denial write-offs;
6. patient payments, small-balance and bad-debt write-offs, self-pay discounts.

Every 835 balances: for each service line billed - CAS = paid, for each claim payment billed - all CAS = paid.
Nothing is dated after the last day of the ``end`` month; what would happen later is simply still open.
Practices are data (:class:`Profile`, :class:`PayerSpec` and ``data/demo_fee_schedule.csv``), so a new
practice is a new :data:`PROFILES` entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from rcmkit.core import schema

from rcmkit.demo.profiles import PROFILES, PayerSpec, Profile  # noqa: F401
__all__ = ["generate", "generate_with_truth", "patients", "fee_schedule", "contract_schedule", "TABLES",
           "SEEDED_COLUMNS"]

#: The canonical tables :func:`generate` returns, in this order (no ledger: it is derived).
TABLES = ("payers", "claims", "claim_lines", "remittances", "remit_lines", "adjustments", "postings", "contracts",
          "providers")


# ============================================================================================ clinical content
# Chronic conditions: (ICD-10-CM, prevalence child/adult/senior, weight as principal dx, add-ons when followed up)
_CONDITIONS = (
    ("I10", (0.005, 0.22, 0.60), 3.0, (("80053", 0.25),)),
    ("E119", (0.002, 0.09, 0.24), 3.0, (("83036", 0.6), ("80053", 0.2), ("80061", 0.1))),
    ("E785", (0.0, 0.18, 0.45), 1.5, (("80061", 0.35),)),
    ("E669", (0.08, 0.25, 0.20), 0.3, ()),
    ("F411", (0.03, 0.12, 0.07), 1.5, (("96127", 0.4),)),
    ("F32A", (0.02, 0.08, 0.06), 1.5, (("96127", 0.4),)),
    ("J45909", (0.08, 0.07, 0.06), 1.0, ()),
    ("E039", (0.002, 0.05, 0.14), 1.0, (("84443", 0.5),)),
    ("K219", (0.01, 0.08, 0.15), 0.7, ()),
    ("F17210", (0.0, 0.12, 0.08), 0.4, (("99406", 0.3),)),
    ("N1830", (0.0, 0.01, 0.10), 1.0, (("80053", 0.4),)),
    ("E538", (0.0, 0.01, 0.05), 0.5, (("85025", 0.2),)),
    ("G4733", (0.0, 0.04, 0.07), 0.5, ()),
)
_COND_DX = np.array([c[0] for c in _CONDITIONS], dtype=object)

# Acute problems: (principal dx, weight child/adult/senior, factor at the height of flu season, add-ons)
_REASONS = (
    ("J069", (0.20, 0.10, 0.06), 2.6, ()),
    ("J029", (0.10, 0.05, 0.02), 2.0, (("87880", 0.8),)),
    ("J111", (0.01, 0.008, 0.006), 12.0, (("87804", 0.7),)),
    ("J0190", (0.02, 0.07, 0.05), 2.0, ()),
    ("J209", (0.03, 0.06, 0.07), 2.4, (("94640", 0.1), ("J1030", 0.05))),
    ("R059", (0.04, 0.04, 0.04), 2.2, ()),
    ("H6690", (0.14, 0.01, 0.005), 1.3, ()),
    ("H6123", (0.01, 0.03, 0.06), 1.0, (("69210", 0.9),)),
    ("M5450", (0.0, 0.09, 0.08), 1.0, (("J1885", 0.3),)),
    ("N390", (0.02, 0.06, 0.07), 1.0, (("81002", 0.9),)),
    ("L0291", (0.02, 0.03, 0.02), 1.0, (("10060", 0.7), ("A4550", 0.3))),
    ("B079", (0.04, 0.03, 0.01), 1.0, (("17110", 0.9),)),
    ("J45901", (0.05, 0.03, 0.02), 1.3, (("94640", 0.5), ("J1030", 0.3))),
    ("L309", (0.07, 0.04, 0.03), 1.0, ()),
    ("M25561", (0.02, 0.05, 0.06), 1.0, ()),
    ("R519", (0.02, 0.04, 0.02), 1.0, ()),
    ("R1084", (0.04, 0.04, 0.03), 1.0, (("81002", 0.2),)),
    ("R079", (0.0, 0.03, 0.05), 1.0, (("93000", 0.7),)),
    ("K5900", (0.05, 0.02, 0.04), 1.0, ()),
)

# Add-ons at preventive visits by age group, and at Medicare annual wellness visits
_PREVENTIVE_ADDONS = (
    (("96127", 0.25),),
    (("80053", 0.45), ("85025", 0.40), ("80061", 0.45), ("83036", 0.12), ("84443", 0.10), ("81002", 0.10),
     ("96127", 0.20)),
    (("80053", 0.50), ("85025", 0.45), ("80061", 0.40), ("83036", 0.15), ("84443", 0.15)),
)
_AWV_ADDONS = (("G0444", 0.5), ("99497", 0.12), ("85025", 0.2))

# Vaccines at preventive visits: (code, youngest, oldest, probability, vaccine components). Flu is seasonal.
_VACCINES = (
    ("90700", 0, 6, 0.45, 3), ("90713", 0, 6, 0.40, 1), ("90677", 0, 1, 0.55, 1), ("90633", 1, 2, 0.35, 1),
    ("90707", 1, 6, 0.35, 3), ("90716", 1, 6, 0.35, 1), ("90715", 11, 18, 0.35, 3), ("90734", 11, 18, 0.30, 1),
    ("90651", 9, 26, 0.20, 1), ("90715", 19, 64, 0.05, 3), ("90732", 65, 120, 0.04, 1),
)
_DRUG_UNITS = {"J1885": ((2, 4), (0.6, 0.4)), "J1030": ((1, 2), (0.7, 0.3)), "96127": ((1, 2), (0.7, 0.3))}
_VENOUS_LABS = ("80053", "85025", "80061", "84443")
_NEEDS_25 = ("procedure", "injection", "counseling")  # E/M billed with these carries modifier 25

# E/M level distributions (levels 2..5 of 99202-99205 / 99212-99215)
_EM_ACUTE, _EM_CHRONIC, _EM_COMPLEX, _EM_COMBO = (0.18, 0.58, 0.22, 0.02), (0.05, 0.50, 0.40, 0.05), \
    (0.02, 0.30, 0.55, 0.13), (0.25, 0.55, 0.20, 0.0)
_PREVENTIVE_AGE_EDGES = (1, 5, 12, 18, 40, 65)  # 99381/99391 under 1 ... 99387/99397 65 and over

_SEASON = np.array([1.10, 1.06, 1.00, 0.96, 0.94, 0.92, 0.89, 0.97, 1.00, 1.05, 1.04, 0.96])  # per business day
_FLU_INTENSITY = np.array([0.9, 1.0, 0.6, 0.3, 0.1, 0.0, 0.0, 0.0, 0.1, 0.3, 0.6, 0.9])
_FLU_SHOT_RATE = np.array([0.05, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.20, 0.35, 0.25, 0.10])
_PREVENTIVE_RATE = np.array([0.30, 0.14, 0.13])  # per visit, by age group; at most one per patient and year
_CHRONIC_SHARE = np.array([0.20, 0.55, 0.65])  # problem visits that follow up a chronic condition

# Medicare Part B annual deductible by year (cents); other years use the nearest
_PART_B_DEDUCTIBLE = {2024: 24_000, 2025: 25_700, 2026: 28_300}
# Categories without cost sharing, by payer class (ACA preventive services; Medicare AWV, labs, flu/pneumo shots)
_NO_COST_SHARE = {
    "medicare": ("awv", "screening", "lab", "specimen", "vaccine", "vaccine_admin"),
    "commercial": ("preventive", "screening", "vaccine", "vaccine_admin"),
}


# ============================================================================================ denials (CARC)
@dataclass(frozen=True)
class _Denial:
    """A denial reason (group CO) and what the practice does about it.

    ``scope``: "claim" (claim-level CAS, no service lines), "all" (every line), "line" (one line that matches
    ``targets``, a category or a code; only claims with such a line can get it), "line_or_all" (one matching
    line, else every line). ``fix`` is what the corrected claim changes: "mod25" (the original lacked
    modifier 25 on the E/M), "mod59" (the correction adds 59 to the bundled line), "dx" (the original lacked its
    last diagnosis).
    """

    carc: str
    weight: float
    scope: str
    targets: tuple[str, ...]
    resubmit: float
    frequency: str
    write_off: float
    fix: str = ""
    status4: float = 0.0


_PROCEDURAL = ("procedure", "diagnostic", "injection", "drug")
_DENIALS = (
    _Denial("27", 0.12, "claim", (), 0.50, "7", 0.75),
    _Denial("31", 0.16, "claim", (), 0.90, "1", 0.75, status4=0.35),
    _Denial("197", 0.09, "line_or_all", _PROCEDURAL, 0.85, "7", 0.75),
    _Denial("15", 0.04, "line_or_all", _PROCEDURAL, 0.90, "7", 0.75),
    _Denial("16", 0.22, "all", (), 0.95, "1", 0.75),
    _Denial("4", 0.06, "line", ("em_new", "em_est"), 0.90, "7", 0.75, fix="mod25"),
    _Denial("11", 0.05, "line", ("lab", "procedure", "diagnostic", "drug"), 0.75, "7", 0.75, fix="dx"),
    _Denial("97", 0.08, "line", ("36415", "96372", "A4550", "81002", "99406", "96127", "90472", "94640"),
            0.40, "7", 0.85, fix="mod59"),
    _Denial("96", 0.05, "line", ("A4550", "99406", "96127", "99497", "G0444"), 0.10, "7", 0.90),
    _Denial("50", 0.06, "line", ("lab", "diagnostic", "drug", "procedure"), 0.30, "7", 0.85),
    _Denial("29", 0.0, "all", (), 0.0, "7", 0.90),  # timely filing: follows from a late submission only
)
_CARCS = tuple(d.carc for d in _DENIALS)
_TIMELY = _CARCS.index("29")
# Line CAS columns of a priced line: (column, group, reason)
_LINE_CAS = (("co45", "CO", "45"), ("co253", "CO", "253"), ("pr1", "PR", "1"), ("pr2", "PR", "2"),
             ("pr3", "PR", "3"), ("den", "CO", None), ("oa18", "OA", "18"))
_MONEY = ("charge", "allowed", "paid", "co45", "co253", "pr1", "pr2", "pr3", "den", "oa18")

# Random streams, one per step
_S_ROSTER, _S_PROVIDERS, _S_VISITS, _S_SUBMIT, _S_CONTENT, _S_DENY, _S_FLOW, _S_PATIENT, _S_ERRORS = range(1, 10)

_FIRST_F = ("Mary", "Linda", "Susan", "Karen", "Lisa", "Nancy", "Sarah", "Emily", "Jessica", "Ashley", "Emma",
            "Olivia", "Sophia", "Ava", "Mia")
_FIRST_M = ("James", "John", "Robert", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Daniel",
            "Noah", "Liam", "Ethan", "Mason", "Lucas")
_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
         "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
         "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright")


# ============================================================================================ reference data
@lru_cache(maxsize=1)
def _fees() -> pd.DataFrame:
    with (resources.files("rcmkit") / "data" / "demo_fee_schedule.csv").open("r", encoding="utf-8") as fh:
        fees = pd.read_csv(fh, comment="#", dtype={"procedure_code": str, "category": str})
    return fees.set_index("procedure_code", drop=False)


def fee_schedule() -> pd.DataFrame:
    """The demo practice's charge and the reference allowed amount of each code, in cents per unit."""
    return _fees().reset_index(drop=True).copy()


def contract_schedule(profile: str = "family_medicine") -> pd.DataFrame:
    """Each insurer's contracted allowed amount per unit (cents) by code: what the demo payers *should* allow.

    Payers pay the lesser of the charge and this amount; the profile's underpaying payer allows less on its
    ``underpaid_codes``, which a reimbursement report comparing expected with actual should find.
    """
    prof = _profile(profile)
    fees = fee_schedule()
    rows = [
        pd.DataFrame({
            "payer_id": p.payer_id,
            "procedure_code": fees["procedure_code"],
            "allowed_cents": np.rint(fees["reference_allowed_cents"] * p.fee_factor).astype(np.int64),
        })
        for p in prof.payers
        if p.payer_class != "self_pay"
    ]
    return pd.concat(rows, ignore_index=True)


def _profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown demo profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


# ============================================================================================ small helpers
def _rng(seed: int, stream: int) -> np.random.Generator:
    """The random stream of one generation step."""
    return np.random.default_rng([seed, stream])


def _choice_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row of ``weights`` (non-negative, rows need not sum to 1)."""
    w = np.asarray(weights, dtype=float)
    if len(w) == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), w.shape[1] - 1)


def _first_in(mask: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """``mask`` kept only on its first row of each key combination (rows are in time order)."""
    idx = np.flatnonzero(mask)
    dup = pd.DataFrame({i: np.asarray(k)[idx] for i, k in enumerate(keys)}).duplicated().to_numpy()
    out = mask.copy()
    out[idx[dup]] = False
    return out


def _pick(rng: np.random.Generator, mask: np.ndarray, count: int) -> np.ndarray:
    """A mask of ``count`` rows (or all, if fewer) drawn without replacement from the rows of ``mask``."""
    idx = np.flatnonzero(mask)
    out = np.zeros(len(mask), dtype=bool)
    out[rng.choice(idx, size=min(count, len(idx)), replace=False)] = True
    return out


def _lognormal_days(rng: np.random.Generator, median: np.ndarray | float, sigma: float, size: int) -> np.ndarray:
    return rng.lognormal(np.log(median), sigma, size)


def _age_group(age_years: np.ndarray) -> np.ndarray:
    """0 child (under 18), 1 adult (18-64), 2 senior (65+)."""
    return np.digitize(age_years, (18, 65))


def _year(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype=np.int64).view("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _to_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01) as ``datetime64[ns]`` dates."""
    return np.asarray(days, dtype=np.int64).view("datetime64[D]").astype("datetime64[ns]")


def _holidays(years: range) -> np.ndarray:
    """Days a US practice and payers are closed: New Year, Memorial Day, July 4, Labor Day, Thanksgiving,
    Christmas."""
    days = []
    for y in years:
        days += [f"{y}-01-01", f"{y}-07-04", f"{y}-12-25"]
        days.append(np.busday_offset(f"{y}-05-31", 0, roll="backward", weekmask="Mon"))
        days.append(np.busday_offset(f"{y}-09-01", 0, roll="forward", weekmask="Mon"))
        days.append(np.busday_offset(f"{y}-11-01", 3, roll="forward", weekmask="Thu"))
    return np.array(days, dtype="datetime64[D]")


@dataclass(frozen=True)
class _Calendar:
    """The span of the data. Days are integers (days since 1970-01-01) throughout the generator."""

    month_starts: np.ndarray  # first day of each month, plus the first day after the span
    holidays: np.ndarray

    @classmethod
    def span(cls, start: str, end: str) -> _Calendar:
        try:
            first, last = np.datetime64(start, "M"), np.datetime64(end, "M")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"start and end must be months like '2025-01'; got {start!r} and {end!r}") from exc
        if last < first:
            raise ValueError(f"end {end!r} is before start {start!r}")
        months = np.arange(first, last + 2)
        years = range(int(str(first)[:4]), int(str(last)[:4]) + 3)
        return cls(months.astype("datetime64[D]").astype(np.int64), _holidays(years))

    @property
    def first(self) -> int:
        return int(self.month_starts[0])

    @property
    def last(self) -> int:
        """The last day of the data: nothing is dated after it."""
        return int(self.month_starts[-1]) - 1

    @property
    def n_months(self) -> int:
        return len(self.month_starts) - 1

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Index of the month holding each day (days after the span count in its last month)."""
        return np.clip(np.searchsorted(self.month_starts, days, side="right") - 1, 0, self.n_months - 1)

    def month_of_year(self) -> np.ndarray:
        """0 (January) .. 11 (December) of each month of the span."""
        return self.month_starts[:-1].view("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12

    def business_days(self) -> np.ndarray:
        starts = self.month_starts.view("datetime64[D]")
        return np.busday_count(starts[:-1], starts[1:], holidays=self.holidays)

    def roll(self, days: np.ndarray) -> np.ndarray:
        """Each day, or the next business day when it is a weekend or holiday."""
        d = np.asarray(np.floor(days), dtype=np.int64).view("datetime64[D]")
        return np.busday_offset(d, 0, roll="forward", holidays=self.holidays).astype(np.int64)


# ============================================================================================ 1. patients
@dataclass(frozen=True)
class _Roster:
    """The patient panel: the public roster plus the traits the generator needs."""

    frame: pd.DataFrame
    birth: np.ndarray  # day numbers
    payer: np.ndarray  # index into the profile's payers
    conditions: np.ndarray  # bool, patients x _CONDITIONS
    weight: np.ndarray  # relative visit frequency
    pcp: np.ndarray  # index of the usual rendering provider
    is_new: np.ndarray  # the first visit in the data is a new-patient visit
    hdhp: np.ndarray  # commercial deductible plan
    copay: np.ndarray  # cents per office visit (0: none)
    deductible: np.ndarray  # annual deductible in cents (deductible plans)
    other_spend: np.ndarray  # cents a year met toward the deductible at other providers


def _roster(seed: int, n_claims: int, cal: _Calendar, prof: Profile) -> _Roster:
    rng = _rng(seed, _S_ROSTER)
    n = max(1, round(n_claims / (prof.visits_per_patient_year * cal.n_months / 12)))
    bands = np.array(prof.age_bands, dtype=float)
    band = rng.choice(len(bands), size=n, p=bands[:, 2] / bands[:, 2].sum())
    age = bands[band, 0] + rng.random(n) * (bands[band, 1] + 1 - bands[band, 0])
    group = _age_group(age)
    payer = _choice_rows(rng, np.array([p.mix for p in prof.payers]).T[group])
    cls = np.array([p.payer_class for p in prof.payers])[payer]
    prevalence = np.array([c[1] for c in _CONDITIONS]).T  # 3 x conditions
    conditions = rng.random((n, len(_CONDITIONS))) < prevalence[group]
    weight = rng.gamma(1.5, 1.0, n) * np.array([0.9, 0.8, 1.3])[group] * (1 + 0.25 * conditions.sum(axis=1))
    hdhp = (cls == "commercial") & (rng.random(n) < prof.hdhp_share)
    copay = np.where((cls == "commercial") & ~hdhp, rng.choice([2500, 3000, 4000], n), 0)
    copay = np.where((cls == "medicaid") & (group > 0) & (rng.random(n) < prof.medicaid_copay_share), 300, copay)
    sex = np.where(rng.random(n) < 0.52, "F", "M")
    first = np.where(sex == "F", np.array(_FIRST_F)[rng.integers(0, len(_FIRST_F), n)],
                     np.array(_FIRST_M)[rng.integers(0, len(_FIRST_M), n)])
    member = rng.integers(10**8, 10**9, n)
    birth = cal.first - np.floor(age * 365.25).astype(np.int64)
    frame = pd.DataFrame({
        "patient_key": [f"P{i:06d}" for i in range(1, n + 1)],
        "first_name": first,
        "last_name": np.array(_LAST)[rng.integers(0, len(_LAST), n)],
        "sex": sex,
        "birth_date": _to_dates(birth),
        "payer_id": np.array([p.payer_id for p in prof.payers], dtype=object)[payer],
        "member_id": np.where(cls == "self_pay", None, [f"ZZ{m}" for m in member]),
    })
    return _Roster(
        frame=frame, birth=birth, payer=payer, conditions=conditions, weight=weight,
        pcp=rng.choice(len(prof.providers), size=n, p=np.array(prof.providers) / sum(prof.providers)),
        is_new=rng.random(n) < prof.new_patient_share, hdhp=hdhp, copay=copay,
        deductible=np.where(hdhp, rng.choice([150_000, 250_000, 300_000], n), 0),
        other_spend=rng.lognormal(np.log(60_000), 0.9, n),
    )


def patients(seed: int = 7, *, n_claims: int | None = None, start: str = "2025-01", end: str = "2026-10",
             profile: str = "family_medicine") -> pd.DataFrame:
    """The demo's patient roster, keyed by ``patient_key``, for the same arguments as :func:`generate`.

    Columns: patient_key, first_name, last_name, sex, birth_date, payer_id, member_id (None for self-pay).
    Names come from short lists of common names and member IDs start with "ZZ": obviously fake. This roster is
    not a canonical table (canonical tables hold the pseudonymous patient_key only); it exists for writers of
    source formats (837/835) and for tests that no name or member ID leaks into the canonical tables.
    """
    prof = _profile(profile)
    n = prof.n_claims if n_claims is None else n_claims
    return _roster(seed, n, _Calendar.span(start, end), prof).frame.copy()


def _npis(rng: np.random.Generator, k: int) -> list[str]:
    """``k`` distinct valid-looking NPIs: 10 digits starting with 1, Luhn check digit over prefix 80840."""
    bases = 10**8 + rng.choice(10**8, size=k, replace=False)
    return [f"{b}{_npi_check_digit(str(b))}" for b in bases]


def _npi_check_digit(base9: str) -> int:
    total = 24  # the digits of the 80840 prefix, doubled as the Luhn rule asks
    for i, ch in enumerate(reversed(base9)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return (10 - total % 10) % 10


# ============================================================================================ 2. visits
def _visits(rng: np.random.Generator, roster: _Roster, prof: Profile, cal: _Calendar, n: int) -> pd.DataFrame:
    """One row per visit in service order: who, when, with whom, and what kind of visit."""
    nbus, moy = cal.business_days(), cal.month_of_year()
    growth = (1 + prof.annual_growth) ** (np.arange(cal.n_months) / 12)
    weight = nbus * _SEASON[moy] * growth * np.exp(rng.normal(0, 0.05, cal.n_months))
    month = np.repeat(np.arange(cal.n_months), rng.multinomial(n, weight / weight.sum()))
    offset = np.floor(rng.random(n) * nbus[month]).astype(np.int64)
    service = np.busday_offset(cal.month_starts[month].view("datetime64[D]"), offset, roll="forward",
                               holidays=cal.holidays).astype(np.int64)
    patient = rng.choice(len(roster.weight), size=n, p=roster.weight / roster.weight.sum())
    order = np.lexsort((patient, service))
    service, patient, month = service[order], patient[order], month[order]
    providers = np.array(prof.providers) / sum(prof.providers)
    provider = np.where(rng.random(n) < 0.85, roster.pcp[patient], rng.choice(len(providers), size=n, p=providers))
    age = ((service - roster.birth[patient]) / 365.25).astype(np.int64)
    v = pd.DataFrame({
        "patient": patient, "service": service, "month": month, "moy": moy[month], "age": age,
        "group": _age_group(age), "payer": roster.payer[patient], "provider": provider,
        "new": ~pd.Series(patient).duplicated().to_numpy() & roster.is_new[patient],
        "year": _year(service),
    })
    classes = np.array([p.payer_class for p in prof.payers])
    return _visit_kinds(rng, v, roster.conditions[patient], classes[v["payer"]])


def _visit_kinds(rng: np.random.Generator, v: pd.DataFrame, cond: np.ndarray, cls: np.ndarray) -> pd.DataFrame:
    """Flu shot, nurse visit (1 flu, 2 B12, 3 blood pressure), preventive/AWV, chronic follow-up or acute."""
    n, moy, group, patient = len(v), v["moy"].to_numpy(), v["group"].to_numpy(), v["patient"].to_numpy()
    season = v["year"].to_numpy() - (moy < 7)
    flu = _first_in(rng.random(n) < _FLU_SHOT_RATE[moy], patient, season)
    r = rng.random((n, 6))
    nurse = np.zeros(n, dtype=np.int64)
    nurse[flu & (r[:, 0] < 0.4)] = 1
    nurse[(nurse == 0) & cond[:, _cond("E538")] & (r[:, 1] < 0.4)] = 2
    nurse[(nurse == 0) & cond[:, _cond("I10")] & (r[:, 2] < 0.03)] = 3
    p_prev = _PREVENTIVE_RATE[group] * np.where((group == 0) & (moy == 7), 1.6, 1.0)
    preventive = _first_in((nurse == 0) & (r[:, 3] < p_prev), patient, v["year"].to_numpy())
    has_cond = cond.any(axis=1)
    problem = (nurse == 0) & ~preventive
    chronic = problem & has_cond & (r[:, 4] < _CHRONIC_SHARE[group])
    acute = problem & ~chronic
    reason = np.full(n, -1)
    reason[acute] = _choice_rows(rng, _reason_weights(group[acute], moy[acute]))
    return v.assign(
        flu=flu, nurse=nurse, preventive=preventive, awv=preventive & (cls == "medicare"),
        combo=preventive & has_cond & (r[:, 5] < 0.12), chronic=chronic, acute=acute, reason=reason,
        n_cond=cond.sum(axis=1),
    )


def _cond(dx: str) -> int:
    return [c[0] for c in _CONDITIONS].index(dx)


def _reason_weights(group: np.ndarray, moy: np.ndarray) -> np.ndarray:
    base = np.array([r[1] for r in _REASONS]).T[group]  # visits x reasons
    flu_factor = np.array([r[2] for r in _REASONS])
    return base * (1 + (flu_factor[None, :] - 1) * _FLU_INTENSITY[moy][:, None])


# ============================================================================================ 3. claims
def _submit(rng: np.random.Generator, v: pd.DataFrame, seed: int, roster: _Roster, prof: Profile,
            cal: _Calendar) -> pd.DataFrame:
    """Charge lag and submission; keeps the visits billed by the end of the span, numbered in billing order."""
    n = len(v)
    cls = np.array([p.payer_class for p in prof.payers])[v["payer"]]
    lag = np.minimum(np.floor(_lognormal_days(rng, 2.0, 0.95, n)), 45)
    late = np.isin(cls, ("medicaid", "commercial")) & (rng.random(n) < 0.004)
    lag = np.where(late, 95 + rng.integers(0, 100, n), lag)
    submitted = cal.roll(v["service"].to_numpy() + lag)
    c = v.assign(submitted=submitted, late=late, cls=cls)[submitted <= cal.last]
    c = c.sort_values(["submitted", "service", "patient"], kind="stable").reset_index(drop=True)
    npis = _npis(_rng(seed, _S_PROVIDERS), len(prof.providers) + 1)
    return c.assign(
        claim_id=[f"DEMO{i:07d}" for i in range(1, len(c) + 1)],
        patient_key=roster.frame["patient_key"].to_numpy()[c["patient"].to_numpy()],
        payer_id=np.array([p.payer_id for p in prof.payers], dtype=object)[c["payer"].to_numpy()],
        billing_npi=npis[0],
        rendering_npi=np.array(npis[1:], dtype=object)[c["provider"].to_numpy()],
    )


class _LineBuilder:
    """Collects service lines; lines sort by category rank, then by the order they were added."""

    _RANK = {"em_new": 0, "em_est": 0, "preventive": 0, "awv": 0, "procedure": 1, "diagnostic": 2, "supply": 3,
             "injection": 4, "drug": 5, "counseling": 6, "screening": 7, "vaccine_admin": 8, "vaccine": 9,
             "specimen": 10, "lab": 11}

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, claims: np.ndarray, codes, units=1.0, modifiers="") -> None:
        claims = np.asarray(claims)
        self._parts.append(pd.DataFrame({
            "claim": claims,
            "code": np.broadcast_to(np.asarray(codes, dtype=object), claims.shape),
            "units": np.broadcast_to(np.asarray(units, dtype=float), claims.shape),
            "modifiers": np.broadcast_to(np.asarray(modifiers, dtype=object), claims.shape),
        }))

    def frame(self) -> pd.DataFrame:
        fees = _fees()
        lines = pd.concat(self._parts, ignore_index=True)
        lines = lines[lines["code"] != ""]
        category = fees["category"].reindex(lines["code"]).to_numpy()
        rank = pd.Series(category).map(self._RANK).to_numpy()
        lines = lines.assign(category=category).iloc[np.lexsort((rank, lines["claim"].to_numpy()))]
        charge = fees["charge_cents"].reindex(lines["code"]).to_numpy() * lines["units"].to_numpy()
        return lines.assign(
            line_number=lines.groupby("claim").cumcount().to_numpy() + 1,
            charge=np.rint(charge).astype(np.int64),
        ).reset_index(drop=True)


def _content(rng: np.random.Generator, c: pd.DataFrame, roster: _Roster) -> tuple[pd.DataFrame, list[list[str]]]:
    """Service lines (claim, line_number, code, category, units, modifiers, charge) and diagnoses per claim."""
    cond = roster.conditions[c["patient"].to_numpy()]
    addons, addon_codes = _addons(rng, c, cond)
    vaccines = _vaccines(rng, c)
    b = _LineBuilder()
    claims = np.arange(len(c))
    b.add(claims, _primary_codes(rng, c))
    combo = np.flatnonzero(c["combo"].to_numpy())
    b.add(combo, _EST_EM[_choice_rows(rng, np.tile(_EM_COMBO, (len(combo), 1)))], modifiers="25")
    for j, code in enumerate(addon_codes):
        rows = np.flatnonzero(addons[:, j])
        b.add(rows, code, units=_units(rng, code, len(rows)))
    drugs = addons[:, [k for k, code in enumerate(addon_codes) if code.startswith("J")]].sum(axis=1)
    venous = addons[:, [addon_codes.index(code) for code in _VENOUS_LABS]].any(axis=1)
    b.add(np.flatnonzero(venous), "36415")
    _add_vaccines(b, c, vaccines)
    vaccinated = np.zeros(len(c), dtype=bool)
    vaccinated[[i for i, _ in vaccines]] = True
    injected = drugs > 0  # 96372 with a vaccine administration is an NCCI pair: it carries 59
    b.add(np.flatnonzero(injected), "96372", units=drugs[injected], modifiers=np.where(vaccinated[injected], "59", ""))
    return _modifier_25(b.frame()), _diagnoses(rng, c, cond, vaccinated)


_NEW_EM = np.array(["99202", "99203", "99204", "99205"], dtype=object)
_EST_EM = np.array(["99212", "99213", "99214", "99215"], dtype=object)


def _primary_codes(rng: np.random.Generator, c: pd.DataFrame) -> np.ndarray:
    """The visit's main code: preventive by age, AWV, an E/M by complexity, 99211 for a nurse visit, or none."""
    n = len(c)
    new, age = c["new"].to_numpy(), c["age"].to_numpy()
    code = np.full(n, "", dtype=object)
    band = np.searchsorted(_PREVENTIVE_AGE_EDGES, age, side="right") + 1
    prev = c["preventive"].to_numpy() & ~c["awv"].to_numpy()
    code[prev] = [f"993{8 if nw else 9}{b}" for nw, b in zip(new[prev], band[prev])]
    awv = c["awv"].to_numpy()
    code[awv] = np.where(new[awv], "G0438", "G0439")
    levels = np.select([c["acute"].to_numpy(), c["n_cond"].to_numpy() >= 3], [0, 2], 1)
    dist = np.array([_EM_ACUTE, _EM_CHRONIC, _EM_COMPLEX])[levels]
    level = _choice_rows(rng, dist)
    problem = (c["acute"] | c["chronic"]).to_numpy()
    code[problem] = np.where(new, _NEW_EM[level], _EST_EM[level])[problem]
    code[c["nurse"].to_numpy() == 3] = "99211"
    return code


def _addon_matrix() -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Add-on codes and their probabilities by acute reason, condition, preventive age group and AWV."""
    sources = [r[3] for r in _REASONS] + [c[3] for c in _CONDITIONS] + list(_PREVENTIVE_ADDONS) + [_AWV_ADDONS]
    codes = tuple(dict.fromkeys(["J3420"] + [code for src in sources for code, _ in src]))

    def table(rows) -> np.ndarray:
        out = np.zeros((len(rows), len(codes)))
        for i, row in enumerate(rows):
            for code, p in row:
                out[i, codes.index(code)] = p
        return out

    return (codes, table([r[3] for r in _REASONS]), table([c[3] for c in _CONDITIONS]),
            table(_PREVENTIVE_ADDONS), table([_AWV_ADDONS])[0])


def _addons(rng: np.random.Generator, c: pd.DataFrame, cond: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Which add-on codes each claim carries (bool claims x codes), combining the visit's independent reasons."""
    codes, by_reason, by_cond, by_prev, awv_p = _addon_matrix()
    n = len(c)
    acute, awv = c["acute"].to_numpy(), c["awv"].to_numpy()
    preventive = c["preventive"].to_numpy() & ~awv
    p_reason = np.where(acute[:, None], by_reason[np.maximum(c["reason"].to_numpy(), 0)], 0.0)
    intensity = np.select([c["chronic"].to_numpy(), awv, preventive], [1.0, 0.6, 0.5], 0.0)
    p_cond = 1 - np.exp((cond.astype(float) @ np.log1p(-by_cond)) * intensity[:, None])
    p_prev = np.where(preventive[:, None], by_prev[c["group"].to_numpy()], 0.0) + np.where(awv[:, None], awv_p, 0.0)
    p = 1 - (1 - p_reason) * (1 - p_cond) * (1 - p_prev)
    p[c["cls"].to_numpy() == "medicare", codes.index("A4550")] = 0.0  # Medicare bundles the tray
    flags = rng.random((n, len(codes))) < p
    flags[c["nurse"].to_numpy() > 0] = False
    flags[:, codes.index("J3420")] = c["nurse"].to_numpy() == 2
    flags[:, codes.index("A4550")] &= flags[:, codes.index("10060")] | flags[:, codes.index("17110")]
    return flags, codes


def _units(rng: np.random.Generator, code: str, n: int) -> np.ndarray | float:
    if code not in _DRUG_UNITS:
        return 1.0
    values, probs = _DRUG_UNITS[code]
    return rng.choice(np.array(values, dtype=float), size=n, p=probs)


def _vaccines(rng: np.random.Generator, c: pd.DataFrame) -> list[tuple[int, list[tuple[str, int]]]]:
    """The vaccines given at each claim that has any: [(claim, [(code, components), ...]), ...]."""
    age, n = c["age"].to_numpy(), len(c)
    min_age, max_age = np.array([v[1] for v in _VACCINES]), np.array([v[2] for v in _VACCINES])
    p = np.array([v[3] for v in _VACCINES])[None, :] * (
        (age[:, None] >= min_age) & (age[:, None] <= max_age) & c["preventive"].to_numpy()[:, None])
    given = rng.random((n, len(_VACCINES))) < p
    flu = c["flu"].to_numpy()
    flu_code = np.where(age >= 65, "90662", np.where(rng.random(n) < 0.75, "90686", "90688"))
    out = []
    for i in np.flatnonzero(flu | given.any(axis=1)):
        shots = [(flu_code[i], 1)] if flu[i] else []
        shots += [(_VACCINES[j][0], _VACCINES[j][4]) for j in np.flatnonzero(given[i])]
        out.append((int(i), shots))
    return out


def _add_vaccines(b: _LineBuilder, c: pd.DataFrame, vaccines: list[tuple[int, list[tuple[str, int]]]]) -> None:
    """Vaccine lines and their administration codes: G0008/G0009 for Medicare flu/pneumococcal, 90460/90461
    with counseling under 19, 90471/90472 otherwise."""
    age, cls = c["age"].to_numpy(), c["cls"].to_numpy()
    rows: list[tuple[int, str, float]] = []
    for i, shots in vaccines:
        codes = [code for code, _ in shots]
        rows += [(i, code, 1.0) for code in codes]
        if cls[i] == "medicare":
            rows += [(i, "G0008", 1.0)] if "90662" in codes else []
            rows += [(i, "G0009", 1.0)] if "90732" in codes else []
            others = len([code for code in codes if code not in ("90662", "90732")])
        elif age[i] < 19:
            extra = sum(k - 1 for _, k in shots)
            rows += [(i, "90460", float(len(codes)))] + ([(i, "90461", float(extra))] if extra else [])
            others = 0
        else:
            others = len(codes)
        rows += [(i, "90471", 1.0)] if others else []
        rows += [(i, "90472", float(others - 1))] if others > 1 else []
    if rows:
        claim, code, units = zip(*rows)
        b.add(np.array(claim), np.array(code, dtype=object), units=np.array(units))


def _modifier_25(lines: pd.DataFrame) -> pd.DataFrame:
    """Modifier 25 on a claim's first E/M when the claim also carries a procedure, injection or counseling."""
    needs = lines["category"].isin(_NEEDS_25).groupby(lines["claim"]).transform("any").to_numpy()
    mods = np.where(_first_office_visit(lines) & needs & (lines["modifiers"] == ""), "25", lines["modifiers"])
    return lines.assign(modifiers=mods.astype(object))


def _first_office_visit(lines: pd.DataFrame) -> np.ndarray:
    """The first E/M line of each claim (where a copay or modifier 25 goes)."""
    em = lines["category"].isin(("em_new", "em_est")).to_numpy()
    first = np.zeros(len(lines), dtype=bool)
    idx = np.flatnonzero(em)
    first[idx[~pd.Series(lines["claim"].to_numpy()[idx]).duplicated().to_numpy()]] = True
    return first


def _diagnoses(rng: np.random.Generator, c: pd.DataFrame, cond: np.ndarray, vaccinated: np.ndarray) -> list[list[str]]:
    """1-4 ICD-10-CM codes per claim, principal first: the visit's reason, Z23 with vaccines, chronic conditions."""
    n = len(c)
    group, nurse = c["group"].to_numpy(), c["nurse"].to_numpy()
    r = rng.random(n)
    principal = np.full(n, "", dtype=object)
    prev = c["preventive"].to_numpy()
    principal[prev] = np.where(group == 0, np.where(r < 0.9, "Z00129", "Z00121"),
                               np.where(r < 0.85, "Z0000", "Z0001"))[prev]
    principal[nurse == 1], principal[nurse == 2], principal[nurse == 3] = "Z23", "E538", "I10"
    acute = c["acute"].to_numpy()
    principal[acute] = np.array([x[0] for x in _REASONS], dtype=object)[c["reason"].to_numpy()[acute]]
    chronic = c["chronic"].to_numpy()
    weights = cond[chronic] * np.array([x[2] for x in _CONDITIONS])
    main = _choice_rows(rng, weights)
    principal[chronic] = _COND_DX[main]
    score = np.where(cond, rng.random(cond.shape), -1.0)
    score[np.flatnonzero(chronic), main] = -1.0
    ranked = np.argsort(-score, axis=1, kind="stable")
    available = (score >= 0).sum(axis=1)
    k = np.select([chronic, acute | prev | c["combo"].to_numpy()], [1 + rng.integers(0, 3, n),
                                                                     rng.integers(0, 3, n)], 0)
    k = np.minimum(k, available)
    z23 = vaccinated & (principal != "Z23")
    return [
        list(dict.fromkeys([principal[i]] + ["Z23"] * int(z23[i]) + list(_COND_DX[ranked[i, :k[i]]])))[:4]
        for i in range(n)
    ]


# ============================================================================================ 4. pricing
def _price(lines: pd.DataFrame, c: pd.DataFrame, roster: _Roster, prof: Profile) -> pd.DataFrame:
    """A clean adjudication of every line: allowed, CO-45, PR-1/2/3, CO-253 and paid (cents)."""
    claim = lines["claim"].to_numpy()
    payer = c["payer"].to_numpy()[claim]
    cls = c["cls"].to_numpy()[claim]
    insured = cls != "self_pay"
    allowed = np.where(insured, np.minimum(lines["charge"].to_numpy(), _contract(lines, c, prof)), 0)
    exempt = _exempt(lines, c, cls)
    patient = c["patient"].to_numpy()[claim]
    copay_line = (roster.copay[patient] > 0) & _first_office_visit(lines)
    pr3 = np.where(copay_line, np.minimum(roster.copay[patient], allowed), 0)
    deductible_plan = (cls == "medicare") | roster.hdhp[patient]
    eligible = np.where(deductible_plan & ~exempt, allowed, 0)
    claim_eligible = np.bincount(claim, weights=eligible, minlength=len(c)).astype(np.int64)
    claim_deductible = _deductible(c, claim_eligible, roster)
    before = pd.Series(eligible).groupby(claim).cumsum().to_numpy() - eligible
    pr1 = np.clip(claim_deductible[claim] - before, 0, eligible)
    pr2 = np.rint(0.2 * (eligible - pr1)).astype(np.int64)
    seq_rate = np.array([p.sequestration for p in prof.payers])[payer]
    co253 = np.rint(seq_rate * (allowed - pr1 - pr2 - pr3)).astype(np.int64)
    return lines.assign(
        allowed=allowed, co45=np.where(insured, lines["charge"].to_numpy() - allowed, 0), co253=co253,
        pr1=pr1, pr2=pr2, pr3=pr3, paid=allowed - pr1 - pr2 - pr3 - co253, den=0, oa18=0,
    )


def _contract(lines: pd.DataFrame, c: pd.DataFrame, prof: Profile) -> np.ndarray:
    """Each line's contracted allowed amount, with the underpaying payer's shortfall on its codes."""
    claim = lines["claim"].to_numpy()
    payer = c["payer"].to_numpy()[claim]
    ref = _fees()["reference_allowed_cents"].reindex(lines["code"]).to_numpy() * lines["units"].to_numpy()
    factor = np.array([p.fee_factor for p in prof.payers])[payer]
    for k, p in enumerate(prof.payers):
        if p.underpaid_codes:
            since = np.datetime64(p.underpaid_from, "M").astype("datetime64[D]").astype(np.int64)
            hit = (payer == k) & lines["code"].isin(p.underpaid_codes).to_numpy()
            factor = np.where(hit & (c["service"].to_numpy()[claim] >= since), factor * p.underpaid_factor, factor)
    return np.rint(ref * factor).astype(np.int64)


def _exempt(lines: pd.DataFrame, c: pd.DataFrame, cls: np.ndarray) -> np.ndarray:
    """Lines without deductible or coinsurance: preventive services, vaccines, Medicare labs and AWVs."""
    category = lines["category"].to_numpy()
    exempt = np.zeros(len(lines), dtype=bool)
    for payer_class, categories in _NO_COST_SHARE.items():
        exempt |= (cls == payer_class) & np.isin(category, categories)
    at_preventive = c["preventive"].to_numpy()[lines["claim"].to_numpy()]
    return exempt | ((cls == "commercial") & at_preventive & np.isin(category, ("lab", "specimen")))


def _deductible(c: pd.DataFrame, eligible: np.ndarray, roster: _Roster) -> np.ndarray:
    """Deductible applied to each claim: what is left of the patient's annual deductible, in service order."""
    patient, service = c["patient"].to_numpy(), c["service"].to_numpy()
    year = _year(service)
    known_years = np.array(sorted(_PART_B_DEDUCTIBLE))
    nearest = np.clip(np.searchsorted(known_years, year), 0, len(known_years) - 1)
    part_b = np.array([_PART_B_DEDUCTIBLE[y] for y in known_years])[nearest]
    annual = np.where(c["cls"].to_numpy() == "medicare", part_b, roster.deductible[patient])
    year_start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    met_elsewhere = roster.other_spend[patient] * (service - year_start) / 365.25
    order = np.lexsort((np.arange(len(c)), service, year, patient))
    elig = eligible[order]
    before = pd.Series(elig).groupby([patient[order], year[order]]).cumsum().to_numpy() - elig
    remaining = np.clip(annual[order] - met_elsewhere[order] - before, 0, None)
    out = np.empty(len(c), dtype=np.int64)
    out[order] = np.rint(np.minimum(remaining, elig)).astype(np.int64)
    return out


# ============================================================================================ 5. denials
def _deny(rng: np.random.Generator, c: pd.DataFrame, lines: pd.DataFrame, n_dx: np.ndarray, prof: Profile,
          cal: _Calendar) -> pd.DataFrame:
    """Denial of each claim's first adjudication: kind (index into _DENIALS, -1 none), scope, target line, CLP02.

    A denied claim draws its reason among those that fit it (a bundling denial needs a bundle-prone line), with
    the payer's weights; a month factor makes some months worse than others.
    """
    m = len(c)
    insured = c["cls"].to_numpy() != "self_pay"
    late = c["late"].to_numpy()
    payer = c["payer"].to_numpy()
    month_factor = rng.lognormal(0, 0.2, cal.n_months)
    rate = np.array([p.denial_rate for p in prof.payers])[payer] * month_factor[cal.month_of(c["submitted"])]
    denied = insured & ~late & (rng.random(m) < rate)
    fits = _line_fits(lines, n_dx)
    claim = lines["claim"].to_numpy()
    applicable = np.ones((m, len(_DENIALS)), dtype=bool)
    for k, d in enumerate(_DENIALS):
        if d.scope == "line":
            applicable[:, k] = np.bincount(claim, weights=fits[:, k], minlength=m) > 0
    kind = np.full(m, -1)
    kind[denied] = _choice_rows(rng, (_denial_weights(prof)[payer] * applicable)[denied])
    kind[insured & late] = _TIMELY
    target = _target_lines(rng, lines, fits, kind)
    scope = np.array([d.scope for d in _DENIALS] + [""], dtype=object)[kind]
    scope = np.where((scope == "line_or_all") & (target == 0), "all", scope)
    scope = np.where(scope == "line_or_all", "line", scope)
    status4 = np.array([d.status4 for d in _DENIALS] + [0.0])[kind]
    return pd.DataFrame({"kind": kind, "scope": scope, "target": target,
                         "status": np.where(rng.random(m) < status4, "4", "1")})


def _denial_weights(prof: Profile) -> np.ndarray:
    """Payers x denial kinds: the default weights times each payer's ``denial_mix``."""
    base = np.array([d.weight for d in _DENIALS])
    rows = []
    for p in prof.payers:
        mult = dict(p.denial_mix)
        rows.append(base * np.array([mult.get(carc, 1.0) for carc in _CARCS]))
    return np.array(rows)


def _line_fits(lines: pd.DataFrame, n_dx: np.ndarray) -> np.ndarray:
    """Lines x denial kinds: which lines a line-level denial of each kind can hit."""
    fits = np.zeros((len(lines), len(_DENIALS)), dtype=bool)
    mods = [str(x).split(":") for x in lines["modifiers"]]
    for k, d in enumerate(_DENIALS):
        if d.scope not in ("line", "line_or_all"):
            continue
        fits[:, k] = (lines["category"].isin(d.targets) | lines["code"].isin(d.targets)).to_numpy()
        if d.fix == "mod25":
            fits[:, k] &= np.array(["25" in x for x in mods])
        elif d.fix == "mod59":
            fits[:, k] &= np.array(["59" not in x for x in mods])
        elif d.fix == "dx":
            fits[:, k] &= n_dx[lines["claim"].to_numpy()] >= 2
    return fits


def _target_lines(rng: np.random.Generator, lines: pd.DataFrame, fits: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The line_number each claim's line-level denial hits, at random among the lines that fit (0: none)."""
    claim = lines["claim"].to_numpy()
    k = kind[claim]
    cand = (k >= 0) & fits[np.arange(len(lines)), np.maximum(k, 0)]
    best = pd.DataFrame({"claim": claim, "score": rng.random(len(lines)), "line": lines["line_number"].to_numpy()})
    best = best[cand].sort_values(["claim", "score"], kind="stable").drop_duplicates("claim", keep="last")
    target = np.zeros(len(kind), dtype=np.int64)
    target[best["claim"].to_numpy()] = best["line"].to_numpy()
    return target


def _variants(lines: pd.DataFrame, dx: list[list[str]], den: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str]]]:
    """What the original submission got wrong that the correction fixes: ``mod_orig``/``mod_final`` on the lines,
    and the original claim's diagnoses."""
    fix = np.array([d.fix for d in _DENIALS] + [""], dtype=object)[den["kind"].to_numpy()]
    claim = lines["claim"].to_numpy()
    is_target = lines["line_number"].to_numpy() == den["target"].to_numpy()[claim]
    mods = lines["modifiers"].to_numpy()
    strip25 = np.array([":".join(x for x in str(m).split(":") if x != "25") for m in mods], dtype=object)
    add59 = np.array([":".join([x for x in [str(m)] if x] + ["59"]) for m in mods], dtype=object)
    mod_orig = np.where(is_target & (fix[claim] == "mod25"), strip25, mods)
    mod_final = np.where(is_target & (fix[claim] == "mod59"), add59, mods)
    dx_orig = [d[:-1] if f == "dx" else d for d, f in zip(dx, fix)]
    return lines.assign(mod_orig=mod_orig, mod_final=mod_final), dx_orig


# ============================================================================================ 6. claim flow
def _payer_lag(rng: np.random.Generator, prof: Profile, payer: np.ndarray, month_factor: np.ndarray) -> np.ndarray:
    """Days from submission to the 835: floor + lognormal, scaled by the payer's month, plus a pended tail."""
    spec = prof.payers
    floor = np.array([p.lag_floor_days for p in spec])[payer]
    median = np.array([p.lag_median_days for p in spec])[payer] * month_factor
    sigma = np.array([p.lag_sigma for p in spec])[payer]
    tail = rng.random(len(payer)) < np.array([p.tail_share for p in spec])[payer]
    body = median * np.exp(sigma * rng.standard_normal(len(payer)))
    return floor + body + np.where(tail, rng.uniform(15, 90, len(payer)), 0.0)


@dataclass
class _Flow:
    """The claim flow as rows: submissions, 835 claim payments (``step`` orders them within a claim, ``icn_group``
    says which share a payer claim number) and denial write-offs."""

    submissions: list[pd.DataFrame] = field(default_factory=list)
    adjudications: list[pd.DataFrame] = field(default_factory=list)
    write_offs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"claim": [], "posted_on": []}))

    def submit(self, claims, seq, frequency, day, variant) -> None:
        self.submissions.append(pd.DataFrame({"claim": claims, "seq": seq, "frequency": frequency,
                                              "submitted": day, "variant": variant}))

    def adjudicate(self, claims, step, mode, day, icn_group, variant="orig", ref_step=-1, status="1") -> None:
        self.adjudications.append(pd.DataFrame({
            "claim": claims, "step": step, "mode": mode, "paid_on": day, "icn_group": icn_group,
            "variant": variant, "ref_step": ref_step, "status": status,
        }))


def _flows(rng: np.random.Generator, c: pd.DataFrame, den: pd.DataFrame, totals: pd.DataFrame, prof: Profile,
           cal: _Calendar) -> _Flow:
    """Every submission and 835 claim payment of every claim, dated (some after the span: the caller drops them).

    Clean claims are paid; a few are reprocessed by the payer or voided by the practice, and some slow ones are
    sent twice. Denied claims are corrected, written off or left open (:func:`_corrections`).
    """
    m = len(c)
    payer, sub1 = c["payer"].to_numpy(), c["submitted"].to_numpy()
    month_factor = rng.lognormal(0, 0.1, (len(prof.payers), cal.n_months))

    def lag(rows: np.ndarray, day: np.ndarray) -> np.ndarray:
        return _payer_lag(rng, prof, payer[rows], month_factor[payer[rows], cal.month_of(day)])

    flow = _Flow()
    flow.submit(np.arange(m), 1, "1", sub1, "orig")
    cls = c["cls"].to_numpy()
    ins = np.flatnonzero(cls != "self_pay")
    a1 = np.zeros(m, dtype=np.int64)
    a1[ins] = cal.roll(sub1[ins] + lag(ins, sub1[ins]))
    kind, scope = den["kind"].to_numpy(), den["scope"].to_numpy()
    mode = np.select([scope == "claim", scope == "all", scope == "line"], ["denied_claim", "denied_lines", "partial"],
                     "paid").astype(object)
    paid, pr = totals["paid"].to_numpy(), totals["pr"].to_numpy()
    clean = (cls != "self_pay") & (kind < 0) & (paid > 0)
    early = a1 <= cal.last - 120  # so that the follow-up lands inside the span
    reprocess = _pick(rng, clean & early & (cls != "medicare"), max(2, round(0.004 * m)))
    void = _pick(rng, clean & early & ~reprocess & (pr == 0), max(2, round(0.001 * m)))
    mode[reprocess] = "under"
    flow.adjudicate(ins, 0, mode[ins], a1[ins], 0, status=den["status"].to_numpy()[ins])
    _reprocessings(rng, flow, np.flatnonzero(reprocess), a1, cal)
    _voids(rng, flow, np.flatnonzero(void), a1, lag, cal)
    dup = clean & ~reprocess & ~void & (a1 - sub1 >= 40) & (rng.random(m) < 0.08)
    _duplicates(rng, flow, np.flatnonzero(dup), sub1, cal)
    partly_adjudicated = (mode == "partial") & (totals["other_lines"].to_numpy() > 0)
    _corrections(rng, flow, kind, partly_adjudicated, a1, lag, cal)
    return flow


def _reprocessings(rng, flow: _Flow, rows: np.ndarray, a1: np.ndarray, cal: _Calendar) -> None:
    """The payer finds it priced the claim 12% too low: a reversal (22) and the corrected payment, in the same 835
    under the same ICN."""
    day = cal.roll(a1[rows] + rng.integers(20, 90, len(rows)))
    flow.adjudicate(rows, 1, "reversal", day, 0, ref_step=0, status="22")
    flow.adjudicate(rows, 2, "paid", day, 0)


def _voids(rng, flow: _Flow, rows: np.ndarray, a1: np.ndarray, lag, cal: _Calendar) -> None:
    """A claim billed in error is voided (frequency 8); the payer takes its payment back (22)."""
    day = cal.roll(a1[rows] + rng.integers(5, 45, len(rows)))
    flow.submit(rows, 2, "8", day, "orig")
    flow.adjudicate(rows, 1, "reversal", cal.roll(day + lag(rows, day)), 0, ref_step=0, status="22")


def _duplicates(rng, flow: _Flow, rows: np.ndarray, sub1: np.ndarray, cal: _Calendar) -> None:
    """No answer after a month: the claim is sent again unchanged and denied as a duplicate (OA-18)."""
    day = cal.roll(sub1[rows] + rng.integers(30, 38, len(rows)))
    flow.submit(rows, 2, "1", day, "orig")
    flow.adjudicate(rows, 3, "dup", cal.roll(day + rng.integers(5, 20, len(rows))), 2)


def _corrections(rng, flow: _Flow, kind: np.ndarray, partly_adjudicated: np.ndarray, a1: np.ndarray, lag,
                 cal: _Calendar) -> None:
    """Denied claims: corrected and resubmitted (then paid), written off after 90-180 days, or left open.

    A replacement (7) of a claim whose other lines were adjudicated (paid, or applied to the deductible) takes
    that first adjudication back: the payer reverses it (22) and adjudicates the replacement under a new ICN, in
    the same 835.
    """
    m = len(kind)
    denied = kind >= 0
    resubmit_p = np.array([d.resubmit for d in _DENIALS] + [0.0])[kind]
    write_off_p = np.array([d.write_off for d in _DENIALS] + [0.0])[kind]
    u = rng.random((m, 2))
    resub = np.flatnonzero(denied & (u[:, 0] < resubmit_p))
    frequency = np.array([d.frequency for d in _DENIALS], dtype=object)[kind[resub]]
    day = cal.roll(a1[resub] + 3 + _lognormal_days(rng, 10.0, 0.7, len(resub)))
    flow.submit(resub, 2, frequency, day, "final")
    paid_on = cal.roll(day + lag(resub, day))
    reverse = partly_adjudicated[resub] & (frequency == "7")
    flow.adjudicate(resub[reverse], 1, "reversal", paid_on[reverse], 0, ref_step=0, status="22")
    flow.adjudicate(resub, 2, "paid", paid_on, 1, variant="final")
    written = np.flatnonzero(denied & (u[:, 0] >= resubmit_p) & (u[:, 1] < write_off_p))
    flow.write_offs = pd.DataFrame({"claim": written,
                                    "posted_on": cal.roll(a1[written] + rng.integers(90, 181, len(written)))})


# ============================================================================================ 7. the 835s
# How an 835 claim payment treats the claim's lines: "paid" (clean), "under" (priced 12% low on every line, later
# reprocessed), "partial" (the target line denied), "denied_lines" (every line denied), "dup" (OA-18 on every
# line). "denied_claim" has claim-level CAS and no lines; a "reversal" negates an earlier payment.
_LINE_MODES = ("paid", "under", "partial", "denied_lines", "dup")


def _remit_lines(adj: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Service lines of every line-level 835 claim payment, with their CAS amounts as columns."""
    x = adj[adj["mode"].isin(_LINE_MODES)].merge(lines, on="claim", how="inner", sort=False)
    mode, line = x["mode"].to_numpy(), x["line_number"].to_numpy()
    hit = (mode == "denied_lines") | ((mode == "partial") & (line == x["target"].to_numpy()))
    pays = np.isin(mode, ("paid", "under", "partial")) & ~hit
    for col in ("allowed", "co45", "co253", "pr1", "pr2", "pr3", "paid"):
        x[col] = np.where(pays, x[col].to_numpy(), 0)
    cut = np.where(mode == "under", np.rint(0.12 * x["paid"].to_numpy()), 0).astype(np.int64)
    x["paid"] -= cut
    x["allowed"] -= cut
    x["co45"] += cut
    x["den"] = np.where(hit, x["charge"].to_numpy(), 0)
    x["oa18"] = np.where(mode == "dup", x["charge"].to_numpy(), 0)
    x["allowed"] = x["allowed"].astype("Int64").where(pays)
    x["modifiers"] = np.where(x["variant"] == "final", x["mod_final"], x["mod_orig"])
    return _with_reversals(adj, x)


def _with_reversals(adj: pd.DataFrame, x: pd.DataFrame) -> pd.DataFrame:
    """Append each reversal's lines: the reversed payment's lines with every amount negated."""
    rev = adj[adj["mode"] == "reversal"]
    source = adj[["claim", "step", "rid"]].merge(rev[["claim", "ref_step", "rid"]], left_on=["claim", "step"],
                                                right_on=["claim", "ref_step"], suffixes=("", "_rev"))
    mapping = pd.Series(source["rid_rev"].to_numpy(), index=source["rid"].to_numpy())
    neg = x[x["rid"].isin(mapping.index)].copy()
    neg["rid"] = mapping.reindex(neg["rid"]).to_numpy()
    for col in _MONEY:
        neg[col] = -neg[col]
    return pd.concat([x, neg], ignore_index=True)


def _cas(x: pd.DataFrame, adj: pd.DataFrame, claim_charge: np.ndarray) -> pd.DataFrame:
    """CAS rows: line-level from the line columns, claim-level for claim-level denials."""
    kind = adj.set_index("rid")["kind"]
    parts = []
    for order, (col, group, reason) in enumerate(_LINE_CAS):
        sel = x[x[col] != 0]
        reasons = np.array(_CARCS, dtype=object)[kind.reindex(sel["rid"]).to_numpy()] if reason is None else reason
        parts.append(pd.DataFrame({"rid": sel["rid"].to_numpy(), "line_number": sel["line_number"].to_numpy(),
                                   "group_code": group, "reason_code": reasons, "amount": sel[col].to_numpy(),
                                   "order": order}))
    claim_level = adj[adj["mode"] == "denied_claim"]
    parts.append(pd.DataFrame({
        "rid": claim_level["rid"].to_numpy(), "line_number": 0, "group_code": "CO",
        "reason_code": np.array(_CARCS, dtype=object)[claim_level["kind"].to_numpy()],
        "amount": claim_charge[claim_level["claim"].to_numpy()], "order": 0,
    }))
    cas = pd.concat(parts, ignore_index=True)
    return cas.sort_values(["rid", "line_number", "order"], kind="stable").reset_index(drop=True)


# ============================================================================================ 8. patients pay
def _patient_postings(rng: np.random.Generator, claim: np.ndarray, due: np.ndarray, billed_on: np.ndarray,
                      p_full: np.ndarray | float, cal: _Calendar) -> pd.DataFrame:
    """Patients pay their balance in full (with probability ``p_full``), in part (0.08), or not at all; most
    unpaid balances are written off (small balances after 60-120 days, bad debt after 150-240)."""
    k = len(claim)
    u = rng.random((k, 4))
    first = cal.roll(billed_on + 5 + _lognormal_days(rng, 20.0, 0.75, k))
    full, part = u[:, 0] < p_full, (u[:, 0] >= p_full) & (u[:, 0] < p_full + 0.08)
    never = ~full & ~part
    part_paid = np.where(part, np.rint(due * rng.uniform(0.3, 0.7, k)), 0).astype(np.int64)
    rest = due - part_paid
    second = part & (u[:, 1] < 0.5)
    small = never & (due < 1000) & (u[:, 2] < 0.9)
    bad_debt = ((never & (due >= 1000)) | (part & ~second)) & (u[:, 3] < 0.7)
    rows = [
        (full, first, -due, "patient_payment"),
        (part, first, -part_paid, "patient_payment"),
        (second, cal.roll(first + rng.integers(30, 75, k)), -rest, "patient_payment"),
        (small, cal.roll(billed_on + rng.integers(60, 120, k)), -due, "other_adjustment"),
        (bad_debt, cal.roll(np.where(part, first, billed_on) + rng.integers(150, 240, k)), -rest,
         "other_adjustment"),
    ]
    return pd.concat([
        pd.DataFrame({"claim": claim[sel], "posted_on": day[sel], "kind": kind, "amount": amount[sel],
                      "responsible": "patient"})
        for sel, day, amount, kind in rows
    ], ignore_index=True)


# ============================================================================================ assembly
def generate(*, seed: int = 7, n_claims: int | None = None, start: str = "2025-01", end: str = "2026-10",
             profile: str = "family_medicine") -> dict[str, pd.DataFrame]:
    """The canonical tables of a demo practice (each conformed by :func:`rcmkit.core.schema.conform`).

    ``n_claims`` original claims are generated over ``start``..``end`` (months, inclusive; default: the
    profile's size), a few fewer once visits not yet billed by the end are left out. Same arguments, same
    tables, byte for byte; nothing depends on today's date. Returns payers, claims, claim_lines, remittances,
    remit_lines, adjustments, postings, contracts and providers (fictional names); the ledger is derived from
    them by :mod:`rcmkit.core.ledger`. :func:`generate_with_truth` also returns the seeded claim errors.
    """
    return generate_with_truth(seed=seed, n_claims=n_claims, start=start, end=end, profile=profile)[0]


#: Columns of the seeded-error truth (:func:`generate_with_truth`): which submission (and line) carries which
#: error, what was sent and what is right, and the CARC the demo's 835 denies it with.
SEEDED_COLUMNS = ["claim_id", "submission_id", "line_number", "kind", "sent", "correct", "carc"]


def generate_with_truth(*, seed: int = 7, n_claims: int | None = None, start: str = "2025-01", end: str = "2026-10",
                        profile: str = "family_medicine") -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """:func:`generate`'s tables and the truth of the claim errors seeded in them (:data:`SEEDED_COLUMNS`), for
    the scrubber's benchmark. The truth is not a canonical table: it never reaches the store.

    Errors a scrub should catch, each denied by the demo's 835 with its matching CARC: among claims denied CO-16
    (claim lacks information or has billing errors; resubmitted as a new claim), a seeded share carries a header
    (non-billable) principal diagnosis, a principal diagnosis with two characters transposed into a code that
    does not exist, or a rendering NPI with a wrong check digit (:func:`_seed_errors`); claims denied CO-4 lack
    modifier 25 on their E/M; claims sent a second time unchanged are denied OA-18 (duplicate); claims sent late
    are denied CO-29 (timely filing).
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    prof = _profile(profile)
    n = prof.n_claims if n_claims is None else int(n_claims)
    if n < 1:
        raise ValueError(f"n_claims must be at least 1, got {n_claims!r}")
    cal = _Calendar.span(start, end)
    roster = _roster(seed, n, cal, prof)
    c = _submit(_rng(seed, _S_SUBMIT), _visits(_rng(seed, _S_VISITS), roster, prof, cal, n), seed, roster, prof,
                cal)
    lines, dx = _content(_rng(seed, _S_CONTENT), c, roster)
    lines = _price(lines, c, roster, prof)
    den = _deny(_rng(seed, _S_DENY), c, lines, np.array([len(d) for d in dx]), prof, cal)
    lines, dx_orig = _variants(lines, dx, den)
    dx_orig, npi_orig, seeded = _seed_errors(_rng(seed, _S_ERRORS), c, den, dx_orig)
    flow = _flows(_rng(seed, _S_FLOW), c, den, _claim_totals(lines, den), prof, cal)
    charge = np.bincount(lines["claim"], weights=lines["charge"], minlength=len(c)).astype(np.int64)
    tables = _assemble(seed, c, lines, dx, dx_orig, den, flow, charge, prof, cal, npi_orig)
    bad_npis = {b: g for b, g in zip(npi_orig, c["rendering_npi"]) if b != g}
    tables = {**tables, "contracts": _contracts(profile, start),
              "providers": _providers(seed, prof, tables["claims"], bad_npis)}
    return tables, _truth(c, den, flow, seeded, tables["claims"])


def _seed_errors(rng: np.random.Generator, c: pd.DataFrame, den: pd.DataFrame, dx_orig: list[list[str]]
                 ) -> tuple[list[list[str]], np.ndarray, pd.DataFrame]:
    """Billing errors on the first submission of claims the payer denies CO-16: of those, 30% send a header
    (non-billable) principal diagnosis (E119 sent as E11), 30% a principal diagnosis with two neighbouring
    characters transposed into a code ICD-10-CM does not have, 25% a rendering NPI whose check digit is off by
    one; the rest lack something no scrub sees. The correction (frequency 1, a new claim) sends it right."""
    kind = den["kind"].to_numpy()
    rows = np.flatnonzero(kind == _CARCS.index("16"))
    u = rng.random(len(rows))
    npi = c["rendering_npi"].to_numpy().copy()
    dx_out = list(dx_orig)
    seeded = []
    if len(rows):
        from rcmkit.scrub.codesets import default_icd  # the ICD-10-CM release that says what is a code

        icd = default_icd()
    for r, x in zip(rows, u):
        principal = dx_orig[r][0]
        if x < 0.30 and len(principal) > 3 and icd.is_valid(principal[:3]) and not icd.is_billable(principal[:3]):
            dx_out[r] = [principal[:3]] + dx_orig[r][1:]
            seeded.append((r, "dx_not_billable", principal[:3], principal))
        elif x < 0.60:
            swaps = [principal[:i] + principal[i + 1] + principal[i] + principal[i + 2:]
                     for i in range(1, len(principal) - 1)]
            swaps = [t for t in swaps if t != principal and t[1].isdigit() and not icd.is_valid(t)]
            if swaps:
                dx_out[r] = [swaps[0]] + dx_orig[r][1:]
                seeded.append((r, "dx_invalid", swaps[0], principal))
        elif x < 0.85 and isinstance(npi[r], str):
            bad = npi[r][:9] + str((int(npi[r][9]) + 1) % 10)
            npi[r] = bad
            seeded.append((r, "npi_invalid", bad, c["rendering_npi"].iat[r]))
    frame = pd.DataFrame(seeded, columns=["claim", "kind", "sent", "correct"])
    return dx_out, npi, frame


def _truth(c: pd.DataFrame, den: pd.DataFrame, flow: _Flow, seeded: pd.DataFrame, claims: pd.DataFrame
           ) -> pd.DataFrame:
    """The seeded errors as :data:`SEEDED_COLUMNS` rows, for submissions the claims table holds."""
    ids = c["claim_id"].to_numpy()
    rows = [pd.DataFrame({"claim_id": ids[seeded["claim"]], "submission_id": ids[seeded["claim"]] + "-S1",
                          "line_number": 0, "kind": seeded["kind"], "sent": seeded["sent"],
                          "correct": seeded["correct"], "carc": "CO-16"})]
    kind = den["kind"].to_numpy()
    mod25 = np.flatnonzero(kind == _CARCS.index("4"))
    rows.append(pd.DataFrame({"claim_id": ids[mod25], "submission_id": ids[mod25] + "-S1",
                              "line_number": den["target"].to_numpy()[mod25], "kind": "modifier25_missing",
                              "sent": "", "correct": "25", "carc": "CO-4"}))
    late = np.flatnonzero(kind == _TIMELY)
    rows.append(pd.DataFrame({"claim_id": ids[late], "submission_id": ids[late] + "-S1", "line_number": 0,
                              "kind": "timely_filing", "sent": "", "correct": "", "carc": "CO-29"}))
    subs = pd.concat(flow.submissions, ignore_index=True)
    dup = subs[(subs["seq"] == 2) & (subs["frequency"] == "1") & (subs["variant"] == "orig")]["claim"].to_numpy()
    rows.append(pd.DataFrame({"claim_id": ids[dup], "submission_id": ids[dup] + "-S2", "line_number": 0,
                              "kind": "duplicate", "sent": "", "correct": "", "carc": "OA-18"}))
    out = pd.concat(rows, ignore_index=True)
    out = out[out["submission_id"].isin(claims["submission_id"])]
    return out.sort_values(["submission_id", "kind"], kind="stable").reset_index(drop=True)[SEEDED_COLUMNS]


#: Fictional clinicians' names for the demo's rendering providers: (last names, first names).
_PROVIDER_LAST = ("REYES", "CHEN", "PATEL", "OKAFOR", "NOVAK", "LINDQVIST", "MORALES", "IBRAHIM")
_PROVIDER_FIRST = ("ANA", "DAVID", "PRIYA", "SAMUEL", "ELENA", "MARK", "GRACE", "OMAR")


def _providers(seed: int, prof: Profile, claims: pd.DataFrame, bad_npis: dict | None = None) -> pd.DataFrame:
    """The ``providers`` table: the billing NPI named as the practice (the name its 837s and 835s carry,
    :data:`rcmkit.ingest.x12.write.DEMO_PRACTICE`), each rendering NPI a fictional clinician, 'LAST, FIRST' (distinct
    names, chosen by the seed); only NPIs that appear on a claim."""
    from rcmkit.ingest.x12.write import DEMO_PRACTICE

    npis = _npis(_rng(seed, _S_PROVIDERS), len(prof.providers) + 1)  # the NPIs of _submit
    n = len(_PROVIDER_LAST)
    rows = [(npis[0], DEMO_PRACTICE.name, "2")]
    rows += [(npi, f"{_PROVIDER_LAST[(seed + i) % n]}, {_PROVIDER_FIRST[(3 * seed + 5 * i + i // n) % n]}", "1")
             for i, npi in enumerate(npis[1:])]
    names = {r[0]: r for r in rows}
    rows += [(bad, names[good][1], "1") for bad, good in sorted((bad_npis or {}).items()) if good in names]  # typos
    used = set(claims["billing_npi"].astype(str)) | set(claims["rendering_npi"].dropna().astype(str))
    frame = pd.DataFrame([r for r in rows if r[0] in used], columns=["npi", "name", "entity_type"]).assign(
        source="demo")
    return schema.conform("providers", frame) if len(frame) else schema.empty("providers")


def _contracts(profile: str, start: str) -> pd.DataFrame:
    """The payers' contracts as the canonical ``contracts`` table, effective from the first month of the data."""
    rates = contract_schedule(profile)
    return schema.conform("contracts", rates.assign(modifiers="", effective_from=pd.Period(start, "M").start_time)[
        ["payer_id", "procedure_code", "modifiers", "effective_from", "allowed_cents"]])


def _claim_totals(lines: pd.DataFrame, den: pd.DataFrame) -> pd.DataFrame:
    """Per claim: paid and patient responsibility when clean, and how many lines a line denial leaves alone."""
    claim = lines["claim"].to_numpy()
    m = len(den)
    untouched = lines["line_number"].to_numpy() != den["target"].to_numpy()[claim]
    pr = (lines["pr1"] + lines["pr2"] + lines["pr3"]).to_numpy()
    return pd.DataFrame({
        "paid": np.bincount(claim, weights=lines["paid"], minlength=m),
        "pr": np.bincount(claim, weights=pr, minlength=m),
        "other_lines": np.bincount(claim, weights=untouched, minlength=m),
    })


def _assemble(seed: int, c: pd.DataFrame, lines: pd.DataFrame, dx: list[list[str]], dx_orig: list[list[str]],
              den: pd.DataFrame, flow: _Flow, charge: np.ndarray, prof: Profile,
              cal: _Calendar, npi_orig: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Turn the flow into canonical tables, leaving out everything dated after the span."""
    subs = pd.concat(flow.submissions, ignore_index=True)
    subs = subs[subs["submitted"] <= cal.last].sort_values(["claim", "seq"], kind="stable")
    adj = pd.concat(flow.adjudications, ignore_index=True)
    adj = adj[adj["paid_on"] <= cal.last]
    claim = adj["claim"].to_numpy()
    adj = _number_remits(adj.assign(kind=den["kind"].to_numpy()[claim], target=den["target"].to_numpy()[claim],
                                    payer=c["payer"].to_numpy()[claim]), prof)
    x = _remit_lines(adj, lines)
    remittances = _remittances(adj, x, c, charge)
    tables = {
        "payers": pd.DataFrame({"payer_id": [p.payer_id for p in prof.payers],
                                "payer_name": [p.payer_name for p in prof.payers],
                                "payer_class": [p.payer_class for p in prof.payers]}),
        "claims": _claims_table(subs, c, dx, dx_orig, charge, adj, npi_orig),
        "claim_lines": _claim_lines_table(subs, c, lines),
        "remittances": remittances,
        "remit_lines": _remit_lines_table(x, adj, c),
        "adjustments": _adjustments_table(_cas(x, adj, charge), adj),
        "postings": _postings(_rng(seed, _S_PATIENT), c, adj, remittances, x, flow, charge, cal),
    }
    return {name: schema.conform(name, tables[name]) if len(tables[name]) else schema.empty(name)
            for name in TABLES if name in tables}


def _number_remits(adj: pd.DataFrame, prof: Profile) -> pd.DataFrame:
    """Order the 835 claim payments (one 835 per payer and day) and give them IDs, ICNs and trace numbers."""
    adj = adj.sort_values(["paid_on", "payer", "claim", "step"], kind="stable").reset_index(drop=True)
    adj["rid"] = np.arange(len(adj))
    first = adj.drop_duplicates(["claim", "icn_group"])[["claim", "icn_group", "paid_on"]]
    day = first["paid_on"].to_numpy().view("datetime64[D]")
    yyddd = (_year(first["paid_on"]) % 100) * 1000 + (day - day.astype("datetime64[Y]")).astype(np.int64) + 1
    first = first.assign(icn=[f"{a:05d}{i:08d}" for i, a in enumerate(yyddd, start=1)])
    adj = adj.merge(first[["claim", "icn_group", "icn"]], on=["claim", "icn_group"], how="left", sort=False)
    paid_on = adj["paid_on"].to_numpy().view("datetime64[D]").astype(str)
    adj["trace"] = [f"{d.replace('-', '')}{p + 1:03d}" for d, p in zip(paid_on, adj["payer"].to_numpy())]
    adj["remit_id"] = [f"R{i:08d}" for i in range(1, len(adj) + 1)]
    adj["payer_id"] = np.array([p.payer_id for p in prof.payers], dtype=object)[adj["payer"].to_numpy()]
    return adj


def _remittances(adj: pd.DataFrame, x: pd.DataFrame, c: pd.DataFrame, charge: np.ndarray) -> pd.DataFrame:
    sums = x.assign(pr=x["pr1"] + x["pr2"] + x["pr3"]).groupby("rid")[["charge", "paid", "pr"]].sum()
    sums = sums.reindex(adj["rid"], fill_value=0)
    claim_level = (adj["mode"] == "denied_claim").to_numpy()
    return pd.DataFrame({
        "remit_id": adj["remit_id"],
        "claim_id": c["claim_id"].to_numpy()[adj["claim"]],
        "payer_claim_id": adj["icn"],
        "status_code": adj["status"],
        "billed_cents": np.where(claim_level, charge[adj["claim"]], sums["charge"].to_numpy()),
        "paid_cents": sums["paid"].to_numpy(),
        "patient_responsibility_cents": sums["pr"].to_numpy(),
        "payer_id": adj["payer_id"],
        "paid_on": _to_dates(adj["paid_on"]),
        "trace_number": adj["trace"],
        "source": "demo",
    })


def _claims_table(subs: pd.DataFrame, c: pd.DataFrame, dx: list[list[str]], dx_orig: list[list[str]],
                  charge: np.ndarray, adj: pd.DataFrame, npi_orig: np.ndarray | None = None) -> pd.DataFrame:
    claim = subs["claim"].to_numpy()
    first_icn = adj[adj["step"] == 0].set_index("claim")["icn"].reindex(claim).to_numpy()
    ids = c["claim_id"].to_numpy()[claim]
    service = _to_dates(c["service"].to_numpy()[claim])
    final = (subs["variant"] == "final").to_numpy()
    return pd.DataFrame({
        "claim_id": ids,
        "submission_id": [f"{i}-S{s}" for i, s in zip(ids, subs["seq"])],
        "frequency_code": subs["frequency"].to_numpy(),
        "claim_type": "professional",
        "submitted_on": _to_dates(subs["submitted"]),
        "service_from": service,
        "service_to": service,
        "payer_id": c["payer_id"].to_numpy()[claim],
        "billing_npi": c["billing_npi"].to_numpy()[claim],
        "rendering_npi": np.where(final, c["rendering_npi"].to_numpy()[claim],
                                  (c["rendering_npi"].to_numpy() if npi_orig is None else npi_orig)[claim]),
        "place_of_service": "11",
        "patient_key": c["patient_key"].to_numpy()[claim],
        "total_charge_cents": charge[claim],
        "diagnosis_codes": [dx[i] if f else dx_orig[i] for i, f in zip(claim, final)],
        "payer_claim_ref": np.where(np.isin(subs["frequency"], ("7", "8")), first_icn, None),
        "source": "demo",
    })


def _claim_lines_table(subs: pd.DataFrame, c: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    x = subs[["claim", "seq", "variant"]].merge(lines, on="claim", sort=False)
    ids = c["claim_id"].to_numpy()[x["claim"]]
    return pd.DataFrame({
        "submission_id": [f"{i}-S{s}" for i, s in zip(ids, x["seq"])],
        "line_number": x["line_number"],
        "procedure_code": x["code"],
        "modifiers": np.where(x["variant"] == "final", x["mod_final"], x["mod_orig"]),
        "units": x["units"],
        "charge_cents": x["charge"],
        "service_date": _to_dates(c["service"].to_numpy()[x["claim"]]),
    })


def _remit_lines_table(x: pd.DataFrame, adj: pd.DataFrame, c: pd.DataFrame) -> pd.DataFrame:
    x = x.sort_values(["rid", "line_number"], kind="stable")
    return pd.DataFrame({
        "remit_id": adj["remit_id"].to_numpy()[x["rid"]],
        "line_number": x["line_number"].to_numpy(),
        "procedure_code": x["code"].to_numpy(),
        "modifiers": x["modifiers"].to_numpy(),
        "billed_cents": x["charge"].to_numpy(),
        "paid_cents": x["paid"].to_numpy(),
        "allowed_cents": x["allowed"].to_numpy(),
        "units": x["units"].to_numpy(),
        "service_date": _to_dates(c["service"].to_numpy()[x["claim"]]),
    })


def _adjustments_table(cas: pd.DataFrame, adj: pd.DataFrame) -> pd.DataFrame:
    line = cas["line_number"].to_numpy()
    return pd.DataFrame({
        "remit_id": adj["remit_id"].to_numpy()[cas["rid"]],
        "line_number": pd.Series(line, dtype="Int32").mask(line == 0).to_numpy(),
        "group_code": cas["group_code"].to_numpy(),
        "reason_code": cas["reason_code"].to_numpy(),
        "amount_cents": cas["amount"].to_numpy(),
        "quantity": np.nan,
    })


def _postings(rng: np.random.Generator, c: pd.DataFrame, adj: pd.DataFrame, remittances: pd.DataFrame,
              x: pd.DataFrame, flow: _Flow, charge: np.ndarray, cal: _Calendar) -> pd.DataFrame:
    """Practice-recorded money: denial write-offs, self-pay discounts, patient payments and write-offs."""
    parts = [_denial_write_offs(adj, x, flow, charge, c)]
    self_pay = np.flatnonzero(c["cls"].to_numpy() == "self_pay")
    discount = np.rint(0.35 * charge[self_pay]).astype(np.int64)
    submitted = c["submitted"].to_numpy()[self_pay]
    parts.append(pd.DataFrame({"claim": self_pay, "posted_on": submitted, "kind": "contractual",
                               "amount": -discount, "responsible": "patient"}))
    owed = _patient_balances(adj, remittances)
    claim = owed["claim"].to_numpy()
    # Medicare coinsurance is mostly paid by supplemental coverage, which the demo folds into the patient
    p_full = np.where(c["cls"].to_numpy()[claim] == "medicare", 0.95, 0.90)
    parts.append(_patient_postings(rng, claim, owed["pr"].to_numpy(), owed["paid_on"].to_numpy(), p_full, cal))
    parts.append(_patient_postings(rng, self_pay, charge[self_pay] - discount, submitted, 0.65, cal))
    out = pd.concat(parts, ignore_index=True)
    out = out[(out["posted_on"] <= cal.last) & (out["amount"] != 0)]
    out = out.assign(claim_id=c["claim_id"].to_numpy()[out["claim"]])
    out = out.sort_values(["posted_on", "claim_id", "kind"], kind="stable")
    return pd.DataFrame({
        "claim_id": out["claim_id"].to_numpy(),
        "posted_on": _to_dates(out["posted_on"]),
        "kind": out["kind"].to_numpy(),
        "amount_cents": out["amount"].to_numpy().astype(np.int64),
        "responsible": out["responsible"].to_numpy(),
        "source": "demo",
    })


def _denial_write_offs(adj: pd.DataFrame, x: pd.DataFrame, flow: _Flow, charge: np.ndarray,
                       c: pd.DataFrame) -> pd.DataFrame:
    """The practice writes off what the first adjudication denied (kind 'denial', responsible the payer)."""
    first = adj[adj["step"] == 0].set_index("claim")
    denied = x.groupby("rid")["den"].sum().reindex(first["rid"], fill_value=0).to_numpy()
    denied = pd.Series(np.where(first["mode"] == "denied_claim", charge[first.index], denied), index=first.index)
    w = flow.write_offs[flow.write_offs["claim"].isin(first.index)]
    return pd.DataFrame({"claim": w["claim"].to_numpy(), "posted_on": w["posted_on"].to_numpy(), "kind": "denial",
                         "amount": -denied.reindex(w["claim"]).to_numpy(),
                         "responsible": c["payer_id"].to_numpy()[w["claim"]]})


def _patient_balances(adj: pd.DataFrame, remittances: pd.DataFrame) -> pd.DataFrame:
    """What each insured claim leaves the patient owing (its last payment's PR), billed after its first payment."""
    rows = adj[adj["mode"].isin(("paid", "under", "partial"))]
    rows = rows.assign(pr=remittances["patient_responsibility_cents"].to_numpy()[rows["rid"]])
    rows = rows.sort_values(["claim", "paid_on", "step"], kind="stable")
    g = rows.groupby("claim")
    owed = pd.DataFrame({"paid_on": g["paid_on"].first(), "pr": g["pr"].last()}).reset_index()
    return owed[owed["pr"] > 0]
