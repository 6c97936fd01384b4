"""Practice-management (PM) system CSV/Excel exports: payers, charges, patient payments, write-offs and contract fee
schedules, read through a column map (docs/pm_csv_layout.md).

Four steps, one module each: :mod:`~rcmkit.ingest.pm.layout` (column maps: load and validate),
:mod:`~rcmkit.ingest.pm.decode` (file bytes to typed rows), :mod:`~rcmkit.ingest.pm.build` (rows to canonical
tables) and :mod:`~rcmkit.ingest.pm.reader` (the entry point, :func:`read_pm_export`, and what it fills).
Problems are collected by :class:`rcmkit.ingest.issues.Issues`.
"""

from rcmkit.ingest.pm.build import apply_postings, claim_parties, merge_parties
from rcmkit.ingest.pm.decode import DEFAULT_PATIENT_SALT, patient_keys
from rcmkit.ingest.pm.layout import BUILTIN_MAPS_DIR, POSTING_KINDS, ColumnMap, ColumnMapError, load_column_map
from rcmkit.ingest.pm.reader import CsvIngestResult, read_pm_export

__all__ = [
    "BUILTIN_MAPS_DIR",
    "DEFAULT_PATIENT_SALT",
    "POSTING_KINDS",
    "ColumnMap",
    "ColumnMapError",
    "CsvIngestResult",
    "apply_postings",
    "claim_parties",
    "load_column_map",
    "merge_parties",
    "patient_keys",
    "read_pm_export",
]
