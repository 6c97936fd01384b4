"""Columnar reader of plain 837 transaction sets (issue #15): the same rows as the segment walk of
:mod:`rcmkit.ingest.x12.claims837`, built from arrays.

The segment walk (:class:`~rcmkit.ingest.x12.claims837._SetReader`) stays the reference and reads every set this
reader declines. This one reads a set only when it is *plain*: nothing in it would make the walk warn or reject,
and none of the walk's rarer states occurs. :func:`read_plain_837` returns None for any other set, and the caller
walks it, so messages (file, segment number, what was expected), warnings and rejections come from one place.
A set is plain when:

* its bytes are ASCII with no control characters other than its separators, tabs and line breaks, and no segment
  has trailing blanks (so arrow's whitespace trim is Python's ``str.strip``);
* it has no SV2 (837I service lines), no SVD (loop 2430) and no SBR inside a claim (loops 2320/2330);
* every CLM follows an HL, every HL02 names an earlier HL01, the HL nesting is within the limit;
* every LX inside a claim has exactly one SV1 and every SV1 follows an LX of its claim;
* every amount, quantity and date it reads is valid (the scalar rules of :mod:`rcmkit.ingest.x12.fields`,
  checked with their regular expressions), every composite uses the declared component separator, no diagnosis
  code has a dot and no HI qualifier is sent apart from its code;
* every claim has a CLM01, a CLM05-3, a service date, a billing provider NPI, a payer ID and a member ID, line
  charges that add up to CLM02, a BHT04 date, and a claim type that its content and version agree on.

Rows, values and their order are the walk's (tests/test_ingest_837_columnar.py compares both on the demo
inbox, damaged files, the public samples and fuzz mutations). The TR3 elements read are listed in
:mod:`rcmkit.ingest.x12.claims837`; the source is the ASC X12 005010X222A1 implementation guide.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rcmkit.errors import RcmkitError
from rcmkit.ingest import limits
from rcmkit.ingest.x12 import fields
from rcmkit.ingest.x12.context import FileContext
from rcmkit.ingest.x12.envelope import ElementIndex, TransactionSet, tag_code

__all__ = ["read_plain_837"]

_HL, _CLM, _LX, _SV1, _SV2, _SVD, _SBR, _NM1, _DMG, _REF, _HI, _DTP, _CL1, _BHT = (
    tag_code(t) for t in ("HL", "CLM", "LX", "SV1", "SV2", "SVD", "SBR", "NM1", "DMG", "REF", "HI", "DTP", "CL1",
                          "BHT"))
_QUALIFIERS = ("ABK", "BK", "ABF", "BF")
_PRINCIPAL = ("ABK", "BK")
_STR = pa.large_string()


class _NotPlain(RcmkitError):
    """The set is not plain: the segment walk reads it (never leaves this module)."""


def _bad_bytes(separators: tuple[str, ...]) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[0x80:] = True
    table[:0x20] = True
    for ok in (9, 10, 13):
        table[ok] = False
    table[0x7F] = True
    for sep in separators:
        if sep and len(sep) == 1 and ord(sep) < 256:
            table[ord(sep)] = False
    return table


def _np(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _require(condition) -> None:
    if not bool(np.all(condition)):
        raise _NotPlain


def _is(values: pa.Array, text: str) -> np.ndarray:
    return _np(pc.equal(values, text))


def _trim(values: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(values)


def _null_if_blank(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


def _take(values: pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]``, null where index is -1."""
    missing = index < 0
    return values.take(pa.array(np.where(missing, 0, index), mask=missing if missing.any() else None))


def _last_per(group: np.ndarray, n: int) -> np.ndarray:
    """Index of the last row of each group 0..n-1 (groups ascending in row order), -1 for none."""
    out = np.full(n, -1, dtype=np.int64)
    out[group] = np.arange(len(group))  # numpy assigns in order: the last row of a group wins
    return out


def _first_per(group: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -1, dtype=np.int64)
    out[group[::-1]] = np.arange(len(group))[::-1]
    return out


