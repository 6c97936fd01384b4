"""X12 835 Health Care Claim Payment/Advice (005010X221A1; 005010X221 and 004010X091A1 read leniently).

Columnar: each segment kind of a batch of transaction sets is extracted as arrow columns at once, and the loop
structure (which CLP a SVC belongs to, which SVC a CAS belongs to) is recovered from segment positions with
``searchsorted``; nothing loops in Python per segment. Element columns are keyed by their TR3 number
(``clp[4]`` is CLP04). Segments and elements read:

* Header: BPR01 Transaction Handling Code, BPR02 Total Actual Provider Payment Amount, BPR03 Credit or Debit
  Flag Code, BPR04 Payment Method Code, BPR16 Check Issue or EFT Effective Date; TRN02 Check or EFT Trace
  Number, TRN03 Payer Identifier; DTM*405 Production Date; loop 1000A N1*PR (N102 Payer Name, N104 Payer
  Identifier) with REF*2U Additional Payer Identification; loop 1000B N1*PE (N104 Payee Identification Code).
* Loop 2100 claim: CLP01 Patient Control Number, CLP02 Claim Status Code, CLP03 Total Claim Charge Amount,
  CLP04 Claim Payment Amount, CLP05 Patient Responsibility Amount, CLP06 Claim Filing Indicator Code, CLP07
  Payer Claim Control Number, CLP08 Facility Type Code, CLP09 Claim Frequency Code; claim-level CAS; MOA03-07
  and MIA05/MIA20-23 Claim Payment Remark Codes; DTM*232/233 Statement From/To, DTM*050 Received; AMT*AU
  Coverage Amount.
* Loop 2110 service line: SVC01 Composite Medical Procedure Identifier (qualifier, procedure code, modifiers
  1-4), SVC02 Line Item Charge Amount, SVC03 Line Item Provider Payment Amount, SVC04 NUBC Revenue Code, SVC05
  Units of Service Paid Count, SVC06 procedure as submitted; DTM*472 Service Date, DTM*150/151 Service Period
  Start/End; line CAS; REF*6R Line Item Control Number; AMT*B6 Allowed - Actual; LQ01/LQ02 Remark Code.
* CAS01 Claim Adjustment Group Code with up to six Reason Code / Amount / Quantity triplets (CAS02-04 ..
  CAS17-19).
* PLB01 Provider Identifier, PLB02 Fiscal Period Date, then up to six PLB03/04 .. PLB13/14 pairs: Provider
  Adjustment Identifier (composite: reason code, reference) and Provider Adjustment Amount.

Amounts load as they are: a reversal (CLP02 22) keeps its negative amounts. Balancing (SVC02 - line CAS = SVC03,
CLP03 - all CAS = CLP04, BPR02 = sum CLP04 - sum PLB) is checked; a failure is a warning, the amounts stand.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rcmkit.ingest.x12 import fields
from rcmkit.ingest.x12.context import FileContext
from rcmkit.ingest.x12.fields import concat_strings, format_cents
from rcmkit.ingest.issues import Issues
from rcmkit.ingest.x12.envelope import ElementIndex, SegmentIndex, TransactionSet, short_code, tag_code

__all__ = ["read_835", "CLAIM_STATUS_CODES"]

#: CLP02 Claim Status Code values of 005010X221A1; 004010X091A1 also had the codes in _CLAIM_STATUS_4010.
CLAIM_STATUS_CODES = frozenset({"1", "2", "3", "4", "19", "20", "21", "22", "23", "25"})
_CLAIM_STATUS_4010 = CLAIM_STATUS_CODES | {"5", "10", "13", "15", "16", "17", "27"}
_GROUP_CODES = frozenset({"CO", "OA", "PI", "PR"})
_KNOWN_VERSIONS = ("005010X221A1", "005010X221", "004010X091A1", "004010X091")
_BATCH_BYTES = 16 << 20  # transaction sets read at once: bounds memory, and the unit of parallel work

BPR, TRN, N1, REF, DTM, CLP, SVC, CAS, AMT, LQ, MOA, MIA, PLB = (
    tag_code(t) for t in ("BPR", "TRN", "N1", "REF", "DTM", "CLP", "SVC", "CAS", "AMT", "LQ", "MOA", "MIA", "PLB")
)
#: Elements read as strings from each segment kind. Qualifiers of DTM, AMT, REF and N1 (element 1) are compared
#: as integers instead (ElementIndex.short_codes); CAS and PLB read their later repeats only where present.
_ELEMENTS = {
    BPR: range(1, 17), TRN: (2, 3), N1: (2, 4), REF: (2,), DTM: (2,), CLP: range(1, 10), SVC: range(1, 7),
    CAS: range(1, 5), AMT: (2,), LQ: (1, 2), MOA: range(3, 8), MIA: (5, 20, 21, 22, 23), PLB: range(1, 5),
}


# --------------------------------------------------------------------------------------------- plumbing
@dataclass(frozen=True)
class _Rows:
    """Segments of one kind in a batch: positions in the SegmentIndex and the set (0..n-1) each belongs to."""

    pos: np.ndarray
    set: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)

    def at(self, index: np.ndarray) -> _Rows:
        return _Rows(self.pos[index], self.set[index])


@dataclass
class _Problem:
    set: int
    number: int
    segment_id: str
    code: str
    text: str
    claim_id: str | None
    fatal: bool
    found: str | None
    expected: str | None


def _is(values: pa.Array, text: str) -> np.ndarray:
    return pc.equal(values, text).to_numpy(zero_copy_only=False)


def _is_any(values: pa.Array, options: frozenset[str]) -> np.ndarray:
    return pc.is_in(values, pa.array(sorted(options), values.type)).to_numpy(zero_copy_only=False)


def _text(values: pa.Array, i: int) -> str:
    return values[int(i)].as_py()


class _Batch:
    """Consecutive 835 transaction sets of one SegmentIndex, read column by column. The sets may come from
    several files (``files``; set ``i`` is of file ``file_of_set[i]``) joined in one index
    (:func:`~rcmkit.ingest.x12.envelope.join_runs`); row IDs, sources and messages are each file's own."""

    def __init__(self, segments: SegmentIndex, sets: list[TransactionSet], files: list[FileContext],
                 file_of_set: np.ndarray):
        self.segments, self.sets, self.files, self.file_of_set = segments, sets, files, file_of_set
        self.firsts = np.array([s.first for s in sets], dtype=np.int64)
        self.lasts = np.array([s.last for s in sets], dtype=np.int64)
        self.set_rows = _Rows(self.firsts, np.arange(len(sets)))
        self.legacy = np.array([s.version.startswith("004010") for s in sets], dtype=bool)
        self.elements = ElementIndex(segments, sets[0].first, sets[-1].last)
        self.problems: list[_Problem] = []
        self._read: dict[int, tuple[_Rows, dict[int, pa.Array]]] = {}
        self._places: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._qualifiers: dict[int, np.ndarray] = {}
        self.claims = self.find(CLP)
        self.lines = self.find(SVC)
        self.line_claim = self.owner(self.lines, self.claims)
        self.claim_ids = pc.utf8_trim_whitespace(self.read(CLP)[1][1])

    def find(self, code: int) -> _Rows:
        pos = self.segments.positions(code, int(self.firsts[0]), int(self.lasts[-1]) + 1)
        owner = np.searchsorted(self.firsts, pos, side="right") - 1
        inside = pos <= self.lasts[owner]
        return _Rows(pos[inside], owner[inside])

    def read(self, code: int) -> tuple[_Rows, dict[int, pa.Array]]:
        """Rows of segment kind ``code`` and their elements ``_ELEMENTS[code]`` by number (read once)."""
        if code not in self._read:
            rows = self.find(code)
            self._read[code] = rows, self.elements.columns(rows.pos, _ELEMENTS[code])
        return self._read[code]

    def qualifiers(self, code: int) -> np.ndarray:
        """Element 1 of the rows of ``code`` as integers (:func:`~rcmkit.ingest.x12.envelope.short_code`), read once."""
        if code not in self._qualifiers:
            self._qualifiers[code] = self.elements.short_codes(self.read(code)[0].pos, 1)
        return self._qualifiers[code]

    def qualified(self, code: int, *qualifiers: str) -> np.ndarray:
        """Mask over the rows of ``code``: element 1 is one of ``qualifiers``."""
        return np.isin(self.qualifiers(code), [short_code(q) for q in qualifiers])

    @staticmethod
    def owner(children: _Rows, parents: _Rows) -> np.ndarray:
        """For each child, the index in ``parents`` of the last parent before it in the same set, else -1."""
        j = np.searchsorted(parents.pos, children.pos, side="right") - 1
        ok = j >= 0
        ok[ok] = parents.set[j[ok]] == children.set[ok]
        return np.where(ok, j, -1)

    def place(self, code: int) -> tuple[np.ndarray, np.ndarray]:
        """(claim, line) each segment of kind ``code`` sits in: -1 for a header one / a claim-level one."""
        if code not in self._places:
            rows, _ = self.read(code)
            claim = self.owner(rows, self.claims)
            line = self.owner(rows, self.lines)
            in_line = (line >= 0) & (claim >= 0)
            in_line[in_line] = self.line_claim[line[in_line]] == claim[in_line]
            self._places[code] = claim, np.where(in_line, line, -1)
        return self._places[code]

    def claim_id(self, claim: int | None) -> str | None:
        return self.claim_ids[int(claim)].as_py() if claim is not None and claim >= 0 else None

    def problem(self, rows: _Rows, mask: np.ndarray, code: str, describe: Callable[[int], str], *, fatal: bool,
                claim: np.ndarray | None = None, found: Callable[[int], str | None] | None = None,
                expected: str | Callable[[int], str] | None = None) -> None:
        """Record one problem per row of ``rows`` where ``mask``; ``describe(i)`` words it (called for those)."""
        for i in np.flatnonzero(mask):
            pos = int(rows.pos[i])
            self.problems.append(_Problem(
                int(rows.set[i]), self.segments.number(pos), self.segments.tag(pos), code, describe(int(i)),
                self.claim_id(claim[i]) if claim is not None else None, fatal, found(int(i)) if found else None,
                expected(int(i)) if callable(expected) else expected))

    def amounts(self, rows: _Rows, values: pa.Array, name: str, *, required: bool,
                claim: np.ndarray | None = None) -> np.ndarray:
        """Cents of an amount column (0 where empty and optional); invalid or missing amounts reject the set."""
        cents, bad = fields.cents_column(values)
        if not bad.any():
            return cents
        empty = _is(values, "")
        self.problem(rows, bad & ~empty, "not_a_number",
                     lambda i: f"{name} {fields.amount_problem(_text(values, i))}; expected an amount like 1922.86",
                     fatal=True, claim=claim, found=lambda i: _text(values, i), expected="amount")
        if required:
            self.problem(rows, empty, "missing_element", lambda i: f"{name} is missing; it is required",
                         fatal=True, claim=claim, expected="amount")
        return np.where(empty, 0, cents)


