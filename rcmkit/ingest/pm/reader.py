"""Practice-management (PM) system exports, CSV or Excel, into canonical tables through a YAML column map.

A column map (``parameters/column_maps/*.yaml``, format in ``docs/pm_csv_layout.md``) says which export file
feeds which canonical table and how each canonical column is read from the file's columns. One call reads every
file of an export::

    result = read_pm_export(["payers.csv", "charges.csv", "payments.csv"], "parameters/column_maps/generic.yaml")
    result.tables["claims"], result.rejections, result.warnings

**What a PM export fills.** ``payers``; ``claims`` and ``claim_lines`` (one submission per claim: a PM export
does not know 837 submissions, so ``submission_id`` is the claim ID and ``frequency_code`` is 1; the claim's
total is the sum of its lines); and ``postings`` for every money event. Insurance payments and adjustments
become postings of the matching ledger kind (``insurance_payment``, ``contractual``, ``denial``,
``patient_payment``, ``other_adjustment``, ``reversal``, and ``patient_responsibility`` for balance transfers)
rather than synthetic remittances. Why: a PM export records money that moved, not adjudications. It has no claim
status, no payer claim number and no grouping of rows into one 835 claim payment, so remittances built from it
would invent exactly the facts the denial and clean-claim metrics count. Postings are appended to the ledger as
they are (:mod:`rcmkit.core.ledger`), so A/R, charges, payments, collection rates and days in A/R are right, and the
adjudication metrics stay undefined ("n/a") instead of made up. Load 835s beside the export when they exist
(and then filter the export's insurance rows out with ``where``, or they count twice).

**Signs.** The ledger's: charges +, payments and credits -. An export normally prints credits as positive
numbers (``credits: positive``, the default): every posting's ledger amount is the export amount negated, so a
refund or a payment reversal printed as a negative number raises the balance. ``credits: negative`` takes the
export's signs as they are.

**Who owes what.** ``responsible`` names whose balance an amount moves: a payer ID, ``patient``, or the claim's
``primary`` / ``secondary`` payer (resolved against the claim). Empty means ``patient`` for a patient payment and
``primary`` otherwise. A self-pay payer resolves to ``patient``, as the ledger posts a self-pay charge. A
``transfer`` row moves an amount from ``responsible`` to ``transfer_to`` (default ``patient``) and becomes two
postings, ``-x`` and ``+x``: kind ``patient_responsibility`` when the patient receives it (as the ledger does for
an 835 PR adjustment), ``other_adjustment`` between payers. An ``adjustment`` row is classified by its CARC
(``reason_code``, e.g. ``CO-45``) through rcmkit's crosswalk: contractual, denial write-off, or a transfer to the
patient for PR codes; codes that move no money (OA-23, OA-18) are not posted; no code at all is an
``other_adjustment``.

**Bad input: liberal in what we read, exact in what we report.** A bad row (an amount or date that does not
parse, a missing required value, an unknown payer or value) goes to ``rejections`` with the file name, its line
as a spreadsheet user sees it (header = line 1), the column, the claim ID and what was expected; the good rows
still load. A claim loads whole or not at all: when one of its lines or its header row is rejected, its other
rows are rejected too (a claim missing a line would post a wrong charge), and so are postings on a claim that was
not loaded. Recoverable oddities load with one warning row per file, column and kind of oddity (count and first
lines): ``$1,234.50`` or ``(12.00)`` amounts, dates in more than one of the declared formats, a byte-order mark,
Windows-1252 text, short rows, duplicate column names. Messages never quote a patient identifier: the patient
column is named, its value never shown, and no other patient column is read at all.

**Patient identifiers** never reach a table: ``patient_key`` is ``"P"`` + the first 16 hex digits of
``sha256(salt + b"\\x00" + account)``, where ``account`` is the export's patient account/MRN value and the salt
comes from the caller, else the map's ``patient_key_salt``, else
:data:`~rcmkit.ingest.pm.decode.DEFAULT_PATIENT_SALT`. Columns the map does not name (names, birth dates, member
IDs) are dropped right after reading.

Excel ``.xlsx`` files are read with ``pandas.read_excel``, which needs the optional package openpyxl.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rcmkit.ingest.issues import Issues
from rcmkit.ingest.pm.build import Draft, build_tables
from rcmkit.ingest.pm.decode import DEFAULT_PATIENT_SALT, Raw, Records, read_file, read_spec
from rcmkit.ingest.pm.layout import ColumnMap, load_column_map

__all__ = ["CsvIngestResult", "read_pm_export"]


# ============================================================================================== entry point
@dataclass(frozen=True)
class CsvIngestResult:
    """What reading a PM export produced.

    ``tables``: the canonical tables a PM export fills (``payers``, ``claims``, ``claim_lines``, ``postings``),
    each conformed (:func:`rcmkit.core.schema.conform`); no remittances (see the module notes). ``rejections``: one
    row per problem on a row that did not load (file, line, column, claim_id, code, expected, message).
    ``warnings``: one row per file, column and kind of oddity that loaded anyway (file, first line, column,
    count, code, message). ``stats``: counts, and money in integer cents.
    """

    tables: dict[str, pd.DataFrame]
    warnings: pd.DataFrame
    rejections: pd.DataFrame
    stats: dict[str, Any]
    #: claim_id, payer_id, secondary_payer_id of the claims the files' charges name (for postings applied later)
    parties: pd.DataFrame | None = None

    def summary(self) -> str:
        """A few lines for people: what loaded, what did not, and the first messages of each."""
        s = self.stats
        text = [f"{s['files_read']} file(s) read: " + ", ".join(f"{n} {t}" for t, n in s["rows"].items()),
                f"charges {s['charge_cents'] / 100:,.2f}; {s['rejected_rows']} row(s) rejected; "
                f"{len(self.warnings)} warning(s)"]
        text += [f"  rejected: {m}" for m in self.rejections["message"].head(10)]
        text += [f"  warning: {m}" for m in self.warnings["message"].head(10)]
        return "\n".join(text)


def read_pm_export(paths: list[str | os.PathLike] | str | os.PathLike,
                   column_map: str | os.PathLike | Mapping[str, Any] | ColumnMap,
                   *, patient_salt: str | bytes | None = None,
                   known: Mapping[str, pd.DataFrame] | None = None) -> CsvIngestResult:
    """Read a PM system's CSV/Excel export into canonical tables, as the column map says.

    ``paths``: files, or folders (the files in them that a file spec matches; others are ignored). A file
    named explicitly that no file spec matches is warned and not read; a file several specs match feeds each.
    ``column_map``: a path, a built-in map name or a dict (see :func:`~rcmkit.ingest.pm.layout.load_column_map`).
    ``patient_salt`` overrides the map's salt of the patient pseudonym. ``known``: the practice's stored ``payers`` and
    ``claims`` (canonical frames; either may be missing): lookups see them as well as this call's files, so
    any file may arrive alone, in any month and in any order. Pure: nothing is written.

    A posting on a claim that neither the files nor ``known`` hold is not lost: it goes to
    ``tables["unapplied_postings"]`` (suspense) until its claim arrives
    (:func:`~rcmkit.ingest.pm.build.apply_postings`).

    Raises :class:`~rcmkit.ingest.pm.layout.ColumnMapError` for a bad map, FileNotFoundError for a missing path,
    ImportError for an ``.xlsx`` file when openpyxl is not installed and ValueError for an old ``.xls`` workbook;
    every problem inside the files is reported in the result.
    """
    return build_pm_export(decode_pm_export(paths, column_map, patient_salt=patient_salt), known)


@dataclass
class DecodedExport:
    """A PM export's files read and parsed (:func:`decode_pm_export`), before the lookups
    (:func:`build_pm_export`) that need the practice's known payers and claims."""

    cmap: ColumnMap
    issues: Issues
    files: list[Path]
    records: list[Records]
    #: what of the tables needs no look-up (:func:`rcmkit.ingest.pm.build.draft_tables`), when built already
    draft: Draft | None = None


