"""PM export ingest (rcmkit.ingest.pm) on hand-made exports whose canonical rows are worked out by hand here,
on a messy copy of the same export with bad rows of every kind, and on the real Synthea sample.

The generic export (tests/fixtures/pm_csv/generic/, layout in docs/pm_csv_layout.md; all dates 2026):

| claim | payer (2nd) | DOS | billed | lines | charge | money events (payments.csv) |
|---|---|---|---|---|---|---|
| E1001 | MCR | 01-05 | 01-06 | 99213 150, 36415 50 | 200 | 01-20 MCR pays 100, CO-45 80, PR-2 20 (to the |
| | | | | | | patient); 02-10 patient pays 20 |
| E1002 | BCX (AET) | 01-12 | 01-13 | 99214-25 300, 96372 x2 40 | 340 | 02-15 BCX pays 180, CO-45 100, moves 60 to |
| | | | | | | AET; 03-01 AET pays 60; OA-23 280 (not posted) |
| E1003 | SELF | 02-02 | 02-03 | 99212 100 | 100 | 02-03 patient pays 40: 60 stays open (patient) |
| E1004 | MCD | 02-10 | 02-11 | 99214-25:GT 250 | 250 | 03-10 denial written off (CO-16) 250 |
| E1005 | BCX | 02-20 | 02-23 | 99215 400 | 400 | 03-15 pays 250, CO-45 150; 03-20 reversal of 250, |
| | | | | | | pays 240; 03-25 small-balance write-off 10 |
| E1006 | MCR | 03-03 | 03-04 | 99213 120, 81002 20 | 140 | a 0.00 patient payment (not posted): 140 open (MCR) |

Charges 1,430.00. Ledger signs (credits negative): insurance payments -830.00, contractual -330.00, patient
payments -60.00, denial -250.00, reversal +250.00, other adjustments -60 + 60 - 10 = -10.00, patient
responsibility -20 + 20 = 0. Open A/R at 2026-03-31: E1003 patient 60.00 + E1006 MCR 140.00 = 200.00.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rcmkit.core import schema
from rcmkit.ingest import pm as pm_csv
from rcmkit.ingest.pm import ColumnMapError, load_column_map, patient_keys, read_pm_export
from rcmkit.ingest.pm import decode as pm_decode
from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import ar_balances, monthly_kpis

FIXTURES = Path(__file__).parent / "fixtures" / "pm_csv"
GENERIC_MAP = pm_csv.BUILTIN_MAPS_DIR / "generic.yaml"
D = pd.Timestamp


@pytest.fixture(scope="module")
def clean():
    return read_pm_export(FIXTURES / "generic", GENERIC_MAP)


@pytest.fixture(scope="module")
def messy():
    return read_pm_export(FIXTURES / "messy", "generic")


def _all_tables(result) -> dict[str, pd.DataFrame]:
    """The result's tables plus empty canonical ones (the metrics read every table) and the ledger."""
    tables = {name: result.tables.get(name, schema.empty(name)) for name in schema.TABLES}
    tables["ledger"] = build_ledger(tables)
    return tables


# ------------------------------------------------------------------------------------------ the generic export
def test_claims_are_built_from_their_lines(clean):
    claims = clean.tables["claims"]
    got = claims[["claim_id", "payer_id", "submitted_on", "service_from", "service_to", "total_charge_cents",
                  "rendering_npi", "place_of_service"]]
    expected = pd.DataFrame([
        ("E1001", "MCR", D("2026-01-06"), D("2026-01-05"), D("2026-01-05"), 20000, "1234567893", "11"),
        ("E1002", "BCX", D("2026-01-13"), D("2026-01-12"), D("2026-01-12"), 34000, "1234567893", "11"),
        ("E1003", "SELF", D("2026-02-03"), D("2026-02-02"), D("2026-02-02"), 10000, None, "11"),
        ("E1004", "MCD", D("2026-02-11"), D("2026-02-10"), D("2026-02-10"), 25000, "1234567893", "02"),
        ("E1005", "BCX", D("2026-02-23"), D("2026-02-20"), D("2026-02-20"), 40000, "1234567893", "11"),
        ("E1006", "MCR", D("2026-03-04"), D("2026-03-03"), D("2026-03-03"), 14000, "1234567893", "11"),
    ], columns=got.columns)
    pd.testing.assert_frame_equal(got, schema.conform("claims", claims)[got.columns], check_dtype=False)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)
    assert (claims["submission_id"] == claims["claim_id"]).all() and set(claims["frequency_code"]) == {"1"}
    assert set(claims["claim_type"]) == {"professional"}
    assert claims["diagnosis_codes"].tolist() == [["I10", "E119"], ["J069"], ["Z0000"], ["E119"], ["M545"], ["I10"]]
    assert claims["source"].tolist()[:2] == ["charges.csv:2", "charges.csv:4"]
    assert clean.stats["charge_cents"] == 143000