def _first_per(group: np.ndarray, n: int) -> np.ndarray:
    """Index of the first row of each group 0..n-1 (rows in file order), -1 for groups without one."""
    first = np.full(n, -1, dtype=np.int64)
    valid = np.flatnonzero(group >= 0)
    uniq, at = np.unique(group[valid], return_index=True)
    first[uniq] = valid[at]
    return first


def _at(values: pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]``, null where index is -1."""
    missing = index < 0
    return values.take(pa.array(np.where(missing, 0, index), mask=missing if missing.any() else None))


def _pick(values: pa.Array, index: np.ndarray, default: str = "") -> pa.Array:
    """``values[index]`` with ``default`` where index is -1."""
    return pc.fill_null(_at(values, index), pa.scalar(default, values.type))


def _ordinal(groups: np.ndarray) -> np.ndarray:
    """1, 2, 3... within runs of equal values of ``groups`` (file order)."""
    idx = np.arange(len(groups))
    starts = np.ones(len(groups), dtype=bool)
    starts[1:] = groups[1:] != groups[:-1]
    return idx - np.maximum.accumulate(np.where(starts, idx, 0)) + 1


def _null_if_blank(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


def _trimmed(values: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(values)


def _sum_by(group: np.ndarray, amounts: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``amounts`` per group 0..n-1 (rows with group -1 ignored)."""
    out = np.zeros(n, dtype=np.int64)
    ok = group >= 0
    np.add.at(out, group[ok], amounts[ok])
    return out


