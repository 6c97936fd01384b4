"""A dozen hand-made claims whose metrics are worked out by hand in tests/test_metrics.py.

Payers: MCR (medicare), MCD (medicaid), BCX (commercial), SELF (self-pay). Report month: 2026-03.

| claim | payer | DOS | submitted | charge | what happens |
|---|---|---|---|---|---|
| C01 | MCR | 01-05 | 01-06 | 200 | R01 01-20: paid 100, CO-45 80, PR-2 20; patient pays 20 on 02-10 |
| C02 | BCX | 01-10 | 01-12 | 300 | R02 02-15: CO-16 300 (denied); replacement (7) 02-20; R03 03-10: paid 180, CO-45 120 |
| C03 | MCD | 2025-11-20 | 2025-11-21 | 150 | no answer: open, 131 days old |
| C04 | MCR | 03-25 | 03-27 | 120 | no answer yet |
| C05 | SELF | 02-01 | 02-02 | 100 | patient pays 40 on 03-01 |
| C06 | BCX | 02-10 | 02-11 | 250 | R04 03-05: line 1 (200) paid 120, CO-45 50, PR-3 30; line 2 (50) CO-97 50 |
| C07 | MCR | 02-15 | 02-16 | 100 | R05 03-02: paid 64, CO-45 20, PR-1 16; R06 03-20 reversal; R07 03-20: paid 80, CO-45 20 |
| C08 | MCD | 03-03 | 03-04 | 80 | R08 03-25: CO-197 80 (denied, never resubmitted) |
| C09 | BCX | 03-10 | 03-11 | 90 | duplicate submission 03-12; R10 03-26: OA-18 90; R09 03-28: paid 60, CO-45 30 |
| C10 | MCR | 01-20 | 01-21 | 100 | voided (8) on 01-25 |
| C11 | BCX | 2025-12-15 | 2025-12-16 | 500 | R11 2026-01-15: CO-16 500; practice writes it off 03-15 |
| C12 | MCD | 03-15 | 03-16 | 60 | R12 03-30: paid 45, CO-45 15; patient pays 5 on 03-31 (a credit balance) |
(All dates 2026 unless shown.)
"""

from __future__ import annotations

import functools

import pandas as pd

from rcmkit.core import schema
from rcmkit.core.ledger import build_ledger

D = pd.Timestamp


def _c(dollars: float) -> int:
    return int(round(dollars * 100))


def claims() -> pd.DataFrame:
    rows = [
        # claim, submission, freq, submitted, dos, payer, charge, code lines [(code, charge)]
        ("C01", "C01-1", "1", "2026-01-06", "2026-01-05", "MCR", 200),
        ("C02", "C02-1", "1", "2026-01-12", "2026-01-10", "BCX", 300),
        ("C02", "C02-2", "7", "2026-02-20", "2026-01-10", "BCX", 300),
        ("C03", "C03-1", "1", "2025-11-21", "2025-11-20", "MCD", 150),
        ("C04", "C04-1", "1", "2026-03-27", "2026-03-25", "MCR", 120),
        ("C05", "C05-1", "1", "2026-02-02", "2026-02-01", "SELF", 100),
        ("C06", "C06-1", "1", "2026-02-11", "2026-02-10", "BCX", 250),
        ("C07", "C07-1", "1", "2026-02-16", "2026-02-15", "MCR", 100),
        ("C08", "C08-1", "1", "2026-03-04", "2026-03-03", "MCD", 80),
        ("C09", "C09-1", "1", "2026-03-11", "2026-03-10", "BCX", 90),
        ("C09", "C09-2", "1", "2026-03-12", "2026-03-10", "BCX", 90),
        ("C10", "C10-1", "1", "2026-01-21", "2026-01-20", "MCR", 100),
        ("C10", "C10-2", "8", "2026-01-25", "2026-01-20", "MCR", 100),
        ("C11", "C11-1", "1", "2025-12-16", "2025-12-15", "BCX", 500),
        ("C12", "C12-1", "1", "2026-03-16", "2026-03-15", "MCD", 60),
    ]
    df = pd.DataFrame(rows, columns=["claim_id", "submission_id", "frequency_code", "submitted_on", "service_from",
                                     "payer_id", "charge"])
    return schema.conform("claims", df.assign(
        claim_type="professional",
        submitted_on=pd.to_datetime(df["submitted_on"]),
        service_from=pd.to_datetime(df["service_from"]),
        service_to=pd.to_datetime(df["service_from"]),
        billing_npi="1234567893",
        rendering_npi="1234567893",
        place_of_service="11",
        patient_key=["P" + c[1:] for c in df["claim_id"]],
        total_charge_cents=df["charge"].map(_c),
        diagnosis_codes=[["I10"]] * len(df),
        payer_claim_ref=None,
        source="fixture",
    ))