def _pick(selected: np.ndarray, group: np.ndarray, n: int, last: bool = True) -> np.ndarray:
    """For each group 0..n-1, the entry of ``selected`` (row positions in some values) of its last (first) row;
    ``group`` is the group of each selected row, in row order; -1 for a group without one."""
    per = (_last_per if last else _first_per)(group, n)
    if not len(selected):
        return per
    return np.where(per >= 0, selected[np.maximum(per, 0)], -1)


def _amounts(values: pa.Array) -> np.ndarray:
    """Integer cents, every value valid by :data:`fields.AMOUNT_PATTERN` (else not plain)."""
    _require(_np(pc.match_substring_regex(values, fields.AMOUNT_PATTERN)))
    cents, invalid = fields.cents_column(values)
    _require(~invalid)
    return cents


def _quantities(values: pa.Array) -> np.ndarray:
    _require(_np(pc.match_substring_regex(values, fields.QUANTITY_PATTERN)))
    quantity, invalid = fields.quantity_column(values)
    _require(~invalid)
    return quantity


def _dates(values: pa.Array) -> np.ndarray:
    """Days since 1970 of CCYYMMDD dates, every one valid (else not plain)."""
    dates, _ = fields.date_column(values)
    _require(~_np(dates.is_null()))
    return _np(dates.cast(pa.int32())).astype(np.int64)


def _declared_only(values: pa.Array, declared: str) -> np.ndarray:
    """Mask of values holding the declared component separator; a value holding another one is not plain (the
    walk warns and reads it with that one)."""
    has = _np(pc.match_substring(values, declared))
    for other in fields.COMPONENT_CANDIDATES:
        if other != declared:
            _require(~(~has & _np(pc.match_substring(values, other))))
    return has


def _parts(values: pa.Array, declared: str) -> tuple[pa.ListArray, np.ndarray]:
    """Components of ``values`` (split on the declared separator) and the list offsets."""
    split = pc.split_pattern(values, declared)
    return split, split.offsets.to_numpy() - split.offsets.to_numpy()[0]


def _component(split: pa.ListArray, offsets: np.ndarray, k: int) -> pa.Array:
    flat = pa.concat_arrays([split.flatten(), pa.array([""], split.type.value_type)])
    lengths = np.diff(offsets)
    return flat.take(pa.array(np.where(lengths > k, offsets[:-1] + k, len(flat) - 1)))


def _joined_nonblank(split: pa.ListArray, offsets: np.ndarray, lo: int, hi: int | None) -> pa.Array:
    """':'.join of the stripped, non-empty components lo..hi-1 of each value (the walk's modifiers, pointers)."""
    n = len(split)
    lengths = np.diff(offsets)
    flat = _trim(split.flatten())
    row = np.repeat(np.arange(n), lengths)
    position = np.arange(len(flat)) - offsets[:-1][row] if len(flat) else np.zeros(0, dtype=np.int64)
    keep = (position >= lo) & (position < (hi if hi is not None else np.iinfo(np.int64).max))
    keep &= _np(pc.not_equal(flat, ""))
    kept_rows = row[keep]
    new_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(kept_rows, minlength=n), out=new_offsets[1:])
    lists = pa.ListArray.from_arrays(pa.array(new_offsets), flat.filter(pa.array(keep)))
    return pc.binary_join(lists, pa.scalar(":", flat.type))


def read_plain_837(sets: list[TransactionSet], files: list[FileContext]) -> dict | None:
    """The rows of consecutive plain sets of one :class:`SegmentIndex` (set ``i`` of file ``files[i]``): arrow
    arrays per table (``claims``, ``claim_lines``, ``claim_line_details``, rows in set order), ``providers``
    (per set, its rows as the walk's dict gives them) and ``claims_per_set``; None when any set is not plain."""
    try:
        return _read(sets, files)
    except _NotPlain:
        return None