def _stray_separators(batch: _Batch, rows: _Rows, values: pa.Array, name: str,
                      claim: np.ndarray | None = None) -> pa.Array:
    """A composite column with any stray component separator replaced by the declared ISA16 one (warned)."""
    declared = batch.segments.separators.component
    fixed, stray = fields.composite_column(values, declared)
    batch.problem(rows, stray, "separator",
                  lambda i: f"{name} '{_text(values, i)}' is written with another component separator than the "
                  f"ISA16 '{declared}'; read with that one", fatal=False, claim=claim,
                  found=lambda i: _text(values, i), expected=f"components separated by '{declared}'")
    return fixed


def _composite(batch: _Batch, rows: _Rows, values: pa.Array, name: str, parts: int,
               claim: np.ndarray | None = None) -> list[pa.Array]:
    """Components 1..``parts`` of a composite column ('' where absent), tolerating a stray separator (warned)."""
    fixed = _stray_separators(batch, rows, values, name, claim)
    return fields.components(fixed, batch.segments.separators.component, parts)


# --------------------------------------------------------------------------------------------- reader
def read_835(sets: list[TransactionSet], ctx: FileContext) -> dict[str, pa.Table]:
    """Arrow tables (canonical and extra 835 tables, canonical column names) of the given 835 sets; a rejected
    set leaves no rows, only a ``rejections`` entry in ``ctx.issues``.

    Batches of about 16 MB are read on a thread pool (numpy and arrow release the GIL; ``RCMKIT_WORKERS``
    caps it); their warnings and rejections are merged in file order, so the result never depends on the
    thread schedule."""
    tables, _ = _read_sets(sets, np.zeros(len(sets), dtype=np.int64), [ctx])
    return tables


def read_835_joined(sets: list[TransactionSet], file_of_set: np.ndarray, files: list[FileContext]
                    ) -> tuple[dict[str, pa.Table], np.ndarray]:
    """:func:`read_835` of the 835 sets of several files at once, their runs joined in one SegmentIndex
    (:func:`~rcmkit.ingest.x12.envelope.join_runs`; set ``i`` is of file ``files[file_of_set[i]]``, files in
    order). The same rows, warnings and rejections as reading each file alone (tables in file order; each
    file's warnings and rejections in its ``issues``), without the fixed cost of a reader call per file (a
    small file cost ~40 ms, issue #15). Also returns the count of remittance rows of each file."""
    return _read_sets(sets, np.asarray(file_of_set, dtype=np.int64), files)


def _read_sets(sets: list[TransactionSet], file_of_set: np.ndarray, files: list[FileContext]
               ) -> tuple[dict[str, pa.Table], np.ndarray]:
    batches = _batches(sets)
    workers = min(len(batches), _workers())
    starts = np.cumsum([0] + [len(b) for b in batches])

    def read(k: int) -> tuple[dict[str, pa.Table], list[Issues], np.ndarray]:
        chunk = batches[k]
        return _read_batch(_Batch(chunk[0].segments, chunk, files, file_of_set[starts[k]:starts[k + 1]]))

    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(read, range(len(batches))))
    else:
        results = [read(k) for k in range(len(batches))]
    parts: dict[str, list[pa.Table]] = {}
    remittances = np.zeros(len(files), dtype=np.int64)
    for tables, issues, counts in results:
        for ctx, found in zip(files, issues):
            ctx.issues.absorb(found)
        remittances += counts
        for name, table in tables.items():
            parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}, remittances


def _workers() -> int:
    """Threads for reading batches: ``RCMKIT_WORKERS`` when it is a positive integer, else one per CPU."""
    setting = os.environ.get("RCMKIT_WORKERS", "")
    return int(setting) if setting.isdigit() and int(setting) > 0 else os.cpu_count() or 1


def _batches(sets: list[TransactionSet]) -> list[list[TransactionSet]]:
    """Consecutive sets of the same SegmentIndex, about 16 MB of segments per batch at most."""
    batches: list[list[TransactionSet]] = []
    for ts in sets:
        current = batches[-1] if batches else None
        if current and current[0].segments is ts.segments and (
            ts.segments.terms[ts.last] - ts.segments.starts[current[0].first] < _BATCH_BYTES
        ):
            current.append(ts)
        else:
            batches.append([ts])
    return batches


def _read_batch(batch: _Batch) -> tuple[dict[str, pa.Table], list[Issues], np.ndarray]:
    _check_versions(batch)
    dates = _read_dates(batch)
    header = _read_header(batch, dates)
    claims = _read_claims(batch, dates)
    lines = _read_lines(batch, claims, dates)
    adjustments = _read_adjustments(batch)
    plb = _read_plb(batch)
    remarks = _read_remarks(batch)
    _check_balances(batch, header, claims, lines, adjustments, plb)
    issues = [Issues(ctx.name) for ctx in batch.files]
    rejected = _settle(batch, issues)
    kept = ~np.isin(batch.claims.set, sorted(rejected))
    counts = np.bincount(batch.file_of_set[batch.claims.set[kept]], minlength=len(batch.files))
    return _tables(batch, rejected, header, claims, lines, adjustments, plb, remarks), issues, counts


def _check_versions(batch: _Batch) -> None:
    versions = [ts.version for ts in batch.sets]
    unknown = np.array([v not in _KNOWN_VERSIONS for v in versions], dtype=bool)
    batch.problem(batch.set_rows, unknown, "version",
                  lambda i: (f"version '{versions[i]}' (GS08/ST03) is not an 835 version rcmkit knows"
                             if versions[i] else "no version (neither GS08 nor ST03)")
                  + "; read as 005010X221A1", fatal=False, found=lambda i: versions[i], expected="005010X221A1")


