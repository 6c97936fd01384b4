"""X12 837 Health Care Claim: Professional (005010X222A1) and Institutional (005010X223A2).

A small state machine walks each transaction set segment by segment (837 files are far smaller than 835 runs;
the HL hierarchy reads most clearly this way). Segments and elements read (TR3 names):

* BHT04 Transaction Set Creation Date (``submitted_on``; GS04 when BHT04 is not a date, warned).
* HL01 Hierarchical ID Number, HL02 Hierarchical Parent ID Number, HL03 Hierarchical Level Code: 20 billing
  provider, 22 subscriber, 23 patient. A claim sits under a 22 or a 23 and inherits from its ancestors.
* Loop 2010AA NM1*85 Billing Provider (NM109, an NPI when NM108 is XX); loop 2010BA NM1*IL Subscriber (NM109
  Subscriber Primary Identifier) and DMG02 birth date, used only inside the patient pseudonym; loop 2010BB NM1*PR
  Payer (NM109 Payer Identifier, NM103 name); loop 2010CA DMG02 of a dependent patient.
* Loop 2300 claim: CLM01 Patient Control Number, CLM02 Total Claim Charge Amount, CLM05 Health Care Service
  Location Information (CLM05-1 place of service / facility type code, CLM05-2 facility code qualifier, CLM05-3
  claim frequency type code); REF*F8 Payer Claim Control Number; HI Health Care Diagnosis Code (ABK/BK principal,
  ABF/BF other; ICD-9 BK/BF kept as is); DTP*434 Statement Dates (837I); CL1 Institutional Claim Code;
  loop 2310B NM1*82 Rendering Provider.
* Loops 2320/2330 (other subscriber and payer, after an SBR inside the claim) are skipped: their NM1*PR,
  NM1*82 and REF*F8 describe another payer's view.
* Provider names (table ``providers``, one row per NPI per file): NM1*85 (2010AA) and NM1*82 (2310B claim,
  2420A line) with NM108 = XX: NM102 Entity Type Qualifier (1 person, 2 organization), NM103 last or
  organization name, NM104 first name, NM105 middle name, NM109 NPI. A person reads 'LAST, FIRST MIDDLE', an
  organization its name; the last non-empty name in the file wins (an NPI never named has no row). No other
  NM1 is read for names: the subscriber and patient (NM1*IL, NM1*QC) never reach this table.
* Loop 2400 line: LX; SV1 Professional Service (SV101 Composite Medical Procedure Identifier, SV102 Line Item
  Charge Amount, SV103 Unit or Basis for Measurement Code, SV104 Service Unit Count, SV105 Place of Service Code,
  SV107 Composite Diagnosis Code Pointer) or SV2 Institutional Service Line (SV201 Service Line Revenue Code,
  SV202 procedure composite, SV203 Line Item Charge Amount, SV204 unit basis, SV205 Service Unit Count);
  DTP*472 Service Date (D8 or RD8 range); REF*6R Line Item Control Number; loop 2420A NM1*82 line rendering
  provider. Loop 2430 (SVD, prior payer's adjudication) is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from rcmkit.core.schema import TABLES

from rcmkit.ingest import limits

from rcmkit.ingest.x12 import fields
from rcmkit.ingest.x12.context import FileContext
from rcmkit.ingest.issues import Issues, SetRejected
from rcmkit.ingest.x12.tables import EXTRA_TABLES
from rcmkit.ingest.x12.envelope import TransactionSet, tag_code, tag_name

__all__ = ["read_837", "read_837_joined", "patient_key", "provider_name", "claim_type_of"]

_PRINCIPAL = ("ABK", "BK")
_OTHER = ("ABF", "BF")
_DIAGNOSIS_QUALIFIERS = _PRINCIPAL + _OTHER
_CLM = tag_code("CLM")


def patient_key(salt: bytes, member_id: str, birth_date: str) -> str:
    """The patient pseudonym: 'P' + 16 hex digits of SHA-256(salt, subscriber member ID, patient birth date).

    Never a name or member ID; without the practice's salt it cannot be recomputed from them."""
    digest = hashlib.sha256(b"\x1f".join((salt, member_id.encode(), birth_date.encode()))).hexdigest()
    return "P" + digest[:16]


