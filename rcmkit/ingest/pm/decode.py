"""PM export files to typed rows: bytes to text (declared encoding, UTF-8, byte-order mark, Windows-1252), text
to records (CSV delimiter, Excel cells, header line, field counts), then each mapped field parsed (money in
exact integer cents, dates, codes, modifiers, choices, patient pseudonyms), every failure a rejection row of
the line it came from (:class:`rcmkit.ingest.issues.Issues`). The tables are built from the rows by
:mod:`rcmkit.ingest.pm.build`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib.util
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rcmkit.ingest.issues import Issues
from rcmkit.ingest.pm.layout import ISO_DATE, PARTY_TOKENS, TABLE_FIELDS, FieldDecl, FieldMap, FileSpec

__all__ = ["DEFAULT_PATIENT_SALT", "Raw", "Records", "patient_keys", "read_file", "read_spec", "source_columns"]

#: Salt of the patient pseudonym when neither the caller nor the map gives one (the X12 readers' default too).
#: Account numbers are easy to enumerate: a practice should set its own secret salt for real data.
DEFAULT_PATIENT_SALT = "rcmkit-patient-key-v1"
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
#: Accepted after a field's declared formats: the forms in which Excel date cells are read.
_ISO_FALLBACKS = (ISO_DATE, "%Y-%m-%d %H:%M:%S")
_KEY_HEX_DIGITS = 16


# ============================================================================================== reading
@dataclass(frozen=True)
class Raw:
    """A file's rows as text: ``frame`` holds every column as ``str`` ('' when empty), ``lines`` the 1-based
    physical line (Excel: row) where each row starts, ``columns`` the header names by casefolded name."""

    name: str
    frame: pd.DataFrame
    lines: pd.Series
    columns: dict[str, str]


def _decode(path: Path, encoding: str | None, issues: Issues) -> str:
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


def _csv_records(path: Path, spec: FileSpec, issues: Issues, text: str | None = None
                 ) -> tuple[list[list[str]], list[int]]:
    """Every record of a CSV file with the physical line it starts on (quoted fields may span lines; pandas'
    readers cannot say where a row starts, the csv module can). ``text``: the file already decoded."""
    text = _decode(path, spec.encoding, issues) if text is None else text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter)
    try:  # the usual file: one record per physical line, read in one C call (the loop below: ~6 s a million rows)
        records = list(reader)
    except csv.Error:
        records = None
    if records is not None and len(records) == len(io.StringIO(text, newline="").readlines()):
        return records, list(range(1, len(records) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter)
    records, ends = [], []
    try:
        for record in reader:
            records.append(record)
            ends.append(reader.line_num)
    except csv.Error as exc:
        issues.reject_lines(path.name, pd.Series([reader.line_num + 1]), "(file)", None, "unreadable",
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
        return value.strftime(ISO_DATE if value.time() == dt.time() else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime(ISO_DATE)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: Plain CSV files (see :func:`_arrow_frame`) are parsed by pyarrow's CSV reader; tests switch it off to compare.
ARROW_CSV = True


def read_file(path: Path, spec: FileSpec, issues: Issues) -> Raw | None:
    suffix = path.suffix.casefold()
    if suffix == ".xls":
        raise ValueError(f"{path.name}: old-style .xls workbooks are not read; save it as .xlsx or CSV")
    if suffix in _EXCEL_SUFFIXES:
        records, starts = _excel_records(path, spec)
    else:
        text = _decode(path, spec.encoding, issues)
        raw = _arrow_frame(path.name, text, spec, issues) if ARROW_CSV else None
        if raw is not None:
            return raw
        records, starts = _csv_records(path, spec, issues, text)
    return _frame(path.name, records, starts, spec.header_line, issues)


#: Python's whitespace (str.strip, str.isspace) as an RE2 class: RE2's \s lacks \v, \x1c-\x1f and the Unicode ones.
_PY_SPACE = (r"[\t\n\x{0b}\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
             r"\x{205f}\x{3000}]")


def _arrow_frame(name: str, text: str, spec: FileSpec, issues: Issues) -> Raw | None:
    """:func:`_frame` of :func:`_csv_records` for a plain CSV file, parsed by pyarrow's CSV reader (issue #15: the
    csv module and the row lists cost ~10 s on a 62 MB export); None for any other file, which the csv module
    reads. Plain: the header on line 1, every line one record of the header's field count (no line break inside
    quotes, no blank line), a line break is LF or CRLF, and every quote opens and closes a whole field (a field is
    either free of '"' or quoted with inner quotes doubled), so that both parsers give the same fields; every
    line's shape is checked with one regular expression before pyarrow parses."""
    import pyarrow.csv as pacsv

    if spec.header_line != 1 or not text or "\r" in text.replace("\r\n", "\n"):
        return None
    text = text.replace("\r\n", "\n") if "\r" in text else text
    body = text[:-1] if text.endswith("\n") else text
    lines = pc.split_pattern(pa.array([body], pa.large_string()), "\n").flatten()
    d = f"\\x{{{ord(spec.delimiter):x}}}"  # the delimiter as an RE2 code point, in a class or not
    field = f'(?:[^"{d}]*|"(?:[^"]|"")*")'
    if not pc.all(pc.match_substring_regex(lines, f"^{field}(?:{d}{field})*$")).as_py():
        return None
    header_fields = next(csv.reader(io.StringIO(lines[0].as_py()), delimiter=spec.delimiter), [])
    if not any(header_fields):
        return None
    width = len(header_fields)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False,
                                           block_size=1 << 26),
            parse_options=pacsv.ParseOptions(delimiter=spec.delimiter, quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={f"f{k}": pa.large_string() for k in range(width)},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_columns != width or table.num_rows != len(lines) or table.num_rows < 2:
        return None
    header = _unique_header(name, [h.strip().lstrip("\ufeff").strip() for h in header_fields], issues)
    columns = [table.column(k).combine_chunks() for k in range(width)]
    rows = table.slice(1)
    joined = pc.binary_join_element_wise(*[rows.column(k) for k in range(width)], pa.scalar("", pa.large_string())) \
        if width > 1 else \
        rows.column(0)
    blank = pc.match_substring_regex(joined, f"^{_PY_SPACE}*$").to_numpy(zero_copy_only=False)
    keep = ~np.asarray(blank, dtype=bool)
    frame = pd.DataFrame({k: pd.array(column.slice(1).filter(pa.array(keep)), dtype="str")
                          for k, column in enumerate(columns)})
    frame.columns = header
    numbers = pd.Series(np.flatnonzero(keep) + 2, dtype="int64")  # line 1 is the header
    return Raw(name, frame, numbers, {h.casefold(): h for h in reversed(header)})


def _frame(name: str, records: list[list[str]], starts: list[int], header_line: int, issues: Issues) -> Raw | None:
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
    blank = pd.Series([not "".join(r).strip() for r in body], dtype=bool)  # no field holds a visible character
    uneven = lengths.index[(lengths != width) & ~blank]
    extra_empty = pd.Series(False, index=lengths.index)
    for i in uneven:
        extra_empty[i] = len(body[i]) > width and not any(f.strip() for f in body[i][width:])
    trailing = len(uneven) > 0 and len(uneven) == int((~blank).sum()) and extra_empty[uneven].all() \
        and lengths[uneven].nunique() == 1
    if trailing:
        issues.warn_lines(name, "", lines[uneven], "trailing_delimiter",
                          f"every row ends with {int(lengths[uneven].iloc[0]) - width} empty field(s) the header does "
                          "not have (a trailing delimiter); cut")
        uneven = uneven[:0]
    for i in lengths.index[(lengths != width)]:  # only these rows: pad or cut to the header's width
        body[i] = (body[i] + [""] * width)[:width]
    issues.reject_lines(name, lines[uneven], "(row)", None, "field_count",
                        "a value with an unquoted delimiter (such as 1,234.50 or LAST, FIRST) or a missing field would "
                        "shift every later column, so the row is not loaded; fields found",
                        f"{width} fields, as in the header (quote values that contain the delimiter)",
                        values=lengths[uneven].astype(str))
    # column by column (each one arrow conversion): pandas' list-of-rows constructor goes through a 2-D object array
    if body and width:
        frame = pd.DataFrame({k: pd.array(pa.array(column, type=pa.large_string()), dtype="str")
                              for k, column in enumerate(zip(*body))})
        frame.columns = header
    else:
        frame = pd.DataFrame(body, columns=header, dtype="str") if body else pd.DataFrame(columns=header, dtype="str")
    keep = ~blank if width else pd.Series(False, index=frame.index)
    keep[uneven] = False
    frame, lines = frame[keep.to_numpy()].reset_index(drop=True), lines[keep.to_numpy()].reset_index(drop=True)
    return Raw(name, frame, lines, {h.casefold(): h for h in reversed(header)})


def _unique_header(name: str, header: list[str], issues: Issues) -> list[str]:
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


def _source_text(raw: Raw, fm: FieldMap, claim_key: pd.Series | None) -> pd.Series:
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


#: An amount as most exports write it (no '$', ',', spaces, parentheses or trailing minus): read by
#: :func:`_plain_amounts`.
_PLAIN_AMOUNT = r"^-?[0-9]{1,15}(\.[0-9]*)?$"


def _plain_amounts(text: pd.Series, unit: str) -> tuple[pd.Series, list[_Bad], pd.Series] | None:
    """:func:`_parse_amount` of a column whose every value is a plain amount (:data:`_PLAIN_AMOUNT`), else None:
    one regex test and a few kernels in arrow, where the general parser's dozen pandas string passes took ~4 s a
    million rows (issue #15). Same results: such a value is well formed and undecorated; its cents are exact."""
    values = pa.array(text, type=pa.large_string(), from_pandas=True)
    plain = pc.match_substring_regex(values, _PLAIN_AMOUNT)
    if pc.any(pc.invert(plain)).as_py():  # null where the text is missing: skipped
        return None
    # by arrow kernels (issue #15: a Python loop over the values took ~2 s for the 250,000-claim demo's exports)
    parts = pc.extract_regex(values, r"^(?P<neg>-?)(?P<whole>[0-9]{1,15})(?:\.(?P<frac>[0-9]*))?$")
    negative = pc.equal(pc.struct_field(parts, "neg"), "-")
    whole = pc.cast(pc.struct_field(parts, "whole"), pa.int64())
    frac = pc.fill_null(pc.struct_field(parts, "frac"), "")  # no '.': no fraction
    zeros = r"^0*$"
    if unit == "cents":
        exact = pc.match_substring_regex(frac, zeros)
        cents = whole
    else:
        exact = pc.match_substring_regex(pc.utf8_slice_codeunits(frac, 2), zeros)
        first_two = pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 0, 2), width=2, padding="0")
        cents = pc.add(pc.multiply(whole, 100), pc.cast(first_two, pa.int64()))
    signed = pc.if_else(negative, pc.negate(cents), cents)
    result = pc.if_else(exact, signed, pa.scalar(None, pa.int64()))  # null: missing, or a fraction of a cent
    fractional = pc.fill_null(pc.invert(exact), False).to_numpy(zero_copy_only=False)
    out = pd.arrays.IntegerArray(pc.fill_null(result, 0).to_numpy(zero_copy_only=False).astype("int64"),
                                 pc.is_null(result).to_numpy(zero_copy_only=False))
    expected = "a whole number of cents, such as 123450" if unit == "cents" else \
        "an amount such as 1234.50, $1,234.50 or (12.00)"
    none = pd.Series(False, index=text.index)
    return (pd.Series(out, index=text.index),
            [_Bad(none, "bad_amount", "unparseable amount", expected),
             _Bad(pd.Series(fractional, index=text.index, dtype=bool), "bad_amount", "amount in fractions of a cent",
                  "an amount in whole cents")], none.copy())


