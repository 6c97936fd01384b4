"""CSV cells that a spreadsheet will not run: the one place rcmkit neutralises formula injection.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``, ``@SUM(1)``). As OWASP recommends
("CSV Injection"), such a cell is prefixed with a single quote, which spreadsheets show as text. Only text is
changed: a real number (a negative amount held as a number) stays a number, and money written by rcmkit from
integer cents is not text of the payer's making. Every CSV rcmkit writes for people goes through
:func:`neutralise_frame` (the explorer's export); the Excel export writes text as inline strings, never formulas.

>>> neutralise("=1+1"), neutralise("-12.50"), neutralise(-12.5), neutralise("Acme")
("'=1+1", "'-12.50", -12.5, 'Acme')
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise", "neutralise_frame"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV Injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """``value`` with a leading ``'`` when it is text starting with a formula character; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame, keep: Iterable = ()) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are neutralised; numeric, boolean and date columns,
    and the columns named in ``keep`` (text rcmkit wrote itself, such as exact dollar amounts), are left as they
    are. The input is not modified."""
    keep = set(keep)
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        elif c in keep or not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        if c in keep:
            continue
        out[c] = col.map(neutralise, na_action="ignore")
    return out.rename(columns={c: neutralise(c) for c in out.columns if isinstance(c, str)})