def provider_name(entity_type: str, last: str, first: str = "", middle: str = "") -> str:
    """The display name of an NM1 provider: 'LAST, FIRST MIDDLE' for a person (NM102 '1', or a first name sent
    without NM102), the organization name (NM103) otherwise; runs of spaces collapsed, '' when none is sent."""
    last, given = " ".join(last.split()), " ".join(f"{first} {middle}".split())
    if entity_type == "2" or not given:
        return last
    return f"{last}, {given}" if last else given


# --------------------------------------------------------------------------------------------- records
@dataclass
class _Level:
    """What an HL level carries down to the claims under it."""

    code: str
    parent: _Level | None
    billing_npi: str | None = None
    payer_id: str | None = None
    member_id: str | None = None
    birth_date: str | None = None
    depth: int = 1

    def inherited(self, attribute: str) -> str | None:
        level: _Level | None = self
        while level is not None:
            if getattr(level, attribute):
                return getattr(level, attribute)
            level = level.parent
        return None


@dataclass
class _Line:
    number: int
    segment_number: int
    qualifier: str | None = None
    code: str = ""
    modifiers: str = ""
    charge_cents: int = 0
    units: float = 1.0
    unit_basis: str | None = None
    place_of_service: str | None = None
    revenue_code: str | None = None
    service_from: date | None = None
    service_to: date | None = None
    rendering_npi: str | None = None
    control_number: str | None = None
    diagnosis_pointers: str | None = None
    has_service: bool = False


@dataclass
class _Claim:
    segment_number: int
    claim_id: str
    charge_cents: int
    level: _Level
    place_of_service: str | None
    facility_qualifier: str | None
    frequency: str
    principal: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    payer_claim_ref: str | None = None
    rendering_npi: str | None = None
    statement: tuple[date, date] | None = None
    service_dates: tuple[date, date] | None = None
    lines: list[_Line] = field(default_factory=list)
    institutional: bool = False
    professional: bool = False


