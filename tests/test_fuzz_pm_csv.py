"""The PM CSV path fuzzed like the X12 path (issue #12): shifted, ragged, quoted, re-encoded and huge rows.

Properties, for any input:
* no traceback: read_pm_export returns, whatever the bytes;
* no shifted row: a row whose field count differs from the header's never loads, and every value that loads is
  the value written in its own column;
* no PHI column reaches a table: the patient's name and birth date columns are never read, and the account
  number is stored only as its salted pseudonym.

``RCMKIT_FUZZ_EXAMPLES`` raises the number of examples for a long run (the default keeps CI fast).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit.ingest.pm import read_pm_export

EXAMPLES = int(os.environ.get("RCMKIT_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: A layout where the patient's name and birth date come before the columns that carry money and dates.
LAYOUT = {
    "rcmkit_column_map": 1, "date_formats": ["%m/%d/%Y"],
    "payers": [{"payer_id": "MCR", "payer_name": "Medicare", "payer_class": "medicare"}],
    "files": {
        "charges": {"pattern": "charges*.csv", "table": "claim_lines", "fields": {
            "claim_id": "ClaimID", "patient_key": "Account", "payer_id": {"value": "MCR"},
            "service_date": "ServiceDate", "submitted_on": "ServiceDate", "procedure_code": "CPT",
            "charge_cents": "Charge", "billing_npi": "NPI", "diagnosis_codes": "Dx"}},
        "payments": {"pattern": "payments*.csv", "table": "postings", "fields": {
            "claim_id": "ClaimID", "posted_on": "PostDate", "kind": {"value": "patient_payment"},
            "amount_cents": "Amount"}},
    },
}
HEADER = ["ClaimID", "Account", "PatientName", "BirthDate", "ServiceDate", "CPT", "Charge", "NPI", "Dx"]

names = st.builds(lambda last, first: f"{last}, {first}",
                  st.sampled_from(["ZEBRAFISH", "QUOKKA", "AXOLOTL"]), st.sampled_from(["WANDA", "OTTO", "IRIS"]))
row_spec = st.fixed_dictionaries({
    "cents": st.integers(1, 500_000),
    "day": st.integers(1, 28),
    "name": names,
    "birth_year": st.integers(1931, 1999),
    "mutation": st.sampled_from(["none", "none", "quoted_comma", "unquoted_comma", "unquoted_name", "drop_field",
                                 "extra_field", "quoted_newline"]),
})


def _row(i: int, r: dict) -> tuple[str, str]:
    """(the CSV line, what happened to it)."""
    dollars = f"{r['cents'] // 100}.{r['cents'] % 100:02d}"
    values = [f"F{i:04d}", f"ACCT-{i:05d}", f'"{r["name"]}"', f"07/04/{r['birth_year']}", f"03/{r['day']:02d}/2026",
              "99213", dollars, "1234567893", "I10"]
    m = r["mutation"]
    if m == "quoted_comma":  # a well-quoted thousands separator: loads, with the right amount
        values[6] = f'"${int(dollars.split(".")[0]):,}.{dollars.split(".")[1]}"'
    elif m == "unquoted_comma":
        values[6] = f"{int(dollars.split('.')[0]):,}.{dollars.split('.')[1]}" if r["cents"] >= 100_000 else \
            f"1,{dollars}"
    elif m == "unquoted_name":
        values[2] = r["name"]
    elif m == "drop_field":
        del values[4]
    elif m == "extra_field":
        values.append("x")
    elif m == "quoted_newline":
        values[8] = '"I10,\nE119"'
    shifted = m in ("unquoted_name", "drop_field", "extra_field") or (m == "unquoted_comma")
    return ",".join(values), "shifted" if shifted else m


@SETTINGS
@given(rows=st.lists(row_spec, min_size=1, max_size=12), crlf=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_rows_load_whole_or_not_at_all_and_never_shifted(tmp_path_factory, rows, crlf, encoding):
    folder = tmp_path_factory.mktemp("fuzz")
    built = [_row(i, r) for i, r in enumerate(rows)]
    text = "\n".join([",".join(HEADER)] + [line for line, _ in built]) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    (folder / "charges.csv").write_bytes(text.encode(encoding))
    result = read_pm_export(folder / "charges.csv", LAYOUT)
    lines = result.tables["claim_lines"].set_index("submission_id")
    for i, (r, (_, what)) in enumerate(zip(rows, built)):
        claim = f"F{i:04d}"
        if what == "shifted":
            assert claim not in lines.index, f"row {i} ({r['mutation']}) loaded"
            continue
        assert claim in lines.index, (r, result.rejections["message"].tolist())
        line = lines.loc[claim]
        assert line["charge_cents"] == r["cents"]
        assert line["service_date"] == pd.Timestamp(2026, 3, r["day"])
        assert line["procedure_code"] == "99213"
    _no_phi(result, rows)


def _no_phi(result, rows) -> None:
    cells = "\n".join(df.astype(str).to_csv(index=False) for df in result.tables.values())
    said = "\n".join(result.rejections["message"]) + "\n".join(result.warnings["message"])
    for r in rows:
        for secret in (r["name"].split(", ")[0], f"07/04/{r['birth_year']}", f"{r['birth_year']}-07-04"):
            assert secret not in cells and secret not in said
    assert "ACCT-" not in cells and "ACCT-" not in said


@SETTINGS
@given(data=st.binary(max_size=4000))
def test_any_bytes_give_a_result_never_a_traceback(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("bytes")
    header = ",".join(HEADER).encode()
    (folder / "charges.csv").write_bytes(header + b"\n" + data)
    (folder / "payments.csv").write_bytes(b"ClaimID,PostDate,Amount\n" + data)
    result = read_pm_export(folder, LAYOUT)
    assert set(result.tables) >= {"claims", "claim_lines", "postings", "unapplied_postings"}


@SETTINGS
@given(width=st.integers(1, 300_000), where=st.sampled_from(["charge", "name", "dx"]))
def test_huge_fields_are_rejected_or_read_whole(tmp_path_factory, width, where):
    folder = tmp_path_factory.mktemp("huge")
    big = "9" * width
    values = ["F1", "ACCT-1", '"A, B"', "07/04/1950", "03/02/2026", "99213", "10.00", "1234567893", "I10"]
    values[{"charge": 6, "name": 2, "dx": 8}[where]] = big if where != "name" else f'"{big}"'
    (folder / "charges.csv").write_text(",".join(HEADER) + "\n" + ",".join(values) + "\n")
    result = read_pm_export(folder / "charges.csv", LAYOUT)
    lines = result.tables["claim_lines"]
    if where == "charge":
        assert lines.empty or lines["charge_cents"].tolist() == [int(big) * 100]
    if not lines.empty:
        assert lines["service_date"].tolist() == [pd.Timestamp(2026, 3, 2)]


def test_payments_of_shifted_rows_never_post(tmp_path: Path):
    """A payment row with an unquoted '1,234.50' is rejected, not posted as $1.00 on the next column's date."""
    (tmp_path / "payments.csv").write_text("ClaimID,Amount,PostDate\nF1,1,234.50,03/05/2026\nF2,20.00,03/06/2026\n")
    result = read_pm_export(tmp_path / "payments.csv", LAYOUT)
    waiting = result.tables["unapplied_postings"]
    assert waiting["claim_id"].tolist() == ["F2"] and waiting["amount_cents"].tolist() == [-2000]
    assert result.rejections["code"].tolist() == ["field_count"]