def _read(sets: list[TransactionSet], files: list[FileContext]) -> dict:  # noqa: C901 - one pass over columns
    from rcmkit.ingest.x12.claims837 import claim_type_of, patient_key, provider_name

    seg = sets[0].segments
    if any(ts.segments is not seg for ts in sets):
        raise ValueError("read_plain_837: the sets must share one SegmentIndex")
    seps = seg.separators
    lo, hi = sets[0].first + 1, sets[-1].last  # the walk's segments: ST and SE excluded
    _require(hi > lo)
    window = seg.array[int(seg.starts[lo]) : int(seg.terms[hi - 1]) + 1]
    _require(~_bad_bytes((seps.element, seps.segment, seps.component, seps.repetition or ""))[window])
    ei = ElementIndex(seg, lo, hi - 1)
    _require(not ei.needs_rtrim)
    comp = seps.component

    n, n_sets = hi - lo, len(sets)
    pos = np.arange(n)
    body_first = np.array([ts.first + 1 - lo for ts in sets], dtype=np.int64)
    body_last = np.array([ts.last - 1 - lo for ts in sets], dtype=np.int64)  # inclusive
    _require(body_last >= body_first - 1)
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, body_first, 1)
    np.add.at(marks, body_last + 1, -1)
    body = np.cumsum(marks)[:n] > 0
    codes = np.where(body, seg.codes[lo:hi], 0)  # envelopes (SE, GE, IEA, ISA, GS, ST) between sets match nothing
    set_no = np.searchsorted(body_first, pos, side="right") - 1
    last_st = body_first[np.maximum(set_no, 0)]  # each segment's set body start: the walk's state resets there
    _require(~np.isin(codes, [_SV2, _SVD]))
    is_hl, is_clm, is_lx = codes == _HL, codes == _CLM, codes == _LX
    last_hl = np.maximum.accumulate(np.where(is_hl, pos, -1))
    last_clm = np.maximum.accumulate(np.where(is_clm, pos, -1))
    hl_valid = last_hl >= last_st
    in_claim = (last_clm > last_hl) & (last_clm >= last_st)
    _require(hl_valid[is_clm])
    _require(~(in_claim & (codes == _SBR)))
    hl_no = np.cumsum(is_hl) - 1  # HL of each segment
    claim_no = np.cumsum(is_clm) - 1
    lx_in_claim = is_lx & in_claim
    last_lx = np.maximum.accumulate(np.where(lx_in_claim, pos, -1))
    in_line = in_claim & (last_lx > last_clm)
    line_no = np.cumsum(lx_in_claim) - 1
    rows = lo + pos  # SegmentIndex rows

    def at(code: int, mask: np.ndarray | None = None) -> np.ndarray:
        sel = codes == code
        if mask is not None:
            sel &= mask
        return np.flatnonzero(sel)

    # ---------------------------------------------------------------- submitted_on: each set's last BHT04
    bht = at(_BHT)
    last_bht = _last_per(set_no[bht], n_sets)
    _require(last_bht >= 0)
    bht04 = ei.columns(rows[bht[last_bht]], [4])[4].to_pylist()
    submitted = [fields.parse_date(text) for text in bht04]
    _require([day is not None for day in submitted])

    # ---------------------------------------------------------------- hierarchy and what levels carry
    hl = at(_HL)
    n_hl = len(hl)
    hl_cols = ei.columns(rows[hl], [1, 2])
    index: dict[str, int] = {}
    parent = [-1] * n_hl
    depth = [1] * n_hl
    current = -1
    for k, (own, up, in_set) in enumerate(zip(hl_cols[1].to_pylist(), hl_cols[2].to_pylist(),
                                              set_no[hl].tolist())):
        if in_set != current:  # HL01 IDs are the set's own
            index, current = {}, in_set
        if up:
            j = index.get(up)
            if j is None:
                raise _NotPlain
            parent[k], depth[k] = j, depth[j] + 1
            if depth[k] > limits.MAX_HL_DEPTH:
                raise _NotPlain
        index[own] = k

    level_rows = ~in_claim & hl_valid
    nm1_level = at(_NM1, level_rows)
    nm1_level_cols = ei.columns(rows[nm1_level], [1, 9])
    entity_level = nm1_level_cols[1]
    ident_level = _trim(nm1_level_cols[9])

    def own_values(mask: np.ndarray, values: pa.Array, of_rows: np.ndarray) -> list:
        picked = np.flatnonzero(mask)
        return _take(values, _pick(picked, hl_no[of_rows[picked]], n_hl)).to_pylist()

    def inherited(own: list) -> list:
        out = [None] * n_hl
        for k in range(n_hl):
            out[k] = own[k] if own[k] else (out[parent[k]] if parent[k] >= 0 else None)
        return out

    billing = inherited(own_values(_is(entity_level, "85"), ident_level, nm1_level))
    payer = inherited(own_values(_is(entity_level, "PR"), ident_level, nm1_level))
    member = inherited(own_values(_is(entity_level, "IL"), ident_level, nm1_level))
    dmg = at(_DMG, level_rows)
    birth = own_values(np.ones(len(dmg), dtype=bool), _trim(ei.columns(rows[dmg], [2])[2]), dmg)

    # ---------------------------------------------------------------- claims
    clm = at(_CLM)
    n_claims = len(clm)
    clm_cols = ei.columns(rows[clm], [1, 2, 5])
    claim_id = _trim(clm_cols[1])
    _require(_np(pc.not_equal(claim_id, "")))
    charge = _amounts(clm_cols[2])
    _declared_only(clm_cols[5], comp)
    split, offsets = _parts(clm_cols[5], comp)
    location = [_component(split, offsets, k) for k in range(3)]
    _require(_np(pc.not_equal(location[2], "")))  # CLM05-3 frequency (the walk warns without it)
    institutional = _is(location[1], "A")
    claim_hl = hl_no[clm]
    claim_billing = [billing[h] for h in claim_hl.tolist()]
    claim_payer = [payer[h] for h in claim_hl.tolist()]
    claim_member = [member[h] for h in claim_hl.tolist()]
    _require([bool(v) for v in claim_billing] + [bool(v) for v in claim_payer] + [bool(v) for v in claim_member])

    # ---------------------------------------------------------------- lines: LX + SV1
    lx = at(_LX, in_claim)
    n_lines = len(lx)
    sv1 = at(_SV1)
    _require(in_line[sv1])
    _require(np.bincount(line_no[sv1], minlength=n_lines) == 1)
    line_claim = claim_no[lx]
    line_number = (np.arange(n_lines) - _first_per(line_claim, n_claims)[line_claim] + 1).astype(np.int32)
    sv_cols = ei.columns(rows[sv1], [1, 2, 3, 4, 5, 7])  # sv1[i] is the SV1 of line i (one per line, in order)
    _require(_np(pc.not_equal(sv_cols[1], "")))
    _declared_only(sv_cols[1], comp)
    split, offsets = _parts(sv_cols[1], comp)
    qualifier = _null_if_blank(_component(split, offsets, 0))
    code = _trim(_component(split, offsets, 1))
    _require(_np(pc.not_equal(code, "")))
    modifiers = _joined_nonblank(split, offsets, 2, 6)
    line_charge = _amounts(sv_cols[2])
    unit_basis = _null_if_blank(sv_cols[3])
    units = _quantities(sv_cols[4])
    line_pos = _null_if_blank(sv_cols[5])
    _declared_only(sv_cols[7], comp)
    split, offsets = _parts(sv_cols[7], comp)
    pointers = _null_if_blank(_joined_nonblank(split, offsets, 0, None))
    has_sv1 = np.zeros(n_claims, dtype=bool)
    has_sv1[line_claim] = True
    line_total = np.zeros(n_claims, dtype=np.int64)
    np.add.at(line_total, line_claim, line_charge)
    has_lines = np.bincount(line_claim, minlength=n_claims) > 0
    _require(~has_lines | (line_total == charge))
    cl1 = at(_CL1, in_claim)
    institutional[claim_no[cl1]] = True

    # ---------------------------------------------------------------- REF: F8 on the claim, 6R on lines
    ref = at(_REF, in_claim)
    ref_cols = ei.columns(rows[ref], [1, 2])
    ref_value = _trim(ref_cols[2])
    f8 = np.flatnonzero(_is(ref_cols[1], "F8") & ~in_line[ref])
    payer_claim_ref = _null_if_blank(_take(ref_value, _pick(f8, claim_no[ref[f8]], n_claims)))
    r6 = np.flatnonzero(_is(ref_cols[1], "6R") & in_line[ref] & _np(pc.not_equal(ref_value, "")))
    control = _take(ref_value, _pick(r6, line_no[ref[r6]], n_lines, last=False))

    # ---------------------------------------------------------------- NM1*82 rendering providers
    nm1_claim = at(_NM1, in_claim)
    nm1_claim_cols = ei.columns(rows[nm1_claim], [1])
    r82 = np.flatnonzero(_is(nm1_claim_cols[1], "82"))
    ident82 = _null_if_blank(_trim(ei.columns(rows[nm1_claim[r82]], [9])[9]))
    on_line = in_line[nm1_claim[r82]]
    line_rendering = _take(ident82, _pick(np.flatnonzero(on_line), line_no[nm1_claim[r82][on_line]], n_lines))
    claim_rendering = _take(ident82, _pick(np.flatnonzero(~on_line), claim_no[nm1_claim[r82][~on_line]], n_claims))

    # ---------------------------------------------------------------- HI diagnoses (claim level, before lines)
    hi_rows = at(_HI, in_claim & ~in_line)
    diagnosis = _diagnoses(ei, rows[hi_rows], claim_no[hi_rows], n_claims, comp)

    # ---------------------------------------------------------------- DTP 472 / 434
    dtp = at(_DTP, in_claim)
    dtp_cols = ei.columns(rows[dtp], [1, 2, 3])
    wanted = np.flatnonzero(_is(dtp_cols[1], "472") | _is(dtp_cols[1], "434"))
    dtp, form, text = dtp[wanted], dtp_cols[2].take(pa.array(wanted)), _trim(dtp_cols[3].take(pa.array(wanted)))
    is472 = _is(dtp_cols[1].take(pa.array(wanted)), "472")
    rd8 = pc.equal(form, "RD8")
    halves = pc.split_pattern(text, "-", max_splits=1)  # str.partition('-'): before and after the first dash
    half_offsets = halves.offsets.to_numpy() - halves.offsets.to_numpy()[0]
    start_text = pc.if_else(rd8, _component(halves, half_offsets, 0),
                            pc.if_else(pc.equal(form, "DT"), pc.utf8_slice_codeunits(text, 0, 8), text))
    end_text = pc.if_else(rd8, _component(halves, half_offsets, 1), pa.scalar("", _STR))
    end_text = pc.if_else(pc.equal(end_text, ""), start_text, end_text)
    start, end = _dates(start_text.cast(_STR)), _dates(end_text.cast(_STR))
    dtp_line = in_line[dtp]
    big = np.iinfo(np.int64).max
    line_from = np.full(n_lines, -1, dtype=np.int64)
    line_to = np.full(n_lines, -1, dtype=np.int64)
    sel = np.flatnonzero(dtp_line & is472)
    line_from[line_no[dtp[sel]]] = start[sel]  # in order: the last DTP*472 of a line wins
    line_to[line_no[dtp[sel]]] = end[sel]
    period_from = np.full(n_claims, big, dtype=np.int64)
    period_to = np.full(n_claims, -big, dtype=np.int64)
    for mask in (~dtp_line & is472, ~dtp_line & ~is472):  # the claim's DTP*472 and DTP*434: last one each
        sel = np.flatnonzero(mask)
        last = _last_per(claim_no[dtp[sel]], n_claims)
        got = last >= 0
        np.minimum.at(period_from, np.flatnonzero(got), start[sel[last[got]]])
        np.maximum.at(period_to, np.flatnonzero(got), end[sel[last[got]]])
    dated = line_from >= 0
    np.minimum.at(period_from, line_claim[dated], line_from[dated])
    np.maximum.at(period_to, line_claim[dated], line_to[dated])
    _require(period_from != big)
    service_date = np.where(dated, line_from, period_from[line_claim])

    # ---------------------------------------------------------------- claim type (content, then version)
    def no_warning(*_args) -> None:
        raise _NotPlain

    class _Shape:
        def __init__(self, inst: bool, prof: bool):
            self.institutional, self.professional = inst, prof

    claim_set = set_no[clm]
    shape = claim_set * 4 + institutional * 2 + has_sv1
    types = {int(k): claim_type_of(_Shape(bool(k & 2), bool(k & 1)), sets[k >> 2], no_warning)
             for k in np.unique(shape).tolist()}
    claim_type = pa.array([types[k] for k in sorted(types)], _STR).take(
        pa.array(np.searchsorted(np.array(sorted(types)), shape)))

    # ---------------------------------------------------------------- providers (the walk's dict semantics)
    providers = _providers(ei, rows, nm1_level[_is(entity_level, "85")], nm1_claim[r82], seg, set_no, files,
                           provider_name)

    # ---------------------------------------------------------------- rows
    numbers = seg.number(rows[clm])
    per_set = pa.array(claim_set)
    prefixes = pa.array([ctx.row_prefix(ts.interchange_control, ts.control_number) for ts, ctx in zip(sets, files)],
                        _STR).take(per_set)
    names = pa.array([f"{ctx.name}#" for ctx in files], _STR).take(per_set)
    number_text = pa.array(numbers).cast(pa.string()).cast(_STR)
    submission_id = fields.concat_strings(prefixes, number_text)
    source = fields.concat_strings(names, number_text)
    keys: dict[tuple, str] = {}
    patient = []
    for h, m, k in zip(claim_hl.tolist(), claim_member, claim_set.tolist()):
        b, salt = birth[h] or "", files[k].patient_salt
        key = keys.get((m, b, salt))
        if key is None:
            key = keys[(m, b, salt)] = patient_key(salt, m, b)
        patient.append(key)
    days = np.array([(day - _EPOCH).days for day in submitted], dtype=np.int32)
    rendered_lines = np.flatnonzero(_np(line_rendering.is_valid()))
    first_rendering = _take(line_rendering, _pick(rendered_lines, line_claim[rendered_lines], n_claims, last=False))
    rendering = pc.coalesce(claim_rendering, first_rendering, pa.array(claim_billing, _STR))
    line_sub = submission_id.take(pa.array(line_claim))
    claims = {
        "claim_id": claim_id, "submission_id": submission_id, "frequency_code": location[2],
        "claim_type": claim_type,
        "submitted_on": _date32(days[claim_set]),
        "service_from": _date32(period_from), "service_to": _date32(period_to),
        "payer_id": pa.array(claim_payer, _STR), "billing_npi": pa.array(claim_billing, _STR),
        "rendering_npi": rendering, "place_of_service": _null_if_blank(location[0]),
        "patient_key": pa.array(patient, _STR), "total_charge_cents": pa.array(charge, pa.int64()),
        "diagnosis_codes": diagnosis, "payer_claim_ref": payer_claim_ref, "source": source,
    }
    claim_lines = {
        "submission_id": line_sub, "line_number": pa.array(line_number, pa.int32()), "procedure_code": code,
        "modifiers": modifiers, "units": pa.array(units, pa.float64()), "charge_cents": pa.array(line_charge),
        "service_date": _date32(service_date),
    }
    details = {
        "submission_id": line_sub, "line_number": pa.array(line_number, pa.int32()),
        "procedure_qualifier": qualifier, "revenue_code": pa.nulls(n_lines, _STR), "unit_basis": unit_basis,
        "place_of_service": line_pos, "rendering_npi": line_rendering, "line_control_number": control,
        "diagnosis_pointers": pointers,
    }
    return {"claims": claims, "claim_lines": claim_lines, "claim_line_details": details, "providers": providers,
            "claims_per_set": np.bincount(claim_set, minlength=n_sets)}