# --------------------------------------------------------------------------------------------- set reader
class _SetReader:
    """Reads one 837 transaction set into claims; raises :class:`SetRejected` on an error that leaves a number
    unknowable. Warnings are collected apart and kept only when the set loads."""

    def __init__(self, ts: TransactionSet, ctx: FileContext):
        self.ts, self.ctx = ts, ctx
        self.component = ts.segments.separators.component
        self.warnings = Issues(ctx.name)
        self.claims: list[_Claim] = []
        self.level: _Level | None = None
        self.levels: dict[str, _Level] = {}
        self.billing_level: _Level | None = None
        self.claim: _Claim | None = None
        self.line: _Line | None = None
        self.other_payer = False  # inside loops 2320/2330 (after an SBR within the claim)
        self.prior_adjudication = False  # inside loop 2430 (after SVD)
        self.submitted_on: date | None = None
        self.providers: dict[str, dict] = {}  # NPI -> providers row (NM1*85, NM1*82 with NM108 XX)
        self.number, self.tag = ts.first_number, "ST"

    # ------------------------------------------------------------------ helpers
    def focus(self, claim: _Claim) -> None:
        """Point warnings and rejections at ``claim``'s CLM segment (checks made after the walk)."""
        self.claim, self.number, self.tag = claim, claim.segment_number, "CLM"

    def warn(self, code: str, text: str, found: str | None = None, expected: str | None = None) -> None:
        self.warnings.warn(code, text, segment_number=self.number, segment_id=self.tag, st=self.ts.control_number,
                           claim_id=self.claim.claim_id if self.claim else None, found=found, expected=expected)

    def reject(self, code: str, text: str) -> SetRejected:
        return SetRejected(code, self.number, self.tag, text, self.claim.claim_id if self.claim else None)

    def cents(self, text: str, name: str) -> int:
        value = fields.parse_cents(text)
        if value is None:
            raise self.reject("missing_element" if text == "" else "not_a_number",
                              f"{name} {fields.amount_problem(text)}; expected an amount like 1922.86")
        return value

    def composite(self, value: str, name: str) -> list[str]:
        parts, other = fields.split_composite(value, self.component)
        if other:
            self.warn("separator", f"{name} '{value}' is written with '{other}' as component separator; ISA16 "
                      f"declares '{self.component}'; read with '{other}'", found=value,
                      expected=f"components separated by '{self.component}'")
        return parts

    # ------------------------------------------------------------------ walk
    def read(self) -> list[_Claim]:
        seg = self.ts.segments
        handlers = {"BHT": self.on_bht, "HL": self.on_hl, "NM1": self.on_nm1, "DMG": self.on_dmg,
                    "SBR": self.on_sbr, "CLM": self.on_clm, "REF": self.on_ref, "HI": self.on_hi,
                    "DTP": self.on_dtp, "CL1": self.on_cl1, "LX": self.on_lx, "SV1": self.on_sv1,
                    "SV2": self.on_sv2, "SVD": self.on_svd}
        # the segments' numbers, IDs and byte ranges as Python lists once: per segment, only the handler's work
        lo, hi = self.ts.first + 1, self.ts.last
        data, element = seg.data, seg.separators.element
        numbers = seg.number(np.arange(lo, hi)).tolist()
        tags = [tag_name(code) for code in seg.codes[lo:hi].tolist()]
        for number, tag, start, stop in zip(numbers, tags, seg.starts[lo:hi].tolist(), seg.stops[lo:hi].tolist()):
            self.number, self.tag = number, tag
            handler = handlers.get(tag)
            if handler:
                elements = data[start:stop].decode("utf-8").split(element)  # SegmentIndex.elements
                handler(elements + [""] * (12 - len(elements)))
        self.number, self.tag = self.ts.last_number, "SE"
        self.finish_claim()
        if self.submitted_on is None:
            self.submitted_on = self.fallback_submitted_on()
        return self.claims

    def fallback_submitted_on(self) -> date:
        gs04 = fields.parse_date(self.ts.group_date)
        if gs04 is None:
            raise SetRejected("invalid_date", self.ts.first_number, "ST",
                              "no BHT04 transaction set creation date and no GS04 date to fall back on; "
                              "expected BHT04 as CCYYMMDD")
        self.warnings.warn("date_fallback", "BHT04 creation date missing or not a date; used GS04 "
                           f"{gs04:%Y-%m-%d}", segment_number=self.ts.first_number, segment_id="ST",
                           st=self.ts.control_number, expected="BHT04 CCYYMMDD")
        return gs04

    # ------------------------------------------------------------------ header and hierarchy
    def on_bht(self, e: list[str]) -> None:
        self.submitted_on = fields.parse_date(e[4])

    def on_hl(self, e: list[str]) -> None:
        self.finish_claim()
        parent = self.levels.get(e[2]) if e[2] else None
        if e[2] and parent is None:
            parent = self.billing_level
            self.warn("hierarchy", f"HL02 parent '{e[2]}' is not an earlier HL01 in the set; read under the last "
                      "billing provider (HL03 20)", found=e[2], expected="an earlier HL01")
        self.level = _Level(e[3], parent, depth=parent.depth + 1 if parent else 1)
        if self.level.depth > limits.MAX_HL_DEPTH:  # inherited() walks the chain for every claim
            raise self.reject("hierarchy", f"HL nesting is {self.level.depth} levels deep, more than the limit of "
                              f"{limits.MAX_HL_DEPTH} (rcmkit.ingest.limits.MAX_HL_DEPTH); expected billing "
                              "provider (20) > subscriber (22) > patient (23)")
        self.levels[e[1]] = self.level
        if e[3] == "20":
            self.billing_level = self.level
        self.other_payer = False

    def on_nm1(self, e: list[str]) -> None:
        entity, identifier = e[1], e[9].strip()
        if self.claim is None:
            if self.level is None:
                return
            if entity == "85":
                self.level.billing_npi = identifier
                self.provider(e)
            elif entity == "IL":
                self.level.member_id = identifier
            elif entity == "PR":
                self.level.payer_id = identifier
        elif entity == "82" and not self.other_payer:
            if self.line is not None:
                self.line.rendering_npi = identifier or None
            else:
                self.claim.rendering_npi = identifier or None
            self.provider(e)

    def provider(self, e: list[str]) -> None:
        """Note the name of an NM1*85 / NM1*82 identified by an NPI (NM108 XX); a later non-empty name wins."""
        npi = e[9].strip()
        if e[8].strip() != "XX" or not npi:
            return
        entity_type = e[2].strip() if e[2].strip() in ("1", "2") else None
        name = provider_name(e[2].strip(), e[3], e[4], e[5])
        known = self.providers.get(npi)
        if known is None or name:
            self.providers[npi] = {"npi": npi, "name": name, "entity_type": entity_type,
                                   "source": f"{self.ctx.name}#{self.number}"}

    def on_dmg(self, e: list[str]) -> None:
        if self.claim is None and self.level is not None:
            self.level.birth_date = e[2].strip()

    def on_sbr(self, e: list[str]) -> None:
        if self.claim is not None:
            self.finish_line()
            self.other_payer = True

    # ------------------------------------------------------------------ claim
    def on_clm(self, e: list[str]) -> None:
        self.finish_claim()
        claim_id = e[1].strip()
        if not claim_id:
            raise self.reject("missing_element", "CLM01 patient control number is missing; it is required")
        self.claim = _Claim(self.number, claim_id, 0, self.level or _Level("", None), None, None, "1")
        self.claim.charge_cents = self.cents(e[2], "CLM02 total claim charge amount")
        location = self.composite(e[5], "CLM05") if e[5] else []
        location += [""] * (3 - len(location))
        self.claim.place_of_service = location[0] or None
        self.claim.facility_qualifier = location[1] or None
        self.claim.institutional = location[1] == "A"
        if location[2]:
            self.claim.frequency = location[2]
        else:
            self.warn("missing_element", "CLM05-3 claim frequency type code is missing; '1' (original) assumed",
                      expected="1, 7 or 8")

    def on_ref(self, e: list[str]) -> None:
        if self.claim is None or self.other_payer:
            return
        if self.line is None and e[1] == "F8":
            self.claim.payer_claim_ref = e[2].strip() or None
        elif self.line is not None and e[1] == "6R" and self.line.control_number is None:
            self.line.control_number = e[2].strip() or None

    def on_hi(self, e: list[str]) -> None:
        if self.claim is None or self.other_payer or self.line is not None:
            return
        for qualifier, code in self.diagnoses(e[1:]):
            if "." in code:
                self.warn("diagnosis", f"diagnosis code '{code}' contains a dot; stored without it", found=code,
                          expected="code without the dot")
                code = code.replace(".", "")
            (self.claim.principal if qualifier in _PRINCIPAL else self.claim.other).append(code)

    def diagnoses(self, elements: list[str]) -> list[tuple[str, str]]:
        """(qualifier, code) pairs of an HI segment's diagnosis composites (other HI qualifiers are skipped).

        Lenient: a qualifier and its code sent as two elements (``HI*BK*8901``) are paired, with a warning."""
        pairs, pending = [], None
        for element in elements:
            if not element:
                continue
            parts = self.composite(element, "HI")
            if len(parts) == 1 and parts[0] in _DIAGNOSIS_QUALIFIERS:
                pending = parts[0]
                continue
            if len(parts) == 1 and pending:
                self.warn("separator", f"HI qualifier {pending} and code '{element}' are separate elements; read "
                          "as one composite", found=f"{pending}*{element}",
                          expected=f"{pending}{self.component}{element}")
                pairs.append((pending, element.strip()))
            elif parts[0] in _DIAGNOSIS_QUALIFIERS and len(parts) > 1 and parts[1].strip():
                pairs.append((parts[0], parts[1].strip()))
            pending = None
        return pairs

    def on_dtp(self, e: list[str]) -> None:
        if self.claim is None or self.other_payer or self.prior_adjudication:
            return
        qualifier = e[1]
        if qualifier not in ("472", "434"):
            return
        period = self.period(e[2], e[3], f"DTP*{qualifier}")
        if period is None:
            return
        if self.line is not None and qualifier == "472":
            self.line.service_from, self.line.service_to = period
        elif self.line is None and qualifier == "434":
            self.claim.statement = period
        elif self.line is None:
            self.claim.service_dates = period

    def period(self, form: str, value: str, name: str) -> tuple[date, date] | None:
        """A D8 date or RD8 range (DT: the date part); None, with a warning, when it is not valid."""
        text = value.strip()
        first, _, last = text.partition("-") if form == "RD8" else (text[:8] if form == "DT" else text, "", "")
        start, end = fields.parse_date(first), fields.parse_date(last or first)
        if start is None or end is None:
            self.warn("invalid_date", f"{name} date '{text}' is not a valid {form or 'D8'} date; ignored",
                      found=text, expected="CCYYMMDD or CCYYMMDD-CCYYMMDD")
            return None
        return start, end

    def on_cl1(self, e: list[str]) -> None:
        if self.claim is not None:
            self.claim.institutional = True

    # ------------------------------------------------------------------ lines
    def on_lx(self, e: list[str]) -> None:
        if self.claim is None:
            return
        self.finish_line()
        self.other_payer = self.prior_adjudication = False
        self.line = _Line(len(self.claim.lines) + 1, self.number)

    def service_line(self) -> _Line:
        """The line an SV1/SV2 fills: the current LX's, or a new one (warned) when it has none or is full."""
        if self.claim is None:
            raise self.reject("out_of_place", f"{self.tag} service line before any CLM in the set; expected it "
                              "inside a claim")
        if self.line is None or self.line.has_service:
            self.warn("out_of_place", f"{self.tag} without its own LX; read as a new service line", expected="LX")
            self.finish_line()
            self.line = _Line(len(self.claim.lines) + 1, self.number)
            self.other_payer = False
        self.line.has_service = True
        return self.line

    def procedure(self, line: _Line, value: str, name: str) -> None:
        parts = self.composite(value, name) if value else [""]
        parts += [""] * (7 - len(parts))
        line.qualifier = parts[0] or None
        line.code = parts[1].strip()
        line.modifiers = ":".join(m.strip() for m in parts[2:6] if m.strip())

    def units(self, text: str, name: str) -> float:
        value = fields.parse_quantity(text)
        if value is None:
            raise self.reject("missing_element" if text == "" else "not_a_number",
                              f"{name} '{text}' is not a number" if text else f"{name} is missing; it is required")
        return value

    def on_sv1(self, e: list[str]) -> None:
        line = self.service_line()
        self.claim.professional = True
        self.procedure(line, e[1], "SV101")
        if not line.code:
            raise self.reject("missing_element", f"SV101 '{e[1]}' has no procedure code; expected a qualifier and "
                              "a code such as HC:99213")
        line.charge_cents = self.cents(e[2], "SV102 line item charge amount")
        line.unit_basis = e[3] or None
        line.units = self.units(e[4], "SV104 service unit count")
        line.place_of_service = e[5] or None
        pointers = self.composite(e[7], "SV107") if len(e) > 7 and e[7] else []
        line.diagnosis_pointers = ":".join(p.strip() for p in pointers if p.strip()) or None

    def on_sv2(self, e: list[str]) -> None:
        line = self.service_line()
        self.claim.institutional = True
        line.revenue_code = e[1].strip() or None
        self.procedure(line, e[2], "SV202")
        line.charge_cents = self.cents(e[3], "SV203 line item charge amount")
        line.unit_basis = e[4] or None
        line.units = self.units(e[5], "SV205 service unit count")

    def on_svd(self, e: list[str]) -> None:
        self.prior_adjudication = True

    def finish_line(self) -> None:
        if self.claim is not None and self.line is not None:
            if self.line.has_service:
                self.claim.lines.append(self.line)
            else:
                self.warn("missing_segment", f"LX {self.line.number} has no SV1 or SV2; skipped",
                          expected="SV1 or SV2")
        self.line = None

    def finish_claim(self) -> None:
        self.finish_line()
        if self.claim is not None:
            self.claims.append(self.claim)
        self.claim = None
        self.other_payer = self.prior_adjudication = False


