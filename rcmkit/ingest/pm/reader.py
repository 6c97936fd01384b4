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
comes from the caller, else the map's ``patient_key_salt``, else :data:`DEFAULT_PATIENT_SALT`. Columns the map
does not name (names, birth dates, member IDs) are dropped right after reading.

Excel ``.xlsx`` files are read with ``pandas.read_excel``, which needs the optional package openpyxl.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import hashlib
import importlib.util
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rcmkit.core import schema
from rcmkit.core.refdata import classify_adjustments
from rcmkit.errors import RcmkitError

__all__ = [
    "BUILTIN_MAPS_DIR",
    "DEFAULT_PATIENT_SALT",
    "POSTING_KINDS",
    "ColumnMap",
    "ColumnMapError",
    "CsvIngestResult",
    "load_column_map",
    "patient_keys",
    "read_pm_export",
]

#: Where the shipped maps live (``generic.yaml``, ``synthea.yaml``); a bare name like ``"synthea"`` means one.
BUILTIN_MAPS_DIR = Path(__file__).resolve().parents[3] / "parameters" / "column_maps"
#: Salt of the patient pseudonym when neither the caller nor the map gives one (the X12 readers' default too).
#: Account numbers are easy to enumerate: a practice should set its own secret salt for real data.
DEFAULT_PATIENT_SALT = "rcmkit-patient-key-v1"
#: What a ``postings`` file's ``kind`` column may map to: ledger kinds, plus ``transfer`` (a balance moving
#: between responsible parties) and ``adjustment`` (classified by its CARC).
POSTING_KINDS = (
    "insurance_payment", "patient_payment", "contractual", "denial", "other_adjustment", "reversal", "refund",
    "transfer", "adjustment",
)
CLAIM_TYPES = ("professional", "institutional")
PARTY_TOKENS = ("patient", "primary", "secondary")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_ISO_DATE = "%Y-%m-%d"
#: Accepted after a field's declared formats: the forms in which Excel date cells are read.
_ISO_FALLBACKS = (_ISO_DATE, "%Y-%m-%d %H:%M:%S")
_KEY_HEX_DIGITS = 16


# ============================================================================================== the map
class ColumnMapError(RcmkitError, ValueError):
    """A column map is invalid. ``source`` is the map file (or ``<dict>``), ``key`` the dotted key at fault."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"column map {source}, {key}: {problem}")


@dataclass(frozen=True)
class _Field:
    """What a canonical (or helper) column accepts: its value type and whether a map must provide it."""

    type: str  # id, text, code, codes, modifiers, date, amount, number, choice, patient, party
    required: bool = False
    choices: tuple[str, ...] = ()


_HEADER_FIELDS = {
    "payer_id": _Field("id", True),
    "patient_key": _Field("patient", True),
    "submitted_on": _Field("date", True),
    "billing_npi": _Field("id", True),
    "service_from": _Field("date"),
    "service_to": _Field("date"),
    "rendering_npi": _Field("id"),
    "rendering_name": _Field("text"),
    "billing_name": _Field("text"),
    "place_of_service": _Field("id"),
    "diagnosis_codes": _Field("codes"),
    "claim_type": _Field("choice", choices=CLAIM_TYPES),
    "secondary_payer_id": _Field("id"),
}
_LINE_FIELDS = {
    "claim_id": _Field("id", True),
    "procedure_code": _Field("code", True),
    "charge_cents": _Field("amount", True),
    "service_date": _Field("date", True),
    "modifiers": _Field("modifiers"),
    "units": _Field("number"),
}
#: The fields a file spec of each table may map. ``claim_lines`` also takes the claim header fields when the
#: map has no ``claims`` file (the header then comes from each claim's first line).
TABLE_FIELDS: dict[str, dict[str, _Field]] = {
    "payers": {
        "payer_id": _Field("id", True),
        "payer_name": _Field("text"),
        "payer_class": _Field("choice", True, schema.PAYER_CLASSES),
    },
    "claims": {"claim_id": _Field("id", True), **_HEADER_FIELDS},
    "claim_lines": {**_LINE_FIELDS, **_HEADER_FIELDS},
    "postings": {
        "claim_id": _Field("id", True),
        "posted_on": _Field("date", True),
        "kind": _Field("choice", True, POSTING_KINDS),
        "amount_cents": _Field("amount", True),
        "responsible": _Field("party"),
        "transfer_to": _Field("party"),
        "reason_code": _Field("code"),
        "transaction_id": _Field("id"),
    },
    "contracts": {
        "payer_id": _Field("id", True),
        "procedure_code": _Field("code", True),
        "modifiers": _Field("modifiers"),
        "effective_from": _Field("date", True),
        "allowed_cents": _Field("amount", True),
    },
}
_LIST_TYPES = ("codes", "modifiers")
_TRANSFORMS = ("column", "value", "default", "map", "formats", "unit", "fill", "optional")
_SPEC_KEYS = ("pattern", "table", "fields", "where", "encoding", "delimiter", "sheet", "header_line", "description")
_MAP_KEYS = ("rcmkit_column_map", "name", "description", "patient_key_salt", "credits", "date_formats", "payers",
             "files")


@dataclass(frozen=True)
class FieldMap:
    """How one canonical column is read: from ``columns`` (several only for list fields) or a constant
    ``value``; ``default`` for empty cells; ``mapping`` (casefolded source value -> value, ``map_keys`` the
    source values as written); date ``formats``; amount ``unit``; ``fill`` ('down'/'up': empty cells take the
    claim's previous/next value, in file order)."""

    name: str
    columns: tuple[str, ...] = ()
    value: str | None = None
    default: str | None = None
    mapping: dict[str, str] | None = None
    map_keys: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    unit: str = "dollars"
    fill: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class FileSpec:
    """One ``files`` entry of a map: which files (glob ``patterns`` on the file name), which ``table``, how."""

    name: str
    patterns: tuple[str, ...]
    table: str
    fields: dict[str, FieldMap]
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str = ","
    sheet: str | int = 0
    header_line: int = 1

    def matches(self, file_name: str) -> bool:
        return any(fnmatch.fnmatch(file_name.casefold(), p.casefold()) for p in self.patterns)


@dataclass(frozen=True)
class ColumnMap:
    """A validated column map (see :func:`load_column_map`)."""

    name: str
    source: str
    files: tuple[FileSpec, ...]
    payers: tuple[dict[str, str], ...] = ()
    salt: str | None = None
    credits: str = "positive"


def load_column_map(column_map: str | os.PathLike | Mapping[str, Any]) -> ColumnMap:
    """Read and validate a column map: a path, a built-in name (``"generic"``, ``"synthea"``) or a dict.

    Raises :class:`ColumnMapError` naming the map file and the key at fault (unknown table, field or transform,
    a required field left unmapped, a value map to an unknown kind, ...).
    """
    if isinstance(column_map, Mapping):
        return _validate(dict(column_map), "<dict>")
    path = Path(column_map)
    if not path.exists() and not path.suffix and (BUILTIN_MAPS_DIR / f"{path}.yaml").exists():
        path = BUILTIN_MAPS_DIR / f"{path}.yaml"
    if not path.exists():
        raise ColumnMapError(str(path), "(file)", "no such file; give a path or one of the built-in maps "
                             f"{sorted(p.stem for p in BUILTIN_MAPS_DIR.glob('*.yaml'))}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ColumnMapError(str(path), "(file)", f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ColumnMapError(str(path), "(file)", "expected a mapping at the top level")
    return _validate(raw, str(path))


def _validate(raw: dict, source: str) -> ColumnMap:
    def fail(key: str, problem: str):
        raise ColumnMapError(source, key, problem)

    _unknown_keys(raw, _MAP_KEYS, "(top level)", fail)
    if raw.get("rcmkit_column_map") != 1:
        fail("rcmkit_column_map", f"expected 1 (the map format version), got {raw.get('rcmkit_column_map')!r}")
    credits = raw.get("credits", "positive")
    if credits not in ("positive", "negative"):
        fail("credits", f"expected 'positive' or 'negative', got {credits!r}")
    date_formats = _formats(raw.get("date_formats", [_ISO_DATE]), "date_formats", fail)
    files = raw.get("files")
    if not isinstance(files, dict) or not files:
        fail("files", "expected a mapping of file specs (name: {pattern, table, fields})")
    tables = {spec.get("table") for spec in files.values() if isinstance(spec, dict)}
    specs = tuple(_file_spec(name, spec, "claims" in tables, date_formats, fail) for name, spec in files.items())
    payers = _inline_payers(raw.get("payers", []), fail)
    _check_tables(tables, bool(payers), fail)
    salt = raw.get("patient_key_salt")
    if salt is not None and not isinstance(salt, str):
        fail("patient_key_salt", "expected a string")
    return ColumnMap(str(raw.get("name") or Path(source).stem), source, specs, payers, salt, credits)


def _unknown_keys(mapping: dict, known: Iterable[str], key: str, fail) -> None:
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        fail(key, f"unknown key(s) {unknown}; expected some of {sorted(known)}")


def _formats(value: Any, key: str, fail) -> tuple[str, ...]:
    formats = [value] if isinstance(value, str) else value
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) and "%" in f for f in formats):
        fail(key, "expected a strptime format or a list of them, such as '%m/%d/%Y'")
    return tuple(formats)