# --------------------------------------------------------------------------------------------- dates
@dataclass
class _Dates:
    """Every DTM of the batch, converted once: DTM01 qualifier code, DTM02 date (null if none), placement."""

    rows: _Rows
    qualifier: np.ndarray
    date: pa.Array
    claim: np.ndarray
    line: np.ndarray

    def first(self, qualifier: str, group: np.ndarray, n: int) -> pa.Array:
        """The first date with ``qualifier`` per group 0..n-1 (claims, lines or sets), null if none."""
        keep = (group >= 0) & (self.qualifier == short_code(qualifier))
        return _at(self.date, _first_per(np.where(keep, group, -1), n))


def _read_dates(batch: _Batch) -> _Dates:
    rows, dtm = batch.read(DTM)
    claim, line = batch.place(DTM)
    qualifier = batch.qualifiers(DTM)
    dates, bad = fields.date_column(dtm[2])
    batch.problem(rows, bad, "invalid_date",
                  lambda i: f"DTM02 date '{_text(dtm[2], i)}' is not a date; left empty", fatal=False, claim=claim,
                  found=lambda i: _text(dtm[2], i), expected="CCYYMMDD")
    return _Dates(rows, qualifier, dates, claim, line)


# --------------------------------------------------------------------------------------------- header
@dataclass
class _Header:
    """Per-set payment values (arrays of length n_sets)."""

    handling: pa.Array
    payment_cents: np.ndarray
    credit_debit: pa.Array
    method: pa.Array
    paid_on: pa.Array
    production: pa.Array
    trace: pa.Array
    payer_id: pa.Array
    payer_name: pa.Array
    payee_id: pa.Array


def _header_first(batch: _Batch, code: int, *qualifiers: str) -> tuple[dict[int, pa.Array], np.ndarray]:
    """Elements of the first ``code`` segment (with element 1 one of ``qualifiers``, when given) in each set's
    header (before its first CLP), and its row index per set (-1: none)."""
    rows, cols = batch.read(code)
    keep = batch.place(code)[0] < 0
    if qualifiers:
        keep &= batch.qualified(code, *qualifiers)
    return cols, _first_per(np.where(keep, rows.set, -1), len(batch.sets))


def _read_header(batch: _Batch, dates: _Dates) -> _Header:
    bpr_rows, bpr = batch.read(BPR)
    bpr_first = _first_per(bpr_rows.set, len(batch.sets))
    batch.problem(batch.set_rows, bpr_first < 0, "missing_segment",
                  lambda i: "the set has no BPR segment; expected BPR right after ST", fatal=True, expected="BPR")
    with_bpr = bpr_first >= 0
    at_bpr = _Rows(np.where(with_bpr, np.append(bpr_rows.pos, 0)[bpr_first], batch.firsts), batch.set_rows.set)
    payment = _pick(bpr[2], bpr_first, "0")
    payment_cents, bad = fields.cents_column(payment)
    batch.problem(at_bpr, with_bpr & bad, "not_a_number",
                  lambda i: f"BPR02 total actual provider payment amount {fields.amount_problem(_text(payment, i))}; "
                  "expected an amount like 1922.86", fatal=True, found=lambda i: _text(payment, i),
                  expected="amount")
    production = dates.first("405", np.where(dates.claim < 0, dates.rows.set, -1), len(batch.sets))
    payer_id, payer_name = _payer(batch)
    n1, pe_first = _header_first(batch, N1, "PE")
    trn, trn_first = _header_first(batch, TRN)
    return _Header(
        handling=_pick(bpr[1], bpr_first), payment_cents=payment_cents,
        credit_debit=_null_if_blank(_pick(bpr[3], bpr_first)), method=_null_if_blank(_pick(bpr[4], bpr_first)),
        paid_on=_paid_on(batch, at_bpr, with_bpr, _pick(bpr[16], bpr_first), production), production=production,
        trace=_null_if_blank(_trimmed(_pick(trn[2], trn_first))), payer_id=payer_id,
        payer_name=_null_if_blank(payer_name), payee_id=_null_if_blank(_trimmed(_pick(n1[4], pe_first))),
    )


def _paid_on(batch: _Batch, at_bpr: _Rows, with_bpr: np.ndarray, bpr16: pa.Array, production: pa.Array) -> pa.Array:
    """BPR16; when missing or not a date, DTM*405 (warned); when that is missing too, the set is rejected."""
    dates, _ = fields.date_column(bpr16)
    missing = dates.is_null().to_numpy(zero_copy_only=False) & with_bpr
    fallback = ~production.is_null().to_numpy(zero_copy_only=False)

    def what(i: int) -> str:
        text = _text(bpr16, i)
        return f"BPR16 check issue or EFT effective date '{text}' is not a date" if text else \
            "BPR16 check issue or EFT effective date is missing"

    batch.problem(at_bpr, missing & fallback, "date_fallback",
                  lambda i: f"{what(i)}; used the DTM*405 production date {production[i].as_py():%Y-%m-%d}",
                  fatal=False, found=lambda i: _text(bpr16, i), expected="CCYYMMDD")
    batch.problem(at_bpr, missing & ~fallback, "invalid_date",
                  lambda i: f"{what(i)} and there is no DTM*405 production date to fall back on; "
                  "expected a CCYYMMDD date in BPR16", fatal=True, found=lambda i: _text(bpr16, i),
                  expected="CCYYMMDD")
    return pc.if_else(dates.is_null(), production, dates)


def _payer(batch: _Batch) -> tuple[pa.Array, pa.Array]:
    """(payer_id, payer name) per set: N1*PR N104, else REF*2U of loop 1000A, else TRN03, else N1*PR N102."""
    n1, pr_first = _header_first(batch, N1, "PR")
    name = _trimmed(_pick(n1[2], pr_first))
    trn, trn_first = _header_first(batch, TRN)
    payer_id = _trimmed(_pick(n1[4], pr_first))
    for fallback in (_payer_ref(batch), _pick(trn[3], trn_first), name):
        payer_id = pc.if_else(pc.equal(payer_id, ""), _trimmed(fallback), payer_id)
    batch.problem(batch.set_rows, _is(payer_id, ""), "missing_element",
                  lambda i: "no payer identification: N1*PR N104, REF*2U, TRN03 and the N1*PR name are all "
                  "missing; expected at least TRN03", fatal=True, expected="TRN03")
    return payer_id, name