# --------------------------------------------------------------------------------------------- rows
def claim_type_of(claim: _Claim, ts: TransactionSet, warn: Callable[..., None]) -> str:
    """Content decides (SV2, CL1 or CLM05-2 'A' is institutional; SV1 professional); the version otherwise.
    A GS08 or ST03 that contradicts the content is warned about."""
    content = "institutional" if claim.institutional else "professional" if claim.professional else None
    labels = {name: "institutional" if "X223" in version else "professional" if "X222" in version else None
              for name, version in (("ST03", ts.version), ("GS08", ts.group_version)) if version}
    for name, label in labels.items():
        version = ts.version if name == "ST03" else ts.group_version
        if label and content and label != content:
            warn("version", f"{name} says {version} ({label}) but the claim is {content} (SV1/SV2, CL1, "
                 f"CLM05-2); read as {content}", version, content)
    labelled = next((label for label in labels.values() if label), None)
    if content is None and labelled is None:
        warn("version", f"version '{ts.version}' says neither X222 (professional) nor X223 (institutional) and the "
             "claim has no service lines; read as professional", ts.version, "005010X222A1 or 005010X223A2")
    return content or labelled or "professional"


def _service_period(claim: _Claim) -> tuple[date, date] | None:
    """First and last date of service: the span of the line dates (DTP*472), the claim's own DTP*472 and its
    statement period (DTP*434, 837I); None when the claim has none of them."""
    periods = [(ln.service_from, ln.service_to) for ln in claim.lines if ln.service_from]
    periods += [p for p in (claim.service_dates, claim.statement) if p]
    if not periods:
        return None
    return min(start for start, _ in periods), max(end for _, end in periods)