# remit, claim, status, payer, paid_on, billed, paid, lines [(code, billed, paid, allowed or None, units)],
# adjustments [(line or None, group, reason, amount)]
REMITS = [
    ("R01", "C01", "1", "MCR", "2026-01-20", 200, 100,
     [("99213", 150, 70, 90, 1), ("36415", 50, 30, 30, 1)],
     [(1, "CO", "45", 60), (1, "PR", "2", 20), (2, "CO", "45", 20)]),
    ("R02", "C02", "1", "BCX", "2026-02-15", 300, 0, [("99214", 300, 0, None, 1)], [(1, "CO", "16", 300)]),
    ("R03", "C02", "1", "BCX", "2026-03-10", 300, 180, [("99214", 300, 180, 180, 1)], [(1, "CO", "45", 120)]),
    ("R04", "C06", "1", "BCX", "2026-03-05", 250, 120,
     [("99214", 200, 120, 150, 1), ("81002", 50, 0, None, 1)],
     [(1, "CO", "45", 50), (1, "PR", "3", 30), (2, "CO", "97", 50)]),
    ("R05", "C07", "1", "MCR", "2026-03-02", 100, 64, [("99212", 100, 64, 80, 1)],
     [(1, "CO", "45", 20), (1, "PR", "1", 16)]),
    ("R06", "C07", "22", "MCR", "2026-03-20", -100, -64, [("99212", -100, -64, -80, -1)],
     [(1, "CO", "45", -20), (1, "PR", "1", -16)]),
    ("R07", "C07", "1", "MCR", "2026-03-20", 100, 80, [("99212", 100, 80, 80, 1)], [(1, "CO", "45", 20)]),
    ("R08", "C08", "1", "MCD", "2026-03-25", 80, 0, [("99212", 80, 0, None, 1)], [(1, "CO", "197", 80)]),
    ("R09", "C09", "1", "BCX", "2026-03-28", 90, 60, [("99213", 90, 60, 60, 1)], [(1, "CO", "45", 30)]),
    ("R10", "C09", "1", "BCX", "2026-03-26", 90, 0, [("99213", 90, 0, None, 1)], [(None, "OA", "18", 90)]),
    ("R11", "C11", "1", "BCX", "2026-01-15", 500, 0, [("99215", 500, 0, None, 1)], [(None, "CO", "16", 500)]),
    ("R12", "C12", "1", "MCD", "2026-03-30", 60, 45, [("99213", 60, 45, 45, 1)], [(1, "CO", "45", 15)]),
]

# payer, code, modifiers, effective_from, allowed per unit
CONTRACTS = [
    ("MCR", "99213", "", "2025-01-01", 90), ("MCR", "36415", "", "2025-01-01", 30),
    ("MCR", "99212", "", "2025-01-01", 85),
    ("BCX", "99214", "", "2025-01-01", 150), ("BCX", "99214", "", "2026-03-01", 180),
    ("BCX", "99213", "", "2025-01-01", 65), ("BCX", "99213", "25", "2025-01-01", 40),
    ("MCD", "99213", "", "2025-01-01", 44),
]

POSTINGS = [
    ("C01", "2026-02-10", "patient_payment", -20, "patient"),
    ("C05", "2026-03-01", "patient_payment", -40, "patient"),
    ("C11", "2026-03-15", "denial", -500, "BCX"),
    ("C12", "2026-03-31", "patient_payment", -5, "patient"),
]


def tables() -> dict[str, pd.DataFrame]:
    """The practice's tables: a fresh copy each call (tests change them), of one build per process."""
    out = {name: frame.copy(deep=True) for name, frame in _built().items()}
    out["claims"]["diagnosis_codes"] = out["claims"]["diagnosis_codes"].map(list)  # the lists too, not shared
    return out