def test_claim_lines(clean):
    lines = clean.tables["claim_lines"]
    got = list(lines[["submission_id", "line_number", "procedure_code", "modifiers", "units", "charge_cents"]]
               .itertuples(index=False, name=None))
    assert got == [
        ("E1001", 1, "99213", "", 1.0, 15000), ("E1001", 2, "36415", "", 1.0, 5000),
        ("E1002", 1, "99214", "25", 1.0, 30000), ("E1002", 2, "96372", "", 2.0, 4000),
        ("E1003", 1, "99212", "", 1.0, 10000), ("E1004", 1, "99214", "25:GT", 1.0, 25000),
        ("E1005", 1, "99215", "", 1.0, 40000),
        ("E1006", 1, "99213", "", 1.0, 12000), ("E1006", 2, "81002", "", 1.0, 2000),
    ]
    assert lines.groupby("submission_id")["charge_cents"].sum().sum() == 143000


def test_postings_have_ledger_kinds_signs_and_parties(clean):
    p = clean.tables["postings"]
    got = [(c, str(d.date()), k, a, r) for c, d, k, a, r in
           p[["claim_id", "posted_on", "kind", "amount_cents", "responsible"]].itertuples(index=False, name=None)]
    assert got == [
        ("E1001", "2026-01-20", "insurance_payment", -10000, "MCR"),
        ("E1001", "2026-01-20", "contractual", -8000, "MCR"),
        ("E1001", "2026-01-20", "patient_responsibility", -2000, "MCR"),  # PR-2: the payer's share moves ...
        ("E1001", "2026-01-20", "patient_responsibility", 2000, "patient"),  # ... to the patient
        ("E1001", "2026-02-10", "patient_payment", -2000, "patient"),
        ("E1002", "2026-02-15", "insurance_payment", -18000, "BCX"),
        ("E1002", "2026-02-15", "contractual", -10000, "BCX"),
        ("E1002", "2026-02-15", "other_adjustment", -6000, "BCX"),  # TRANSFER to SECONDARY: payer to payer
        ("E1002", "2026-02-15", "other_adjustment", 6000, "AET"),
        ("E1002", "2026-03-01", "insurance_payment", -6000, "AET"),  # PayerID 'SECONDARY' is the claim's AET
        ("E1003", "2026-02-03", "patient_payment", -4000, "patient"),
        ("E1004", "2026-03-10", "denial", -25000, "MCD"),
        ("E1005", "2026-03-15", "insurance_payment", -25000, "BCX"),
        ("E1005", "2026-03-15", "contractual", -15000, "BCX"),
        ("E1005", "2026-03-20", "reversal", 25000, "BCX"),  # printed -250.00: money given back
        ("E1005", "2026-03-20", "insurance_payment", -24000, "BCX"),
        ("E1005", "2026-03-25", "other_adjustment", -1000, "BCX"),
    ]
    assert clean.stats["postings_cents"] == {
        "insurance_payment": -83000, "contractual": -33000, "patient_payment": -6000, "denial": -25000,
        "reversal": 25000, "other_adjustment": -1000, "patient_responsibility": 0,
    }
    assert clean.stats["not_posted"] == {"adjustments_not_posted": 1, "zero_amount": 1}
    assert clean.warnings["code"].tolist() == ["not_posted"]  # OA-23 at payments.csv line 10
    assert clean.warnings["line"].tolist() == [10]
    assert clean.rejections.empty