def _parse_amount(text: pd.Series, unit: str) -> tuple[pd.Series, list[_Bad], pd.Series]:
    """(cents as Int64, failures, mask of decorated values: '$', ',', spaces, parentheses, trailing minus).

    Exact: digits are split at the decimal point and combined as integers; no float is involved."""
    plain = _plain_amounts(text, unit)
    if plain is not None:
        return plain
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


#: What Python's ``\s`` matches among ASCII characters (RE2's ``\s`` leaves out \v and \x1c-\x1f): the separators
#: of the arrow paths of :func:`_parse_codes` and :func:`_parse_modifiers`, which take ASCII columns only.
_ASCII_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f "


def _ascii_upper(text: pd.Series) -> pa.Array | None:
    """The column upper-cased in arrow ('' for missing), or None when a value is not ASCII (Python's upper case
    of other letters can change their length: the pandas path keeps its exact rules), or of another dtype than
    pandas' string dtype."""
    if not isinstance(text.dtype, pd.StringDtype):
        return None
    values = pa.array(text, type=pa.large_string(), from_pandas=True)
    if not pc.all(pc.string_is_ascii(values)).as_py():  # null for an all-missing column: fine
        return None
    return pc.ascii_upper(pc.fill_null(values, ""))


def _parse_codes(text: pd.Series) -> pd.Series:
    """Diagnosis codes: a list, upper case, without dots, split on commas, colons, semicolons, pipes or spaces
    (``M1711:M25561`` is two codes, as the modifiers' ``25:GT`` is two modifiers). An ASCII column is done by
    arrow kernels (issue #15: pandas runs the ``\\s`` pattern in Python, a call per row: ~4 s for the
    250,000-claim demo's exports); the result is the same."""
    upper = _ascii_upper(text)
    if upper is None:
        return _parse_codes_python(text)
    joined = pc.replace_substring(upper, ".", "")
    joined = pc.utf8_trim(pc.replace_substring_regex(joined, f"[{_ASCII_SPACE},:;|]+", ","), ",")
    empty = pc.equal(joined, "").to_numpy(zero_copy_only=False)
    # each distinct text split once (a claim's lines repeat its codes: the 250,000-claim demo's 476k charge lines
    # have 8k distinct texts); every row gets a list of its own
    encoded = pc.dictionary_encode(joined)
    distinct = np.empty(len(encoded.dictionary), dtype=object)
    distinct[:] = pc.split_pattern(encoded.dictionary, ",").to_pylist()
    lists = list(map(list, distinct[encoded.indices.to_numpy(zero_copy_only=False)]))
    out = pd.Series(lists, index=text.index, dtype=object)
    return out.where(~empty)  # the claims table turns missing into []


