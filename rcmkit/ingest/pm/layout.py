"""PM export column maps: loading a map's YAML (a path, a built-in name or a dict), validating it, and the
types the readers use (:class:`ColumnMap`, :class:`FileSpec`, :class:`FieldMap`). Format in
``docs/pm_csv_layout.md``; the shipped maps are in :data:`BUILTIN_MAPS_DIR` (``parameters/column_maps``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rcmkit.core import schema
from rcmkit.errors import RcmkitError

__all__ = [
    "BUILTIN_MAPS_DIR",
    "POSTING_KINDS",
    "TABLE_FIELDS",
    "ColumnMap",
    "ColumnMapError",
    "FieldMap",
    "FileSpec",
    "load_column_map",
]

#: Where the shipped maps live (``generic.yaml``, ``synthea.yaml``); a bare name like ``"synthea"`` means one.
BUILTIN_MAPS_DIR = Path(__file__).resolve().parents[3] / "parameters" / "column_maps"
#: What a ``postings`` file's ``kind`` column may map to: ledger kinds, plus ``transfer`` (a balance moving
#: between responsible parties) and ``adjustment`` (classified by its CARC).
POSTING_KINDS = (
    "insurance_payment", "patient_payment", "contractual", "denial", "other_adjustment", "reversal", "refund",
    "transfer", "adjustment",
)
CLAIM_TYPES = ("professional", "institutional")
PARTY_TOKENS = ("patient", "primary", "secondary")
ISO_DATE = "%Y-%m-%d"


class ColumnMapError(RcmkitError, ValueError):
    """A column map is invalid. ``source`` is the map file (or ``<dict>``), ``key`` the dotted key at fault."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"column map {source}, {key}: {problem}")


@dataclass(frozen=True)
class FieldDecl:
    """What a canonical (or helper) column accepts: its value type and whether a map must provide it."""

    type: str  # id, text, code, codes, modifiers, date, amount, number, choice, patient, party
    required: bool = False
    choices: tuple[str, ...] = ()


_HEADER_FIELDS = {
    "payer_id": FieldDecl("id", True),
    "patient_key": FieldDecl("patient", True),
    "submitted_on": FieldDecl("date", True),
    "billing_npi": FieldDecl("id", True),
    "service_from": FieldDecl("date"),
    "service_to": FieldDecl("date"),
    "rendering_npi": FieldDecl("id"),
    "rendering_name": FieldDecl("text"),
    "billing_name": FieldDecl("text"),
    "place_of_service": FieldDecl("id"),
    "diagnosis_codes": FieldDecl("codes"),
    "claim_type": FieldDecl("choice", choices=CLAIM_TYPES),
    "secondary_payer_id": FieldDecl("id"),
}
_LINE_FIELDS = {
    "claim_id": FieldDecl("id", True),
    "procedure_code": FieldDecl("code", True),
    "charge_cents": FieldDecl("amount", True),
    "service_date": FieldDecl("date", True),
    "modifiers": FieldDecl("modifiers"),
    "units": FieldDecl("number"),
}
#: The fields a file spec of each table may map. ``claim_lines`` also takes the claim header fields when the
#: map has no ``claims`` file (the header then comes from each claim's first line).
TABLE_FIELDS: dict[str, dict[str, FieldDecl]] = {
    "payers": {
        "payer_id": FieldDecl("id", True),
        "payer_name": FieldDecl("text"),
        "payer_class": FieldDecl("choice", True, schema.PAYER_CLASSES),
    },
    "claims": {"claim_id": FieldDecl("id", True), **_HEADER_FIELDS},
    "claim_lines": {**_LINE_FIELDS, **_HEADER_FIELDS},
    "postings": {
        "claim_id": FieldDecl("id", True),
        "posted_on": FieldDecl("date", True),
        "kind": FieldDecl("choice", True, POSTING_KINDS),
        "amount_cents": FieldDecl("amount", True),
        "responsible": FieldDecl("party"),
        "transfer_to": FieldDecl("party"),
        "reason_code": FieldDecl("code"),
        "transaction_id": FieldDecl("id"),
    },
    "contracts": {
        "payer_id": FieldDecl("id", True),
        "procedure_code": FieldDecl("code", True),
        "modifiers": FieldDecl("modifiers"),
        "effective_from": FieldDecl("date", True),
        "allowed_cents": FieldDecl("amount", True),
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
    date_formats = _formats(raw.get("date_formats", [ISO_DATE]), "date_formats", fail)
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


def _field_map(name: str, spec: Any, allowed: dict[str, FieldDecl], table: str, date_formats: tuple[str, ...],
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


def _value_map(mapping: Any, decl: FieldDecl, key: str, fail) -> dict[str, str] | None:
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
