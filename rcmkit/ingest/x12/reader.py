"""Reading X12 files into canonical tables: the entry point of :mod:`rcmkit.ingest`.

Pure: files in, pandas frames out; nothing is written. The transaction type is decided per transaction set
(ST01 835 or 837), so one file may mix remittances and claims. Every file yields either its tables or a
``rejections`` row saying why not; within a file, every transaction set loads or is rejected whole.

Several files given at once are read as one batch where that changes nothing: the 835 sets of consecutive files
that share separators go through the 835 reader in one call (:func:`_read_many`), with each file's own row IDs,
sources, segment numbers, warnings and rejections (tests/test_ingest_x12_joined.py compares with each file read
alone). A small ERA file cost ~40 ms of fixed reader work; a day's inbox of them read at 0.3 MB/s (issue #15).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rcmkit.core import schema
from rcmkit.ingest.x12.claims837 import read_837, read_837_joined
from rcmkit.ingest.x12.context import FileContext
from rcmkit.ingest import limits
from rcmkit.ingest.x12.era835 import read_835, read_835_joined
from rcmkit.ingest.issues import Issues
from rcmkit.ingest.limits import LimitExceeded
from rcmkit.ingest.x12.tables import CANONICAL_OUTPUTS, EXTRA_TABLES, to_frame
from rcmkit.ingest.x12.envelope import (TransactionSet, X12FileError, claim_segments, decode, join_runs, joinable,
                                        segment_runs, transaction_sets)

__all__ = ["IngestResult", "read_x12", "parse_x12", "DEFAULT_PATIENT_SALT", "OUTPUT_TABLES"]

#: Salt of the patient pseudonym when the caller gives none. A practice should pass its own secret salt, so that
#: its patient keys cannot be recomputed from a member ID and birth date by anyone else.
DEFAULT_PATIENT_SALT = b"rcmkit-patient-key-v1"

#: Tables in :attr:`IngestResult.tables` (always all of them, empty when a file has no such data).
OUTPUT_TABLES = CANONICAL_OUTPUTS + (
    "payments", "remittance_details", "remit_line_details", "claim_line_details", "plb", "remarks",
    "ingested_files",
)


def _spec(name: str) -> schema.TableSpec:
    return schema.TABLES[name] if name in CANONICAL_OUTPUTS else EXTRA_TABLES[name]


@dataclass(frozen=True)
class IngestResult:
    """What reading X12 files produced.

    ``tables`` maps every name of :data:`OUTPUT_TABLES` to a frame in canonical form (see
    :func:`rcmkit.core.schema.conform`); ``warnings`` (table ``ingest_warnings``) lists what loaded despite a
    deviation; ``rejections`` lists the transaction sets and files that did not load, and why. ``stats`` counts
    files, transaction sets, rows and money (integer cents).
    """

    tables: dict[str, pd.DataFrame]
    warnings: pd.DataFrame
    rejections: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class _FileOutput:
    tables: dict[str, pa.Table]
    issues: Issues
    file_row: dict | None  # None: refused by a limit, not recorded as ingested


@dataclass
class _Opened:
    """A file whose envelopes are read, waiting for its transaction sets to be read (:func:`_read_many`)."""

    ctx: FileContext
    text: bytes
    encoding: str
    size: int
    sha: str
    sets: list[TransactionSet]
    runs: int
    tables: dict[str, pa.Table] = field(default_factory=dict)
    by_type: dict[str, list[TransactionSet]] = field(default_factory=dict)
    joinable: bool = False  # its sets can be read in a joined batch (one separator run, joinable)
    remittances: int = 0  # remittance and claim rows it gave in joined batches (tables attached to another file)


def read_x12(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
             patient_salt: str | bytes = DEFAULT_PATIENT_SALT) -> IngestResult:
    """Read one X12 file, or several, into canonical tables.

    >>> result = read_x12("remit.835")                       # doctest: +SKIP
    >>> result.tables["remittances"].paid_cents.sum()        # doctest: +SKIP
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    opened: list[_Opened | _FileOutput] = []
    for p in map(Path, paths):
        size = p.stat().st_size
        if size > limits.MAX_FILE_BYTES:  # refused before it is read into memory
            opened.append(_too_large(p.name, size))
        else:
            opened.append(_open(p.read_bytes(), p.name, _salt(patient_salt)))
    return _combine(_read_many(opened))