def _parse_codes_python(text: pd.Series) -> pd.Series:
    """:func:`_parse_codes` by pandas string methods (any column)."""
    joined = text.fillna("").str.upper().str.replace(".", "", regex=False)
    joined = joined.str.replace(r"[\s,:;|]+", ",", regex=True).str.strip(",")
    return joined.str.split(",").where(joined != "")  # the claims table turns missing into []


def _parse_modifiers(text: pd.Series) -> pd.Series:
    """Modifiers joined by ':', upper case ('25', '59:RT', '' for none), from ':', ',', ';' or space lists (an
    ASCII column by arrow kernels, as :func:`_parse_codes`)."""
    upper = _ascii_upper(text)
    if upper is None:
        return _parse_modifiers_python(text)
    joined = pc.utf8_trim(pc.replace_substring_regex(upper, f"[{_ASCII_SPACE},;:|]+", ":"), ":")
    return pd.Series(pd.array(joined.cast(pa.string()), dtype=text.dtype), index=text.index)


def _parse_modifiers_python(text: pd.Series) -> pd.Series:
    """:func:`_parse_modifiers` by pandas string methods (any column)."""
    return text.fillna("").str.upper().str.replace(r"[\s,;:|]+", ":", regex=True).str.strip(":")


def patient_keys(accounts: pd.Series, salt: str | bytes) -> pd.Series:
    """The pseudonym of each patient account: ``"P"`` + 16 hex digits of ``sha256(salt + b"\\x00" + account)``.

    Hashes each distinct account once. Same account and salt, same key; the account cannot be read back.
    """
    salt = salt.encode("utf-8") if isinstance(salt, str) else salt
    array = getattr(accounts.array, "_pa_array", None)
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        # the distinct accounts by arrow's dictionary encoding, each row's key taken by its index (pandas' map of
        # a dict looks every row up in Python: ~0.2 s for the 250,000-claim demo's exports)
        encoded = array.combine_chunks().dictionary_encode()
        keys = pa.array(["P" + hashlib.sha256(salt + b"\x00" + a.encode("utf-8")).hexdigest()[:_KEY_HEX_DIGITS]
                         for a in encoded.dictionary.to_pylist()], pa.string())
        return pd.Series(pd.array(keys.take(encoded.indices), dtype="str"), index=accounts.index, name=accounts.name)
    unique = accounts.dropna().unique()
    keys = {a: "P" + hashlib.sha256(salt + b"\x00" + a.encode("utf-8")).hexdigest()[:_KEY_HEX_DIGITS] for a in unique}
    return accounts.map(keys).astype("str")


