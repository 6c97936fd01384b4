"""Ingest: source files in, canonical tables out (pure: nothing here writes to the store).

X12 (this package's first source format):

* :func:`read_x12` reads 835 remittances and 837P/837I claims, detected per transaction set (ST01), into the
  canonical tables of :mod:`rcmkit.core.schema` plus the extra tables of :mod:`rcmkit.ingest.x12.tables`, with a warning
  row for every deviation it recovered from and a rejection row for every transaction set it refused whole.
* :func:`validate_x12` runs pyx12's standard TR3 validation on a file and returns its errors as rows.
* :func:`looks_like_x12` tells whether a file is X12 at all (for walking folders).

>>> from rcmkit.ingest import read_x12                     # doctest: +SKIP
>>> result = read_x12(["remit.835", "claims.837"])       # doctest: +SKIP
>>> result.tables["remittances"], result.warnings, result.rejections, result.stats  # doctest: +SKIP
"""

from rcmkit.ingest.x12.reader import DEFAULT_PATIENT_SALT, OUTPUT_TABLES, IngestResult, parse_x12, read_x12
from rcmkit.ingest.x12.tables import EXTRA_TABLES
from rcmkit.ingest.x12.validate import ValidationReport, validate_x12
from rcmkit.ingest.x12.envelope import looks_like_x12

__all__ = [
    "read_x12",
    "parse_x12",
    "IngestResult",
    "OUTPUT_TABLES",
    "DEFAULT_PATIENT_SALT",
    "EXTRA_TABLES",
    "validate_x12",
    "ValidationReport",
    "looks_like_x12",
]