def test_ledger_and_ar_on_the_generic_export(clean):
    tables = _all_tables(clean)
    balances = ar_balances(tables, "2026-03-31")
    assert sorted(balances[["claim_id", "responsible", "balance_cents"]].itertuples(index=False, name=None)) == [
        ("E1003", "patient", 6000), ("E1006", "MCR", 14000)]
    charges = tables["ledger"].query("kind == 'charge'")
    assert charges.loc[charges["claim_id"] == "E1003", "responsible"].item() == "patient"  # SELF is self-pay
    kpis = monthly_kpis(tables, "2026-03")
    assert kpis["ar_total"].value == 200.00
    assert kpis["charges"].value == 140.00  # E1006, billed 03-04
    assert kpis["payments"].value == 240.00 + 250.00 - 250.00 + 60.00  # net of the reversal
    assert kpis["clean_claim_rate"].value is None  # no remittances from a PM export: n/a, not invented


def test_patient_identifiers_never_reach_a_table(clean):
    claims = clean.tables["claims"]
    keys = dict(zip(claims["claim_id"], claims["patient_key"]))
    assert keys["E1001"] == keys["E1004"] != keys["E1002"]  # same account A-0001, same pseudonym
    assert keys["E1001"] == patient_keys(pd.Series(["A-0001"]), pm_csv.DEFAULT_PATIENT_SALT)[0]
    assert all(k.startswith("P") and len(k) == 17 for k in keys.values())
    text = "\n".join(df.astype(str).to_csv() for df in clean.tables.values())
    for secret in ("A-0001", "A-0005", "Doe", "Jane", "1950", "03/14"):
        assert secret not in text
    salted = read_pm_export(FIXTURES / "generic", GENERIC_MAP, patient_salt="practice secret")
    assert salted.tables["claims"]["patient_key"].iloc[0] != keys["E1001"]


def test_builtin_maps_load_by_name():
    assert load_column_map("generic").name == "generic"
    synthea = load_column_map("synthea")
    assert [s.table for s in synthea.files] == ["payers", "claims", "claim_lines", "postings", "postings", "postings"]


# ------------------------------------------------------------------------------------------ the messy export
def test_messy_export_loads_the_same_tables(messy, clean):
    """Windows-1252, a BOM, CRLF, a blank line, '$' amounts, (250.00), dates in three formats, lower-case codes,
    a spaced header name, a quoted field over two lines: the good rows load exactly as in the clean export."""
    for name, table in clean.tables.items():
        if name == "unapplied_postings":  # the messy export's postings on unknown or rejected claims wait there
            assert set(messy.tables[name]["claim_id"]) == {"E9999", "E2001"} and table.empty
            continue
        pd.testing.assert_frame_equal(messy.tables[name].drop(columns="source", errors="ignore"),
                                      table.drop(columns="source", errors="ignore"), obj=name)


