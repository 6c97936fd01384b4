"""One root for every error rcmkit raises on purpose.

``except rcmkit.RcmkitError`` catches any of them; each also derives from the built-in type its callers
already expect (``ValueError`` for bad input, ``RuntimeError`` for a failed step), so existing handlers keep
working. Every message names the file, the place and what was expected (errors are for humans).

| error | module | raised for |
|---|---|---|
| ``SchemaError`` | ``rcmkit.core.schema`` | a table that does not match its canonical declaration |
| ``StoreError`` / ``PracticeBusy`` | ``rcmkit.core.store`` | tables that cannot be read or written; a held lock |
| ``X12FileError``, ``LimitExceeded`` | ``rcmkit.ingest`` | an X12 file that cannot be read at all; a size limit |
| ``ColumnMapError`` | ``rcmkit.ingest.pm.layout`` | an invalid column map (names the map file and key) |
| ``SaltError`` | ``rcmkit.ingest.salt`` | no patient-key salt can be used safely |
| ``WriteError`` | ``rcmkit.ingest.x12.write`` | tables the X12/CSV writer cannot write |
| ``ParamError`` | ``rcmkit.report.params`` | a bad parameter file (names the file, line and key) |
| ``ReportError`` / ``NotebookFailed`` | ``rcmkit.report.run`` | a report run that failed |
| ``PdfError`` / ``ChromiumNotFound`` | ``rcmkit.report.export`` | a PDF that could not be printed |
"""

from __future__ import annotations

__all__ = ["RcmkitError"]


class RcmkitError(Exception):
    """The root of rcmkit's own errors."""