_EPOCH = __import__("datetime").date(1970, 1, 1)


def _date32(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())


def _diagnoses(ei: ElementIndex, hi_rows: np.ndarray, claim_of: np.ndarray, n_claims: int,
               comp: str) -> pa.Array:
    """diagnosis_codes per claim: the principal (ABK/BK) codes of its HI segments in order, then the others."""
    if len(hi_rows) == 0:
        return pa.ListArray.from_arrays(pa.array(np.zeros(n_claims + 1, dtype=np.int32)), pa.array([], pa.string()))
    width = int(ei.counts(hi_rows).max())
    cols = ei.columns(hi_rows, range(1, width + 1))
    values = pa.concat_arrays([cols[k] for k in range(1, width + 1)])
    seg_of = np.tile(np.arange(len(hi_rows)), width)
    element = np.repeat(np.arange(width), len(hi_rows))
    nonblank = _np(pc.not_equal(values, ""))
    has = _declared_only(values, comp)
    # a qualifier sent alone (HI*BK*8901): the walk pairs it with the next element and warns
    _require(~(nonblank & ~has & _np(pc.is_in(values, pa.array(_QUALIFIERS, values.type)))))
    split, offsets = _parts(values, comp)
    qualifier = _component(split, offsets, 0)
    code = _trim(_component(split, offsets, 1))
    pair = nonblank & has & _np(pc.is_in(qualifier, pa.array(_QUALIFIERS, values.type))) & \
        _np(pc.not_equal(code, ""))
    _require(~(pair & _np(pc.match_substring(code, "."))))
    picked = np.flatnonzero(pair)
    claim = claim_of[seg_of[picked]]
    other = ~_np(pc.is_in(qualifier.take(pa.array(picked)), pa.array(_PRINCIPAL, values.type)))
    order = np.lexsort((element[picked], seg_of[picked], other, claim))
    offsets_out = np.zeros(n_claims + 1, dtype=np.int32)
    np.cumsum(np.bincount(claim, minlength=n_claims), out=offsets_out[1:])
    codes = code.take(pa.array(picked[order])).cast(pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets_out), codes)