def _check_tables(tables: set, inline_payers: bool, fail) -> None:
    """A map may describe any subset of an export (payments alone, a fee schedule alone): lookups also see the
    practice's stored payers and claims. Only a claims file needs its charge lines."""
    if "claims" in tables and "claim_lines" not in tables:
        fail("files", "a claims file spec needs a file spec with table: claim_lines (the charges)")


def _file_spec(name: str, spec: Any, has_claims: bool, date_formats: tuple[str, ...], fail) -> FileSpec:
    key = f"files.{name}"
    if not isinstance(spec, dict):
        fail(key, "expected a mapping with pattern, table and fields")
    _unknown_keys(spec, _SPEC_KEYS, key, fail)
    table = spec.get("table")
    if table not in TABLE_FIELDS:
        fail(f"{key}.table", f"unknown table {table!r}; expected one of {sorted(TABLE_FIELDS)}")
    patterns = spec.get("pattern")
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not patterns or not all(isinstance(p, str) for p in patterns):
        fail(f"{key}.pattern", "expected a file name pattern such as 'charges*.csv', or a list of them")
    allowed = TABLE_FIELDS[table]
    if table == "claim_lines" and has_claims:
        allowed = _LINE_FIELDS
    raw_fields = spec.get("fields")
    if not isinstance(raw_fields, dict):
        fail(f"{key}.fields", "expected a mapping of canonical column -> source column or transform")
    fields = {f: _field_map(f, v, allowed, table, date_formats, f"{key}.fields.{f}", fail)
              for f, v in raw_fields.items()}
    missing = [f for f, d in allowed.items() if d.required and f not in fields]
    if missing:
        fail(f"{key}.fields", f"required field(s) {missing} of table {table} are not mapped")
    if any(fm.fill for fm in fields.values()) and not fields["claim_id"].columns:
        fail(f"{key}.fields.claim_id", "'fill' works within a claim: claim_id must come from a column")
    header_line = spec.get("header_line", 1)
    if not isinstance(header_line, int) or header_line < 1:
        fail(f"{key}.header_line", "expected the 1-based line number of the header")
    delimiter = spec.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        fail(f"{key}.delimiter", "expected one character, such as ',' or ';'")
    return FileSpec(name, tuple(patterns), table, fields, _where(spec.get("where", {}), f"{key}.where", fail),
                    spec.get("encoding"), delimiter, spec.get("sheet", 0), header_line)


def _where(where: Any, key: str, fail) -> dict[str, tuple[str, ...]]:
    if not isinstance(where, dict):
        fail(key, "expected a mapping of source column -> value or list of values")
    out = {}
    for column, values in where.items():
        values = [values] if isinstance(values, (str, int)) else values
        if not isinstance(values, list) or not values:
            fail(f"{key}.{column}", "expected a value or a list of values")
        out[str(column)] = tuple(str(v).strip().casefold() for v in values)
    return out


def _field_map(name: str, spec: Any, allowed: dict[str, _Field], table: str, date_formats: tuple[str, ...],
               key: str, fail) -> FieldMap:
    if name not in allowed:
        hint = " (a claims file spec exists: claim header fields belong there)" if name in _HEADER_FIELDS else ""
        fail(key, f"unknown target column {name!r} for table {table}{hint}; expected one of {sorted(allowed)}")
    decl = allowed[name]
    spec = {"column": spec} if isinstance(spec, (str, list)) else spec
    if not isinstance(spec, dict):
        fail(key, "expected a source column name or a mapping of transforms")
    _unknown_keys(spec, _TRANSFORMS, key, lambda k, p: fail(k, p.replace("key(s)", "transform(s)")))
    if ("column" in spec) == ("value" in spec):
        fail(key, "give exactly one of 'column' (a source column) or 'value' (a constant)")
    columns = spec.get("column", [])
    columns = [columns] if isinstance(columns, str) else columns
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        fail(f"{key}.column", "expected a column name or a list of column names")
    if len(columns) > 1 and decl.type not in _LIST_TYPES:
        fail(f"{key}.column", f"only {[f for f, d in allowed.items() if d.type in _LIST_TYPES]} take several columns")
    mapping = _value_map(spec.get("map"), decl, f"{key}.map", fail)
    value = None if spec.get("value") is None else str(spec["value"])
    default = None if spec.get("default") is None else str(spec["default"])
    for what, v in (("value", value), ("default", default)):
        if v is not None and decl.type == "choice" and v not in decl.choices:
            fail(f"{key}.{what}", f"{v!r} is not one of {list(decl.choices)}")
    if "formats" in spec and decl.type != "date":
        fail(f"{key}.formats", "formats apply to date columns only")
    if "unit" in spec and (decl.type != "amount" or spec["unit"] not in ("dollars", "cents")):
        fail(f"{key}.unit", "unit applies to amount columns and is 'dollars' or 'cents'")
    if spec.get("fill") not in (None, "down", "up"):
        fail(f"{key}.fill", "expected 'down' or 'up'")
    if spec.get("optional", False) not in (True, False) or (spec.get("optional") and decl.required):
        fail(f"{key}.optional", "expected true or false, and only for a field that is not required")
    formats = _formats(spec["formats"], f"{key}.formats", fail) if "formats" in spec else date_formats
    map_keys = tuple(str(k) for k in spec["map"]) if mapping else ()
    return FieldMap(name, tuple(columns), value, default, mapping, map_keys, formats, spec.get("unit", "dollars"),
                    spec.get("fill"), bool(spec.get("optional", False)))


def _value_map(mapping: Any, decl: _Field, key: str, fail) -> dict[str, str] | None:
    if mapping is None:
        return None
    if not isinstance(mapping, dict) or not mapping:
        fail(key, "expected a mapping of source value -> value")
    out = {str(k).strip().casefold(): str(v) for k, v in mapping.items()}
    if decl.type == "choice":
        bad = sorted({v for v in out.values() if v not in decl.choices})
        if bad:
            fail(key, f"value(s) {bad} are not among {list(decl.choices)}")
    if decl.type == "party":
        bad = sorted({v for v in out.values() if v.casefold() in PARTY_TOKENS and v not in PARTY_TOKENS})
        if bad:
            fail(key, f"write the party tokens in lower case: {bad}")
    return out


