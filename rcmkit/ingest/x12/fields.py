"""Typed X12 element values, one rule each, in a scalar form (837 reader) and a columnar form (835 reader).

* Amounts are X12 data type R (decimal number, optional sign, optional decimal point: ``.28``, ``-9``,
  ``1922.86``; no exponent). They become integer cents. More than two significant decimal places cannot be cents
  exactly, so they count as invalid, like text. The columnar form goes through float64 only where that is exact:
  at most two decimals and at most 13 integer digits (the pattern), or every value within 1e-3 of a whole number
  of cents below 1e12 cents after a cast of characters limited to digits, sign and point.
* Quantities (units, CAS quantities) are R as well, kept as float.
* Dates are data type DT, ``CCYYMMDD``; a date that does not exist (``20002316``) is invalid, and so is one
  outside :data:`MIN_DATE`..:data:`MAX_DATE` (``99991231``, a common "no end date" filler, cannot be a date of
  service or payment, and the canonical tables cannot hold it).
* Composites (SVC01, SV101, SV202, CLM05, HI, PLB03) are split on the component separator. When a value does not
  contain the declared ISA16 separator but does contain another usual one (``:``, ``>``, ``^``) the value is read
  with that one: senders do this (``SVC*HC>55669`` under ISA16 ``:``) and the caller warns.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "AMOUNT_PATTERN",
    "MIN_DATE",
    "MAX_DATE",
    "COMPONENT_CANDIDATES",
    "amount_problem",
    "parse_cents",
    "format_cents",
    "parse_quantity",
    "parse_date",
    "split_composite",
    "cents_column",
    "quantity_column",
    "date_column",
    "composite_column",
    "components",
    "procedure_column",
    "concat_strings",
]

AMOUNT_PATTERN = r"^[-+]?(?:\d{1,13}(?:\.\d{0,2}0*)?|\.\d{1,2}0*)$"
QUANTITY_PATTERN = r"^[-+]?(?:\d{1,15}(?:\.\d*)?|\.\d+)$"
DATE_PATTERN = r"^\d{8}$"
COMPONENT_CANDIDATES = (":", ">", "^")

#: The dates a reader accepts: a date outside is reported as invalid.
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)

# re.ASCII: X12 numbers are ASCII digits ('\d' would also take Arabic-Indic and other Unicode digits).
_AMOUNT = re.compile(AMOUNT_PATTERN, re.ASCII)
_QUANTITY = re.compile(QUANTITY_PATTERN, re.ASCII)
_DATE = re.compile(DATE_PATTERN, re.ASCII)
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$", re.ASCII)


# ------------------------------------------------------------------------------------------------ scalar
def amount_problem(text: str) -> str:
    """Why ``text`` is not an amount, in words for a message."""
    if text == "":
        return "is empty"
    if _NUMBER.fullmatch(text):
        return f"'{text}' is not a whole number of cents"
    return f"'{text}' is not a number"


@functools.lru_cache(maxsize=1 << 16)  # charges repeat (a practice bills a few fee-schedule amounts)
def parse_cents(text: str) -> int | None:
    """Integer cents of an X12 R amount, or None when it is not one (see :func:`amount_problem`)."""
    if not _AMOUNT.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("+-").partition(".")
    return sign * (int(whole or "0") * 100 + int((frac + "00")[:2]))


def format_cents(cents: int) -> str:
    """Cents as an amount for messages: -1250 -> '-12.50'."""
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@functools.lru_cache(maxsize=1 << 12)
def parse_quantity(text: str) -> float | None:
    return float(text) if _QUANTITY.fullmatch(text) else None


@functools.lru_cache(maxsize=1 << 16)  # an 837 repeats a few hundred dates in thousands of DTP segments
def parse_date(text: str) -> dt.date | None:
    """A CCYYMMDD date, or None when the text is not one, the day does not exist or it is outside
    :data:`MIN_DATE`..:data:`MAX_DATE`."""
    if not _DATE.fullmatch(text):
        return None
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return day if MIN_DATE <= day <= MAX_DATE else None


def split_composite(value: str, declared: str) -> tuple[list[str], str | None]:
    """Components of ``value``, and the separator actually used when it is not the declared one."""
    if declared in value:
        return value.split(declared), None
    for other in COMPONENT_CANDIDATES:
        if other != declared and other in value:
            return value.split(other), other
    return [value], None


# ------------------------------------------------------------------------------------------------ columnar
# Each column function has an exact path (the regular expression above decides) and, for clean columns, a fast
# path with the same outcome: the bytes are checked against a small alphabet first, then cast in one go.
def _lookup(chars: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(chars)] = True
    return table


_NUMERIC_BYTES = _lookup(b"0123456789.-+")
_DIGIT_BYTES = _lookup(b"0123456789")


def _offsets(values: pa.Array) -> np.ndarray:
    dtype = np.int64 if pa.types.is_large_string(values.type) else np.int32
    return np.frombuffer(values.buffers()[1], dtype=dtype)[values.offset : values.offset + len(values) + 1]


def _only(values: pa.Array, alphabet: np.ndarray) -> bool:
    """True when every character of every (non-null) value is in ``alphabet``."""
    offsets = _offsets(values)
    data = values.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return True
    return bool(alphabet[np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]].all())


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)


def _fast_floats(values: pa.Array) -> tuple[np.ndarray | None, np.ndarray]:
    """(float64 of every value, '' read as 0) when the characters allow a plain cast and it succeeds, else None;
    and the mask of empty values."""
    empty = np.diff(_offsets(values)) == 0
    if empty.all():
        return np.zeros(len(values)), empty
    if not _only(values, _NUMERIC_BYTES):
        return None, empty
    if empty.any():
        values = pc.if_else(pa.array(empty), "0", values)
    try:
        return pc.cast(values, pa.float64()).to_numpy(), empty
    except pa.ArrowInvalid:
        return None, empty


def cents_column(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 cents, invalid mask). Empty strings are invalid; callers decide whether empty is allowed."""
    as_float, empty = _fast_floats(values)
    if as_float is not None:
        scaled = as_float * 100
        cents = np.rint(scaled)
        if (np.abs(cents) < 1e12).all() and (np.abs(scaled - cents) < 1e-3).all():
            return cents.astype(np.int64), empty
    ok = _matches(values, AMOUNT_PATTERN)
    clean = pc.if_else(pa.array(ok), values, "0")
    return np.rint(pc.cast(clean, pa.float64()).to_numpy() * 100).astype(np.int64), ~ok