def _payer_ref(batch: _Batch) -> pa.Array:
    """REF*2U of loop 1000A per set: a header REF*2U whose nearest preceding N1 is the N1*PR."""
    refs, ref = batch.read(REF)
    owner = batch.owner(refs, batch.read(N1)[0])
    after_pr = np.append(batch.qualified(N1, "PR"), False)[owner]
    keep = after_pr & batch.qualified(REF, "2U") & (batch.place(REF)[0] < 0)
    return _pick(ref[2], _first_per(np.where(keep, refs.set, -1), len(batch.sets)))


# --------------------------------------------------------------------------------------------- claims
@dataclass
class _Claims:
    clp: dict[int, pa.Array]
    billed: np.ndarray
    paid: np.ndarray
    patient: np.ndarray
    statement_from: pa.Array
    statement_to: pa.Array
    received_on: pa.Array
    coverage: pa.Array  # int64 cents, null where no AMT*AU


def _read_claims(batch: _Batch, dates: _Dates) -> _Claims:
    rows, clp = batch.read(CLP)
    claim = np.arange(len(rows))
    batch.problem(rows, _is(batch.claim_ids, ""), "missing_element",
                  lambda i: "CLP01 patient control number is missing; it is required", fatal=True,
                  expected="claim ID")
    _check_status(batch, rows, clp[2], claim)
    claim_level = np.where(dates.line < 0, dates.claim, -1)
    return _Claims(
        clp=clp,
        billed=batch.amounts(rows, clp[3], "CLP03 total claim charge amount", required=True, claim=claim),
        paid=batch.amounts(rows, clp[4], "CLP04 claim payment amount", required=True, claim=claim),
        patient=batch.amounts(rows, clp[5], "CLP05 patient responsibility amount", required=False, claim=claim),
        statement_from=dates.first("232", claim_level, len(rows)),
        statement_to=dates.first("233", claim_level, len(rows)),
        received_on=dates.first("050", claim_level, len(rows)),
        coverage=_amount_per(batch, "AU", "AMT*AU coverage amount", line_level=False),
    )


def _check_status(batch: _Batch, rows: _Rows, status: pa.Array, claim: np.ndarray) -> None:
    known = _is_any(status, CLAIM_STATUS_CODES) | (batch.legacy[rows.set] & _is_any(status, _CLAIM_STATUS_4010))
    batch.problem(rows, ~known, "unknown_code",
                  lambda i: f"CLP02 claim status code '{_text(status, i)}' is not a known code; expected one of "
                  f"{', '.join(sorted(CLAIM_STATUS_CODES, key=int))}", fatal=True, claim=claim,
                  found=lambda i: _text(status, i), expected="CLP02 claim status code")


def _amount_per(batch: _Batch, qualifier: str, name: str, *, line_level: bool) -> pa.Array:
    """Cents of the first AMT*``qualifier`` per service line (or per claim, at claim level); null where none.
    Only the AMT segments used are validated: an unreadable one rejects the set."""
    rows, amt = batch.read(AMT)
    claim, line = batch.place(AMT)
    group, n = (line, len(batch.lines)) if line_level else (np.where(line < 0, claim, -1), len(batch.claims))
    first = _first_per(np.where(batch.qualified(AMT, qualifier), group, -1), n)
    chosen = np.flatnonzero(first >= 0)
    at = first[chosen]
    cents = batch.amounts(rows.at(at), amt[2].take(pa.array(at)), name, required=True, claim=claim[at])
    out = np.zeros(n, dtype=np.int64)
    out[chosen] = cents
    return pa.array(out, mask=first < 0)


# --------------------------------------------------------------------------------------------- lines
@dataclass
class _Lines:
    number: np.ndarray
    qualifier: pa.Array
    code: pa.Array
    modifiers: pa.Array
    billed: np.ndarray
    paid: np.ndarray
    units: np.ndarray
    revenue_code: pa.Array
    submitted_code: pa.Array
    allowed: pa.Array  # int64 cents, null where no AMT*B6
    service_date: pa.Array
    service_to: pa.Array
    control_number: pa.Array


def _read_lines(batch: _Batch, claims: _Claims, dates: _Dates) -> _Lines:
    rows, svc = batch.read(SVC)
    claim = batch.line_claim
    batch.problem(rows, claim < 0, "out_of_place",
                  lambda i: "SVC service line before any CLP in the set; expected it inside a claim", fatal=True)
    qualifier, code, modifiers = fields.procedure_column(_stray_separators(batch, rows, svc[1], "SVC01", claim),
                                                         batch.segments.separators.component)
    batch.problem(rows, _is(code, "") & (claim >= 0), "missing_element",
                  lambda i: f"SVC01 '{_text(svc[1], i)}' has no procedure code; expected a qualifier and a code "
                  "such as HC:99213 (the elements after it cannot be trusted)", fatal=True, claim=claim,
                  found=lambda i: _text(svc[1], i), expected="HC:<code>")
    units, bad_units = fields.quantity_column(svc[5])
    blank_units = _is(svc[5], "") if bad_units.any() else np.zeros(len(rows), dtype=bool)
    batch.problem(rows, bad_units & ~blank_units, "not_a_number",
                  lambda i: f"SVC05 units of service paid count '{_text(svc[5], i)}' is not a number", fatal=True,
                  claim=claim, found=lambda i: _text(svc[5], i), expected="number")
    n = len(rows)
    start = pc.coalesce(dates.first("472", dates.line, n), dates.first("150", dates.line, n))
    return _Lines(
        number=_ordinal(claim), qualifier=qualifier, code=code, modifiers=modifiers,
        billed=batch.amounts(rows, svc[2], "SVC02 line item charge amount", required=True, claim=claim),
        paid=batch.amounts(rows, svc[3], "SVC03 line item provider payment amount", required=True, claim=claim),
        units=np.where(blank_units, 1.0, units), revenue_code=_null_if_blank(svc[4]),
        submitted_code=_null_if_blank(_trimmed(_composite(batch, rows, svc[6], "SVC06", 2, claim)[1])),
        allowed=_amount_per(batch, "B6", "AMT*B6 allowed amount", line_level=True),
        service_date=pc.coalesce(start, _at(claims.statement_from, claim)),
        service_to=pc.coalesce(dates.first("151", dates.line, n), dates.first("472", dates.line, n)),
        control_number=_line_reference(batch, "6R"),
    )