def test_messy_export_rejects_each_bad_row_once_and_says_where(messy):
    got = list(messy.rejections[["file", "line", "column", "claim_id", "code"]].fillna("")
               .itertuples(index=False, name=None))
    assert got == [
        ("charges.csv", 7, "ClaimID", "E2001", "claim_not_loaded"),  # its other line is bad: the claim goes whole
        ("charges.csv", 8, "Charge", "E2001", "bad_amount"),
        ("charges.csv", 10, "ServiceDate", "E2002", "bad_date"),
        ("charges.csv", 12, "PatientAccount", "E2003", "missing_value"),
        ("charges.csv", 14, "PayerID", "E2004", "unknown_payer"),
        ("charges.csv", 15, "(row)", "", "field_count"),
        ("charges.csv", 18, "Charge", "E2006", "bad_amount"),
        ("payments.csv", 20, "Amount", "E1006", "bad_amount"),  # line 8 holds a field spanning two lines
        ("payments.csv", 22, "Type", "E1003", "unknown_value"),
        ("payments.csv", 24, "PostDate", "E1001", "bad_date"),
        ("payments.csv", 25, "PayerID", "E1001", "unknown_payer"),
        ("payments.csv", 26, "AdjReason", "E1003", "bad_reason"),
        ("payments.csv", 27, "TransferTo", "E1006", "no_secondary_payer"),
    ]
    messages = dict(zip(zip(messy.rejections["file"], messy.rejections["line"]), messy.rejections["message"]))
    assert messages[("charges.csv", 8)] == (
        "charges.csv line 8, column Charge (claim E2001): unparseable amount '12..50'; expected an amount such as "
        "1234.50, $1,234.50 or (12.00)")
    assert messages[("charges.csv", 7)].endswith("because of its rejected row at 'charges.csv line 8'; expected "
                                                 "every row of the claim to be valid")
    assert "unparseable date '13/45/2026'; expected a date in one of the formats %m/%d/%Y" in messages[
        ("charges.csv", 10)]
    assert messages[("charges.csv", 12)] == ("charges.csv line 12, column PatientAccount (claim E2003): missing "
                                             "required value; expected a value for patient_key")
    assert "unknown payer 'ZZZ'" in messages[("charges.csv", 14)]
    assert "so the row is not loaded; fields found '17'; expected 16 fields, as in the header" in messages[
        ("charges.csv", 15)]
    assert "amount in fractions of a cent '10.005'" in messages[("charges.csv", 18)]
    assert "unexpected value 'FOO'; expected one of INSPAY, PATPAY, ADJ" in messages[("payments.csv", 22)]
    assert messy.stats["rejected_rows"] == 13


def test_messages_never_show_patient_identifiers(messy):
    text = "\n".join(messy.rejections["message"]) + "\n".join(messy.warnings["message"])
    for secret in ("A-0006", "A-0007", "A-0008", "A-0009", "A-0010", "Hoe", "Ooe", "1977"):
        assert secret not in text


def test_messy_export_warns_about_what_it_recovered(messy):
    warned = {(w.file, w.column, w.code): w for w in messy.warnings.itertuples()}
    assert set(warned) == {
        ("charges.csv", "", "bom"), ("payers.csv", "", "encoding"),
        ("charges.csv", "ServiceDate", "date_formats"), ("charges.csv", "BillDate", "date_formats"),
        ("charges.csv", "Charge", "amount_format"), ("payments.csv", "Amount", "amount_format"),
        ("payments.csv", "AdjReason", "not_posted"), ("payments.csv", "ClaimID", "claim_not_loaded"),
    }
    assert warned[("charges.csv", "Charge", "amount_format")].count == 4
    assert warned[("payments.csv", "Amount", "amount_format")].message.endswith("(3 row(s): line 2, 6, 16)")
    dates = warned[("charges.csv", "ServiceDate", "date_formats")].message
    assert "%m/%d/%Y (12), %m/%d/%y (1), %Y-%m-%d (1)" in dates and "line 2, 6" in dates


# ------------------------------------------------------------------------------------------ map options and files
def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


MINI_MAP = {
    "rcmkit_column_map": 1,
    "payers": [{"payer_id": "MCR", "payer_name": "Medicare", "payer_class": "medicare"}],
    "credits": "negative",
    "files": {
        "lines": {"pattern": "lines.txt", "table": "claim_lines", "delimiter": ";", "header_line": 3, "fields": {
            "claim_id": "Claim", "patient_key": "Acct", "payer_id": {"value": "MCR"}, "submitted_on": "Date",
            "service_date": "Date", "billing_npi": {"value": "1234567893"}, "procedure_code": "Code",
            "charge_cents": {"column": "Cents", "unit": "cents"}}},
        "money": {"pattern": "money.txt", "table": "postings", "delimiter": ";", "fields": {
            "claim_id": "Claim", "posted_on": "Date", "kind": {"value": "insurance_payment"},
            "amount_cents": "Amount", "responsible": "Who"}},
    },
}