# ============================================================================================== records
@dataclass(frozen=True)
class Records:
    """The rows one file gave one file spec: parsed fields plus ``_file``, ``_spec``, ``_line``, ``_order``
    (file order across the call) and ``_ok`` (no problem found on the row)."""

    spec: FileSpec
    frame: pd.DataFrame



def source_columns(spec: FileSpec) -> dict[tuple[str, str], str]:
    return {(spec.name, f): "+".join(fm.columns) if fm.columns else "(constant)" for f, fm in spec.fields.items()}


def read_spec(raw: Raw, spec: FileSpec, salt: str | bytes, issues: Issues, order: int) -> Records | None:
    """Parse the fields of one file for one spec, vectorized; every failure becomes a rejection row."""
    keep = _check_columns(raw, spec, issues)
    if keep is None:
        return None
    claim_fm = spec.fields.get("claim_id")
    claim_key = _source_text(raw, claim_fm, None) if claim_fm and claim_fm.columns else None
    texts = {f: _source_text(raw, fm, claim_key)[keep.to_numpy()].reset_index(drop=True)
             for f, fm in spec.fields.items()}
    lines = raw.lines[keep.to_numpy()].reset_index(drop=True)
    columns = source_columns(spec)
    out = pd.DataFrame(index=lines.index)
    ok = pd.Series(True, index=lines.index)
    decl = TABLE_FIELDS[spec.table]
    for name, fm in spec.fields.items():
        column = columns[(spec.name, name)]
        values, bads = _parse_field(raw.name, lines, name, decl[name], fm, texts[name], column, salt, issues)
        out[name] = values
        for bad in bads:
            shown = texts[name] if bad.show and decl[name].type != "patient" else None
            issues.reject_lines(raw.name, lines[bad.mask], column, texts.get("claim_id"), bad.code, bad.problem,
                                bad.expected, shown)
            ok &= ~bad.mask
    out["_file"], out["_spec"], out["_line"], out["_ok"] = raw.name, spec.name, lines, ok
    out["_order"] = order * 10**9 + lines
    return Records(spec, out)


