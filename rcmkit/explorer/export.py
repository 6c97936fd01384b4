"""Export of the explorer's current view: CSV, or an Excel workbook written without any extra package.

Money columns (``*_cents``) are written as dollars under the name without the suffix (``billed_cents`` ->
``billed``): exact decimal text in the CSV, numbers with a ``#,##0.00`` format in the workbook. Dates are ISO
dates in the CSV and real dates in the workbook. CSV text cells that a spreadsheet would read as a formula are
neutralised (:mod:`rcmkit.present.csvsafe`); the workbook writes text as inline strings, never formulas. A frame
carrying a patient identifier is refused.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from rcmkit.present import format as fmt
from rcmkit.present.csvsafe import neutralise_frame
from rcmkit.explorer.views import PATIENT_COLUMNS

__all__ = ["for_export", "to_csv_bytes", "to_xlsx_bytes", "export_frame", "write_export", "FORMATS"]

#: Export formats: suffix -> MIME type.
FORMATS = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as exported: internal columns (``__*``) dropped, ``*_cents`` columns as dollars (floats)
    renamed without the suffix. Raises ValueError when a patient identifier column is present."""
    leaked = [c for c in frame.columns if c in PATIENT_COLUMNS]
    if leaked:
        raise ValueError(f"refusing to export patient identifier column(s) {leaked}")
    out = frame[[c for c in frame.columns if not str(c).startswith("__")]].copy()
    renames = {}
    for c in out.columns:
        if str(c).endswith("_cents"):
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64") / 100
            renames[c] = str(c)[: -len("_cents")]
    return out.rename(columns=renames)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV of :func:`for_export` with exact dollar amounts (cents written from the integers, no float
    rounding) and ISO dates. Text cells (and column names) starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return are prefixed with ``'`` so that no spreadsheet runs them (:mod:`rcmkit.present.csvsafe`)."""
    leaked = [c for c in frame.columns if c in PATIENT_COLUMNS]
    if leaked:
        raise ValueError(f"refusing to export patient identifier column(s) {leaked}")
    out = frame[[c for c in frame.columns if not str(c).startswith("__")]]
    # Text cells a spreadsheet would run as a formula get a leading "'" (rcmkit.present.csvsafe); money is written below
    # from integer cents, so '-12.50' there is a number, not text of anyone's making.
    out = neutralise_frame(out, keep=[c for c in out.columns if str(c).endswith("_cents")])
    for c in list(out.columns):
        if str(c).endswith("_cents"):
            out[c] = out[c].map(fmt.decimal_dollars)
        elif pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d").fillna("")
    out = out.rename(columns={c: str(c)[: -len("_cents")] for c in out.columns if str(c).endswith("_cents")})
    # Python's csv writer (3.11) quotes a field holding a line feed but not one holding a lone carriage return when
    # rows end in "\n": a claim id "X\r=2" would split its row in every spreadsheet and start a new one with the
    # formula "=2". Written with "\r\n" row ends, every field holding either character is quoted; the row ends
    # (the only "\r\n" outside quotes) then become "\n" again.
    text = out.to_csv(index=False, lineterminator="\r\n")
    return _QUOTED_OR_ROW_END.sub(lambda m: m.group(1) or "\n", text).encode("utf-8")


#: A quoted CSV field (kept as it is) or a row end outside quotes.
_QUOTED_OR_ROW_END = re.compile(r'("(?:[^"]|"")*")|\r\n')


# --------------------------------------------------------------------------------------------- xlsx
_EPOCH = dt.datetime(1899, 12, 30)


def _col_name(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _cell(ref: str, value, style: int) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return f'<c r="{ref}" t="b"><v>{int(bool(value))}</v></c>'
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, np.datetime64)):
        ts = pd.Timestamp(value)
        serial = (ts.to_pydatetime().replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="1"><v>{serial:g}</v></c>'
    if isinstance(value, (int, float, np.integer, np.floating)):
        s = f' s="{style}"' if style else ""
        number = repr(float(value)) if isinstance(value, (float, np.floating)) else int(value)
        return f'<c r="{ref}"{s}><v>{number}</v></c>'
    text = escape(str(value)).replace("\n", "&#10;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/></Relationships>'),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="5">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="10" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'),
}


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "rcmkit") -> bytes:
    """An Excel workbook (one sheet, a bold header row frozen, dollars with a ``#,##0.00`` format, rates as
    percentages, dates as dates) of :func:`for_export`. Written with the standard library: no openpyxl needed.
    The bytes are deterministic (fixed zip timestamps)."""
    money = {str(c)[: -len("_cents")] for c in frame.columns if str(c).endswith("_cents")}
    out = for_export(frame)
    pct = {c for c in out.columns
           if str(c).endswith(("_rate", "_rate_dollars", "share", "_to_allowed", "_to_contract"))}
    rows = ['<row r="1">' + "".join(
        f'<c r="{_col_name(j)}1" t="inlineStr" s="4"><is><t>{escape(str(c))}</t></is></c>'
        for j, c in enumerate(out.columns)) + "</row>"]
    styles = [2 if c in money else 3 if c in pct else 0 for c in out.columns]
    for i, values in enumerate(out.itertuples(index=False, name=None), start=2):
        cells = "".join(_cell(f"{_col_name(j)}{i}", v, styles[j]) for j, v in enumerate(values))
        rows.append(f'<row r="{i}">{cells}</row>')
    widths = "".join(
        f'<col min="{j + 1}" max="{j + 1}" width="{min(max(len(str(c)), 10) + 2, 60)}" customWidth="1"/>'
        for j, c in enumerate(out.columns))
    sheet_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/></sheetView></sheetViews>'
        + (f"<cols>{widths}</cols>" if len(out.columns) else "")
        + f'<sheetData>{"".join(rows)}</sheetData></worksheet>')
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet[:31])}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    parts = {**_STATIC, "xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet_xml}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                     "xl/styles.xml", "xl/worksheets/sheet1.xml"):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, parts[name].encode("utf-8"))
    return buf.getvalue()


def write_export(path: str | os.PathLike, data: bytes) -> Path:
    """Write an export file as the store writes its files (owner-only by default, ``RCMKIT_FILE_MODE``: a claims
    list is practice data), atomically; creates its folder."""
    from rcmkit.core import store
    path = Path(path)
    store.make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        store.write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written temporary file stays beside the export
        tmp.unlink(missing_ok=True)
        raise
    return path


def export_frame(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` as CSV or Excel by its suffix (``.csv``, ``.xlsx``); returns the path."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"{path.name}: export as .csv or .xlsx")
    return write_export(path, to_csv_bytes(frame) if suffix == "csv" else to_xlsx_bytes(frame))
