"""Canonical tables written back as the files a practice really receives: X12 837P claims, X12 835 remittances and
a generic practice-management (PM) CSV export.

The demo practice (:mod:`rcmkit.demo`) makes its truth as canonical tables; this module serializes that truth so
that the demo can be loaded through the real ingest path (:func:`rcmkit.ingest.read_x12` and
:func:`rcmkit.ingest.pm.reader.read_pm_export`) instead of being saved directly. Pure: tables in, text out; only
:func:`write_demo_files` touches the disk. Deterministic: the same tables give byte-identical files (a fixed
time of day, control numbers from a sequence, no wall clock, no randomness).

* :func:`write_837p`: one 005010X222A1 interchange per submission day (ISA/GS, one ST..SE per
  :data:`MAX_CLAIMS_PER_SET` claims), one subscriber loop per claim. Self-pay claims are not billed to anyone:
  they are left out (the PM export carries them).
* :func:`write_835`: one 005010X221A1 transaction set per payment (payer, payee, ``paid_on``,
  ``trace_number``), one file per payment date (a clearinghouse's daily ERA delivery, a functional group per
  payer). BPR02 = sum of CLP04 - sum of PLB. A payment whose claims net to less than zero (reversals outweigh
  payments) is a zero notice (BPR01 ``H``) with a PLB ``FB`` forwarding balance, recouped by a positive PLB
  ``FB`` on that payer's next payment, as payers do. Balancing holds in every set, claim and line.
* :func:`write_pm_payers_csv`, :func:`write_pm_charges_csv`, :func:`write_patient_payments_csv`: the generic PM
  layout of ``docs/pm_csv_layout.md`` (column map ``parameters/column_maps/generic.yaml``).
* :func:`write_demo_files`: all of the above under ``<root>/<practice>/inbox/{837,835,pm}/``, swapped in as a
  whole (written to a temporary folder, then renamed).

Patient names, birth dates, sexes and member IDs come from the roster (:func:`rcmkit.demo.patients`) and
appear in the files, as in real ones; ingest turns them into pseudonyms. Addresses, the practice's tax ID and
the payers' addresses are fixed fakes (the canonical tables do not hold them); rendering provider names are those
of the ``providers`` table when given (the demo's are fictional), else fixed fakes. Because the
files hold (fake) patient data, the inbox is written private to its owner like the store (0600 files in 0700
folders, or ``RCMKIT_FILE_MODE``: :func:`rcmkit.core.store.file_mode`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import unicodedata
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rcmkit.errors import RcmkitError

__all__ = [
    "Party",
    "Practice",
    "WriteError",
    "DEMO_PRACTICE",
    "DEMO_SUBMITTER",
    "DEMO_CLEARINGHOUSE",
    "MAX_CLAIMS_PER_SET",
    "FILING_INDICATORS",
    "FILING_INDICATORS_835",
    "write_837p",
    "write_835",
    "write_pm_payers_csv",
    "write_pm_charges_csv",
    "write_patient_payments_csv",
    "write_demo_files",
]

SEG, ELE, COMP, REP = "~", "*", ":", "^"
_END = SEG + "\n"  # one segment per line: X12 allows layout after the terminator, and people can read it
TIME = "1200"  # the fixed time of day in ISA10, GS05 and BHT05: output never depends on the clock
#: The TR3 recommends at most 5000 CLM segments per 837 transaction set.
MAX_CLAIMS_PER_SET = 5000
#: Claim filing indicator by canonical payer class: 837 SBR09 (CI commercial insurance) and 835 CLP06, whose code
#: list has no CI (005010X221A1: 12-17, AM, CH, DS, HM, LM, MA, MB, MC, OF, TV, VA, WC, ZZ): a commercial plan
#: is 12 (PPO) there.
FILING_INDICATORS = {"medicare": "MB", "medicaid": "MC", "commercial": "CI", "other": "ZZ", "self_pay": "ZZ"}
FILING_INDICATORS_835 = {"medicare": "MB", "medicaid": "MC", "commercial": "12", "other": "ZZ", "self_pay": "ZZ"}
_PAYER_CLASS_CSV = {"medicare": "Medicare", "medicaid": "Medicaid", "commercial": "Commercial",
                    "self_pay": "Self-pay", "other": "Other"}
_SEPARATORS = re.compile(r"[*~:^\r\n]")
_FILE_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_INBOX_MARKER = ".demo_inbox.json"  # hidden: folder walkers (rcmkit.ingest.pipeline) skip it


class WriteError(RcmkitError, ValueError):
    """The tables cannot be written as a valid file: the message names the table, the rows and what is missing."""


@dataclass(frozen=True)
class Party:
    """An EDI trading partner: its interchange ID (ISA06/ISA08 with qualifier ``qualifier``, GS02/GS03, and the
    837 NM1*41/NM1*40 ID), its name and an EDI contact."""

    id: str
    name: str
    qualifier: str = "ZZ"
    contact: str = "EDI SUPPORT"
    phone: str = "5555550100"


@dataclass(frozen=True)
class Practice:
    """What the files say about the practice beyond its NPIs: the billing provider's name, address, tax ID and
    taxonomy (837 loop 2010AA, 835 loop 1000B)."""

    name: str
    address: str
    city: str
    state: str
    zip: str  # 9 digits: the 837 billing provider address needs ZIP+4
    ein: str
    taxonomy: str = "207Q00000X"  # family medicine


DEMO_PRACTICE = Practice("RCMKIT DEMO FAMILY MEDICINE", "100 CLINIC WAY", "SPRINGFIELD", "IL", "627040001",
                         "990000001")
DEMO_SUBMITTER = Party("RCMKITDEMO", "RCMKIT DEMO FAMILY MEDICINE")
DEMO_CLEARINGHOUSE = Party("RCMKITCLEAR", "RCMKIT DEMO CLEARINGHOUSE")

_PROVIDER_LAST = ("REYES", "CHEN", "PATEL", "OKAFOR", "NOVAK", "LINDQVIST", "MORALES", "IBRAHIM")
_PROVIDER_FIRST = ("ANA", "DAVID", "PRIYA", "SAMUEL", "ELENA", "MARK", "GRACE", "OMAR")
_STREETS = ("MAIN ST", "OAK AVE", "MAPLE DR", "PINE ST", "CEDAR LN", "ELM ST", "LAKE RD", "HILL ST")


# ============================================================================================ small helpers
def _amount(cents: int) -> str:
    """X12 R amount: no leading zeros, no trailing decimal zeros (12, 12.5, 12.05, -0.3)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac // 10}" if frac % 10 == 0 else f"{sign}{whole}.{frac:02d}"