def _inline_payers(payers: Any, fail) -> tuple[dict[str, str], ...]:
    if not isinstance(payers, list):
        fail("payers", "expected a list of {payer_id, payer_name, payer_class}")
    for i, p in enumerate(payers):
        if not isinstance(p, dict) or set(p) != {"payer_id", "payer_name", "payer_class"}:
            fail(f"payers[{i}]", "expected exactly payer_id, payer_name and payer_class")
        if p["payer_class"] not in schema.PAYER_CLASSES:
            fail(f"payers[{i}].payer_class", f"{p['payer_class']!r} is not one of {list(schema.PAYER_CLASSES)}")
    return tuple({k: str(v) for k, v in p.items()} for p in payers)


# ============================================================================================== issues
_REJECTION_COLUMNS = ["file", "line", "column", "claim_id", "code", "expected", "message"]
_WARNING_COLUMNS = ["file", "line", "column", "count", "code", "message"]


class _Issues:
    """Rejection rows (one per problem found on a row) and warning rows (one per file, column and oddity)."""

    def __init__(self) -> None:
        self._rejections: list[pd.DataFrame] = []
        self._warnings: list[dict] = []

    def reject(self, file: str, lines: pd.Series, column: str, claim_ids: pd.Series | None, code: str,
               problem: str, expected: str, values: pd.Series | None = None) -> None:
        """Reject the rows at ``lines`` (aligned Series). ``values``, when given, are quoted in the message:
        callers never pass patient identifiers."""
        if lines.empty:
            return
        claims = (claim_ids.reindex(lines.index) if claim_ids is not None
                  else pd.Series(np.nan, index=lines.index)).astype("str")
        where = file + " line " + lines.astype(str) + ", column " + column
        where = where + (" (claim " + claims + ")").where(claims.notna(), "")
        said = ": " + problem + (" '" + values.reindex(lines.index).astype(str) + "'" if values is not None else "")
        self._rejections.append(pd.DataFrame({
            "file": file, "line": lines.astype("int64"), "column": column, "claim_id": claims,
            "code": code, "expected": expected, "message": where + said + "; expected " + expected,
        }))

    def warn(self, file: str, column: str, lines: pd.Series, code: str, text: str) -> None:
        """One warning row for the ``lines`` (1-based) showing an oddity; names the first few lines."""
        if len(lines) == 0:
            return
        shown = ", ".join(str(n) for n in lines.iloc[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
        place = f"{file}, column {column}" if column else file
        self._warnings.append({
            "file": file, "line": int(lines.iloc[0]), "column": column, "count": len(lines), "code": code,
            "message": f"{place}: {text} ({len(lines)} row(s): line {shown})",
        })

    def warn_file(self, file: str, code: str, text: str, line: int = 1) -> None:
        self._warnings.append({"file": file, "line": line, "column": "", "count": 1, "code": code,
                               "message": f"{file}: {text}"})

    def rejections(self) -> pd.DataFrame:
        frames = [f for f in self._rejections if len(f)]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else "str") for c in _REJECTION_COLUMNS})
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["file", "line"], kind="mergesort").reset_index(drop=True)

    def warnings(self) -> pd.DataFrame:
        return pd.DataFrame(self._warnings, columns=_WARNING_COLUMNS).astype({"line": "int64", "count": "int64"})


# ============================================================================================== reading
@dataclass(frozen=True)
class _Raw:
    """A file's rows as text: ``frame`` holds every column as ``str`` ('' when empty), ``lines`` the 1-based
    physical line (Excel: row) where each row starts, ``columns`` the header names by casefolded name."""

    name: str
    frame: pd.DataFrame
    lines: pd.Series
    columns: dict[str, str]