def parse_x12(data: bytes, name: str, *, patient_salt: str | bytes = DEFAULT_PATIENT_SALT) -> IngestResult:
    """Like :func:`read_x12` for bytes already in memory; ``name`` stands for the file name in messages."""
    return _combine([_read_bytes(data, name, _salt(patient_salt))])


def _salt(salt: str | bytes) -> bytes:
    return salt.encode("utf-8") if isinstance(salt, str) else salt


def _too_large(name: str, size: int) -> _FileOutput:
    issues = Issues(name)
    issues.reject("limit", f"the file is {size:,} bytes, more than the limit of {limits.MAX_FILE_BYTES:,} "
                  "(environment variable RCMKIT_MAX_X12_BYTES, or rcmkit.ingest.limits.MAX_FILE_BYTES); split it "
                  "at interchange (ISA..IEA) boundaries or raise the limit")
    return _FileOutput({}, issues, None)


def _read_bytes(raw: bytes, name: str, salt: bytes) -> _FileOutput:
    """One file read alone: its envelopes, then its sets (:func:`_read_sets`)."""
    if len(raw) > limits.MAX_FILE_BYTES:
        return _too_large(name, len(raw))
    opened = _open(raw, name, salt)
    if isinstance(opened, _FileOutput):
        return opened
    opened.tables = _read_sets(opened.sets, opened.ctx)
    return _close(opened)


def _open(raw: bytes, name: str, salt: bytes) -> _Opened | _FileOutput:
    """Decode the file and read its envelopes (a file refused by a limit is done: a :class:`_FileOutput`)."""
    sha = hashlib.sha256(raw).hexdigest()
    issues = Issues(name)
    ctx = FileContext(name, sha[:12], issues, salt)
    text, encoding = decode(raw, issues)
    sets: list[TransactionSet] = []
    runs = 0
    try:
        for run in segment_runs(text, issues):
            runs += 1
            sets += transaction_sets(run, issues)
    except LimitExceeded as exc:  # refused whole and not recorded as ingested: a higher limit reads it later
        refused = Issues(name)
        refused.reject("limit", str(exc))
        return _FileOutput({}, refused, None)
    except X12FileError as exc:
        issues.reject("not_x12", str(exc))
    return _Opened(ctx, text, encoding, len(raw), sha, sets, runs)


def _close(opened: _Opened) -> _FileOutput:
    """The file's output once its sets are read (``opened.tables``)."""
    issues, sets = opened.ctx.issues, opened.sets
    _claims_not_read(opened.text, opened.tables, issues, opened.remittances)
    issues.finish()
    truncated = sum(1 for r in issues.rejections if r["code"] == "truncated")
    file_row = {
        "file": opened.ctx.name, "sha256": opened.sha, "size_bytes": opened.size, "encoding": opened.encoding,
        "transaction_sets": len(sets) + truncated,
        "rejected_sets": sum(1 for r in issues.rejections if r["st_control_number"] is not None),
        "warnings": len(issues.warnings),
    }
    return _FileOutput(opened.tables, issues, file_row)


def _read_many(files: list[_Opened | _FileOutput]) -> list[_FileOutput]:
    """Read the sets of several opened files, with the same result as :func:`_read_bytes` of each file alone:
    each file's own warnings and rejections, in the same order, and tables whose rows are in file order.

    The 835 sets of consecutive files that share separators are read as one batch (their segment indexes joined,
    :func:`~rcmkit.ingest.x12.envelope.join_runs`): an 835 reader call has a fixed cost of ~40 ms whatever its
    size, which made a day's small ERA files read at 0.3 MB/s (issue #15). The joined tables are attached to the
    group's first file: every table comes from one reader (835 or 837), so their rows stay in file order. A
    file that cannot be joined (several separator runs, blanks before terminators) is read alone; should the
    joined read fail, each file of the group is read alone (:func:`_guarded` then isolates the failing set)."""
    for f in files:
        if isinstance(f, _Opened):
            f.by_type = _route(f.sets, f.ctx)  # its issues in the order _read_sets says them
            f.joinable = bool(f.sets) and f.runs == 1 and joinable(f.sets[0].segments)
    for kind in ("835", "837"):  # the 837 sets the same way (the columnar 837 reader's fixed cost)
        for group in _joinable_groups(files, kind):
            if len(group) == 1:
                single = read_835 if kind == "835" else read_837
                group[0].tables.update(_guarded(single, group[0].by_type[kind], group[0].ctx))
            else:
                _read_group(group, kind)
    return [_close(f) if isinstance(f, _Opened) else f for f in files]