def _check_columns(raw: Raw, spec: FileSpec, issues: Issues) -> pd.Series | None:
    """The rows the spec's ``where`` keeps, after checking the header: a missing required column rejects the
    file for this spec (line 1), a missing optional one is warned and read as empty."""
    decl = TABLE_FIELDS[spec.table]
    keep = pd.Series(True, index=raw.frame.index)
    for column, values in spec.where.items():
        if column.casefold() not in raw.columns:
            issues.reject_lines(raw.name, pd.Series([1]), column, None, "missing_column",
                                "column missing from the header",
                                f"a column {column!r} (used by 'where' of file spec {spec.name})")
            return None
        keep &= raw.frame[raw.columns[column.casefold()]].str.strip().str.casefold().isin(values)
    for name, fm in spec.fields.items():
        absent = [c for c in fm.columns if c.casefold() not in raw.columns]
        if not absent:
            continue
        if decl[name].required and len(absent) == len(fm.columns) and fm.default is None:
            issues.reject_lines(raw.name, pd.Series([1]), absent[0], None, "missing_column",
                                f"column missing from the header; no row of this file loaded for file spec {spec.name}",
                                f"a column {absent[0]!r} (mapped to {name})")
            return None
        if not fm.optional:
            issues.warn_file(raw.name, "missing_column", f"column(s) {absent} (mapped to {name}) not in the "
                             "header; read as empty")
    return keep


def _parse_field(file: str, lines: pd.Series, name: str, decl: FieldDecl, fm: FieldMap, text: pd.Series, column: str,
                 salt: str | bytes, issues: Issues) -> tuple[pd.Series, list[_Bad]]:
    """Typed values of one field and its failures (missing required value, unparseable, unexpected)."""
    empty = text.isna() if fm.default is None else pd.Series(False, index=text.index)
    text, bads = _apply_map(text, fm)
    if fm.default is not None:
        text = text.fillna(fm.default)
    if decl.required:
        bads.append(_Bad(empty, "missing_value", "missing required value", f"a value for {name}", show=False))
    if decl.type == "amount":
        values, more, decorated = _parse_amount(text, fm.unit)
        issues.warn_lines(file, column, lines[decorated], "amount_format",
                          "amounts written with '$', ',' or spaces, or negative as (12.00) or 12.00-; read as "
                          + fm.unit)
        return values, bads + more
    if decl.type == "date":
        values, more, used = _parse_date(text, fm.formats)
        if len(used) > 1:
            counts = ", ".join(f"{fmt} ({int(mask.sum())})" for fmt, mask in used.items())
            later = pd.concat(list(used.values())[1:], axis=1).any(axis=1)
            issues.warn_lines(file, column, lines[later], "date_formats", f"dates in several formats: {counts}")
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