def decode_pm_export(paths: list[str | os.PathLike] | str | os.PathLike,
                     column_map: str | os.PathLike | Mapping[str, Any] | ColumnMap,
                     *, patient_salt: str | bytes | None = None) -> DecodedExport:
    """The first half of :func:`read_pm_export`: every file read and its fields parsed. It needs nothing of the
    practice, so ``rcmkit ingest`` runs it while its X12 files are read in worker processes (issue #15)."""
    cmap = column_map if isinstance(column_map, ColumnMap) else load_column_map(column_map)
    salt = patient_salt if patient_salt is not None else (cmap.salt or DEFAULT_PATIENT_SALT)
    issues = Issues()
    files = _files(paths, cmap, issues)
    raws: dict[tuple, Raw | None] = {}
    records = []
    for order, path in enumerate(files):
        for spec in (s for s in cmap.files if s.matches(path.name)):
            key = (path, spec.encoding, spec.delimiter, spec.sheet, spec.header_line)
            if key not in raws:
                raws[key] = read_file(path, spec, issues)
            parsed = read_spec(raws[key], spec, salt, issues, order) if raws[key] is not None else None
            records += [parsed] if parsed is not None else []
    return DecodedExport(cmap, issues, files, records)


def build_pm_export(decoded: DecodedExport, known: Mapping[str, pd.DataFrame] | None = None) -> CsvIngestResult:
    """The second half of :func:`read_pm_export`: the decoded rows into canonical tables, with lookups that see
    ``known`` (the practice's stored payers and claims, and the run's X12 ones)."""
    issues = decoded.issues
    tables, run_parties, not_posted = build_tables(decoded.records, decoded.cmap, known, issues, decoded.draft)
    rejections = issues.line_rejections()
    stats = _stats(decoded.files, decoded.records, tables, rejections, not_posted)
    return CsvIngestResult(tables, issues.line_warnings(), rejections, stats, run_parties)


def _files(paths: list[str | os.PathLike] | str | os.PathLike, cmap: ColumnMap, issues: Issues) -> list[Path]:
    """The files to read, in the order given (a folder's files sorted by name)."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and any(s.matches(f.name) for s in cmap.files))
        elif not p.exists():
            raise FileNotFoundError(f"no such file: {p}")
        elif any(s.matches(p.name) for s in cmap.files):
            out.append(p)
        else:
            issues.warn_file(p.name, "unmatched_file", f"matches no file pattern of column map {cmap.name}; not read")
    return out


def _stats(files: list[Path], records: list[Records], tables: dict[str, pd.DataFrame], rejections: pd.DataFrame,
           not_posted: dict[str, int]) -> dict[str, Any]:
    return {
        "files_read": len(files),
        "rows": {name: len(df) for name, df in tables.items()},
        "rows_read": [{"file": r.frame["_file"].iloc[0], "file_spec": r.spec.name, "rows": len(r.frame)}
                      for r in records if len(r.frame)],
        "rejected_rows": int(len(rejections[["file", "line"]].drop_duplicates())),
        "charge_cents": int(tables["claims"]["total_charge_cents"].sum()),
        "postings_cents": {k: int(v) for k, v in tables["postings"].groupby("kind")["amount_cents"].sum().items()},
        "unapplied_cents": int(tables["unapplied_postings"]["amount_cents"].sum()),
        "not_posted": not_posted,
    }