def _line_reference(batch: _Batch, qualifier: str) -> pa.Array:
    """REF02 of the first REF*``qualifier`` of each service line, null where none."""
    _, ref = batch.read(REF)
    line = batch.place(REF)[1]
    first = _first_per(np.where(batch.qualified(REF, qualifier), line, -1), len(batch.lines))
    return _null_if_blank(_trimmed(_pick(ref[2], first)))


# --------------------------------------------------------------------------------------------- adjustments
@dataclass
class _Adjustments:
    claim: np.ndarray
    line: np.ndarray
    group: pa.Array
    reason: pa.Array
    amount: np.ndarray
    quantity: pa.Array  # float64 with nulls


def _repeats(batch: _Batch, rows: _Rows, first_group: list[pa.Array], first_element: int, width: int,
             repeats: int) -> tuple[np.ndarray, np.ndarray, list[pa.Array]]:
    """Repeated element groups (CAS triplets, PLB pairs) in file order: (segment row, repeat number, columns).

    ``first_group`` holds the first group's columns (already read); later groups are read only for the segments
    long enough to have them."""
    counts = batch.elements.counts(rows.pos)
    seg_rows, repeat, groups = [np.arange(len(rows))], [np.zeros(len(rows), dtype=np.int64)], [first_group]
    for r in range(1, repeats):
        start = first_element + width * r
        has = np.flatnonzero(counts >= start)
        if not len(has):
            break
        cols = batch.elements.columns(rows.pos[has], range(start, start + width))
        seg_rows.append(has)
        repeat.append(np.full(len(has), r))
        groups.append([cols[k] for k in range(start, start + width)])
    if len(groups) == 1:
        return seg_rows[0], repeat[0], first_group
    seg_row, rep = np.concatenate(seg_rows), np.concatenate(repeat)
    order = np.lexsort((rep, seg_row))
    merged = [pa.concat_arrays([g[k] for g in groups]).take(pa.array(order)) for k in range(width)]
    return seg_row[order], rep[order], merged


def _read_adjustments(batch: _Batch) -> _Adjustments:
    rows, cas = batch.read(CAS)
    claim, line = batch.place(CAS)
    batch.problem(rows, claim < 0, "out_of_place",
                  lambda i: "CAS before any CLP in the set; expected it in a claim or a service line", fatal=True)
    group = _trimmed(cas[1])
    batch.problem(rows, _is(group, ""), "missing_element",
                  lambda i: "CAS01 claim adjustment group code is missing; it is required", fatal=True, claim=claim)
    _check_groups(batch, rows, group, claim)
    seg_row, rep, (reason, amount, quantity) = _repeats(batch, rows, [cas[2], cas[3], cas[4]], 2, 3, 6)
    keep = ~(_is(reason, "") & _is(amount, "") & _is(quantity, ""))
    if not keep.all():
        seg_row, rep = seg_row[keep], rep[keep]
        reason, amount, quantity = (a.filter(pa.array(keep)) for a in (reason, amount, quantity))
    reason = _trimmed(reason)
    at, at_claim = rows.at(seg_row), claim[seg_row]
    batch.problem(at, _is(reason, ""), "missing_element",
                  lambda i: f"CAS{2 + 3 * rep[i]:02d} adjustment reason code is missing for amount "
                  f"'{_text(amount, i)}'", fatal=True, claim=at_claim, expected="CARC")
    cents = batch.amounts(at, amount, "CAS adjustment amount", required=True, claim=at_claim)
    qty, bad_qty = fields.quantity_column(quantity)
    blank_qty = _is(quantity, "")
    batch.problem(at, bad_qty & ~blank_qty, "not_a_number",
                  lambda i: f"CAS adjustment quantity '{_text(quantity, i)}' is not a number", fatal=True,
                  claim=at_claim, found=lambda i: _text(quantity, i), expected="number")
    return _Adjustments(at_claim, line[seg_row], group.take(pa.array(seg_row)), reason, cents,
                        pa.array(qty, mask=blank_qty))


def _check_groups(batch: _Batch, rows: _Rows, group: pa.Array, claim: np.ndarray) -> None:
    """Warn about group codes outside CO/OA/PI/PR (CR is accepted silently in 004010 sets only)."""
    odd = ~_is_any(group, _GROUP_CODES | {""}) & ~(batch.legacy[rows.set] & _is(group, "CR"))
    batch.problem(rows, odd, "unknown_code",
                  lambda i: f"CAS01 group code '{_text(group, i)}' is not one of CO, OA, PI, PR"
                  + (" (CR is a 004010 code, withdrawn in 005010)" if _text(group, i) == "CR" else "")
                  + "; loaded as is", fatal=False, claim=claim, found=lambda i: _text(group, i),
                  expected="CO, OA, PI or PR")


# --------------------------------------------------------------------------------------------- PLB
@dataclass
class _Plb:
    rows: _Rows
    provider: pa.Array
    fiscal_date: pa.Array
    reason: pa.Array
    reference: pa.Array
    amount: np.ndarray


def _read_plb(batch: _Batch) -> _Plb:
    rows, plb = batch.read(PLB)
    fiscal, bad_fiscal = fields.date_column(plb[2])
    batch.problem(rows, bad_fiscal, "invalid_date",
                  lambda i: f"PLB02 fiscal period date '{_text(plb[2], i)}' is not a date; left empty",
                  fatal=False, found=lambda i: _text(plb[2], i), expected="CCYYMMDD")
    seg_row, rep, (identifier, amount) = _repeats(batch, rows, [plb[3], plb[4]], 3, 2, 6)
    keep = ~(_is(identifier, "") & _is(amount, ""))
    seg_row, rep = seg_row[keep], rep[keep]
    identifier, amount = (_trimmed(a.filter(pa.array(keep))) for a in (identifier, amount))
    at = rows.at(seg_row)
    reason, reference = _composite(batch, at, identifier, "PLB03", 2)
    batch.problem(at, _is(reason, ""), "missing_element",
                  lambda i: f"PLB{3 + 2 * rep[i]:02d} adjustment reason code is missing for amount "
                  f"'{_text(amount, i)}'", fatal=True, expected="PLB reason code")
    cents = batch.amounts(at, amount, "PLB provider adjustment amount", required=True)
    return _Plb(at, _trimmed(plb[1]).take(pa.array(seg_row)), fiscal.take(pa.array(seg_row)), _trimmed(reason),
                _null_if_blank(_trimmed(reference)), cents)