def _claim_rows(reader: _SetReader, ctx: FileContext, out: dict[str, list[dict]]) -> None:
    """Append the rows of the set's claims to ``out``, or raise SetRejected (before appending anything)."""
    ts = reader.ts
    rows: dict[str, list[dict]] = {"claims": [], "claim_lines": [], "claim_line_details": []}
    for claim in reader.claims:
        reader.focus(claim)
        period = _service_period(claim)
        if period is None:
            raise reader.reject("invalid_date", "no service date: expected DTP*472 on its lines (or DTP*434 "
                                "statement dates on an institutional claim)")
        submission_id = ctx.row_id(ts.interchange_control, ts.control_number, claim.segment_number)
        rows["claims"].append(_claim_row(reader, claim, period, submission_id))
        for line in claim.lines:
            rows["claim_lines"].append({
                "submission_id": submission_id, "line_number": line.number, "procedure_code": line.code,
                "modifiers": line.modifiers, "units": line.units, "charge_cents": line.charge_cents,
                "service_date": line.service_from or period[0],
            })
            rows["claim_line_details"].append({
                "submission_id": submission_id, "line_number": line.number, "procedure_qualifier": line.qualifier,
                "revenue_code": line.revenue_code, "unit_basis": line.unit_basis,
                "place_of_service": line.place_of_service, "rendering_npi": line.rendering_npi,
                "line_control_number": line.control_number, "diagnosis_pointers": line.diagnosis_pointers,
            })
    for name, table_rows in rows.items():
        out[name].extend(table_rows)


