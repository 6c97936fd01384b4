"""The demo practices as data: payer mixes, provider rosters and age bands (:class:`Profile`, :class:`PayerSpec`).

A new demo practice is a new :data:`PROFILES` entry; :mod:`rcmkit.demo.practice` generates its tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rcmkit.core import schema

__all__ = ["PayerSpec", "Profile", "PROFILES"]


# ============================================================================================ practices as data
@dataclass(frozen=True)
class PayerSpec:
    """One payer of a demo practice and how it behaves.

    ``mix`` weighs how often patients of each age group (child under 18, adult 18-64, senior 65+) carry this
    payer. The contract allows ``fee_factor`` times the reference amount of ``data/demo_fee_schedule.csv`` (never
    more than the charge). Days to pay are ``lag_floor_days`` plus a lognormal with median ``lag_median_days``
    and spread ``lag_sigma``; ``tail_share`` of claims pend 15-90 days more. ``denial_rate`` is the share of
    claims denied (in full or in part) on first adjudication; ``denial_mix`` multiplies the default weight of
    a CARC for this payer. On ``underpaid_codes`` the payer allows ``underpaid_factor`` of its own contract for
    services from ``underpaid_from`` ("YYYY-MM") on: something true for the report to find.
    """

    payer_id: str
    payer_name: str
    payer_class: str
    mix: tuple[float, float, float]
    fee_factor: float = 1.0
    denial_rate: float = 0.0
    denial_mix: tuple[tuple[str, float], ...] = ()
    lag_floor_days: int = 5
    lag_median_days: float = 18.0
    lag_sigma: float = 0.45
    tail_share: float = 0.08
    sequestration: float = 0.0
    underpaid_codes: tuple[str, ...] = ()
    underpaid_factor: float = 1.0
    underpaid_from: str = "1970-01"


@dataclass(frozen=True)
class Profile:
    """A demo practice: size, rendering providers, patient ages and payers.

    ``n_claims`` is the default number of original claims over the whole span; ``providers`` the relative
    volume of each rendering provider; ``age_bands`` the (youngest, oldest, share) of the patient panel.
    """

    name: str
    n_claims: int
    providers: tuple[float, ...]
    age_bands: tuple[tuple[int, int, float], ...]
    payers: tuple[PayerSpec, ...]
    visits_per_patient_year: float = 2.8
    annual_growth: float = 0.03
    new_patient_share: float = 0.12
    hdhp_share: float = 0.30  # commercial patients on a deductible plan; the others have copay plans
    medicaid_copay_share: float = 0.25  # adult Medicaid patients with a nominal copay

    def __post_init__(self) -> None:
        ids = [p.payer_id for p in self.payers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"profile {self.name!r}: duplicate payer ids {ids}")
        bad = [p.payer_class for p in self.payers if p.payer_class not in schema.PAYER_CLASSES]
        if bad:
            raise ValueError(f"profile {self.name!r}: unknown payer classes {bad}")


_MEDICARE = PayerSpec(
    "04412", "Medicare Part B", "medicare", (0.0, 0.03, 0.93), fee_factor=1.0, denial_rate=0.05,
    denial_mix=(("197", 0.1), ("15", 0.1), ("27", 0.5), ("29", 0.0)),
    lag_floor_days=13, lag_median_days=1.2, lag_sigma=0.9, tail_share=0.07, sequestration=0.02,
)
_MEDICAID = PayerSpec(
    "07731", "State Medicaid", "medicaid", (0.30, 0.09, 0.01), fee_factor=0.72, denial_rate=0.08,
    lag_floor_days=10, lag_median_days=26.0, lag_sigma=0.40, tail_share=0.12,
)
_MEDICAID_MCO = PayerSpec(
    "MCD22", "Sunrise Community Health Plan", "medicaid", (0.18, 0.07, 0.0), fee_factor=0.78, denial_rate=0.16,
    denial_mix=(("197", 3.0), ("15", 2.0), ("27", 1.5), ("31", 1.3)),
    lag_floor_days=8, lag_median_days=24.0, lag_sigma=0.45, tail_share=0.12,
)
_BLUEFIELD = PayerSpec(
    "00391", "Bluefield Health Plan", "commercial", (0.20, 0.30, 0.03), fee_factor=1.38, denial_rate=0.055,
    lag_floor_days=5, lag_median_days=15.0,
)
_CRESTLINE = PayerSpec(
    "31440", "Crestline Insurance", "commercial", (0.14, 0.20, 0.02), fee_factor=1.52, denial_rate=0.065,
    lag_floor_days=6, lag_median_days=17.0,
)
_NORTHSTAR = PayerSpec(
    "55120", "Northstar Health", "commercial", (0.12, 0.17, 0.0), fee_factor=1.28, denial_rate=0.075,
    lag_floor_days=7, lag_median_days=19.0,
    underpaid_codes=("99213", "99214", "99396"), underpaid_factor=0.90, underpaid_from="2025-06",
)
_UNITY = PayerSpec(
    "00623", "Unity Choice Marketplace", "commercial", (0.03, 0.08, 0.0), fee_factor=1.15, denial_rate=0.10,
    lag_floor_days=6, lag_median_days=21.0, tail_share=0.10,
)
_SELF_PAY = PayerSpec("SELF", "Self-pay", "self_pay", (0.03, 0.06, 0.01))

#: The demo practices. ``family_medicine`` is the default demo; add a practice by adding an entry.
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="family_medicine",
            n_claims=25_000,
            providers=(1.0, 1.0, 0.9, 0.8, 0.55),
            age_bands=((0, 17, 0.22), (18, 39, 0.28), (40, 64, 0.32), (65, 95, 0.18)),
            payers=(_MEDICARE, _MEDICAID, _MEDICAID_MCO, _BLUEFIELD, _CRESTLINE, _NORTHSTAR, _UNITY, _SELF_PAY),
        ),
        Profile(
            name="pediatrics",
            n_claims=15_000,
            providers=(1.0, 1.0, 0.7),
            age_bands=((0, 0, 0.14), (1, 4, 0.24), (5, 11, 0.30), (12, 17, 0.26), (18, 20, 0.06)),
            payers=(_MEDICAID, _MEDICAID_MCO, _BLUEFIELD, _CRESTLINE, _UNITY, _SELF_PAY),
            visits_per_patient_year=3.2,
        ),
    )
}
