"""The canonical tables: one declaration each, shared by ingest, the store, the metrics and the reports.

Conventions (../shared/DESIGN.md, "Canonical tables"):

* **Money is integer cents** (``int64``) in columns whose names end in ``_cents``. Sums are exact; nothing is
  rounded until it is displayed. (DESIGN.md allows "decimal or integer cents"; integer cents keep every metric
  vectorized on pandas, DuckDB and Spark alike, and the suffix makes the unit unmistakable to any other tool.)
* **Dates are dates**: ``date32`` in parquet, ``datetime64[ns]`` (midnight, no time zone) in pandas.
* **Identifiers are strings** (leading zeros matter): payer IDs, NPIs, claim IDs, codes.
* ``modifiers`` is the procedure modifiers joined by ``:`` (``"25"``, ``"59:RT"``, ``""`` for none), so a
  (code, modifiers) pair is a plain join key. ``diagnosis_codes`` is a list, principal diagnosis first.

The ``ledger`` is derived (see :mod:`rcmkit.core.ledger`), but it is stored beside the others so any tool can read
A/R history without rcmkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rcmkit.errors import RcmkitError

__all__ = [
    "Column",
    "TableSpec",
    "TABLES",
    "PAYER_CLASSES",
    "LEDGER_KINDS",
    "SchemaError",
    "conform",
    "empty",
    "to_arrow",
    "from_arrow",
]

PAYER_CLASSES = ("medicare", "medicaid", "commercial", "self_pay", "other")

#: Ledger event kinds. Amounts are signed: charges and reversals of credits are positive, credits negative.
LEDGER_KINDS = (
    "charge",  # the claim's charge, posted once on its first submission
    "insurance_payment",  # 835 CLP04 (negative in the ledger)
    "patient_payment",  # practice-recorded patient payment (negative)
    "contractual",  # CO (and PI) adjustments that are not denials (negative)
    "denial",  # a denial write-off (practice-recorded, or 835 denial under the "at_remit" variant)
    "patient_responsibility",  # PR: moves balance from payer to patient (a -x payer row and a +x patient row)
    "other_adjustment",  # anything else: small-balance, bad-debt, courtesy write-offs
    "reversal",  # 835 CLP02=22 payment reversal (positive: the money goes back)
    "refund",  # money the practice gives back to a patient or payer (positive: the balance rises again)
)


class SchemaError(RcmkitError, ValueError):
    """A table does not match its canonical declaration. ``problems`` lists every mismatch found."""

    def __init__(self, table: str, problems: list[str]):
        self.table = table
        self.problems = problems
        super().__init__(f"table {table!r} does not match its schema: " + "; ".join(problems))


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = False
    doc: str = ""
    #: Added to the schema after tables were stored without it: frames and files that lack it read it as nulls.
    optional: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])


S, D, I64, I32, F64 = pa.string(), pa.date32(), pa.int64(), pa.int32(), pa.float64()
LIST_S = pa.list_(pa.string())

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec(
            "payers",
            "one row per payer",
            (
                Column("payer_id", S, doc="payer identifier (837 SBR/NM1*PR, 835 N1*PR); 'SELF' for self-pay"),
                Column("payer_name", S),
                Column("payer_class", S, doc="one of " + ", ".join(PAYER_CLASSES)),
            ),
            key=("payer_id",),
        ),
        TableSpec(
            "claims",
            "one row per submission of a claim (originals, replacements and voids are separate rows)",
            (
                Column("claim_id", S, doc="patient control number (837 CLM01), stable across resubmissions"),
                Column("submission_id", S, doc="unique per submission"),
                Column("frequency_code", S, doc="CLM05-3: '1' original, '7' replacement, '8' void"),
                Column("claim_type", S, doc="'professional' (837P) or 'institutional' (837I)"),
                Column("submitted_on", D, doc="BHT04 creation date of the 837"),
                Column("service_from", D),
                Column("service_to", D),
                Column("payer_id", S),
                Column("billing_npi", S),
                Column("rendering_npi", S, nullable=True),
                Column("place_of_service", S, nullable=True),
                Column("patient_key", S, doc="a pseudonym; never a name or member ID"),
                Column("total_charge_cents", I64, doc="CLM02"),
                Column("diagnosis_codes", LIST_S, doc="ICD-10-CM, principal first, without the dot"),
                Column("payer_claim_ref", S, nullable=True, doc="REF*F8 on a replacement/void: the payer's claim number"),
                Column("source", S, nullable=True, doc="where the row came from (file and segment, or 'demo')"),
            ),
            key=("submission_id",),
        ),
        TableSpec(
            "claim_lines",
            "one row per service line of a submission",
            (
                Column("submission_id", S),
                Column("line_number", I32),
                Column("procedure_code", S, doc="CPT or HCPCS Level II"),
                Column("modifiers", S, doc="':'-joined, '' when none"),
                Column("units", F64),
                Column("charge_cents", I64),
                Column("service_date", D),
            ),
            key=("submission_id", "line_number"),
        ),
        TableSpec(
            "remittances",
            "one row per 835 claim payment (CLP)",
            (
                Column("remit_id", S, doc="unique per CLP occurrence"),
                Column("claim_id", S, doc="CLP01"),
                Column("payer_claim_id", S, nullable=True, doc="CLP07"),
                Column("status_code", S, doc="CLP02"),
                Column("billed_cents", I64, doc="CLP03"),
                Column("paid_cents", I64, doc="CLP04"),
                Column("patient_responsibility_cents", I64, doc="CLP05 (0 when absent)"),
                Column("payer_id", S),
                Column("paid_on", D, doc="BPR16 (or its documented fallback)"),
                Column("trace_number", S, nullable=True, doc="TRN02"),
                Column("source", S, nullable=True, doc="file and segment position"),
            ),
            key=("remit_id",),
        ),
        TableSpec(
            "remit_lines",
            "one row per 835 service line (SVC)",
            (
                Column("remit_id", S),
                Column("line_number", I32),
                Column("procedure_code", S),
                Column("modifiers", S),
                Column("billed_cents", I64, doc="SVC02"),
                Column("paid_cents", I64, doc="SVC03"),
                Column("allowed_cents", I64, nullable=True, doc="AMT*B6 when present"),
                Column("units", F64, doc="SVC05 paid units, 1 when absent"),
                Column("service_date", D, nullable=True),
            ),
            key=("remit_id", "line_number"),
        ),
        TableSpec(
            "adjustments",
            "one row per CAS reason/amount pair",
            (
                Column("remit_id", S),
                Column("line_number", I32, nullable=True, doc="null for claim-level CAS"),
                Column("group_code", S, doc="CO, PR, OA, PI (CR in 4010)"),
                Column("reason_code", S, doc="CARC"),
                Column("amount_cents", I64),
                Column("quantity", F64, nullable=True),
            ),
        ),
        TableSpec(
            "postings",
            "one row per practice-recorded money event that is not in an 835 (PM export): patient payments, "
            "write-offs, refunds",
            (
                Column("posting_id", S, nullable=True, optional=True,
                       doc="natural key: 't:' + the export's transaction id, or 'k:' + claim|date|kind|reason|party|"
                           "amount|occurrence in the file (a re-read or cumulative export adds only what is new); "
                           "a transfer's second row ends in '/to'"),
                Column("claim_id", S),
                Column("posted_on", D),
                Column("kind", S, doc="a ledger kind: patient_payment, denial, other_adjustment, ..."),
                Column("amount_cents", I64, doc="signed as in the ledger: payments and write-offs negative"),
                Column("responsible", S, doc="payer_id or 'patient'"),
                Column("source", S, nullable=True),
            ),
            key=("posting_id",),
        ),
        TableSpec(
            "contracts",
            "one row per contracted rate: payer x procedure code x modifiers, from an effective date on",
            (
                Column("payer_id", S),
                Column("procedure_code", S),
                Column("modifiers", S, doc="'' = any modifiers (a row with the exact modifiers wins)"),
                Column("effective_from", D, doc="the rate applies to services on or after this date"),
                Column("allowed_cents", I64, doc="expected allowed amount per unit"),
            ),
            key=("payer_id", "procedure_code", "modifiers", "effective_from"),
        ),
        TableSpec(
            "ledger",
            "one row per financial event on a claim (derived: rcmkit.core.ledger.build_ledger)",
            (
                Column("claim_id", S),
                Column("posted_on", D),
                Column("kind", S, doc="one of " + ", ".join(LEDGER_KINDS)),
                Column("amount_cents", I64, doc="signed: charges +, credits -"),
                Column("responsible", S, doc="payer_id or 'patient'"),
            ),
        ),
    ]
}



# Tables that ingest adds beside the canonical ones (X12 details, provider-level adjustments, and what ingest
# recovered from or refused). Same conventions; see rcmkit/ingest/x12/tables.py for how they are filled.
_FILE = Column("file", S, doc="file name (no folder)")
_SOURCE = Column("source", S, doc="'<file name>#<segment number>' (segment number counted from the file start)")

TABLES.update({
    t.name: t
    for t in [
        TableSpec(
            "payments",
            "one row per 835 transaction set (one check or EFT, or a notice with no payment)",
            (
                Column("payment_id", S, doc="unique: '<file sha256[:12]>:<ISA13>:<ST02>:<ST segment number>'"),
                Column("trace_number", S, nullable=True, doc="TRN02 check or EFT trace number"),
                Column("payer_id", S, doc="N1*PR N104, else REF*2U, else TRN03, else the payer name"),
                Column("payer_name", S, nullable=True, doc="N1*PR N102"),
                Column("payee_id", S, nullable=True, doc="N1*PE N104 (usually the NPI or TIN)"),
                Column("handling_code", S, doc="BPR01: I remittance with payment, H notification only, ..."),
                Column("payment_cents", I64, doc="BPR02 total actual provider payment amount"),
                Column("credit_debit", S, nullable=True, doc="BPR03: C credit, D debit"),
                Column("payment_method", S, nullable=True, doc="BPR04: ACH, CHK, NON, FWT, BOP"),
                Column("paid_on", D, doc="BPR16 check issue or EFT effective date (fallback DTM*405, warned)"),
                Column("production_date", D, nullable=True, doc="DTM*405 production date"),
                Column("claims", I64, doc="number of CLP in the set"),
                Column("claim_paid_cents", I64, doc="sum of CLP04 in the set"),
                Column("plb_cents", I64, doc="sum of PLB amounts (positive reduces the payment)"),
                Column("version", S, doc="GS08/ST03 implementation guide version"),
                _SOURCE,
            ),
            key=("payment_id",),
        ),
        TableSpec(
            "remittance_details",
            "one row per 835 CLP: fields not in the canonical remittances table",
            (
                Column("remit_id", S),
                Column("payment_id", S),
                Column("claim_filing_indicator", S, nullable=True, doc="CLP06 (MA, MB, MC, 12, ...)"),
                Column("facility_code", S, nullable=True, doc="CLP08 facility type / place of service code"),
                Column("frequency_code", S, nullable=True, doc="CLP09 claim frequency code"),
                Column("statement_from", D, nullable=True, doc="DTM*232 claim statement period start"),
                Column("statement_to", D, nullable=True, doc="DTM*233 claim statement period end"),
                Column("received_on", D, nullable=True, doc="DTM*050 date the payer received the claim"),
                Column("coverage_amount_cents", I64, nullable=True, doc="AMT*AU coverage amount"),
            ),
            key=("remit_id",),
        ),
        TableSpec(
            "remit_line_details",
            "one row per 835 SVC: fields not in the canonical remit_lines table",
            (
                Column("remit_id", S),
                Column("line_number", I32),
                Column("procedure_qualifier", S, doc="SVC01-1 product/service ID qualifier: HC, AD, NU, N4, ..."),
                Column("submitted_procedure_code", S, nullable=True, doc="SVC06-2 when the payer changed the code"),
                Column("revenue_code", S, nullable=True, doc="SVC04 NUBC revenue code"),
                Column("service_to", D, nullable=True, doc="DTM*151 service period end (DTM*472 repeated)"),
                Column("line_control_number", S, nullable=True, doc="REF*6R: the 837 line item control number"),
            ),
            key=("remit_id", "line_number"),
        ),
        TableSpec(
            "claim_line_details",
            "one row per 837 service line: fields not in the canonical claim_lines table",
            (
                Column("submission_id", S),
                Column("line_number", I32),
                Column("procedure_qualifier", S, nullable=True, doc="SV101-1 / SV202-1: HC, HP, IV, WK, ..."),
                Column("revenue_code", S, nullable=True, doc="SV201 service line revenue code (837I)"),
                Column("unit_basis", S, nullable=True, doc="SV103 / SV204: UN units, MJ minutes, DA days"),
                Column("place_of_service", S, nullable=True, doc="SV105 when it differs from CLM05-1"),
                Column("rendering_npi", S, nullable=True, doc="NM1*82 in loop 2420A (line level)"),
                Column("line_control_number", S, nullable=True, doc="REF*6R line item control number"),
                Column("diagnosis_pointers", S, nullable=True, optional=True,
                       doc="SV107 diagnosis code pointers (1-12, positions in the claim's HI), ':'-joined; null when "
                           "not sent (837I lines have none)"),
            ),
            key=("submission_id", "line_number"),
        ),
        TableSpec(
            "plb",
            "one row per 835 provider-level adjustment (a PLB03/04 pair, up to six per PLB segment)",
            (
                Column("payment_id", S),
                Column("payer_id", S),
                Column("provider_id", S, doc="PLB01 provider identifier"),
                Column("fiscal_period_date", D, nullable=True, doc="PLB02"),
                Column("reason_code", S, doc="PLB03-1 adjustment reason code: WO, 72, FB, L6, CV, CS, ..."),
                Column("reference_id", S, nullable=True, doc="PLB03-2 provider adjustment identifier"),
                Column("amount_cents", I64, doc="PLB04: positive reduces the payment, negative increases it"),
                Column("paid_on", D, doc="the payment's date (BPR16)"),
                _SOURCE,
            ),
        ),
        TableSpec(
            "remarks",
            "one row per remittance advice remark code on an 835 claim (MOA, MIA) or line (LQ)",
            (
                Column("remit_id", S),
                Column("line_number", I32, nullable=True, doc="null for claim-level remarks"),
                Column("element", S, doc="where the code sat: LQ02, MOA03..MOA07, MIA05, MIA20..MIA23"),
                Column("qualifier", S, doc="LQ01 code list qualifier: HE (RARC) or RX (NCPDP); HE for MOA/MIA"),
                Column("remark_code", S),
            ),
        ),
        TableSpec(
            "ingest_warnings",
            "one row per recoverable deviation: the data loaded, and this says what was unusual",
            (
                _FILE,
                Column("segment_number", I64, nullable=True, doc="counted from the file start (ISA = 1)"),
                Column("segment_id", S, nullable=True),
                Column("st_control_number", S, nullable=True, doc="ST02 of the transaction set"),
                Column("claim_id", S, nullable=True),
                Column("code", S, doc="machine-readable kind, e.g. control_count, balance, date_fallback"),
                Column("found", S, nullable=True),
                Column("expected", S, nullable=True),
                Column("message", S, doc="for humans; names the file and segment, never a patient"),
            ),
        ),
        TableSpec(
            "rejections",
            "one row per transaction set (or file) that was not loaded at all",
            (
                _FILE,
                Column("st_control_number", S, nullable=True, doc="null when the whole file was refused"),
                Column("transaction_type", S, nullable=True, doc="ST01: 835 or 837"),
                Column("first_segment", I64, nullable=True),
                Column("last_segment", I64, nullable=True),
                Column("claims", I64, doc="CLP or CLM segments in the set that were not loaded"),
                Column("code", S, doc="machine-readable kind, e.g. truncated, not_a_number, missing_element"),
                Column("message", S, doc="names the file, the segment number and what was expected"),
            ),
        ),
        TableSpec(
            "ingested_files",
            "one row per file read",
            (
                _FILE,
                Column("sha256", S),
                Column("size_bytes", I64),
                Column("encoding", S, doc="utf-8, windows-1252, utf-16-le, ..."),
                Column("transaction_sets", I64, doc="ST/SE sets found"),
                Column("rejected_sets", I64),
                Column("warnings", I64),
            ),
            key=("sha256",),
        ),
        TableSpec(
            "unapplied_postings",
            "one row per PM posting whose claim the practice does not hold yet (suspense): applied, and moved to "
            "postings, by the first ingest that brings the claim",
            (
                Column("posting_id", S, doc="the posting's natural key (see postings.posting_id)"),
                Column("claim_id", S),
                Column("posted_on", D),
                Column("kind", S, doc="a ledger kind, or 'transfer' (split in two when applied)"),
                Column("amount_cents", I64, doc="signed as in the ledger"),
                Column("responsible", S, doc="payer_id, 'patient', 'primary' or 'secondary' (resolved when applied)"),
                Column("transfer_to", S, nullable=True, doc="a transfer's receiving party, same tokens"),
                Column("source", S, nullable=True, doc="'<file name>:<line>'"),
            ),
            key=("posting_id",),
        ),
        TableSpec(
            "providers",
            "one row per provider NPI met in an 837 (NM1*85 billing, NM1*82 rendering) or a PM export",
            (
                Column("npi", S),
                Column("name", S, doc="'LAST, FIRST' for a person, the organization name otherwise"),
                Column("entity_type", S, nullable=True, doc="NM102: '1' person, '2' organization"),
                Column("source", S, nullable=True, doc="where the name was last read"),
            ),
            key=("npi",),
        ),
        TableSpec(
            "csv_rejections",
            "one row per problem that kept a row of a PM CSV/Excel export out (rcmkit.ingest.pm.reader)",
            (
                _FILE,
                Column("line", I64, doc="1-based, as a spreadsheet shows it (header = 1)"),
                Column("column", S, nullable=True),
                Column("claim_id", S, nullable=True),
                Column("code", S),
                Column("expected", S, nullable=True),
                Column("message", S, doc="names the file, line and column; never a patient value"),
            ),
        ),
    ]
})


def _pandas_kind_ok(series: pd.Series, t: pa.DataType) -> bool:
    if pa.types.is_string(t):
        return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
    if pa.types.is_date(t):
        return pd.api.types.is_datetime64_any_dtype(series.dtype)
    if pa.types.is_integer(t):
        return pd.api.types.is_integer_dtype(series.dtype)
    if pa.types.is_floating(t):
        return pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype)
    return True  # lists: checked by arrow conversion


_NS = np.dtype("datetime64[ns]")
_STR = pd.Series([], dtype="str").dtype  # pandas' default string dtype: what astype("str") gives


def conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the canonical columns of table ``name`` in order and canonical pandas dtypes.

    Never mutates ``df``. Raises :class:`SchemaError` listing every missing column, wrong type and null in a
    non-nullable column (a lazy report, not the first failure only).
    """
    spec = TABLES[name]
    canonical = _canonical_dtypes(name)
    if list(df.columns) == spec.names and all(d == canonical[c] for c, d in df.dtypes.items()):
        return _check_canonical(name, df)
    problems: list[str] = []
    added = [c.name for c in spec.columns if c.optional and c.name not in df.columns]
    if added:
        df = df.assign(**{name: None for name in added})
    missing = [c for c in spec.names if c not in df.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    out = {}
    for col in spec.columns:
        if col.name not in df.columns:
            continue
        s = df[col.name]
        try:
            if pa.types.is_date(col.type):
                if s.dtype != _NS:
                    s = pd.to_datetime(s, errors="raise").astype(_NS)
                if getattr(s.dt, "tz", None) is not None or (s.dropna() != s.dropna().dt.normalize()).any():
                    problems.append(f"column {col.name!r} holds times; dates only")
            elif pa.types.is_integer(col.type):
                if not pd.api.types.is_integer_dtype(s.dtype):
                    if s.isna().any() and not col.nullable:
                        raise TypeError("nulls")
                    if pd.api.types.is_float_dtype(s.dtype) and not (s.dropna() == s.dropna().round()).all():
                        raise TypeError("fractional values in an integer (cents) column")
                target = ("Int64" if col.nullable else "int64") if col.type == pa.int64() else (
                    "Int32" if col.nullable else "int32")
                if s.dtype != target:
                    s = s.astype(target)
            elif pa.types.is_floating(col.type):
                if s.dtype != "float64":
                    s = s.astype("float64")
            elif pa.types.is_string(col.type):
                if s.isna().all():  # an all-missing column (e.g. from reindex) is null strings, whatever its dtype
                    s = s.astype(object)
                if not _pandas_kind_ok(s, col.type):
                    raise TypeError(f"dtype {s.dtype}")
                if s.dtype != _STR:
                    s = s.astype("str")
        except (TypeError, ValueError) as exc:
            problems.append(f"column {col.name!r}: expected {col.type}, got {s.dtype} ({exc})")
            continue
        if not col.nullable and s.isna().any():
            problems.append(f"column {col.name!r} has {int(s.isna().sum())} null value(s); it is required")
        out[col.name] = s
    if problems:
        raise SchemaError(name, problems)
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)