def _claim_row(reader: _SetReader, claim: _Claim, period: tuple[date, date], submission_id: str) -> dict:
    ctx = reader.ctx
    billing_npi = claim.level.inherited("billing_npi")
    if not billing_npi:
        reader.warn("missing_element", "no billing provider NPI (NM1*85 NM109 in loop 2010AA); left empty",
                    expected="NM1*85 NM109")
    payer_id = claim.level.inherited("payer_id")
    if not payer_id:
        reader.warn("missing_element", "no payer ID (NM1*PR NM109 in loop 2010BB); left empty",
                    expected="NM1*PR NM109")
    _check_line_total(reader, claim)
    return {
        "claim_id": claim.claim_id, "submission_id": submission_id, "frequency_code": claim.frequency,
        "claim_type": claim_type_of(claim, reader.ts, reader.warn), "submitted_on": reader.submitted_on,
        "service_from": period[0], "service_to": period[1], "payer_id": payer_id or "",
        "billing_npi": billing_npi or "",
        "rendering_npi": claim.rendering_npi or _first_line_rendering(claim) or billing_npi,
        "place_of_service": claim.place_of_service, "patient_key": _patient_key(reader, claim),
        "total_charge_cents": claim.charge_cents, "diagnosis_codes": claim.principal + claim.other,
        "payer_claim_ref": claim.payer_claim_ref, "source": f"{ctx.name}#{claim.segment_number}",
    }