# --------------------------------------------------------------------------------------------- remarks
def _read_remarks(batch: _Batch) -> pa.Table:
    """RARCs: LQ02 (qualifier LQ01) on service lines; MOA03-07, MIA05 and MIA20-23 on claims (qualifier HE).
    Columns: claim, line (-1 at claim level), element, qualifier, remark_code; in file order."""
    lq_rows, lq = batch.read(LQ)
    claim, line = batch.place(LQ)
    batch.problem(lq_rows, claim < 0, "out_of_place", lambda i: "LQ remark before any CLP in the set; ignored",
                  fatal=False)
    parts = [_remark_part(lq_rows.pos, 0, claim, line, "LQ02", lq[1], lq[2])]
    for code, name in ((MOA, "MOA"), (MIA, "MIA")):
        rows, cols = batch.read(code)
        if not len(rows):
            continue
        owner = batch.place(code)[0]
        he = pa.array(["HE"] * len(rows), pa.large_string())
        parts += [_remark_part(rows.pos, order, owner, np.full(len(rows), -1), f"{name}{k:02d}", he, cols[k])
                  for order, k in enumerate(_ELEMENTS[code])]
    table = pa.concat_tables(parts)
    keep = pc.and_(pc.not_equal(table["remark_code"], ""), pc.greater_equal(table["claim"], 0))
    return table.filter(keep).sort_by([("pos", "ascending"), ("order", "ascending")])


def _remark_part(pos: np.ndarray, order: int, claim: np.ndarray, line: np.ndarray, element: str,
                 qualifier: pa.Array, code: pa.Array) -> pa.Table:
    return pa.table({
        "pos": pos, "order": np.full(len(pos), order), "claim": claim, "line": line,
        "element": pa.array([element] * len(pos), pa.large_string()),
        "qualifier": _trimmed(qualifier), "remark_code": _trimmed(code),
    })


# --------------------------------------------------------------------------------------------- balancing
def _check_balances(batch: _Batch, header: _Header, claims: _Claims, lines: _Lines, adjustments: _Adjustments,
                    plb: _Plb) -> None:
    """TR3 balancing rules; a failure is a warning naming both sides (the amounts as sent stand)."""
    money = format_cents
    n_lines, n_claims, n_sets = len(batch.lines), len(batch.claims), len(batch.sets)
    line_cas = _sum_by(adjustments.line, adjustments.amount, n_lines)
    line_should = lines.billed - line_cas
    batch.problem(batch.lines, (batch.line_claim >= 0) & (line_should != lines.paid), "balance",
                  lambda i: f"SVC02 {money(lines.billed[i])} - line adjustments {money(line_cas[i])} = "
                  f"{money(line_should[i])}, but SVC03 paid is {money(lines.paid[i])}; amounts loaded as sent",
                  fatal=False, claim=batch.line_claim, found=lambda i: money(lines.paid[i]),
                  expected=lambda i: money(line_should[i]))
    all_cas = _sum_by(adjustments.claim, adjustments.amount, n_claims)
    claim_should = claims.billed - all_cas
    batch.problem(batch.claims, claim_should != claims.paid, "balance",
                  lambda i: f"CLP03 {money(claims.billed[i])} - all adjustments {money(all_cas[i])} = "
                  f"{money(claim_should[i])}, but CLP04 paid is {money(claims.paid[i])}; amounts loaded as sent",
                  fatal=False, claim=np.arange(n_claims), found=lambda i: money(claims.paid[i]),
                  expected=lambda i: money(claim_should[i]))
    paid = _sum_by(batch.claims.set, claims.paid, n_sets)
    plb_total = _sum_by(plb.rows.set, plb.amount, n_sets)
    payment_should = paid - plb_total
    batch.problem(batch.set_rows, header.payment_cents != payment_should, "balance",
                  lambda i: f"BPR02 {money(header.payment_cents[i])} is not sum of CLP04 {money(paid[i])} - "
                  f"sum of PLB {money(plb_total[i])} = {money(payment_should[i])}; amounts loaded as sent",
                  fatal=False, found=lambda i: money(header.payment_cents[i]),
                  expected=lambda i: money(payment_should[i]))


# --------------------------------------------------------------------------------------------- outcome
def _settle(batch: _Batch, by_file: list[Issues]) -> set[int]:
    """Turn the batch's problems into rejections (first fatal problem of a set) and warnings (loaded sets), each
    in the issues of its set's file (``by_file``)."""
    fatal: dict[int, list[_Problem]] = {}
    for p in batch.problems:
        if p.fatal:
            fatal.setdefault(p.set, []).append(p)
    for s, problems in sorted(fatal.items()):
        ts, first = batch.sets[s], min(problems, key=lambda p: p.number)
        more = len(problems) - 1
        issues = by_file[batch.file_of_set[s]]
        issues.reject(first.code, first.text + (f" (and {more} more problem{'s' * (more > 1)} in the set)"
                                                if more else ""),
                      st=ts.control_number, transaction_type="835", first=ts.first_number, last=ts.last_number,
                      claims=int((batch.claims.set == s).sum()), segment_number=first.number,
                      segment_id=first.segment_id, claim_id=first.claim_id)
    for p in sorted(batch.problems, key=lambda p: p.number):
        if p.set not in fatal:
            by_file[batch.file_of_set[p.set]].warn(p.code, p.text, segment_number=p.number, segment_id=p.segment_id,
                        st=batch.sets[p.set].control_number, claim_id=p.claim_id, found=p.found, expected=p.expected)
    return set(fatal)