def test_map_options_delimiter_header_line_cents_and_ledger_signs(tmp_path):
    _write(tmp_path, "lines.txt", "Practice report\nrun 2026-04-01\nClaim;Acct;Date;Code;Cents\n"
                                  "C1;9;2026-03-02;99213;12345\nC2;8;2026-03-03;99212;12.5\n")
    _write(tmp_path, "money.txt", "Claim;Date;Amount;Who\nC1;2026-03-20;-100.00;primary\nC1;2026-03-21;1.00-;\n")
    result = read_pm_export(tmp_path, MINI_MAP)
    assert result.tables["claim_lines"]["charge_cents"].tolist() == [12345]
    assert result.rejections[["file", "line", "code"]].values.tolist() == [["lines.txt", 5, "bad_amount"]]
    p = result.tables["postings"]
    assert p["amount_cents"].tolist() == [-10000, -100]  # credits: negative keeps the export's signs
    assert p["responsible"].tolist() == ["MCR", "MCR"]  # the empty Who: the primary payer
    assert result.warnings[["file", "line", "code"]].values.tolist() == [["money.txt", 3, "amount_format"]]


def test_missing_required_column_rejects_the_file_for_that_spec(tmp_path):
    _write(tmp_path, "lines.txt", "x\nx\nClaim;Acct;Date;Code\nC1;9;2026-03-02;99213\n")
    result = read_pm_export(tmp_path / "lines.txt", MINI_MAP)
    assert result.tables["claims"].empty
    row = result.rejections.iloc[0]
    assert (row["line"], row["column"], row["code"]) == (1, "Cents", "missing_column")
    assert "no row of this file loaded" in row["message"]


def test_unmatched_file_is_warned_and_folder_files_are_filtered(tmp_path):
    _write(tmp_path, "notes.csv", "a,b\n1,2\n")
    result = read_pm_export([tmp_path / "notes.csv", FIXTURES / "generic"], "generic")
    assert result.warnings.iloc[0]["code"] == "unmatched_file"
    assert result.stats["files_read"] == 3


def test_excel_without_openpyxl_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "charges.xlsx").write_bytes(b"PK")
    real = pm_decode.importlib.util.find_spec
    monkeypatch.setattr(pm_decode.importlib.util, "find_spec", lambda name: None if name == "openpyxl" else real(name))
    with pytest.raises(ImportError, match=r"pip install openpyxl"):
        read_pm_export(tmp_path / "charges.xlsx", "generic")


def test_excel_export_reads_like_csv(tmp_path, clean):
    pytest.importorskip("openpyxl")
    charges = pd.read_csv(FIXTURES / "generic" / "charges.csv", dtype=str, keep_default_na=False)
    charges["ServiceDate"] = pd.to_datetime(charges["ServiceDate"], format="%m/%d/%Y")  # real date cells
    charges["Charge"] = charges["Charge"].astype(float)
    charges.to_excel(tmp_path / "charges.xlsx", index=False)
    result = read_pm_export([FIXTURES / "generic" / "payers.csv", tmp_path / "charges.xlsx",
                             FIXTURES / "generic" / "payments.csv"], "generic")
    pd.testing.assert_frame_equal(result.tables["claim_lines"], clean.tables["claim_lines"])
    assert result.tables["claims"]["source"].iloc[1] == "charges.xlsx:4"


# ------------------------------------------------------------------------------------------ map validation
def _generic() -> dict:
    return yaml.safe_load(GENERIC_MAP.read_text(encoding="utf-8"))


def _edit(path: list[str], value) -> dict:
    m = _generic()
    node = m
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return m