@functools.lru_cache(maxsize=1)
def _built() -> dict[str, pd.DataFrame]:
    c = claims()
    lines = pd.DataFrame({
        "submission_id": c["submission_id"], "line_number": 1, "procedure_code": "99213", "modifiers": "",
        "units": 1.0, "charge_cents": c["total_charge_cents"], "service_date": c["service_from"],
    })
    remits, rlines, adjs = [], [], []
    for rid, cid, status, payer, paid_on, billed, paid, lns, cas in REMITS:
        remits.append(dict(remit_id=rid, claim_id=cid, payer_claim_id="PCN" + cid, status_code=status,
                           billed_cents=_c(billed), paid_cents=_c(paid),
                           patient_responsibility_cents=sum(_c(a) for _, g, _, a in cas if g == "PR"),
                           payer_id=payer, paid_on=D(paid_on), trace_number="T" + paid_on, source="fixture"))
        for n, (code, b, p, allowed, units) in enumerate(lns, start=1):
            rlines.append(dict(remit_id=rid, line_number=n, procedure_code=code, modifiers="",
                               billed_cents=_c(b), paid_cents=_c(p),
                               allowed_cents=None if allowed is None else _c(allowed), units=float(units),
                               service_date=D(paid_on)))
        for line, group, reason, amount in cas:
            adjs.append(dict(remit_id=rid, line_number=line, group_code=group, reason_code=reason,
                             amount_cents=_c(amount), quantity=None))
    postings = pd.DataFrame(POSTINGS, columns=["claim_id", "posted_on", "kind", "amount", "responsible"])
    out = {
        "payers": pd.DataFrame({"payer_id": ["MCR", "MCD", "BCX", "SELF"],
                                "payer_name": ["Medicare Part B", "State Medicaid", "BlueCross X", "Self-pay"],
                                "payer_class": ["medicare", "medicaid", "commercial", "self_pay"]}),
        "claims": c,
        "claim_lines": schema.conform("claim_lines", lines),
        "remittances": schema.conform("remittances", pd.DataFrame(remits)),
        "remit_lines": schema.conform("remit_lines", pd.DataFrame(rlines).astype({"allowed_cents": "Int64"})),
        "adjustments": schema.conform("adjustments", pd.DataFrame(adjs).astype({"line_number": "Int32"})),
        "postings": schema.conform("postings", postings.assign(
            posted_on=pd.to_datetime(postings["posted_on"]), amount_cents=postings["amount"].map(_c),
            source="fixture")),
    }
    contracts = pd.DataFrame(CONTRACTS, columns=["payer_id", "procedure_code", "modifiers", "effective_from", "rate"])
    out["contracts"] = schema.conform("contracts", contracts.assign(
        effective_from=pd.to_datetime(contracts["effective_from"]), allowed_cents=contracts["rate"].map(_c)))
    out["ledger"] = build_ledger(out)
    return out


def one_claim_tables(payments: list[tuple[str, float, list[tuple[str, str, float]]]]) -> dict[str, pd.DataFrame]:
    """A practice with one 100.00 Medicare claim (DOS 2026-01-05, billed 01-06) and the given 835 payments:
    (paid_on, paid dollars, [(group, reason, amount)]) each; billed 100 on every remittance."""
    base = tables()
    claims = base["claims"][base["claims"]["claim_id"] == "C01"].reset_index(drop=True).assign(total_charge_cents=10000)
    remits, adjs = [], []
    for n, (paid_on, paid, cas) in enumerate(payments, start=1):
        rid = f"X{n}"
        remits.append(dict(remit_id=rid, claim_id="C01", payer_claim_id="PCNC01", status_code="1",
                           billed_cents=10000, paid_cents=_c(paid), patient_responsibility_cents=0, payer_id="MCR",
                           paid_on=D(paid_on), trace_number="T" + paid_on, source="fixture"))
        adjs += [dict(remit_id=rid, line_number=None, group_code=g, reason_code=r, amount_cents=_c(a), quantity=None)
                 for g, r, a in cas]
    out = {
        "payers": base["payers"], "claims": claims, "claim_lines": base["claim_lines"].iloc[:0],
        "remittances": schema.conform("remittances", pd.DataFrame(remits)),
        "remit_lines": base["remit_lines"].iloc[:0],
        "adjustments": schema.conform("adjustments", pd.DataFrame(adjs, columns=schema.TABLES["adjustments"].names)
                                      .astype({"line_number": "Int32"})),
        "postings": base["postings"].iloc[:0],
    }
    out["ledger"] = build_ledger(out)
    return out