def _providers(ei: ElementIndex, rows: np.ndarray, at85: np.ndarray, at82: np.ndarray, seg, set_no: np.ndarray,
               files: list[FileContext], provider_name) -> list[list[dict]]:
    """providers rows of each set as the walk's dict gives them: one per NPI in order of first appearance, the
    last row with a name winning (a row without one only when none has)."""
    out: list[dict[str, dict]] = [{} for _ in files]
    picked = np.sort(np.concatenate([at85, at82]))
    if not len(picked):
        return [[] for _ in files]
    cols = ei.columns(rows[picked], [2, 3, 4, 5, 8, 9])
    numbers = seg.number(rows[picked]).tolist()
    names: dict[tuple, str] = {}
    for number, k, e2, e3, e4, e5, e8, e9 in zip(numbers, set_no[picked].tolist(),
                                                 *(cols[j].to_pylist() for j in (2, 3, 4, 5, 8, 9))):
        kept, ctx = out[k], files[k]
        npi = e9.strip()
        if e8.strip() != "XX" or not npi:
            continue
        kind = e2.strip()
        name = names.get((kind, e3, e4, e5))
        if name is None:
            name = names[(kind, e3, e4, e5)] = provider_name(kind, e3, e4, e5)
        if npi not in kept or name:
            kept[npi] = {"npi": npi, "name": name, "entity_type": kind if kind in ("1", "2") else None,
                         "source": f"{ctx.name}#{number}"}
    return [list(kept.values()) for kept in out]