@pytest.mark.parametrize("path, value, key, problem", [
    (["files", "charges", "fields", "chrge_cents"], "Charge", "files.charges.fields.chrge_cents",
     "unknown target column 'chrge_cents' for table claim_lines"),
    (["files", "charges", "fields", "charge_cents"], {"column": "Charge", "currency": "USD"},
     "files.charges.fields.charge_cents", "unknown transform(s) ['currency']"),
    (["files", "charges", "fields", "charge_cents"], None, "files.charges.fields",
     "required field(s) ['charge_cents'] of table claim_lines are not mapped"),
    (["files", "payments", "fields", "kind", "map", "INSPAY"], "payment", "files.payments.fields.kind.map",
     "value(s) ['payment'] are not among"),
    (["files", "charges", "table"], "charges", "files.charges.table", "unknown table 'charges'"),
    (["files", "charges", "fields", "charge_cents"], {"column": "Charge", "unit": "euros"},
     "files.charges.fields.charge_cents.unit", "'dollars' or 'cents'"),
    (["files", "charges", "fields", "units"], {"column": "Units", "formats": ["%Y"]},
     "files.charges.fields.units.formats", "date columns only"),
    (["files", "charges", "fields", "claim_id"], {"column": "ClaimID", "value": "X"},
     "files.charges.fields.claim_id", "exactly one of 'column'"),
    (["rcmkit_column_map"], 2, "rcmkit_column_map", "expected 1"),
])
def test_map_errors_name_the_map_and_the_key(path, value, key, problem):
    with pytest.raises(ColumnMapError) as err:
        load_column_map(_edit(path, value))
    assert err.value.key == key
    assert problem in str(err.value)
    assert str(err.value).startswith(f"column map <dict>, {key}: ")


def test_map_file_errors_name_the_file(tmp_path):
    path = _write(tmp_path, "mine.yaml", yaml.safe_dump(_edit(["files"], {})))
    with pytest.raises(ColumnMapError, match=r"column map .*mine\.yaml, files: expected a mapping of file specs"):
        read_pm_export(FIXTURES / "generic", path)
    claims_spec = {"pattern": "claims.csv", "table": "claims", "fields": {"claim_id": "Id"}}
    with pytest.raises(ColumnMapError, match=r"files\.charges\.fields\.patient_key: unknown target col.*claims file"):
        load_column_map(_edit(["files", "claims"], claims_spec))


# ------------------------------------------------------------------------------------------ Synthea
def _external() -> Path:
    root = Path(os.environ.get("RCMKIT_EXTERNAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
                               / "external"))
    folder = root / "synthea-sample" / "csv"
    if not (folder / "claims_transactions.csv").exists():
        pytest.skip(f"Synthea sample not found at {folder} (set RCMKIT_EXTERNAL_DATA to the external data folder)")
    return folder


def _cents(values: pd.Series) -> int:
    """Exact cents of Synthea's two-decimal amounts, independently of the reader's parser."""
    parts = values.str.split(".", expand=True)
    return int((parts[0].astype("int64") * 100 + parts[1].astype("int64")).sum())


@pytest.mark.external
def test_synthea_sample_totals_match_the_raw_csv():
    folder = _external()
    raw_claims = pd.read_csv(folder / "claims.csv", dtype=str, keep_default_na=False)
    tx = pd.read_csv(folder / "claims_transactions.csv", dtype=str, keep_default_na=False)
    result = read_pm_export(folder, "synthea")
    t = result.tables
    assert result.rejections.empty and result.warnings.empty
    assert len(t["claims"]) == raw_claims["Id"].nunique() == 561
    assert len(t["claim_lines"]) == (tx["TYPE"] == "CHARGE").sum() == 1579
    assert result.stats["charge_cents"] == _cents(tx.loc[tx["TYPE"] == "CHARGE", "AMOUNT"]) == 121986722

    pay = tx[tx["TYPE"] == "PAYMENT"]
    patient = pay["METHOD"].isin(["COPAY", "CASH", "CHECK", "CC"])
    posted = t["postings"].groupby("kind")["amount_cents"].sum()
    assert -posted["patient_payment"] == _cents(pay.loc[patient, "PAYMENTS"])
    assert -posted["insurance_payment"] == _cents(pay.loc[~patient, "PAYMENTS"])
    # Insurance payments per payer: an ECHECK right after a TRANSFERIN of type 2 is the secondary payer's.
    previous = tx.groupby("CLAIMID")[["TYPE", "TRANSFERTYPE"]].shift()
    secondary = (previous["TYPE"] == "TRANSFERIN") & (previous["TRANSFERTYPE"] == "2")
    echeck = tx[(tx["TYPE"] == "PAYMENT") & (tx["METHOD"] == "ECHECK")].join(secondary.rename("secondary"))
    payer_of = raw_claims.set_index("Id")
    echeck["payer"] = echeck["CLAIMID"].map(payer_of["PRIMARYPATIENTINSURANCEID"]).where(
        ~echeck["secondary"], echeck["CLAIMID"].map(payer_of["SECONDARYPATIENTINSURANCEID"]))
    expected = {payer: _cents(rows["PAYMENTS"]) for payer, rows in echeck.groupby("payer")}
    ins = t["postings"].query("kind == 'insurance_payment'").groupby("responsible")["amount_cents"].sum()
    assert {payer: -int(v) for payer, v in ins.items()} == expected
    assert expected["b046940f-1664-3047-bca7-dfa76be352a4"] == 8585753  # Blue Cross Blue Shield, secondary only

    # Synthea settles every claim: every party's balance of every claim nets to zero.
    tables = _all_tables(result)
    assert (tables["ledger"].groupby(["claim_id", "responsible"])["amount_cents"].sum() == 0).all()