def _joinable_groups(files: list, kind: str) -> list[list[_Opened]]:
    """The files with ``kind`` sets, in order, in runs of consecutive joinable files that share separators."""
    groups: list[list[_Opened]] = []
    for f in files:
        if not isinstance(f, _Opened) or not f.by_type[kind]:
            continue
        last = groups[-1][-1] if groups else None
        if f.joinable and last is not None and last.joinable and \
                last.by_type[kind][0].segments.separators == f.by_type[kind][0].segments.separators:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


def _read_group(group: list[_Opened], kind: str) -> None:
    """The ``kind`` (835 or 837) sets of the files of ``group`` read at once; on an unexpected failure, each file
    alone."""
    joined_reader, single = (read_835_joined, read_835) if kind == "835" else (read_837_joined, read_837)
    joined, firsts = join_runs([f.by_type[kind][0].segments for f in group])
    sets, owner = [], []
    for k, (f, first) in enumerate(zip(group, firsts)):
        sets += [dataclasses.replace(ts, segments=joined, first=ts.first + first, last=ts.last + first)
                 for ts in f.by_type[kind]]
        owner += [k] * len(f.by_type[kind])
    trials = [dataclasses.replace(f.ctx, issues=Issues(f.ctx.name)) for f in group]
    try:
        tables, rows = joined_reader(sets, np.array(owner, dtype=np.int64), trials)
    except Exception:  # a bug: the files are read one by one, where _guarded isolates the set that fails
        for f in group:
            f.tables.update(_guarded(single, f.by_type[kind], f.ctx))
        return
    for f, trial, n in zip(group, trials, rows.tolist()):
        f.ctx.issues.absorb(trial.issues)
        f.remittances += n
    group[0].tables.update(tables)


#: A CLP or CLM segment in a file's text, whatever its layout: the segment ID (any case) at the start of the data or
#: after a byte that ends a segment (a terminator or a line break), followed by its element separator. 'pre' is
#: checked against 'sep' below: 'N1*PR*CLP*...' is an element that holds the letters CLP, not a segment.
_CLAIM_SEGMENT = re.compile(rb"(?:^|(?P<pre>[^0-9A-Za-z \t]))[ \t\r\n]*(?i:CL[PM])(?P<sep>[^0-9A-Za-z\s])")


def claim_segments_in_text(text: bytes) -> int:
    """How many CLP/CLM segments the file's bytes hold, read without trusting its separators."""
    return sum(1 for m in _CLAIM_SEGMENT.finditer(text) if m.group("pre") != m.group("sep"))


def _claims_not_read(text: bytes, tables: dict[str, pa.Table], issues: Issues, remittances: int = 0) -> None:
    """No silent loss: a file whose text holds CLP/CLM segments but that produced no claim row, and no rejection
    covering them, is rejected ('claims_not_read') with the count seen, never left to warnings alone.
    ``remittances``: rows of the file read in a joined batch (whose tables are attached to another file)."""
    if remittances or any(len(tables.get(name, ())) for name in ("remittances", "claims")):
        return
    if any(r["claims"] or r["first_segment"] is None for r in issues.rejections):
        return  # already rejected: the set(s) holding them, or the whole file
    seen = claim_segments_in_text(text)
    if seen:
        issues.reject("claims_not_read", f"the file's text holds {seen:,} CLP/CLM segment(s) but none was read as a "
                      "claim; expected them inside ST..SE transaction sets of type 835 or 837 (check the segment "
                      f"terminator and the envelope; the file's {len(issues.warnings):,} warning(s) say what was "
                      "skipped)",
                      claims=seen)


def _read_sets(sets: list[TransactionSet], ctx: FileContext) -> dict[str, pa.Table]:
    """Route each set by ST01: 835 and 837 are read, anything else is reported and skipped."""
    by_type = _route(sets, ctx)
    tables: dict[str, pa.Table] = {}
    if by_type["835"]:
        tables.update(_guarded(read_835, by_type["835"], ctx))
    if by_type["837"]:
        tables.update(_guarded(read_837, by_type["837"], ctx))
    return tables