_DAY_NS = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min


def _check_canonical(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """:func:`conform` of a frame whose columns and dtypes are canonical already: only the values are checked
    (times in date columns, nulls in required ones), in the same words and order, without converting a column."""
    problems: list[str] = []
    required = [c.name for c in TABLES[name].columns if not c.nullable]
    nulls = df[required].isna().sum() if required else pd.Series(dtype="int64")
    for col in TABLES[name].columns:
        if pa.types.is_date(col.type):
            v = df[col.name].to_numpy().view("i8")
            if ((v % _DAY_NS != 0) & (v != _NAT)).any():
                problems.append(f"column {col.name!r} holds times; dates only")
        if not col.nullable and nulls[col.name]:
            problems.append(f"column {col.name!r} has {int(nulls[col.name])} null value(s); it is required")
    if problems:
        raise SchemaError(name, problems)
    return df.reset_index(drop=True)


@lru_cache(maxsize=None)
def _canonical_dtypes(name: str) -> dict[str, Any]:
    """Each column's dtype in :func:`conform`'s output (lists: object)."""
    return empty(name).dtypes.to_dict()


_EMPTY: dict[str, pd.DataFrame] = {}


def empty(name: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of table ``name`` (a new frame each call)."""
    if name not in _EMPTY:
        _EMPTY[name] = _from_arrow(name, TABLES[name].arrow_schema.empty_table())
    return _EMPTY[name].copy()


def to_arrow(name: str, df: pd.DataFrame) -> pa.Table:
    """Convert a conformed frame to an arrow table with the canonical parquet schema."""
    df = conform(name, df)
    return pa.Table.from_pandas(df, schema=TABLES[name].arrow_schema, preserve_index=False)


def from_arrow(name: str, table: pa.Table) -> pd.DataFrame:
    """Convert an arrow table read from the store to the canonical pandas form."""
    if table.num_rows == 0:  # X12 files and keyed reads give many empty tables: the canonical empty frame's copy
        frame = empty(name)
        present = set(table.column_names)
        return frame if len(present) == len(frame.columns) else frame[[c for c in frame.columns if c in present]]
    return _from_arrow(name, table)


def _from_arrow(name: str, table: pa.Table) -> pd.DataFrame:
    spec = TABLES[name]
    lists = [f.name for f in table.schema if pa.types.is_list(f.type)]
    df = table.drop_columns(lists).to_pandas(date_as_object=False, coerce_temporal_nanoseconds=True)
    for col in lists:  # Python lists, as the canonical frames hold them (one C call, not a lambda per row)
        df[col] = pd.Series([v if v is not None else [] for v in table.column(col).to_pylist()], index=df.index,
                            dtype=object)
    for col in spec.columns:
        if col.name not in df.columns:
            continue
        target = (_NS if pa.types.is_date(col.type) else ("Int64" if col.nullable else "int64")
                  if col.type == pa.int64() else ("Int32" if col.nullable else "int32")
                  if col.type == pa.int32() else None)
        if target is not None and df[col.name].dtype != target:
            df[col.name] = df[col.name].astype(target)
    names = [c for c in spec.names if c in df.columns]
    return df if names == list(df.columns) else df[names]