def _patient_key(reader: _SetReader, claim: _Claim) -> str:
    """The subscriber's member ID (loop 2010BA) with the birth date of the level the claim sits under: the
    subscriber's (HL 22) or the dependent patient's (HL 23)."""
    member_id = claim.level.inherited("member_id")
    if member_id:
        return patient_key(reader.ctx.patient_salt, member_id, claim.level.birth_date or "")
    reader.warn("patient_key", "no subscriber member ID (NM1*IL NM109); patient_key made from the claim ID, so "
                "this claim is not linked to the patient's other claims", expected="NM1*IL NM109")
    return patient_key(reader.ctx.patient_salt, f"claim:{claim.claim_id}", "")


def _check_line_total(reader: _SetReader, claim: _Claim) -> None:
    line_total = sum(line.charge_cents for line in claim.lines)
    if claim.lines and line_total != claim.charge_cents:
        charge, total = fields.format_cents(claim.charge_cents), fields.format_cents(line_total)
        reader.warn("balance", f"CLM02 {charge} is not the sum of the line charges {total}; amounts loaded as "
                    "sent", charge, total)


def _first_line_rendering(claim: _Claim) -> str | None:
    return next((line.rendering_npi for line in claim.lines if line.rendering_npi), None)


# --------------------------------------------------------------------------------------------- entry
#: Plain sets are read by the columnar reader (:mod:`rcmkit.ingest.x12.claims837_columnar`); tests switch it off
#: to compare its tables with the segment walk's.
COLUMNAR = True


def read_837(sets: list[TransactionSet], ctx: FileContext) -> dict[str, pa.Table]:
    """Arrow tables ``claims``, ``claim_lines``, ``claim_line_details`` and ``providers`` (one row per NPI sent
    with a name, in order of first appearance; an NPI sent without any name has no row) of the given 837 sets
    (canonical column names); a rejected set leaves no rows, only a ``rejections`` entry in ``ctx.issues``.

    Plain sets (see :mod:`rcmkit.ingest.x12.claims837_columnar`) are read from arrays, in batches; any other set
    by the segment walk (:class:`_SetReader`), which says what is wrong or odd with it."""
    return read_837_joined(sets, np.zeros(len(sets), dtype=np.int64), [ctx])[0]


