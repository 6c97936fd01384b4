"""Tables that X12 ingest adds beside the canonical ones in :mod:`rcmkit.core.schema`.

They follow the same conventions (integer cents in ``*_cents``, dates as dates, identifiers as strings) and are
declared in :mod:`rcmkit.core.schema` beside the canonical tables, so the store saves them like any other.

* ``payments``: one row per 835 transaction set (BPR, TRN, N1*PR, DTM*405). BPR02 lives here, not in
  ``remittances``: it is the check/EFT amount, which covers many claims and the PLB adjustments.
* ``remittance_details`` / ``remit_line_details``: the 835 fields of a CLP / SVC that the canonical tables leave
  out (claim filing indicator, frequency, statement and received dates, line control number REF*6R, ...).
* ``claim_line_details``: the 837 line fields the canonical ``claim_lines`` leave out (revenue code SV201,
  line-level rendering provider, REF*6R).
* ``plb``: 835 provider-level adjustments. They are not claim revenue (DESIGN.md): kept apart.
* ``remarks``: remittance advice remark codes (RARCs) from LQ (line), MOA and MIA (claim).
* ``ingest_warnings`` / ``rejections`` / ``ingested_files``: what ingest recovered from, what it refused, and
  which files it read (by SHA-256, so a re-ingest can be recognised).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from rcmkit.core.schema import TABLES, TableSpec, from_arrow

__all__ = ["EXTRA_TABLES", "CANONICAL_OUTPUTS", "to_frame"]

#: The tables X12 ingest adds, declared in rcmkit.core.schema beside the canonical ones.
EXTRA_TABLES: dict[str, TableSpec] = {
    name: TABLES[name]
    for name in ("payments", "remittance_details", "remit_line_details", "claim_line_details", "plb", "remarks",
                 "ingest_warnings", "rejections", "ingested_files")
}

#: Canonical tables (rcmkit.core.schema.TABLES) that X12 ingest fills (``providers``: the 837's NM1*85 / NM1*82 names,
#: one row per NPI per file; empty for an 835).
CANONICAL_OUTPUTS = ("claims", "claim_lines", "remittances", "remit_lines", "adjustments", "providers")


def to_frame(spec: TableSpec, table: pa.Table) -> pd.DataFrame:
    """The canonical pandas form of an arrow table, as the store returns it (:func:`rcmkit.core.schema.from_arrow`)."""
    return from_arrow(spec.name, table.select(spec.names).cast(spec.arrow_schema))