def _route(sets: list[TransactionSet], ctx: FileContext) -> dict[str, list[TransactionSet]]:
    """The 835 and 837 sets; a set of any other type is reported (a rejection when it holds claims)."""
    by_type: dict[str, list[TransactionSet]] = {"835": [], "837": []}
    for ts in sets:
        if ts.transaction_type in by_type:
            by_type[ts.transaction_type].append(ts)
        elif claims := claim_segments(ts.segments, ts.first, ts.last, None):
            ctx.issues.reject("unsupported", f"transaction set type {ts.transaction_type!r} is not an 835 or 837 "
                              f"but the set holds {claims} claim(s) (CLP/CLM); expected ST01 835 or 837",
                              st=ts.control_number, transaction_type=ts.transaction_type, first=ts.first_number,
                              last=ts.last_number, claims=claims, segment_number=ts.first_number, segment_id="ST")
        else:
            ctx.issues.warn("unsupported", f"transaction set type {ts.transaction_type!r} is not an 835 or 837; "
                            "skipped", segment_number=ts.first_number, segment_id="ST", st=ts.control_number,
                            found=ts.transaction_type, expected="835 or 837")
    return by_type


def _guarded(read, sets: list[TransactionSet], ctx: FileContext) -> dict[str, pa.Table]:
    """``read(sets, ctx)``; should it fail unexpectedly (a bug: the fuzz tests look for these), the sets are read
    one by one and only those that still fail are rejected ('internal_error'), so one odd set costs neither its
    file nor the run. The message names the exception type only: its text could quote patient data."""
    trial = dataclasses.replace(ctx, issues=Issues(ctx.name))
    try:
        tables = read(sets, trial)
    except Exception as exc:
        if len(sets) == 1:
            ts = sets[0]
            claims = claim_segments(ts.segments, ts.first, ts.last, ts.transaction_type)
            ctx.issues.reject("internal_error", f"rcmkit failed reading this set ({type(exc).__name__}); this is a "
                              "bug in rcmkit: please report it", st=ts.control_number,
                              transaction_type=ts.transaction_type, first=ts.first_number, last=ts.last_number,
                              claims=claims, segment_number=ts.first_number, segment_id="ST")
            return {}
        parts = [_guarded(read, [ts], ctx) for ts in sets]
        names = {name for part in parts for name in part}
        return {name: pa.concat_tables([p[name] for p in parts if name in p], promote_options="permissive")
                for name in names}
    ctx.issues.absorb(trial.issues)
    return tables


def _combine(outputs: list[_FileOutput]) -> IngestResult:
    frames = {}
    for name in OUTPUT_TABLES:
        spec = _spec(name)
        parts = [o.tables[name].select(spec.names) for o in outputs if name in o.tables]
        if name == "ingested_files":
            rows = [o.file_row for o in outputs if o.file_row is not None]
            parts = [pa.Table.from_pylist(rows, schema=spec.arrow_schema)]
        table = pa.concat_tables(parts, promote_options="permissive") if parts else spec.arrow_schema.empty_table()
        frames[name] = to_frame(spec, table)
    warnings = _issue_frame("ingest_warnings", [w for o in outputs for w in o.issues.warnings])
    rejections = _issue_frame("rejections", [r for o in outputs for r in o.issues.rejections])
    return IngestResult(frames, warnings, rejections, _stats(frames, warnings, rejections))


def _issue_frame(name: str, rows: list[dict]) -> pd.DataFrame:
    spec = EXTRA_TABLES[name]
    return to_frame(spec, pa.Table.from_pylist(rows, schema=spec.arrow_schema))


def _stats(frames: dict[str, pd.DataFrame], warnings: pd.DataFrame, rejections: pd.DataFrame) -> dict[str, int]:
    files = frames["ingested_files"]
    return {
        "files": len(files),
        "bytes": int(files["size_bytes"].sum()),
        "transaction_sets": int(files["transaction_sets"].sum()),
        "rejected_sets": int(files["rejected_sets"].sum()),
        "rejected_files": int(rejections["first_segment"].isna().sum()),
        "warnings": len(warnings),
        "claims": len(frames["claims"]),
        "claim_lines": len(frames["claim_lines"]),
        "charge_cents": int(frames["claims"]["total_charge_cents"].sum()),
        "payments": len(frames["payments"]),
        "remittances": len(frames["remittances"]),
        "remit_lines": len(frames["remit_lines"]),
        "adjustments": len(frames["adjustments"]),
        "paid_cents": int(frames["remittances"]["paid_cents"].sum()),
        "plb_cents": int(frames["plb"]["amount_cents"].sum()),
    }