@pytest.mark.external
def test_synthea_month_metrics_equal_the_raw_csv():
    folder = _external()
    raw_claims = pd.read_csv(folder / "claims.csv", dtype=str, keep_default_na=False)
    tx = pd.read_csv(folder / "claims_transactions.csv", dtype=str, keep_default_na=False)
    billed_month = raw_claims.set_index("Id")["LASTBILLEDDATE1"].str[:7]
    month = billed_month.value_counts().idxmax()  # the month with the most claims billed: 2016-02
    charges = tx[(tx["TYPE"] == "CHARGE") & (tx["CLAIMID"].map(billed_month) == month)]
    payments = tx[(tx["TYPE"] == "PAYMENT") & (tx["FROMDATE"].str[:7] == month)]
    kpis = monthly_kpis(_all_tables(read_pm_export(folder, "synthea")), month)
    assert month == "2016-02"
    assert round(kpis["charges"].value * 100) == _cents(charges["AMOUNT"])
    assert round(kpis["payments"].value * 100) == _cents(payments["PAYMENTS"])
    assert kpis["ar_total"].value == 0.0 and kpis["days_in_ar"].value == 0.0
    assert math.isfinite(kpis["net_collection_rate"].value)


def test_the_draft_built_apart_says_everything_where_one_pass_would():
    """Issue #15: `rcmkit ingest` drafts an export's claims and postings (no look-up needed) while its X12 files
    are read, then builds the tables with the look-ups. The messy export's issues come out in one pass's order:
    the postings' `not_posted` (said while drafting the postings) before `claim_not_loaded` (said after the
    claim look-up), the charges' `unknown_payer` (a look-up) among the drafted claim rejections by line; and
    the tables, warnings and rejections equal those of `read_pm_export`."""
    from rcmkit.ingest.pm.build import draft_tables
    from rcmkit.ingest.pm.reader import build_pm_export, decode_pm_export

    one = read_pm_export(FIXTURES / "messy", "generic")
    decoded = decode_pm_export(FIXTURES / "messy", "generic")
    decoded.draft = draft_tables(decoded.records, decoded.cmap)
    assert len(decoded.issues.warnings) == 6  # the decoding's; the drafts' issues are kept apart until the build
    apart = build_pm_export(decoded)
    codes = list(apart.warnings["code"])
    assert codes[-2:] == ["not_posted", "claim_not_loaded"]
    assert list(apart.rejections.loc[apart.rejections["file"] == "charges.csv", "code"]) == [
        "claim_not_loaded", "bad_amount", "bad_date", "missing_value", "unknown_payer", "field_count", "bad_amount"]
    pd.testing.assert_frame_equal(apart.warnings, one.warnings)
    pd.testing.assert_frame_equal(apart.rejections, one.rejections)
    for name in one.tables:
        pd.testing.assert_frame_equal(apart.tables[name], one.tables[name])