def _kept(table: pa.Table, keep: np.ndarray) -> pa.Table:
    return table if keep.all() else table.filter(pa.array(keep))


def _tables(batch: _Batch, rejected: set[int], header: _Header, claims: _Claims, lines: _Lines,
            adjustments: _Adjustments, plb: _Plb, remarks: pa.Table) -> dict[str, pa.Table]:
    """The output tables of the sets that were not rejected, with canonical column names."""
    seg, n_sets = batch.segments, len(batch.sets)
    ctxs = [batch.files[f] for f in batch.file_of_set.tolist()]  # the file of each set
    keep_set = ~np.isin(np.arange(n_sets), sorted(rejected))
    keep_claim = np.append(keep_set[batch.claims.set], False)  # [-1] is False: rows outside any claim
    prefix = pa.array([ctx.row_prefix(ts.interchange_control, ts.control_number)
                       for ctx, ts in zip(ctxs, batch.sets)], pa.large_string())
    payment_id = pa.array([ctx.row_id(ts.interchange_control, ts.control_number, ts.first_number)
                           for ctx, ts in zip(ctxs, batch.sets)], pa.large_string())
    claim_set = pa.array(batch.claims.set)
    if len(batch.files) == 1:
        claim_source = pa.scalar(f"{batch.files[0].name}#", pa.large_string())
    else:
        claim_source = pa.array([f"{ctx.name}#" for ctx in ctxs], pa.large_string()).take(claim_set)
    claim_numbers = pc.cast(pa.array(seg.number(batch.claims.pos)), pa.large_string())
    remit_id = concat_strings(prefix.take(claim_set), claim_numbers)
    remark_claim, remark_line = remarks["claim"].to_numpy(), remarks["line"].to_numpy()
    line_numbers = np.append(lines.number, 0).astype(np.int32)

    def line_number(line: np.ndarray) -> pa.Array:
        return pa.array(line_numbers[line], pa.int32(), mask=line < 0)

    return {
        "payments": _kept(pa.table({
            "payment_id": payment_id, "trace_number": header.trace, "payer_id": header.payer_id,
            "payer_name": header.payer_name, "payee_id": header.payee_id, "handling_code": header.handling,
            "payment_cents": header.payment_cents, "credit_debit": header.credit_debit,
            "payment_method": header.method, "paid_on": header.paid_on, "production_date": header.production,
            "claims": np.bincount(batch.claims.set, minlength=n_sets),
            "claim_paid_cents": _sum_by(batch.claims.set, claims.paid, n_sets),
            "plb_cents": _sum_by(plb.rows.set, plb.amount, n_sets),
            "version": pa.array([ts.version for ts in batch.sets]),
            "source": pa.array([f"{ctx.name}#{ts.first_number}" for ctx, ts in zip(ctxs, batch.sets)]),
        }), keep_set),
        "remittances": _kept(pa.table({
            "remit_id": remit_id, "claim_id": batch.claim_ids,
            "payer_claim_id": _null_if_blank(_trimmed(claims.clp[7])), "status_code": claims.clp[2],
            "billed_cents": claims.billed, "paid_cents": claims.paid,
            "patient_responsibility_cents": claims.patient, "payer_id": header.payer_id.take(claim_set),
            "paid_on": header.paid_on.take(claim_set), "trace_number": header.trace.take(claim_set),
            "source": concat_strings(claim_source, claim_numbers),
        }), keep_claim[:-1]),
        "remittance_details": _kept(pa.table({
            "remit_id": remit_id, "payment_id": payment_id.take(claim_set),
            "claim_filing_indicator": _null_if_blank(claims.clp[6]), "facility_code": _null_if_blank(claims.clp[8]),
            "frequency_code": _null_if_blank(claims.clp[9]), "statement_from": claims.statement_from,
            "statement_to": claims.statement_to, "received_on": claims.received_on,
            "coverage_amount_cents": claims.coverage,
        }), keep_claim[:-1]),
        "remit_lines": _kept(pa.table({
            "remit_id": _at(remit_id, batch.line_claim), "line_number": line_numbers[:-1],
            "procedure_code": lines.code, "modifiers": lines.modifiers, "billed_cents": lines.billed,
            "paid_cents": lines.paid, "allowed_cents": lines.allowed, "units": lines.units,
            "service_date": lines.service_date,
        }), keep_claim[batch.line_claim]),
        "remit_line_details": _kept(pa.table({
            "remit_id": _at(remit_id, batch.line_claim), "line_number": line_numbers[:-1],
            "procedure_qualifier": lines.qualifier, "submitted_procedure_code": lines.submitted_code,
            "revenue_code": lines.revenue_code, "service_to": lines.service_to,
            "line_control_number": lines.control_number,
        }), keep_claim[batch.line_claim]),
        "adjustments": _kept(pa.table({
            "remit_id": _at(remit_id, adjustments.claim), "line_number": line_number(adjustments.line),
            "group_code": adjustments.group, "reason_code": adjustments.reason, "amount_cents": adjustments.amount,
            "quantity": adjustments.quantity,
        }), keep_claim[adjustments.claim]),
        "plb": _kept(pa.table({
            "payment_id": payment_id.take(pa.array(plb.rows.set)),
            "payer_id": header.payer_id.take(pa.array(plb.rows.set)), "provider_id": plb.provider,
            "fiscal_period_date": plb.fiscal_date, "reason_code": plb.reason, "reference_id": plb.reference,
            "amount_cents": plb.amount, "paid_on": header.paid_on.take(pa.array(plb.rows.set)),
            "source": pa.array([f"{ctxs[s].name}#{n}" for s, n in zip(plb.rows.set.tolist(),
                                                                       seg.number(plb.rows.pos).tolist())],
                               pa.large_string()),
        }), keep_set[plb.rows.set]),
        "remarks": _kept(pa.table({
            "remit_id": _at(remit_id, remark_claim), "line_number": line_number(remark_line),
            "element": remarks["element"], "qualifier": remarks["qualifier"], "remark_code": remarks["remark_code"],
        }), keep_claim[remark_claim]),
    }