def _decode(path: Path, encoding: str | None, issues: _Issues) -> str:
    """The file's text: in the map's ``encoding`` if it declares one, else UTF-8 (a byte-order mark is
    dropped), else Windows-1252; each fallback is warned."""
    data = path.read_bytes()
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            issues.warn_file(path.name, "encoding", f"is not valid {encoding}; undecodable bytes replaced")
            return data.decode(encoding, errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        issues.warn_file(path.name, "bom", "starts with a UTF-8 byte-order mark; ignored")
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        issues.warn_file(path.name, "encoding", "is not UTF-8; read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def _csv_records(path: Path, spec: FileSpec, issues: _Issues) -> tuple[list[list[str]], list[int]]:
    """Every record of a CSV file with the physical line it starts on (quoted fields may span lines; pandas'
    readers cannot say where a row starts, the csv module can)."""
    reader = csv.reader(io.StringIO(_decode(path, spec.encoding, issues), newline=""), delimiter=spec.delimiter)
    records, ends = [], []
    try:
        for record in reader:
            records.append(record)
            ends.append(reader.line_num)
    except csv.Error as exc:
        issues.reject(path.name, pd.Series([reader.line_num + 1]), "(file)", None, "unreadable",
                      f"unreadable CSV ({exc}); the rest of the file is not loaded", "well-formed CSV")
    starts = [1] + [end + 1 for end in ends[:-1]]
    return records, starts


def _excel_records(path: Path, spec: FileSpec) -> tuple[list[list[str]], list[int]]:
    if importlib.util.find_spec("openpyxl") is None:
        raise ImportError(f"{path.name}: reading Excel files needs the optional package openpyxl. Install it with "
                          "`pip install openpyxl`, or save the sheet as CSV.")
    sheet = pd.read_excel(path, sheet_name=spec.sheet, header=None, dtype=object)
    # Per cell, but Excel sheets are small and openpyxl itself reads cell by cell.
    text = sheet.map(_cell_text)
    return text.to_numpy().tolist(), list(range(1, len(text) + 1))


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a CSV export would hold: dates as ISO dates, whole numbers without '.0'."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(_ISO_DATE if value.time() == dt.time() else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime(_ISO_DATE)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_file(path: Path, spec: FileSpec, issues: _Issues) -> _Raw | None:
    suffix = path.suffix.casefold()
    if suffix == ".xls":
        raise ValueError(f"{path.name}: old-style .xls workbooks are not read; save it as .xlsx or CSV")
    if suffix in _EXCEL_SUFFIXES:
        records, starts = _excel_records(path, spec)
    else:
        records, starts = _csv_records(path, spec, issues)
    return _frame(path.name, records, starts, spec.header_line, issues)


def _frame(name: str, records: list[list[str]], starts: list[int], header_line: int, issues: _Issues) -> _Raw | None:
    """Header and rows as a text frame; blank rows are dropped and line numbers kept throughout.

    A row is never loaded with its columns moved: a row with more or fewer fields than the header (an unquoted
    ``1,234.50`` or ``LAST, FIRST`` adds a field and shifts every later column) is rejected with its line. One
    layout is recognised instead of rejected: every row carrying the same empty trailing field(s) (a trailing
    delimiter the header lacks), which is cut with a warning."""
    first = next((i for i, (r, s) in enumerate(zip(records, starts)) if s >= header_line and any(r)), None)
    if first is None:
        issues.warn_file(name, "empty", f"has no header at line {header_line} or after; nothing read", header_line)
        return None
    header = _unique_header(name, [h.strip().lstrip("\ufeff").strip() for h in records[first]], issues)
    body, lines = records[first + 1:], pd.Series(starts[first + 1:], dtype="int64")
    width = len(header)
    lengths = pd.Series(np.fromiter(map(len, body), dtype=np.int64, count=len(body)))
    blank = pd.Series([not any(f.strip() for f in r) for r in body], dtype=bool)
    uneven = lengths.index[(lengths != width) & ~blank]
    extra_empty = pd.Series(False, index=lengths.index)
    for i in uneven:
        extra_empty[i] = len(body[i]) > width and not any(f.strip() for f in body[i][width:])
    trailing = len(uneven) > 0 and len(uneven) == int((~blank).sum()) and extra_empty[uneven].all() \
        and lengths[uneven].nunique() == 1
    if trailing:
        issues.warn(name, "", lines[uneven], "trailing_delimiter",
                    f"every row ends with {int(lengths[uneven].iloc[0]) - width} empty field(s) the header does not "
                    "have (a trailing delimiter); cut")
        uneven = uneven[:0]
    for i in lengths.index[(lengths != width)]:  # only these rows: pad or cut to the header's width
        body[i] = (body[i] + [""] * width)[:width]
    issues.reject(name, lines[uneven], "(row)", None, "field_count",
                  "a value with an unquoted delimiter (such as 1,234.50 or LAST, FIRST) or a missing field would "
                  "shift every later column, so the row is not loaded; fields found",
                  f"{width} fields, as in the header (quote values that contain the delimiter)",
                  values=lengths[uneven].astype(str))
    frame = pd.DataFrame(body, columns=header, dtype="str") if body else pd.DataFrame(columns=header, dtype="str")
    keep = ~blank if width else pd.Series(False, index=frame.index)
    keep[uneven] = False
    frame, lines = frame[keep.to_numpy()].reset_index(drop=True), lines[keep.to_numpy()].reset_index(drop=True)
    return _Raw(name, frame, lines, {h.casefold(): h for h in reversed(header)})


def _unique_header(name: str, header: list[str], issues: _Issues) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        n = seen.get(h.casefold(), 0)
        seen[h.casefold()] = n + 1
        out.append(h if n == 0 else f"{h}.{n}")
        if n == 1:
            issues.warn_file(name, "duplicate_column", f"column name {h!r} appears more than once; the first is used")
    return out


# ============================================================================================== values
@dataclass(frozen=True)
class _Bad:
    """Rows (``mask``) whose value failed, with the message parts; ``show`` quotes the offending text."""

    mask: pd.Series
    code: str
    problem: str
    expected: str
    show: bool = True


def _clean(s: pd.Series) -> pd.Series:
    s = s.str.strip()
    return s.where(s != "")


def _source_text(raw: _Raw, fm: FieldMap, claim_key: pd.Series | None) -> pd.Series:
    """The stripped source text of a field (NaN when empty), with its fill applied; list fields join their
    columns with ','."""
    index = raw.frame.index
    if fm.value is not None:
        return pd.Series(fm.value, index=index, dtype="str")
    columns = [raw.columns[c.casefold()] for c in fm.columns if c.casefold() in raw.columns]
    if not columns:
        return pd.Series(np.nan, index=index, dtype="str")
    parts = [_clean(raw.frame[c]) for c in columns]
    text = parts[0] if len(parts) == 1 else _clean(
        parts[0].fillna("").str.cat([p.fillna("") for p in parts[1:]], sep=",").str.strip(", "))
    if fm.fill and claim_key is not None:
        grouped = text.groupby(claim_key, sort=False)
        text = grouped.ffill() if fm.fill == "down" else grouped.bfill()
    return text


def _apply_map(text: pd.Series, fm: FieldMap) -> tuple[pd.Series, list[_Bad]]:
    if fm.mapping is None:
        return text, []
    mapped = text.str.casefold().map(fm.mapping).astype("str")
    unknown = text.notna() & mapped.isna()
    keys = ", ".join(fm.map_keys)
    return mapped, [_Bad(unknown, "unknown_value", "unexpected value", f"one of {keys}")]


def _parse_amount(text: pd.Series, unit: str) -> tuple[pd.Series, list[_Bad], pd.Series]:
    """(cents as Int64, failures, mask of decorated values: '$', ',', spaces, parentheses, trailing minus).

    Exact: digits are split at the decimal point and combined as integers; no float is involved."""
    s = text.dropna()
    paren = s.str.fullmatch(r"\(.*\)")
    trailing = s.str.endswith("-") & (s.str.len() > 1)
    core = s.where(~paren, s.str.slice(1, -1)).str.replace(r"[$,\s]", "", regex=True)
    core = core.str.replace(r"-$", "", regex=True)
    parts = core.str.extract(r"^(?P<neg>-?)(?P<whole>\d{0,15})(?:\.(?P<frac>\d*))?$")
    frac = parts["frac"].fillna("")
    digits = parts["whole"].fillna("") + frac
    signs = paren.astype(int) + trailing.astype(int) + (parts["neg"] == "-").astype(int)
    well_formed = parts["whole"].notna() & (digits != "") & (signs <= 1)
    if unit == "cents":
        whole_cents = frac.str.strip("0") == ""
        cents = parts["whole"].where(well_formed & whole_cents, "0").replace("", "0").astype("int64")
        expected = "a whole number of cents, such as 123450"
    else:
        whole_cents = frac.str[2:].str.strip("0") == ""
        whole = parts["whole"].where(well_formed, "0").replace("", "0").astype("int64")
        cents = whole * 100 + frac.str[:2].str.ljust(2, "0").where(well_formed, "00").astype("int64")
        expected = "an amount such as 1234.50, $1,234.50 or (12.00)"
    negative = (parts["neg"] == "-") | paren | trailing
    out = cents.where(~negative, -cents).astype("Int64").where(well_formed & whole_cents).reindex(text.index)
    bad_form = (~well_formed).reindex(text.index, fill_value=False)
    bad_cents = (well_formed & ~whole_cents).reindex(text.index, fill_value=False)
    decorated = (s.str.contains(r"[$,\s]") | paren | trailing).reindex(text.index, fill_value=False)
    return out, [_Bad(bad_form, "bad_amount", "unparseable amount", expected),
                 _Bad(bad_cents, "bad_amount", "amount in fractions of a cent", "an amount in whole cents")], decorated


def _parse_date(text: pd.Series, formats: tuple[str, ...]) -> tuple[pd.Series, list[_Bad], dict[str, pd.Series]]:
    """(dates at midnight, failures, {format: mask of the rows it read}). Formats are tried in order; ISO
    dates and date-times (how Excel date cells are read) are accepted after the declared ones. Times are
    dropped."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    used: dict[str, pd.Series] = {}
    for fmt in formats + tuple(f for f in _ISO_FALLBACKS if f not in formats):
        todo = text.notna() & out.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = parsed.notna()
        if hit.any():
            out[hit.index[hit]] = parsed[hit].dt.normalize().astype("datetime64[ns]")
            used[fmt] = hit.reindex(text.index, fill_value=False)
    bad = text.notna() & out.isna()
    return out, [_Bad(bad, "bad_date", "unparseable date", "a date in one of the formats " + ", ".join(formats))], used


def _parse_number(text: pd.Series) -> tuple[pd.Series, list[_Bad]]:
    number = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").astype("float64")
    return number, [_Bad(text.notna() & number.isna(), "bad_number", "unparseable number", "a number such as 1 or 2.5")]


def _parse_choice(text: pd.Series, choices: tuple[str, ...]) -> tuple[pd.Series, list[_Bad]]:
    lower = text.str.casefold()
    ok = lower.isin(choices)
    expected = "one of " + ", ".join(choices)
    return lower.where(ok), [_Bad(text.notna() & ~ok, "unknown_value", "unexpected value", expected)]


def _parse_codes(text: pd.Series) -> pd.Series:
    """Diagnosis codes: a list, upper case, without dots, split on commas, colons, semicolons, pipes or spaces
    (``M1711:M25561`` is two codes, as the modifiers' ``25:GT`` is two modifiers)."""
    joined = text.fillna("").str.upper().str.replace(".", "", regex=False)
    joined = joined.str.replace(r"[\s,:;|]+", ",", regex=True).str.strip(",")
    return joined.str.split(",").where(joined != "")  # the claims table turns missing into []


def _parse_modifiers(text: pd.Series) -> pd.Series:
    """Modifiers joined by ':', upper case ('25', '59:RT', '' for none), from ':', ',', ';' or space lists."""
    return text.fillna("").str.upper().str.replace(r"[\s,;:|]+", ":", regex=True).str.strip(":")


def patient_keys(accounts: pd.Series, salt: str | bytes) -> pd.Series:
    """The pseudonym of each patient account: ``"P"`` + 16 hex digits of ``sha256(salt + b"\\x00" + account)``.

    Hashes each distinct account once. Same account and salt, same key; the account cannot be read back.
    """
    salt = salt.encode("utf-8") if isinstance(salt, str) else salt
    unique = accounts.dropna().unique()
    keys = {a: "P" + hashlib.sha256(salt + b"\x00" + a.encode("utf-8")).hexdigest()[:_KEY_HEX_DIGITS] for a in unique}
    return accounts.map(keys).astype("str")


# ============================================================================================== records
@dataclass(frozen=True)
class _Records:
    """The rows one file gave one file spec: parsed fields plus ``_file``, ``_spec``, ``_line``, ``_order``
    (file order across the call) and ``_ok`` (no problem found on the row)."""

    spec: FileSpec
    frame: pd.DataFrame


@dataclass(frozen=True)
class _Context:
    """What the table builders share: the issue collector and each spec's source column per field."""

    issues: _Issues
    columns: dict[tuple[str, str], str]

    def reject(self, rows: pd.DataFrame, field: str, code: str, problem: str, expected: str,
               values: pd.Series | None = None) -> None:
        """Reject ``rows`` (parsed records), naming the source column the row's file spec reads ``field`` from."""
        for (file, spec), part in rows.groupby(["_file", "_spec"], sort=False):
            self.issues.reject(file, part["_line"], self.columns.get((spec, field), field), part.get("claim_id"),
                               code, problem, expected, None if values is None else values.reindex(part.index))

    def warn(self, rows: pd.DataFrame, field: str, code: str, text: str) -> None:
        for (file, spec), part in rows.groupby(["_file", "_spec"], sort=False):
            self.issues.warn(file, self.columns.get((spec, field), field), part["_line"], code, text)


def _source_columns(spec: FileSpec) -> dict[tuple[str, str], str]:
    return {(spec.name, f): "+".join(fm.columns) if fm.columns else "(constant)" for f, fm in spec.fields.items()}


def _read_spec(raw: _Raw, spec: FileSpec, salt: str | bytes, issues: _Issues, order: int) -> _Records | None:
    """Parse the fields of one file for one spec, vectorized; every failure becomes a rejection row."""
    keep = _check_columns(raw, spec, issues)
    if keep is None:
        return None
    claim_fm = spec.fields.get("claim_id")
    claim_key = _source_text(raw, claim_fm, None) if claim_fm and claim_fm.columns else None
    texts = {f: _source_text(raw, fm, claim_key)[keep.to_numpy()].reset_index(drop=True)
             for f, fm in spec.fields.items()}
    lines = raw.lines[keep.to_numpy()].reset_index(drop=True)
    columns = _source_columns(spec)
    out = pd.DataFrame(index=lines.index)
    ok = pd.Series(True, index=lines.index)
    decl = TABLE_FIELDS[spec.table]
    for name, fm in spec.fields.items():
        column = columns[(spec.name, name)]
        values, bads = _parse_field(raw.name, lines, name, decl[name], fm, texts[name], column, salt, issues)
        out[name] = values
        for bad in bads:
            shown = texts[name] if bad.show and decl[name].type != "patient" else None
            issues.reject(raw.name, lines[bad.mask], column, texts.get("claim_id"), bad.code, bad.problem,
                          bad.expected, shown)
            ok &= ~bad.mask
    out["_file"], out["_spec"], out["_line"], out["_ok"] = raw.name, spec.name, lines, ok
    out["_order"] = order * 10**9 + lines
    return _Records(spec, out)


def _check_columns(raw: _Raw, spec: FileSpec, issues: _Issues) -> pd.Series | None:
    """The rows the spec's ``where`` keeps, after checking the header: a missing required column rejects the
    file for this spec (line 1), a missing optional one is warned and read as empty."""
    decl = TABLE_FIELDS[spec.table]
    keep = pd.Series(True, index=raw.frame.index)
    for column, values in spec.where.items():
        if column.casefold() not in raw.columns:
            issues.reject(raw.name, pd.Series([1]), column, None, "missing_column", "column missing from the header",
                          f"a column {column!r} (used by 'where' of file spec {spec.name})")
            return None
        keep &= raw.frame[raw.columns[column.casefold()]].str.strip().str.casefold().isin(values)
    for name, fm in spec.fields.items():
        absent = [c for c in fm.columns if c.casefold() not in raw.columns]
        if not absent:
            continue
        if decl[name].required and len(absent) == len(fm.columns) and fm.default is None:
            issues.reject(raw.name, pd.Series([1]), absent[0], None, "missing_column",
                          f"column missing from the header; no row of this file loaded for file spec {spec.name}",
                          f"a column {absent[0]!r} (mapped to {name})")
            return None
        if not fm.optional:
            issues.warn_file(raw.name, "missing_column", f"column(s) {absent} (mapped to {name}) not in the "
                             "header; read as empty")
    return keep


def _parse_field(file: str, lines: pd.Series, name: str, decl: _Field, fm: FieldMap, text: pd.Series, column: str,
                 salt: str | bytes, issues: _Issues) -> tuple[pd.Series, list[_Bad]]:
    """Typed values of one field and its failures (missing required value, unparseable, unexpected)."""
    empty = text.isna() if fm.default is None else pd.Series(False, index=text.index)
    text, bads = _apply_map(text, fm)
    if fm.default is not None:
        text = text.fillna(fm.default)
    if decl.required:
        bads.append(_Bad(empty, "missing_value", "missing required value", f"a value for {name}", show=False))
    if decl.type == "amount":
        values, more, decorated = _parse_amount(text, fm.unit)
        issues.warn(file, column, lines[decorated], "amount_format",
                    "amounts written with '$', ',' or spaces, or negative as (12.00) or 12.00-; read as " + fm.unit)
        return values, bads + more
    if decl.type == "date":
        values, more, used = _parse_date(text, fm.formats)
        if len(used) > 1:
            counts = ", ".join(f"{fmt} ({int(mask.sum())})" for fmt, mask in used.items())
            later = pd.concat(list(used.values())[1:], axis=1).any(axis=1)
            issues.warn(file, column, lines[later], "date_formats", f"dates in several formats: {counts}")
        return values, bads + more
    if decl.type == "number":  # units: 1 when empty
        values, more = _parse_number(text)
        return values.fillna(1.0), bads + more
    if decl.type == "choice":
        values, more = _parse_choice(text, decl.choices)
        return values, bads + more
    parsers = {
        "code": lambda t: t.str.upper(),
        "codes": _parse_codes,
        "modifiers": _parse_modifiers,
        "patient": lambda t: patient_keys(t, salt),
        "party": lambda t: t.where(~t.str.casefold().isin(PARTY_TOKENS), t.str.casefold()),
    }
    return parsers.get(decl.type, lambda t: t)(text), bads


# ============================================================================================== claims
def _concat(records: list[_Records], table: str) -> pd.DataFrame | None:
    frames = [r.frame for r in records if r.spec.table == table]
    return pd.concat(frames, ignore_index=True) if frames else None


def _build_payers(frame: pd.DataFrame | None, inline: tuple[dict[str, str], ...], ctx: _Context,
                  stored: set[str] = frozenset()) -> pd.DataFrame:
    """Payers from the files (the first row of an ID wins, later ones are rejected), then the map's inline
    payers whose IDs neither the files nor the practice's ``stored`` payers have."""
    names = ["payer_id", "payer_name", "payer_class"]
    rows = pd.DataFrame(columns=names, dtype="str")
    if frame is not None:
        good = frame[frame["_ok"]]
        dup = good.duplicated("payer_id", keep="first")
        ctx.reject(good[dup], "payer_id", "duplicate", "duplicate payer id", "each payer once", good["payer_id"])
        rows = good[~dup].copy()
        rows["payer_name"] = rows["payer_name"].fillna(rows["payer_id"]) if "payer_name" in rows else rows["payer_id"]
    extra = pd.DataFrame(list(inline), columns=names, dtype="str")
    extra = extra[~extra["payer_id"].isin(rows["payer_id"]) & ~extra["payer_id"].isin(stored)]
    return schema.conform("payers", pd.concat([rows[names], extra], ignore_index=True))


def _claim_headers(lines: pd.DataFrame, claims: pd.DataFrame | None, ctx: _Context) -> pd.DataFrame:
    """One header row per claim: the claims file's (the first row of an ID; later ones rejected) or, without a
    claims file, each claim's first line with the claim's earliest bill date (lines that disagree with the
    first line on a header value are warned)."""
    if claims is not None:
        headers = claims[claims["claim_id"].notna()]
        dup = headers.duplicated("claim_id", keep="first")
        ctx.reject(headers[dup], "claim_id", "duplicate", "duplicate claim id", "each claim once in the claims file")
        return headers[~dup]
    ordered = lines.sort_values("_order", kind="mergesort")
    first = ordered.drop_duplicates("claim_id", keep="first").copy()
    if first.empty:  # every row of the charges was rejected
        return first
    first["submitted_on"] = first["claim_id"].map(ordered.groupby("claim_id")["submitted_on"].min())
    for name in ("payer_id", "secondary_payer_id", "patient_key", "billing_npi", "rendering_npi", "place_of_service"):
        if name in ordered:
            claim_value = ordered.groupby("claim_id")[name].transform("first")
            ctx.warn(ordered[ordered[name].notna() & (ordered[name] != claim_value)], name, "claim_disagrees",
                     f"lines disagree with their claim's first line on {name}; the first line's value is used")
    return first


def _unknown_payers(headers: pd.DataFrame, known: set[str], ctx: _Context) -> pd.Series:
    """Reject the header rows naming a payer missing from the payers (the run's and the practice's stored ones);
    return their mask."""
    bad_any = pd.Series(False, index=headers.index)
    for name in ("payer_id", "secondary_payer_id"):
        if name in headers:
            bad = headers["_ok"] & headers[name].notna() & ~headers[name].isin(known)
            ctx.reject(headers[bad], name, "unknown_payer", "unknown payer",
                       "a payer_id listed in a payers file, the map or the practice's stored payers", headers[name])
            bad_any |= bad
    return bad_any


def _row_keys(rows: pd.DataFrame) -> pd.Series:
    return rows["_file"] + "\x00" + rows["_line"].astype(str)


def _build_claims(records: list[_Records], known_payers: set[str], ctx: _Context
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, set[str]]:
    """(claims, claim_lines, loaded claim headers, IDs of claims not loaded). A claim loads whole or not at all:
    the first rejected row of a claim (line or header) sinks it, and its other rows are rejected pointing there."""
    lines = _concat(records, "claim_lines")
    if lines is None:
        return schema.empty("claims"), schema.empty("claim_lines"), pd.DataFrame(columns=["claim_id"]), set()
    lines = lines[lines["claim_id"].notna()]
    claims = _concat(records, "claims")
    headers = _claim_headers(lines, claims, ctx)
    if claims is not None:
        orphan = lines["_ok"] & ~lines["claim_id"].isin(headers["claim_id"])
        ctx.reject(lines[orphan], "claim_id", "unknown_claim", "charge line of a claim not in the claims file",
                   "a claim id listed in the claims file")
        lines = lines[~orphan]
        no_lines = headers["_ok"] & ~headers["claim_id"].isin(lines["claim_id"])
        ctx.reject(headers[no_lines], "claim_id", "no_lines", "claim without charge lines", "at least one charge line")
        headers = headers[~no_lines]
    sunk = _row_keys(headers[_unknown_payers(headers, known_payers, ctx)])
    headers = headers.assign(_ok=headers["_ok"] & ~_row_keys(headers).isin(sunk))
    lines = lines.assign(_ok=lines["_ok"] & ~_row_keys(lines).isin(sunk))
    bad_rows = pd.concat([lines[~lines["_ok"]], headers[~headers["_ok"]] if claims is not None else None])
    blame = bad_rows.sort_values("_order", kind="mergesort").drop_duplicates("claim_id")
    _cascade(lines, blame, ctx)
    if claims is not None:
        _cascade(headers, blame, ctx)
    rejected = set(blame["claim_id"])
    lines = lines[~lines["claim_id"].isin(rejected)]
    headers = headers[~headers["claim_id"].isin(rejected)]
    return _claims_table(headers, lines), _lines_table(lines), headers, rejected


def _cascade(rows: pd.DataFrame, blame: pd.DataFrame, ctx: _Context) -> None:
    """Reject the good rows of claims that were not loaded, pointing at the row that sank each claim."""
    cause = blame.set_index("claim_id")
    cause = cause["_file"] + " line " + cause["_line"].astype(str)
    hit = rows[rows["_ok"] & rows["claim_id"].isin(cause.index)]
    ctx.reject(hit, "claim_id", "claim_not_loaded", "claim not loaded because of its rejected row at",
               "every row of the claim to be valid", hit["claim_id"].map(cause))


def _claims_table(headers: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    h = headers.set_index("claim_id")
    by_claim = lines.groupby("claim_id")

    def column(name: str, fallback: Any = None) -> pd.Series:
        if name not in h:
            return fallback if isinstance(fallback, pd.Series) else pd.Series(fallback, index=h.index, dtype=object)
        return h[name].fillna(fallback) if isinstance(fallback, pd.Series) else h[name]

    out = pd.DataFrame({
        "submission_id": h.index,
        "frequency_code": "1",
        "claim_type": column("claim_type").fillna("professional"),
        "submitted_on": h["submitted_on"],
        "service_from": column("service_from", by_claim["service_date"].min().reindex(h.index)),
        "service_to": column("service_to", by_claim["service_date"].max().reindex(h.index)),
        "payer_id": h["payer_id"],
        "billing_npi": h["billing_npi"],
        "rendering_npi": column("rendering_npi"),
        "place_of_service": column("place_of_service"),
        "patient_key": h["patient_key"],
        "total_charge_cents": by_claim["charge_cents"].sum().reindex(h.index).astype("int64"),
        "diagnosis_codes": column("diagnosis_codes").map(lambda v: v if isinstance(v, list) else []),
        "payer_claim_ref": None,
        "source": h["_file"] + ":" + h["_line"].astype(str),
    }, index=h.index).rename_axis("claim_id").reset_index()
    return schema.conform("claims", out.sort_values("claim_id", kind="mergesort"))


def _lines_table(lines: pd.DataFrame) -> pd.DataFrame:
    ordered = lines.sort_values(["claim_id", "_order"], kind="mergesort")
    return schema.conform("claim_lines", pd.DataFrame({
        "submission_id": ordered["claim_id"],
        "line_number": ordered.groupby("claim_id").cumcount() + 1,
        "procedure_code": ordered["procedure_code"],
        "modifiers": ordered["modifiers"] if "modifiers" in ordered else "",
        "units": ordered["units"] if "units" in ordered else 1.0,
        "charge_cents": ordered["charge_cents"],
        "service_date": ordered["service_date"],
    }))


# ============================================================================================== postings
#: Columns of a posting waiting for its parties to be resolved (the ``unapplied_postings`` table's).
PENDING_COLUMNS = list(schema.TABLES["unapplied_postings"].names)


def _posting_ids(rows: pd.DataFrame) -> pd.Series:
    """Each posting row's natural key: ``t:`` + the export's transaction id when the map names one, else ``k:``
    + claim|date|kind|reason|party|amount as exported; then ``#`` + its occurrence among equal keys in its file.
    A re-read, corrected or cumulative export gives the same rows the same keys, so only new rows load."""
    text = lambda name: rows[name].astype("str").fillna("") if name in rows else pd.Series("", index=rows.index)  # noqa: E731
    natural = ("k:" + rows["claim_id"].astype(str) + "|" + rows["posted_on"].dt.strftime("%Y-%m-%d") + "|"
               + rows["kind"].astype(str) + "|" + text("reason_code").str.replace(r"[\s-]+", "", regex=True) + "|"
               + text("responsible") + "|"
               + rows["amount_cents"].astype("int64").astype(str))
    txn = rows["transaction_id"] if "transaction_id" in rows else pd.Series(np.nan, index=rows.index, dtype="str")
    base = ("t:" + txn.astype("str")).where(txn.notna(), natural)
    occurrence = base.groupby([rows["_file"], rows["_spec"], base]).cumcount() + 1
    return base + "#" + occurrence.astype(str)


def _pending_postings(records: list[_Records], credits: str, ctx: _Context) -> tuple[pd.DataFrame, dict[str, int]]:
    """Posting rows as the ledger will hold them, before their claim and parties are looked up: keyed,
    adjustments classified, default parties filled, signs made the ledger's; zero amounts are not posted."""
    rows = _concat(records, "postings")
    if rows is None:
        return pd.DataFrame(columns=PENDING_COLUMNS + ["_file", "_spec", "_line", "_order"]), {}
    rows = rows[rows["_ok"]]
    rows = rows.assign(posting_id=_posting_ids(rows))
    rows, not_posted = _classify(rows, ctx)
    kind = rows["kind"]
    default_party = pd.Series(np.where(kind.isin(["patient_payment", "refund"]), "patient", "primary"),
                              index=rows.index, dtype="str")
    responsible = rows["responsible"].fillna(default_party) if "responsible" in rows else default_party
    given = rows["transfer_to"] if "transfer_to" in rows else pd.Series(np.nan, index=rows.index, dtype="str")
    transfer_to = given.fillna("patient").where(~rows["_to_patient"], "patient").where(kind == "transfer")
    amount = -rows["amount_cents"] if credits == "positive" else rows["amount_cents"]
    rows = rows.assign(responsible=responsible, transfer_to=transfer_to, amount_cents=amount.astype("int64"),
                       source=rows["_file"] + ":" + rows["_line"].astype(str))
    zero = rows["amount_cents"] == 0
    return rows[~zero], {**not_posted, "zero_amount": int(zero.sum())}


def claim_parties(claims: pd.DataFrame) -> pd.DataFrame:
    """``claim_id``, ``payer_id`` (primary) and ``secondary_payer_id`` of each claim of a canonical claims
    table (its first submission that is not a void; no secondary payer is stored with a claim)."""
    if claims is None or claims.empty:
        return pd.DataFrame({"claim_id": pd.Series(dtype="str"), "payer_id": pd.Series(dtype="str"),
                             "secondary_payer_id": pd.Series(dtype="str")})
    ordered = claims.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort")
    first = ordered[ordered["frequency_code"] != "8"].drop_duplicates("claim_id")
    return pd.DataFrame({"claim_id": first["claim_id"].to_numpy(), "payer_id": first["payer_id"].to_numpy(),
                         "secondary_payer_id": pd.Series(np.nan, index=range(len(first)), dtype="str")})


def _parties(*frames: pd.DataFrame) -> pd.DataFrame:
    """Claim parties from several sources; the first source that knows a claim gives its primary payer, any
    source its secondary payer."""
    both = pd.concat([f for f in frames if f is not None and len(f)] or [claim_parties(None)], ignore_index=True)
    secondary = both.dropna(subset=["secondary_payer_id"]).drop_duplicates("claim_id").set_index("claim_id")
    out = both.drop_duplicates("claim_id").set_index("claim_id")
    out["secondary_payer_id"] = secondary["secondary_payer_id"].reindex(out.index)
    return out.reset_index()


def _apply(pending: pd.DataFrame, parties: pd.DataFrame, payers: pd.DataFrame, reject
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(postings, still unapplied): postings on a claim in ``parties`` get their parties resolved and their
    transfers split in two; the others wait. ``reject(rows, field, code, problem, expected, values)`` is told
    about rows whose party cannot be resolved."""
    held = pending["claim_id"].isin(parties["claim_id"])
    waiting = pending[~held]
    rows = _resolve(pending[held], "responsible", parties, payers, reject)
    moves = rows["kind"] == "transfer"
    t = _resolve(rows[moves], "transfer_to", parties, payers, reject)
    t_kind = np.where(t["transfer_to"] == "patient", "patient_responsibility", "other_adjustment")
    out = pd.concat([rows[~moves], t.assign(kind=t_kind),
                     t.assign(kind=t_kind, amount_cents=-t["amount_cents"], responsible=t["transfer_to"],
                              posting_id=t["posting_id"] + "/to")], ignore_index=True)
    order = [c for c in ("_order", "posted_on", "posting_id") if c in out]
    out = out.sort_values(order, kind="mergesort")
    return schema.conform("postings", out), waiting


def apply_postings(pending: pd.DataFrame, parties: pd.DataFrame, payers: pd.DataFrame
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply stored unapplied postings (the ``unapplied_postings`` table) now that more claims are known.

    ``parties``: :func:`claim_parties` of the practice's claims (plus any run's PM claim headers). Returns
    (postings to add, postings still waiting, rejections in the ``csv_rejections`` form for rows whose party
    cannot be resolved, e.g. a payer the practice does not know)."""
    issues = _Issues()
    where = pending["source"].fillna("?:0").str.rsplit(":", n=1, expand=True) if len(pending) else None
    rows = pending.assign(_file=where[0] if where is not None else "", _spec="",
                          _line=pd.to_numeric(where[1], errors="coerce").fillna(0).astype("int64")
                          if where is not None else 0)
    ctx = _Context(issues, {})
    postings, waiting = _apply(rows, parties, payers, ctx.reject)
    return postings, schema.conform("unapplied_postings", waiting), issues.rejections()


def _classify(rows: pd.DataFrame, ctx: _Context) -> tuple[pd.DataFrame, dict[str, int]]:
    """Give ``adjustment`` rows a kind from their CARC through rcmkit's crosswalk (PR codes become transfers to
    the patient; no code, an ``other_adjustment``); drop codes that move no money, with a warning."""
    reason = rows["reason_code"] if "reason_code" in rows else pd.Series(np.nan, index=rows.index, dtype="str")
    adjustment = rows["kind"] == "adjustment"
    parts = reason[adjustment].str.extract(r"^(?:(?P<group>[A-Z]{2})[\s-]*)?(?P<code>[A-Z0-9]{1,5})$")
    malformed = reason[adjustment].notna() & parts["code"].isna()
    ctx.reject(rows.loc[malformed.index[malformed]], "reason_code", "bad_reason", "unparseable reason code",
               "a CARC such as CO-45, PR-2 or 45", reason)
    coded = parts[parts["code"].notna()]
    treatment = pd.Series(classify_adjustments(pd.DataFrame({
        "group_code": coded["group"].fillna("").to_numpy(), "reason_code": coded["code"].to_numpy(),
    }))["treatment"].to_numpy(), index=coded.index, dtype="str")
    kind = rows["kind"].copy()
    kind[adjustment] = "other_adjustment"
    kind[coded.index] = treatment.map({"contractual": "contractual", "denial": "denial", "patient": "transfer"})
    silent = kind.isna()
    ctx.warn(rows[silent], "reason_code", "not_posted",
             "adjustments whose reason code moves no money (e.g. OA-23 prior payer, OA-18 duplicate); not posted")
    to_patient = pd.Series(False, index=rows.index)
    to_patient[coded.index] = treatment == "patient"
    keep = ~silent & ~rows.index.isin(malformed.index[malformed])
    return rows.assign(kind=kind, _to_patient=to_patient)[keep], {"adjustments_not_posted": int(silent.sum())}


def _resolve(rows: pd.DataFrame, name: str, parties: pd.DataFrame, payers: pd.DataFrame, reject) -> pd.DataFrame:
    """Turn a party column into ledger ``responsible`` values: 'patient' or a known payer ID. 'primary' and
    'secondary' are the claim's payers, and a self-pay payer is the patient. Unresolvable rows are rejected."""
    h = parties.set_index("claim_id")
    party = rows[name]
    value = party.where(party != "primary", rows["claim_id"].map(h["payer_id"]))
    value = value.where(party != "secondary", rows["claim_id"].map(h["secondary_payer_id"]))
    self_pay = set(payers.loc[payers["payer_class"] == "self_pay", "payer_id"]) | {"SELF"}
    value = value.where(~value.isin(self_pay), "patient")
    no_secondary = (party == "secondary") & value.isna()
    unknown = value.notna() & (value != "patient") & ~value.isin(set(payers["payer_id"]))
    reject(rows[no_secondary], name, "no_secondary_payer", "the claim has no secondary payer on record",
           "a claim whose charges name a secondary payer")
    reject(rows[unknown], name, "unknown_payer", "unknown payer",
           "a payer_id listed in a payers file, the map or the practice's stored payers, or patient, primary, "
           "secondary", party)
    return rows.assign(**{name: value})[~(no_secondary | unknown)]


# ============================================================================================== contracts
def _build_contracts(records: list[_Records], known_payers: set[str], ctx: _Context) -> pd.DataFrame:
    """Contracted rates (payer x code x modifiers x effective date -> allowed per unit). Within a run a later
    row of the same key replaces an earlier one (warned); a payer not known yet is warned, not refused (a fee
    schedule may arrive before the payer's first claim)."""
    rows = _concat(records, "contracts")
    if rows is None:
        return schema.empty("contracts")
    rows = rows[rows["_ok"]]
    negative = rows["allowed_cents"] < 0
    ctx.reject(rows[negative], "allowed_cents", "bad_amount", "negative contracted amount",
               "an allowed amount of 0 or more per unit")
    rows = rows[~negative].assign(modifiers=rows["modifiers"] if "modifiers" in rows else "")
    key = ["payer_id", "procedure_code", "modifiers", "effective_from"]
    repeated = rows.duplicated(key, keep="last")
    ctx.warn(rows[repeated], "procedure_code", "contract_repeated",
             "rates listed again later for the same payer, code, modifiers and date; the last one is used")
    rows = rows[~repeated]
    ctx.warn(rows[~rows["payer_id"].isin(known_payers)], "payer_id", "contract_payer_unknown",
             "contracts for payers the practice does not know yet; loaded (check the payer IDs)")
    return schema.conform("contracts", rows.sort_values(key, kind="mergesort"))


def _build_providers(records: list[_Records]) -> pd.DataFrame:
    """Provider names a charges or claims file gives beside the NPIs (rendering_name, billing_name)."""
    frames = []
    for r in records:
        f = r.frame[r.frame["_ok"]]
        for npi, name in (("rendering_npi", "rendering_name"), ("billing_npi", "billing_name")):
            if npi in f and name in f:
                part = f.dropna(subset=[npi, name])
                frames.append(pd.DataFrame({"npi": part[npi], "name": part[name], "entity_type": None,
                                            "source": part["_file"] + ":" + part["_line"].astype(str)}))
    if not frames:
        return schema.empty("providers")
    out = pd.concat(frames, ignore_index=True).drop_duplicates("npi", keep="last")
    return schema.conform("providers", out.sort_values("npi", kind="mergesort"))


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
    ``column_map``: a path, a built-in map name or a dict (see :func:`load_column_map`). ``patient_salt``
    overrides the map's salt of the patient pseudonym. ``known``: the practice's stored ``payers`` and
    ``claims`` (canonical frames; either may be missing): lookups see them as well as this call's files, so
    any file may arrive alone, in any month and in any order. Pure: nothing is written.

    A posting on a claim that neither the files nor ``known`` hold is not lost: it goes to
    ``tables["unapplied_postings"]`` (suspense) until its claim arrives (:func:`apply_postings`).

    Raises :class:`ColumnMapError` for a bad map, FileNotFoundError for a missing path, ImportError for an
    ``.xlsx`` file when openpyxl is not installed and ValueError for an old ``.xls`` workbook; every problem
    inside the files is reported in the result.
    """
    cmap = column_map if isinstance(column_map, ColumnMap) else load_column_map(column_map)
    salt = patient_salt if patient_salt is not None else (cmap.salt or DEFAULT_PATIENT_SALT)
    issues = _Issues()
    files = _files(paths, cmap, issues)
    raws: dict[tuple, _Raw | None] = {}
    records = []
    for order, path in enumerate(files):
        for spec in (s for s in cmap.files if s.matches(path.name)):
            key = (path, spec.encoding, spec.delimiter, spec.sheet, spec.header_line)
            if key not in raws:
                raws[key] = _read_file(path, spec, issues)
            parsed = _read_spec(raws[key], spec, salt, issues, order) if raws[key] is not None else None
            records += [parsed] if parsed is not None else []
    ctx = _Context(issues, {k: v for s in cmap.files for k, v in _source_columns(s).items()})
    known = dict(known or {})
    stored_payers = known.get("payers") if known.get("payers") is not None else schema.empty("payers")
    payers = _build_payers(_concat(records, "payers"), cmap.payers, ctx, set(stored_payers["payer_id"]))
    all_payers = pd.concat([payers, stored_payers[~stored_payers["payer_id"].isin(payers["payer_id"])]],
                           ignore_index=True)
    known_payer_ids = set(all_payers["payer_id"])
    claims, lines, headers, rejected = _build_claims(records, known_payer_ids, ctx)
    pending, not_posted = _pending_postings(records, cmap.credits, ctx)
    run_parties = headers.reindex(columns=["claim_id", "payer_id", "secondary_payer_id"]).astype("str")
    parties = _parties(claim_parties(known.get("claims")), run_parties)
    postings, waiting = _apply(pending, parties, all_payers, ctx.reject)
    ctx.warn(waiting[waiting["claim_id"].isin(rejected)], "claim_id", "claim_not_loaded",
             "postings on claims whose charges were rejected in this run; they wait in suspense for the claim")
    tables = {"payers": payers, "claims": claims, "claim_lines": lines, "postings": postings,
              "unapplied_postings": schema.conform("unapplied_postings", waiting),
              "contracts": _build_contracts(records, known_payer_ids, ctx), "providers": _build_providers(records)}
    rejections = issues.rejections()
    stats = _stats(files, records, tables, rejections, not_posted)
    return CsvIngestResult(tables, issues.warnings(), rejections, stats, run_parties)


def _files(paths: list[str | os.PathLike] | str | os.PathLike, cmap: ColumnMap, issues: _Issues) -> list[Path]:
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


def _stats(files: list[Path], records: list[_Records], tables: dict[str, pd.DataFrame], rejections: pd.DataFrame,
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