def quantity_column(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(float64 quantities, invalid mask). Empty strings are invalid; callers decide whether empty is allowed."""
    as_float, empty = _fast_floats(values)
    if as_float is not None:
        return as_float, empty
    ok = _matches(values, QUANTITY_PATTERN)
    clean = pc.if_else(pa.array(ok), values, "0")
    return pc.cast(clean, pa.float64()).to_numpy(), ~ok


def date_column(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(date32 array with nulls where invalid or empty, invalid mask: non-empty text that is not a real date)."""
    lengths = np.diff(_offsets(values))
    empty = lengths == 0
    if not _only(values, _DIGIT_BYTES) or not ((lengths == 8) | empty).all():
        values = pc.if_else(pc.match_substring_regex(values, DATE_PATTERN), values, "")
    parsed = pc.strptime(values, format="%Y%m%d", unit="s", error_is_null=True)
    dates = pc.cast(parsed, pa.date32())
    in_range = pc.and_(pc.greater_equal(dates, pa.scalar(MIN_DATE, pa.date32())),
                       pc.less_equal(dates, pa.scalar(MAX_DATE, pa.date32())))
    dates = pc.if_else(in_range, dates, pa.scalar(None, pa.date32()))
    return dates, dates.is_null().to_numpy(zero_copy_only=False) & ~empty


def composite_column(values: pa.Array, declared: str) -> tuple[pa.Array, np.ndarray]:
    """``values`` with a stray component separator replaced by the declared one, and the mask of values fixed."""
    has_declared = pc.match_substring(values, declared).to_numpy(zero_copy_only=False)
    fixed = np.zeros(len(values), dtype=bool)
    if has_declared.all():
        return values, fixed
    for other in COMPONENT_CANDIDATES:
        if other == declared:
            continue
        uses_other = ~has_declared & ~fixed & pc.match_substring(values, other).to_numpy(zero_copy_only=False)
        if uses_other.any():
            values = pc.if_else(pa.array(uses_other), pc.replace_substring(values, other, declared), values)
            fixed |= uses_other
    return values, fixed


def components(values: pa.Array, separator: str, count: int) -> list[pa.Array]:
    """Components 1..``count`` of a composite column, '' where absent."""
    return _components(pc.split_pattern(values, separator), count)


def _components(split: pa.ListArray, count: int) -> list[pa.Array]:
    offsets = split.offsets.to_numpy()
    flat = pa.concat_arrays([split.flatten(), pa.array([""], split.type.value_type)])
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    return [flat.take(pa.array(np.where(lengths > k, starts + k, len(flat) - 1))) for k in range(count)]


def procedure_column(values: pa.Array, separator: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(qualifier, code, modifiers) of Composite Medical Procedure Identifiers (SVC01, SV101, SV202).

    Modifiers are components 3-6 joined by ':' without the empty ones: '25', '59:RT', '' (component 7, a
    description, is left out)."""
    split = pc.split_pattern(values, separator)
    qualifier, code = _components(split, 2)
    modifiers = pc.list_slice(split, 2, 6)
    joined = pc.binary_join(modifiers, pa.scalar(":", values.type))
    if pc.any(pc.equal(modifiers.flatten(), "")).as_py():
        joined = pc.utf8_trim(pc.replace_substring_regex(joined, ":+", ":"), ":")
    return qualifier, pc.utf8_trim_whitespace(code), joined


def concat_strings(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """Element-wise concatenation of large_string arrays (and scalars); no nulls expected."""
    return pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