def read_837_joined(sets: list[TransactionSet], file_of_set: np.ndarray, files: list[FileContext]
                    ) -> tuple[dict[str, pa.Table], np.ndarray]:
    """:func:`read_837` of the sets of several files (set ``i`` of ``files[file_of_set[i]]``, whose issues get its
    messages), with the same rows, in order, as each file read alone; and the claim rows of each file.

    Consecutive sets of one segment index are read in one columnar batch: a batch with a set that is not plain is
    cut in parts until the plain sets are read in batches and the others alone by the segment walk."""
    from rcmkit.ingest.x12.claims837_columnar import read_plain_837

    chunks: dict[str, list[pa.Table]] = {name: [] for name in ("claims", "claim_lines", "claim_line_details")}
    set_providers: list[list[dict]] = [[] for _ in sets]
    claims_per_file = np.zeros(len(files), dtype=np.int64)
    owner = [int(k) for k in file_of_set]

    def walk(i: int) -> None:
        ts, ctx = sets[i], files[owner[i]]
        reader = _SetReader(ts, ctx)
        out: dict[str, list[dict]] = {"claims": [], "claim_lines": [], "claim_line_details": []}
        try:
            reader.read()
            _claim_rows(reader, ctx, out)
        except SetRejected as exc:
            ctx.issues.reject(exc.code, exc.text, st=ts.control_number, transaction_type="837",
                              first=ts.first_number, last=ts.last_number,
                              claims=int((ts.segments.codes[ts.first : ts.last + 1] == _CLM).sum()),
                              segment_number=exc.segment_number, segment_id=exc.segment_id, claim_id=exc.claim_id)
            return
        set_providers[i] = list(reader.providers.values())
        reader.warnings.warnings.sort(key=lambda w: w["segment_number"])
        ctx.issues.absorb(reader.warnings)
        claims_per_file[owner[i]] += len(out["claims"])
        for name, rows in out.items():
            if rows:
                chunks[name].append(pa.Table.from_pylist(rows, schema=_SCHEMAS[name]))

    def batch(i: int, j: int) -> None:
        plain = read_plain_837(sets[i:j], [files[k] for k in owner[i:j]]) if COLUMNAR else None
        if plain is None:
            if j - i == 1:
                walk(i)
            else:  # in 8 parts (not halves): few levels when many sets are not plain
                cuts = sorted({i + (j - i) * k // 8 for k in range(8)} | {j})
                for lo, hi in zip(cuts, cuts[1:]):
                    batch(lo, hi)
            return
        for name in chunks:
            schema = _SCHEMAS[name]
            chunks[name].append(pa.Table.from_arrays([plain[name][f.name].cast(f.type) for f in schema],
                                                     schema=schema))
        set_providers[i:j] = plain["providers"]
        np.add.at(claims_per_file, owner[i:j], plain["claims_per_set"])

    i = 0
    while i < len(sets):  # runs of sets that share a segment index
        j = i + 1
        while j < len(sets) and sets[j].segments is sets[i].segments:
            j += 1
        batch(i, j)
        i = j
    tables = {name: pa.concat_tables(parts) if parts else _SCHEMAS[name].empty_table()
              for name, parts in chunks.items()}
    per_file: list[dict[str, dict]] = [{} for _ in files]
    for i, rows in enumerate(set_providers):
        per_file[owner[i]].update((row["npi"], row) for row in rows if row["name"])
    tables["providers"] = pa.Table.from_pylist([row for rows in per_file for row in rows.values()],
                                               schema=_SCHEMAS["providers"])
    return tables, claims_per_file


_SCHEMAS = {"claims": TABLES["claims"].arrow_schema, "claim_lines": TABLES["claim_lines"].arrow_schema,
            "claim_line_details": EXTRA_TABLES["claim_line_details"].arrow_schema,
            "providers": TABLES["providers"].arrow_schema}