def _quantity(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return np.format_float_positional(float(value), trim="-")


def _dollars(cents: int) -> str:
    """A PM export amount: dollars with two decimals ('150.00', '-12.50')."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{frac:02d}"


def _text(value: object) -> str:
    """A free-text element (names, addresses): accents dropped (X12 text is ASCII), separators replaced by
    blanks, blanks collapsed."""
    if _missing(value):
        return ""
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(_SEPARATORS.sub(" ", text).split())


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _ymd(series: pd.Series) -> list[str]:
    """CCYYMMDD strings of a date column ('' where missing)."""
    s = pd.to_datetime(series)
    return s.dt.strftime("%Y%m%d").fillna("").tolist()


def _strings(series: pd.Series) -> list[str]:
    """A string column as a list, '' where missing."""
    return ["" if _missing(v) else str(v) for v in series.tolist()]


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _check_ids(table: str, column: str, values: pd.Series) -> None:
    """IDs and codes are written as they are: refuse one that holds a separator or is empty."""
    s = values.astype("str")
    bad = values.isna() | (s.str.strip() == "") | s.str.contains(r"[*~:^\s]", regex=True)
    if bad.any():
        shown = ", ".join(repr(v) for v in values[bad].head(5).tolist())
        raise WriteError(f"{table}.{column}: {int(bad.sum())} value(s) cannot be written as an X12 identifier "
                     f"(empty, blanks or one of * ~ : ^): {shown}")


def _segment(*elements: str) -> str:
    """One segment with its terminator; trailing empty elements are dropped, as X12 requires."""
    return ELE.join(elements).rstrip(ELE) + _END


def _payer_table(payers: pd.DataFrame) -> pd.DataFrame:
    dup = payers["payer_id"].duplicated()
    if dup.any():
        raise WriteError(f"payers: duplicate payer_id {payers.loc[dup, 'payer_id'].tolist()[:5]}")
    return payers.set_index("payer_id")


def _roster(patients: pd.DataFrame) -> pd.DataFrame:
    need = ["patient_key", "first_name", "last_name", "sex", "birth_date", "member_id"]
    missing = [c for c in need if c not in patients.columns]
    if missing:
        raise WriteError(f"patients: missing columns {missing}; expected the roster of rcmkit.demo.patients()")
    dup = patients["patient_key"].duplicated()
    if dup.any():
        raise WriteError(f"patients: duplicate patient_key {patients.loc[dup, 'patient_key'].tolist()[:5]}")
    return patients.set_index("patient_key")[need[1:]]


def _patient_columns(keys: pd.Series, roster: pd.DataFrame, table: str) -> pd.DataFrame:
    """Roster columns for each key of ``keys``; every key must be in the roster."""
    unknown = ~keys.isin(roster.index)
    if unknown.any():
        raise WriteError(f"{table}: {int(unknown.sum())} row(s) name a patient_key that is not in the patient "
                     f"roster, e.g. {keys[unknown].head(3).tolist()}")
    return roster.reindex(keys.to_numpy())


def _address(key: str) -> tuple[str, str, str, str]:
    """A fixed fake street address for a patient (the canonical tables hold none)."""
    h = _crc(key)
    return f"{100 + h % 9800} {_STREETS[(h >> 16) % len(_STREETS)]}", "SPRINGFIELD", "IL", "62704"


def _provider_name(npi: str) -> tuple[str, str]:
    h = _crc(npi)
    return _PROVIDER_LAST[h % len(_PROVIDER_LAST)], _PROVIDER_FIRST[(h >> 8) % len(_PROVIDER_FIRST)]


def _provider_nm1(providers: pd.DataFrame | None) -> dict[str, tuple[str, str, str, str]]:
    """NPI -> (NM102, NM103, NM104, NM105) from a canonical ``providers`` table: a person's 'LAST, FIRST MIDDLE'
    split back into its elements, an organization's name in NM103."""
    if providers is None or not len(providers):
        return {}
    out = {}
    for npi, name, entity in zip(_strings(providers["npi"]), _strings(providers["name"]),
                                 _strings(providers["entity_type"])):
        if not npi or not _text(name):
            continue
        last, comma, given = str(name).partition(",")
        if entity == "2" or not comma:
            out[npi] = ("2" if entity == "2" else "1", _text(name), "", "")
        else:
            first, _, middle = _text(given).partition(" ")
            out[npi] = ("1", _text(last), first, middle)
    return out


def _isa(sender: Party, receiver: Party, date8: str, control: int, usage: str) -> str:
    for who in (sender, receiver):
        if not 1 <= len(who.id) <= 15 or _SEPARATORS.search(who.id):
            raise WriteError(f"interchange ID {who.id!r} must be 1-15 characters without separators")
    if usage not in ("P", "T"):
        raise WriteError(f"ISA15 usage indicator must be 'P' (production) or 'T' (test), got {usage!r}")
    if not 0 < control < 10**9:
        raise WriteError(f"interchange control number {control} must be 1..999999999")
    blank = " " * 10
    return (f"ISA*00*{blank}*00*{blank}*{sender.qualifier:<2}*{sender.id:<15}*{receiver.qualifier:<2}*"
            f"{receiver.id:<15}*{date8[2:]}*{TIME}*{REP}*00501*{control:09d}*0*{usage}*{COMP}{_END}")


def _interchange(groups: list[tuple[str, int, list[list[str]]]], *, transaction: str, functional_id: str,
                 version: str, sender: Party, receiver: Party, date8: str, control: int, usage: str,
                 st03: bool) -> str:
    """ISA, then per group (GS02 application sender code, GS06 group control number, bodies) a GS, one ST..SE
    per body and a GE, then IEA. A body is a list of text blocks of whole segments (ST and SE excluded); SE01
    counts their terminators, which data never contains (IDs are checked, free text is cleaned)."""
    out = [_isa(sender, receiver, date8, control, usage)]
    for application, group_control, sets in groups:
        out.append(_segment("GS", functional_id, application, receiver.id, date8, TIME, str(group_control), "X",
                            version))
        for number, body in enumerate(sets, start=1):
            st = f"{number:04d}"
            out.append(_segment("ST", transaction, st, version if st03 else ""))
            out.extend(body)
            out.append(_segment("SE", str(sum(block.count(SEG) for block in body) + 2), st))
        out.append(_segment("GE", str(len(sets)), str(group_control)))
    out.append(_segment("IEA", str(len(groups)), f"{control:09d}"))
    return "".join(out)


def _first_submissions(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim_id, its earliest submission, indexed by claim_id: the facts a remittance needs (patient,
    billing NPI, place and dates of service), which do not change between submissions."""
    ordered = claims.sort_values(["claim_id", "submitted_on"], kind="stable")
    return ordered.drop_duplicates("claim_id").set_index("claim_id")


def _require(table: str, frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise WriteError(f"{table}: missing columns {missing}")


def _refuse(table: str, mask: pd.Series | np.ndarray, ids: pd.Series, what: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        raise WriteError(f"{table}: {int(mask.sum())} row(s) {what}, e.g. {ids[mask].head(3).tolist()}")


# ============================================================================================ 837P
def write_837p(claims: pd.DataFrame, claim_lines: pd.DataFrame, payers: pd.DataFrame, patients: pd.DataFrame, *,
               submitter: Party = DEMO_SUBMITTER, receiver: Party = DEMO_CLEARINGHOUSE,
               practice: Practice = DEMO_PRACTICE, usage: str = "T", first_control_number: int = 1,
               max_claims_per_set: int = MAX_CLAIMS_PER_SET,
               providers: pd.DataFrame | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(file name, X12 text)``: one 837P (005010X222A1) interchange per submission day.

    Every claim submission (``claims`` row) whose payer is not self-pay becomes a CLM under its own subscriber
    loop (SBR*P*18: the patient is the subscriber), with the payer (NM1*PR, PI ``payer_id``), the diagnoses
    (HI, ICD-10-CM without the dot, ABK principal then ABF), REF*F8 ``payer_claim_ref`` on a replacement (7)
    or void (8), the rendering provider (NM1*82) when it differs from the billing NPI (named as in the canonical
    ``providers`` table when given, else a fixed fictional name per NPI), and its ``claim_lines``
    as LX/SV1/DTP*472. Claims are grouped under a billing provider loop (NM1*85) per ``billing_npi``. Files
    are named ``837P_<CCYYMMDD>.x12`` and numbered (ISA13 = GS06) from ``first_control_number`` in date
    order. ``patients`` is the roster of :func:`rcmkit.demo.patients` (names, sex, birth date, member ID).
    """
    _require("claims", claims, ["claim_id", "submission_id", "frequency_code", "submitted_on", "payer_id",
                                "billing_npi", "rendering_npi", "place_of_service", "patient_key",
                                "total_charge_cents", "diagnosis_codes", "payer_claim_ref"])
    _require("claim_lines", claim_lines, ["submission_id", "line_number", "procedure_code", "modifiers", "units",
                                          "charge_cents", "service_date"])
    payer = _payer_table(payers)
    _refuse("claims", ~claims["payer_id"].isin(payer.index), claims["payer_id"], "name a payer not in payers")
    billable = (claims["payer_id"].map(payer["payer_class"]) != "self_pay").to_numpy()
    c = claims[billable].reset_index(drop=True)
    if c.empty:
        return
    for column in ("claim_id", "submission_id", "frequency_code", "payer_id", "billing_npi", "place_of_service"):
        _check_ids("claims", column, c[column])
    _refuse("claims", c["submission_id"].duplicated(), c["submission_id"], "repeat a submission_id")
    rendering = c["rendering_npi"]
    if rendering.notna().any():
        _check_ids("claims", "rendering_npi", rendering.dropna())
    needs_ref = c["frequency_code"].isin(["7", "8"]) & c["payer_claim_ref"].isna()
    _refuse("claims", needs_ref, c["submission_id"], "replace or void a claim (frequency 7/8) without the payer's "
            "claim number (payer_claim_ref, REF*F8)")
    pat = _patient_columns(c["patient_key"], _roster(patients), "claims")
    _refuse("claims", pat["member_id"].isna().to_numpy(), c["claim_id"],
            "bill a payer for a patient without a member_id (NM1*IL NM109 is required)")
    _check_ids("patients", "member_id", pat["member_id"])

    lines_text = _837_lines(c, claim_lines)
    named = _provider_nm1(providers)
    payer_names = c["payer_id"].map(payer["payer_name"]).map(_text).tolist()
    indicator = c["payer_id"].map(payer["payer_class"]).map(FILING_INDICATORS).fillna("ZZ").tolist()
    blocks = []
    for (sub, cid, freq, pid, npi, rnpi, pos, total, dx, ref, ind, pname, last, first, sex, dob, member, key) in zip(
            c["submission_id"].tolist(), c["claim_id"].tolist(), c["frequency_code"].tolist(),
            c["payer_id"].tolist(), c["billing_npi"].tolist(), _strings(c["rendering_npi"]),
            c["place_of_service"].tolist(), c["total_charge_cents"].tolist(), c["diagnosis_codes"].tolist(),
            _strings(c["payer_claim_ref"]), indicator, payer_names, pat["last_name"].map(_text).tolist(),
            pat["first_name"].map(_text).tolist(), pat["sex"].tolist(), _ymd(pat["birth_date"]),
            pat["member_id"].tolist(), c["patient_key"].tolist()):
        street, city, state, zip5 = _address(key)
        codes = [str(d).replace(".", "").strip() for d in dx]
        if not codes or len(codes) > 12 or any(not d or _SEPARATORS.search(d) or " " in d for d in codes):
            raise WriteError(f"claims: submission {sub!r} has diagnosis codes {list(dx)!r}; expected 1-12 ICD-10-CM "
                             "codes (HI is required)")
        hi = ELE.join([f"ABK{COMP}{codes[0]}"] + [f"ABF{COMP}{d}" for d in codes[1:]])
        parts = [
            f"SBR*P*18*******{ind}{_END}",
            f"NM1*IL*1*{last}*{first}****MI*{member}{_END}",
            f"N3*{street}{_END}N4*{city}*{state}*{zip5}{_END}",
            f"DMG*D8*{dob}*{sex if sex in ('F', 'M') else 'U'}{_END}" if dob else "",
            f"NM1*PR*2*{pname}*****PI*{pid}{_END}",
            f"CLM*{cid}*{_amount(total)}***{pos}{COMP}B{COMP}{freq}*Y*A*Y*Y{_END}",
        ]
        if ref and freq in ("7", "8"):
            parts.append(f"REF*F8*{ref}{_END}")
        parts.append(f"HI*{hi}{_END}")
        if rnpi and rnpi != npi:
            kind, plast, pfirst, pmiddle = named.get(rnpi) or ("1", *_provider_name(rnpi), "")
            parts.append(f"NM1*82*{kind}*{plast}*{pfirst}*{pmiddle}***XX*{rnpi}{_END}"
                         f"PRV*PE*PXC*{practice.taxonomy}{_END}")
        if sub not in lines_text:
            raise WriteError(f"claims: submission {sub!r} has no claim_lines; an 837P claim needs a service line")
        parts.append(lines_text[sub])
        blocks.append("".join(parts))

    days = _ymd(c["submitted_on"])
    order = pd.DataFrame({"day": days, "npi": c["billing_npi"].tolist()}).sort_values(["day", "npi"], kind="stable")
    control = first_control_number
    for day, rows in order.groupby("day", sort=True):
        positions = rows.index.to_numpy()
        npis = rows["npi"].tolist()
        sets = []
        for start in range(0, len(positions), max_claims_per_set):
            body = [
                f"BHT*0019*00*{control:09d}{len(sets) + 1:04d}*{day}*{TIME}*CH{_END}",
                f"NM1*41*2*{_text(submitter.name)}*****46*{submitter.id}{_END}",
                f"PER*IC*{_text(submitter.contact)}*TE*{submitter.phone}{_END}",
                f"NM1*40*2*{_text(receiver.name)}*****46*{receiver.id}{_END}",
            ]
            hl, parent, current = 0, 0, None
            for k in range(start, min(start + max_claims_per_set, len(positions))):
                if npis[k] != current:
                    current = npis[k]
                    hl += 1
                    parent = hl
                    body.append(
                        f"HL*{hl}**20*1{_END}PRV*BI*PXC*{practice.taxonomy}{_END}"
                        f"NM1*85*2*{_text(practice.name)}*****XX*{current}{_END}N3*{_text(practice.address)}{_END}"
                        f"N4*{_text(practice.city)}*{practice.state}*{practice.zip}{_END}REF*EI*{practice.ein}{_END}")
                hl += 1
                body.append(f"HL*{hl}*{parent}*22*0{_END}")
                body.append(blocks[positions[k]])
            sets.append(body)
        yield f"837P_{day}.x12", _interchange(
            [(submitter.id, control, sets)], transaction="837", functional_id="HC", version="005010X222A1",
            sender=submitter, receiver=receiver, date8=day, control=control, usage=usage, st03=True)
        control += 1


def _837_lines(c: pd.DataFrame, claim_lines: pd.DataFrame) -> dict[str, str]:
    """LX/SV1/DTP*472 text of every submission's lines, in line_number order (LX numbered 1, 2, ...)."""
    lines = claim_lines[claim_lines["submission_id"].isin(c["submission_id"])]
    lines = lines.sort_values(["submission_id", "line_number"], kind="stable")
    if lines.empty:
        return {}
    _check_ids("claim_lines", "procedure_code", lines["procedure_code"])
    n_dx = c.set_index("submission_id")["diagnosis_codes"].map(len)
    pointers = lines["submission_id"].map(n_dx).fillna(1).astype(int).clip(1, 4)
    mods = [m.split(COMP) if m else [] for m in _strings(lines["modifiers"])]
    out: dict[str, list[str]] = {}
    for sub, code, mod, units, charge, day, n_ptr in zip(
            lines["submission_id"].tolist(), lines["procedure_code"].tolist(), mods, lines["units"].tolist(),
            lines["charge_cents"].tolist(), _ymd(lines["service_date"]), pointers.tolist()):
        if len(mod) > 4 or any(not m or _SEPARATORS.search(m) or " " in m for m in mod):
            raise WriteError(f"claim_lines: submission {sub!r} code {code!r} has modifiers {':'.join(mod)!r}; "
                             "expected at most 4 ':'-joined modifiers")
        if not day:
            raise WriteError(f"claim_lines: submission {sub!r} code {code!r} has no service_date (DTP*472)")
        composite = COMP.join(["HC", code] + mod)
        ptr = COMP.join(str(i) for i in range(1, n_ptr + 1))
        bucket = out.setdefault(sub, [])
        bucket.append(f"LX*{len(bucket) + 1}{_END}SV1*{composite}*{_amount(charge)}*UN*{_quantity(units)}***{ptr}"
                      f"{_END}DTP*472*D8*{day}{_END}")
    return {sub: "".join(parts) for sub, parts in out.items()}


# ============================================================================================ 835
def write_835(remittances: pd.DataFrame, remit_lines: pd.DataFrame, adjustments: pd.DataFrame,
              payers: pd.DataFrame, patients: pd.DataFrame, *, claims: pd.DataFrame,
              practice: Practice = DEMO_PRACTICE, sender: Party = DEMO_CLEARINGHOUSE,
              receiver: Party = DEMO_SUBMITTER, usage: str = "T", first_control_number: int = 1,
              file_per: str = "day") -> Iterator[tuple[str, str]]:
    """Yield ``(file name, X12 text)`` of 835s (005010X221A1): one transaction set per payment, that is per
    (payer, payee NPI, ``paid_on``, ``trace_number``) of ``remittances``, in date order.

    ``file_per="day"`` (default): one file per payment date, as a clearinghouse delivers a day's ERAs: one
    interchange from ``sender`` to ``receiver`` with a functional group per payer (GS02 ``payer_id``) and an
    ST..SE per payment; named ``835_<CCYYMMDD>.x12``. ``file_per="payment"``: one file per payment, named
    ``835_<CCYYMMDD>_<payer_id>_<trace>.x12`` (many small files; ingest reads them more slowly). ISA13 counts
    files from ``first_control_number``; GS06 counts groups across all files.

    Header: BPR (BPR02 = sum of CLP04 - sum of PLB, BPR16 ``paid_on``), TRN*1 ``trace_number``, DTM*405, N1*PR
    payer name with REF*2U ``payer_id``, N1*PE practice name with XX billing NPI. Each remittance: CLP (01
    claim_id, 02 status, 03 billed, 04 paid, 05 patient responsibility when not 0, 06 filing indicator from the
    payer class, 07 payer_claim_id, 08 place of service), claim-level CAS, NM1*QC (patient name and member ID
    from the roster), DTM*232/233 (service dates) when it has no service lines; each line: SVC (HC:code:mods,
    billed, paid, SVC05 units when not 1), DTM*472, CAS (one per group, six reasons per segment), AMT*B6
    allowed when known. ``claims`` gives each remittance's patient, billing NPI, place and dates of service.

    A payment whose claims net below zero becomes a notice (BPR01 H, BPR02 0) with a negative PLB FB that
    forwards the balance; the payer's next payment to that payee recoups it with a positive PLB FB.
    """
    if file_per not in ("day", "payment"):
        raise ValueError(f"file_per must be 'day' or 'payment', got {file_per!r}")
    _require("remittances", remittances, ["remit_id", "claim_id", "payer_claim_id", "status_code", "billed_cents",
                                          "paid_cents", "patient_responsibility_cents", "payer_id", "paid_on",
                                          "trace_number"])
    r = remittances.reset_index(drop=True)
    if r.empty:
        return
    payer = _payer_table(payers)
    _refuse("remittances", ~r["payer_id"].isin(payer.index), r["remit_id"], "name a payer not in payers")
    _refuse("remittances", r["remit_id"].duplicated(), r["remit_id"], "repeat a remit_id")
    _refuse("remittances", r["payer_claim_id"].isna(), r["remit_id"], "have no payer_claim_id (CLP07 is required)")
    _refuse("remittances", r["paid_on"].isna(), r["remit_id"], "have no paid_on (BPR16 is required)")
    for column in ("claim_id", "status_code", "payer_id", "payer_claim_id"):
        _check_ids("remittances", column, r[column])
    first = _first_submissions(claims)
    _refuse("remittances", ~r["claim_id"].isin(first.index), r["remit_id"], "pay a claim_id that is not in claims")
    info = first.reindex(r["claim_id"].to_numpy())
    pat = _patient_columns(info["patient_key"].reset_index(drop=True), _roster(patients), "remittances")
    npis = info["billing_npi"].astype("str").tolist()
    _check_ids("claims", "billing_npi", info["billing_npi"])

    claim_cas, line_cas = _cas_text(adjustments, r, remit_lines)
    lines_text = _835_lines(remit_lines, r, line_cas)
    indicator = r["payer_id"].map(payer["payer_class"]).map(FILING_INDICATORS_835).fillna("ZZ").tolist()
    blocks = []
    for rid, cid, status, billed, paid, resp, ind, icn, pos, last, first_name, member, start, end in zip(
            r["remit_id"].tolist(), r["claim_id"].tolist(), r["status_code"].tolist(), r["billed_cents"].tolist(),
            r["paid_cents"].tolist(), r["patient_responsibility_cents"].tolist(), indicator,
            r["payer_claim_id"].tolist(), _strings(info["place_of_service"]), pat["last_name"].map(_text).tolist(),
            pat["first_name"].map(_text).tolist(), _strings(pat["member_id"]), _ymd(info["service_from"]),
            _ymd(info["service_to"])):
        resp_text = _amount(resp) if resp else ""
        parts = [_segment("CLP", cid, status, _amount(billed), _amount(paid), resp_text, ind, icn, pos),
                 claim_cas.get(rid, ""),
                 _segment("NM1", "QC", "1", last, first_name, "", "", "", "MI" if member else "", member)]
        body = lines_text.get(rid)
        if body is None:
            parts.append((f"DTM*232*{start}{_END}" if start else "") + (f"DTM*233*{end}{_END}" if end else ""))
        else:
            parts.append(body)
        blocks.append("".join(parts))

    keys = pd.DataFrame({"day": _ymd(r["paid_on"]), "payer": r["payer_id"].tolist(), "npi": npis,
                         "trace": [t or f"{d}{p}" for t, d, p in zip(_strings(r["trace_number"]),
                                                                      _ymd(r["paid_on"]), r["payer_id"].tolist())]})
    _check_ids("remittances", "trace_number", keys["trace"])
    payments = keys.groupby(["day", "payer", "trace", "npi"], sort=True).indices
    per_trace = pd.Series([k[:3] for k in payments]).value_counts()
    paid = r["paid_cents"].to_numpy()
    owed: dict[tuple[str, str], tuple[int, str]] = {}  # (payer, npi) -> (cents the payee owes, where it arose)
    files: dict[str, tuple[str, dict[str, list[list[str]]]]] = {}  # name -> (day, payer -> transaction sets)
    for (day, payer_id, trace, npi), rows in payments.items():
        total = int(paid[rows].sum())
        balance, origin = owed.get((payer_id, npi), (0, ""))
        plb = 0
        if balance > 0 and total > 0:  # recoup what an earlier payment forwarded
            plb = min(balance, total)
            balance -= plb
        elif total < 0:  # forward the negative balance: nothing is paid today
            plb = total
            balance, origin = balance - total, origin or trace
        owed[(payer_id, npi)] = (balance, origin if balance else "")
        bpr02 = total - plb
        h = _crc(payer_id)
        body = [
            (f"BPR*I*{_amount(bpr02)}*C*CHK" if bpr02 > 0 else "BPR*H*0*C*NON") + "*" * 12 + f"{day}{_END}",
            f"TRN*1*{trace}*1{h % 10**9:09d}{_END}",
            f"DTM*405*{day}{_END}",
            f"N1*PR*{_text(payer.at[payer_id, 'payer_name'])}{_END}",
            f"N3*PO BOX {1000 + h % 9000}{_END}N4*SPRINGFIELD*IL*62701{_END}",
            f"REF*2U*{payer_id}{_END}",
            f"PER*BL*PROVIDER SERVICES*TE*800555{h % 10000:04d}{_END}",
            f"N1*PE*{_text(practice.name)}*XX*{npi}{_END}",
            f"REF*TJ*{practice.ein}{_END}",
            f"LX*1{_END}",
        ] + [blocks[i] for i in rows]
        if plb:
            reference = trace if plb < 0 else (origin or trace)
            body.append(f"PLB*{npi}*{day[:4]}1231*FB{COMP}{reference}*{_amount(plb)}{_END}")
        if file_per == "day":
            name = f"835_{day}.x12"
        else:
            suffix = f"_{npi}" if per_trace[(day, payer_id, trace)] > 1 else ""
            name = f"835_{day}_{_FILE_SAFE.sub('_', payer_id)}_{_FILE_SAFE.sub('_', trace)}{suffix}.x12"
        files.setdefault(name, (day, {}))[1].setdefault(payer_id, []).append(body)
    control, group_control = first_control_number, first_control_number
    for name, (day, by_payer) in files.items():
        groups = []
        for payer_id, sets in by_payer.items():
            groups.append((payer_id[:15], group_control, sets))
            group_control += 1
        yield name, _interchange(groups, transaction="835", functional_id="HP", version="005010X221A1",
                                 sender=sender, receiver=receiver, date8=day, control=control, usage=usage,
                                 st03=False)
        control += 1


def _cas_text(adjustments: pd.DataFrame, r: pd.DataFrame, remit_lines: pd.DataFrame
              ) -> tuple[dict[str, str], dict[tuple[str, int], str]]:
    """CAS segments by remittance (claim level) and by (remittance, line_number): one CAS per group code in order
    of first appearance, at most six reason/amount/quantity triplets each."""
    _require("adjustments", adjustments, ["remit_id", "line_number", "group_code", "reason_code", "amount_cents",
                                          "quantity"])
    a = adjustments[adjustments["remit_id"].isin(r["remit_id"])]
    if a.empty:
        return {}, {}
    for column in ("group_code", "reason_code"):
        _check_ids("adjustments", column, a[column])
    line = a["line_number"].astype("Int64").fillna(0).astype(np.int64)
    known = set(zip(remit_lines["remit_id"].tolist(), remit_lines["line_number"].astype(np.int64).tolist()))
    orphan = np.array([ln > 0 and (rid, ln) not in known for rid, ln in zip(a["remit_id"].tolist(), line.tolist())],
                      dtype=bool)
    _refuse("adjustments", orphan, a["remit_id"], "adjust a service line that is not in remit_lines")
    grouped: dict[tuple[str, int], dict[str, list[str]]] = {}
    for rid, ln, group, reason, cents, qty in zip(a["remit_id"].tolist(), line.tolist(), a["group_code"].tolist(),
                                                  a["reason_code"].tolist(), a["amount_cents"].tolist(),
                                                  a["quantity"].tolist()):
        triplet = f"{reason}*{_amount(cents)}*{'' if _missing(qty) else _quantity(qty)}"
        grouped.setdefault((rid, ln), {}).setdefault(group, []).append(triplet)
    claim_level: dict[str, str] = {}
    line_level: dict[tuple[str, int], str] = {}
    for (rid, ln), groups in grouped.items():
        text = "".join(
            f"CAS*{group}*{ELE.join(triplets[i:i + 6])}".rstrip(ELE) + _END
            for group, triplets in groups.items() for i in range(0, len(triplets), 6))
        if ln == 0:
            claim_level[rid] = text
        else:
            line_level[(rid, ln)] = text
    return claim_level, line_level


def _835_lines(remit_lines: pd.DataFrame, r: pd.DataFrame, line_cas: dict[tuple[str, int], str]) -> dict[str, str]:
    """SVC/DTM*472/CAS/AMT*B6 text of every remittance's lines, in line_number order."""
    _require("remit_lines", remit_lines, ["remit_id", "line_number", "procedure_code", "modifiers", "billed_cents",
                                          "paid_cents", "allowed_cents", "units", "service_date"])
    lines = remit_lines[remit_lines["remit_id"].isin(r["remit_id"])]
    lines = lines.sort_values(["remit_id", "line_number"], kind="stable")
    if lines.empty:
        return {}
    _check_ids("remit_lines", "procedure_code", lines["procedure_code"])
    out: dict[str, list[str]] = {}
    allowed = lines["allowed_cents"].astype("Int64")
    for rid, ln, code, mods, billed, paid, allow, units, day in zip(
            lines["remit_id"].tolist(), lines["line_number"].astype(np.int64).tolist(),
            lines["procedure_code"].tolist(), _strings(lines["modifiers"]), lines["billed_cents"].tolist(),
            lines["paid_cents"].tolist(), allowed.tolist(), lines["units"].tolist(), _ymd(lines["service_date"])):
        mod = mods.split(COMP) if mods else []
        if len(mod) > 4 or any(not m or _SEPARATORS.search(m) or " " in m for m in mod):
            raise WriteError(f"remit_lines: remittance {rid!r} line {ln} has modifiers {mods!r}; expected at most 4 "
                             "':'-joined modifiers")
        units_text = "" if _missing(units) or units == 1 else _quantity(units)
        text = _segment("SVC", COMP.join(["HC", code] + mod), _amount(billed), _amount(paid), "", units_text)
        if day:
            text += f"DTM*472*{day}{_END}"
        text += line_cas.get((rid, ln), "")
        if not _missing(allow):
            text += f"AMT*B6*{_amount(allow)}{_END}"
        out.setdefault(rid, []).append(text)
    return {rid: "".join(parts) for rid, parts in out.items()}


# ============================================================================================ PM CSV
def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _us_dates(series: pd.Series) -> list[str]:
    return pd.to_datetime(series).dt.strftime("%m/%d/%Y").fillna("").tolist()


def write_pm_payers_csv(payers: pd.DataFrame) -> str:
    """``payers.csv`` of the generic PM layout: PayerID, PayerName, PayerClass."""
    _require("payers", payers, ["payer_id", "payer_name", "payer_class"])
    classes = payers["payer_class"].map(_PAYER_CLASS_CSV)
    _refuse("payers", classes.isna(), payers["payer_id"], "have an unknown payer_class")
    return _csv(["PayerID", "PayerName", "PayerClass"],
                [list(row) for row in zip(payers["payer_id"].tolist(), _strings(payers["payer_name"]),
                                          classes.tolist())])


def write_pm_charges_csv(claims: pd.DataFrame, claim_lines: pd.DataFrame,
                         patients: pd.DataFrame | None = None) -> str:
    """``charges.csv`` of the generic PM layout: one row per service line of each claim, as the practice's PM
    system knows it.

    A PM system holds one claim per claim ID, not 837 submissions: BillDate is the claim's first submission date
    that is not a void (when its charge posts), and the lines, modifiers and diagnoses are those of its last
    submission that is not a void (the corrected claim). PatientAccount is the roster's ``patient_key`` (the
    practice's account number; ingest stores only a salted hash of it). When ``patients`` is given, PatientName
    and BirthDate columns are added, as real exports have them; the reader never reads them.
    """
    _require("claims", claims, ["claim_id", "submission_id", "frequency_code", "submitted_on", "payer_id",
                                "billing_npi", "rendering_npi", "place_of_service", "patient_key",
                                "diagnosis_codes"])
    live = claims[claims["frequency_code"] != "8"].reset_index(drop=True)
    live = live.assign(_pos=np.arange(len(live))).sort_values(["claim_id", "submitted_on", "_pos"], kind="stable")
    bill_date = live.groupby("claim_id", sort=False)["submitted_on"].first()
    latest = live.drop_duplicates("claim_id", keep="last").sort_values("_pos").set_index("submission_id")
    lines = claim_lines[claim_lines["submission_id"].isin(latest.index)]
    lines = lines.assign(_claim_pos=lines["submission_id"].map(latest["_pos"]).to_numpy())
    lines = lines.sort_values(["_claim_pos", "line_number"], kind="stable")
    head = latest.reindex(lines["submission_id"].to_numpy())
    dx = head["diagnosis_codes"].map(lambda codes: ", ".join(f"{d[:3]}.{d[3:]}" if len(d) > 3 else d
                                                             for d in (str(x).replace(".", "") for x in codes)))
    columns = ["ClaimID", "PatientAccount", "PayerID", "SecondaryPayerID", "ServiceDate", "BillDate", "CPT",
               "Modifiers", "Units", "Charge", "Diagnoses", "BillingNPI", "RenderingNPI", "POS"]
    data = [head["claim_id"].tolist(), head["patient_key"].tolist(), head["payer_id"].tolist(), [""] * len(head),
            _us_dates(lines["service_date"]), _us_dates(head["claim_id"].map(bill_date)),
            lines["procedure_code"].tolist(), [m.replace(COMP, ", ") for m in _strings(lines["modifiers"])],
            [_quantity(u) for u in lines["units"].tolist()], [_dollars(c) for c in lines["charge_cents"].tolist()],
            dx.tolist(), head["billing_npi"].tolist(), _strings(head["rendering_npi"]),
            _strings(head["place_of_service"])]
    if patients is not None:
        pat = _patient_columns(head["patient_key"].reset_index(drop=True), _roster(patients), "claims")
        columns[2:2] = ["PatientName", "BirthDate"]
        data[2:2] = [[f"{_text(last)}, {_text(first)}" for last, first in zip(pat["last_name"].tolist(),
                                                                             pat["first_name"].tolist())],
                     _us_dates(pat["birth_date"])]
    return _csv(columns, [list(row) for row in zip(*data)])


#: PM payment Type by ledger kind (docs/pm_csv_layout.md); amounts are printed as -ledger amount.
_PM_TYPES = {"patient_payment": "PATPAY", "insurance_payment": "INSPAY", "denial": "DENIALWO",
             "other_adjustment": "WRITEOFF", "reversal": "REVERSAL", "contractual": "ADJ", "refund": "REFUND"}


def write_patient_payments_csv(postings: pd.DataFrame, *, contractual_reason: str = "CO-45") -> str:
    """``payments.csv`` of the generic PM layout: one row per ``postings`` row, so that
    ``read_pm_export(..., "generic")`` gives the same postings back (claim, date, kind, amount, responsible).

    Type by kind: patient_payment PATPAY, denial DENIALWO, other_adjustment WRITEOFF, refund REFUND,
    insurance_payment INSPAY, reversal REVERSAL, contractual ADJ with AdjReason
    ``contractual_reason``. Amounts are printed with the export's usual sign (credits positive: the ledger
    amount negated). PayerID is ``PATIENT`` or the responsible payer. A ``patient_responsibility`` posting is
    one half of a transfer and has no single-row form: it is refused.
    """
    _require("postings", postings, ["claim_id", "posted_on", "kind", "amount_cents", "responsible"])
    kind = postings["kind"].astype("str")
    types = kind.map(_PM_TYPES)
    _refuse("postings", types.isna(), kind, "have a kind the generic PM layout cannot write as one row")
    amount = postings["amount_cents"].astype(np.int64).to_numpy()
    types = types.to_numpy()
    responsible = _strings(postings["responsible"])
    rows = [[cid, day, typ, _dollars(-cents), "PATIENT" if who == "patient" else who,
             contractual_reason if typ == "ADJ" else "", ""]
            for cid, day, typ, cents, who in zip(postings["claim_id"].tolist(), _us_dates(postings["posted_on"]),
                                                 types.tolist(), amount.tolist(), responsible)]
    return _csv(["ClaimID", "PostDate", "Type", "Amount", "PayerID", "AdjReason", "TransferTo"], rows)


def write_pm_fees_csv(contracts: pd.DataFrame) -> str:
    """``fees.csv`` of the generic PM layout: the practice's contracted rates (payer, procedure code,
    modifiers, effective date, allowed amount per unit), as ``read_pm_export(..., "generic")`` loads them into
    the ``contracts`` table."""
    _require("contracts", contracts, ["payer_id", "procedure_code", "modifiers", "effective_from", "allowed_cents"])
    rows = [[payer, code, mods.replace(COMP, ", "), day, _dollars(cents)]
            for payer, code, mods, day, cents in zip(_strings(contracts["payer_id"]),
                                                     _strings(contracts["procedure_code"]),
                                                     _strings(contracts["modifiers"]),
                                                     _us_dates(contracts["effective_from"]),
                                                     contracts["allowed_cents"].astype(np.int64).tolist())]
    return _csv(["PayerID", "CPT", "Modifiers", "EffectiveDate", "Allowed"], rows)


# ============================================================================================ the demo inbox
def write_demo_files(root: str | os.PathLike, tables: Mapping[str, pd.DataFrame], patients: pd.DataFrame, *,
                     practice: str = "demo") -> dict:
    """Write a practice's source files under ``<root>/<practice>/inbox/`` and return what was written.

    ``837/837P_<day>.x12`` (insured claims), ``835/835_<day>.x12`` (every remittance), ``pm/payers.csv``,
    ``pm/charges.csv`` (every claim, as the PM system has it: self-pay claims exist only there) and
    ``pm/payments.csv`` (the ``postings``), ``pm/fees.csv`` (the ``contracts``), plus ``.demo_inbox.json`` listing every file with its size and
    SHA-256, and the counts this function returns. ``tables`` are canonical frames
    (:func:`rcmkit.demo.generate`), ``patients`` the roster of :func:`rcmkit.demo.patients` for the same
    arguments.

    The whole inbox is replaced at once: files are written to ``.inbox.tmp`` beside it, which is then renamed,
    so a reader never sees a half-written inbox and files of an earlier demo never linger. An existing inbox
    without the ``.demo_inbox.json`` marker is not the demo's: it is left alone and :class:`FileExistsError`
    is raised.
    """
    from rcmkit.core import store
    folder = store.practice_dir(root, practice)
    inbox, tmp, old = folder / "inbox", folder / ".inbox.tmp", folder / ".inbox.old"
    if inbox.exists() and not (inbox / _INBOX_MARKER).is_file() and any(inbox.iterdir()):
        raise FileExistsError(f"{inbox} exists and was not written by the demo (no {_INBOX_MARKER}); "
                              "move it away to write the demo's files")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    store.make_dirs(folder)
    os.mkdir(tmp, store.dir_mode())
    os.chmod(tmp, store.dir_mode())  # private like the store (RCMKIT_FILE_MODE): the files hold patient data
    try:
        files, counts = _write_inbox(tmp, tables, patients)
        marker = json.dumps({"practice": practice, "counts": counts, "files": files}, indent=1, sort_keys=True)
        store.write_file(tmp / _INBOX_MARKER, (marker + "\n").encode("utf-8"))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if inbox.exists():
        os.rename(inbox, old)
    os.rename(tmp, inbox)
    if old.exists():
        shutil.rmtree(old)
    return {"inbox": str(inbox), **counts}


def _write_inbox(folder: Path, t: Mapping[str, pd.DataFrame], patients: pd.DataFrame) -> tuple[dict, dict]:
    """Write every file under ``folder`` (private: :func:`rcmkit.core.store.file_mode`, folders
    :func:`rcmkit.core.store.dir_mode`); return {relative path: {bytes, sha256}} and the counts."""
    from rcmkit.core import store
    files: dict[str, dict] = {}

    def put(relative: str, text: str) -> int:
        data = text.encode("ascii", "replace") if relative.endswith(".x12") else text.encode("utf-8")
        path = folder / relative
        store.make_dirs(path.parent)
        store.write_file(path, data)
        files[relative] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return len(data)

    payer_class = t["claims"]["payer_id"].map(t["payers"].set_index("payer_id")["payer_class"])
    c837 = {"files": 0, "transaction_sets": 0, "claims": 0, "service_lines": 0, "bytes": 0,
            "claims_not_billed_self_pay": int((payer_class == "self_pay").sum())}
    for name, text in write_837p(t["claims"], t["claim_lines"], t["payers"], patients,
                                 providers=t.get("providers")):
        c837["bytes"] += put(f"837/{name}", text)
        c837["files"] += 1
        c837["transaction_sets"] += text.count("\nST*")
        c837["claims"] += text.count("\nCLM*")
        c837["service_lines"] += text.count("\nLX*")
    c835 = {"files": 0, "payments": 0, "claim_payments": 0, "service_lines": 0, "plb": 0, "bytes": 0}
    for name, text in write_835(t["remittances"], t["remit_lines"], t["adjustments"], t["payers"], patients,
                                claims=t["claims"]):
        c835["bytes"] += put(f"835/{name}", text)
        c835["files"] += 1
        c835["payments"] += text.count("\nST*")
        c835["claim_payments"] += text.count("\nCLP*")
        c835["service_lines"] += text.count("\nSVC*")
        c835["plb"] += text.count("\nPLB*")
    cpm = {"files": 3, "payers": len(t["payers"]), "charge_lines": 0, "payments": len(t["postings"]), "bytes": 0}
    if t.get("contracts") is not None and len(t["contracts"]):
        cpm["files"] += 1
        cpm["contracts"] = len(t["contracts"])
        cpm["bytes"] += put("pm/fees.csv", write_pm_fees_csv(t["contracts"]))
    charges = write_pm_charges_csv(t["claims"], t["claim_lines"], patients)
    cpm["charge_lines"] = charges.count("\n") - 1
    cpm["bytes"] += put("pm/payers.csv", write_pm_payers_csv(t["payers"]))
    cpm["bytes"] += put("pm/charges.csv", charges)
    cpm["bytes"] += put("pm/payments.csv", write_patient_payments_csv(t["postings"]))
    return dict(sorted(files.items())), {"837": c837, "835": c835, "pm": cpm}
