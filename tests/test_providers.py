"""Provider names from the 837 (NM1*85 billing, NM1*82 rendering) into the ``providers`` table.

The expectations are written out by hand from the segments below.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from rcmkit.core import schema
from rcmkit.ingest import OUTPUT_TABLES, parse_x12, read_x12
from rcmkit.ingest.x12.claims837 import provider_name

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "x12"
EXTERNAL = Path(os.environ.get("RCMKIT_EXTERNAL_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data" / "external"))
needs_external = pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"public X12 corpus not found at {EXTERNAL} "
                                    "(set RCMKIT_EXTERNAL_DATA to its folder)")

_ISA = "ISA*00*          *00*          *ZZ*FAMPRACTICE    *ZZ*ACMEHEALTH     *240205*0800*^*00501*000000301*0*P*:~"


def _837(*sets: str) -> bytes:
    body = "".join(sets)
    return (_ISA + "GS*HC*FAMPRACTICE*ACMEHEALTH*20240205*0800*301*X*005010X222A1~" + body
            + f"GE*{len(sets)}*301~IEA*1*000000301~").encode()


def _set(control: str, segments: list[str]) -> str:
    segs = [f"ST*837*{control}*005010X222A1", "BHT*0019*00*BATCH301*20240205*0800*CH",
            "NM1*41*2*FAMILY PRACTICE*****46*SUBMIT01", "NM1*40*2*ACME HEALTH PLAN*****46*ACME01", *segments]
    return "~".join(segs) + f"~SE*{len(segs) + 1}*{control}~"


#: Billing provider SMITH, JANE (a person, NM102 1); claim PCN-1 rendered by LEE, ANN MARIE (2310B) with a line
#: rendered by OAK VALLEY CLINIC (2420A, an organization); an other-payer loop (2320/2330) naming a rendering
#: provider that must be skipped; a second billing provider sent without a name (no row) whose claim has an
#: NM1*82 identified by a non-NPI (NM108 24, not XX: no row).
_SET_1 = _set("0001", [
    "HL*1**20*1", "NM1*85*1*SMITH*JANE****XX*1234567893", "N3*1 MAIN STREET", "N4*SPRINGFIELD*IL*62701",
    "HL*2*1*22*0", "SBR*P*18*GRP100******CI", "NM1*IL*1*DOE*PATIENTNAME****MI*MEMBER123", "DMG*D8*19800115*F",
    "NM1*PR*2*ACME HEALTH PLAN*****PI*ACME01",
    "CLM*PCN-1*200.00***11:B:1*Y*A*Y*Y", "HI*ABK:E119",
    "NM1*82*1*LEE*ANN*MARIE***XX*1987654321",
    "SBR*S*18*GRP9******CI", "NM1*IL*1*DOE*OTHERSUBSCRIBER****MI*OTHER1", "NM1*PR*2*OTHER PLAN*****PI*OTH01",
    "NM1*82*1*WRONG*OTHERPAYER****XX*1555555555",
    "LX*1", "SV1*HC:99214*150.00*UN*1***1", "DTP*472*D8*20240201",
    "NM1*82*2*OAK  VALLEY CLINIC*****XX*1666666666",
    "LX*2", "SV1*HC:36415*50.00*UN*1***1", "DTP*472*D8*20240201",
    "HL*3*1*20*1", "NM1*85*2******XX*1888888888",
    "HL*5*3*22*1", "SBR*P*18*GRP100******CI", "NM1*IL*1*ROE*SUBSCRIBERNAME****MI*MEMBER456",
    "DMG*D8*19700301*M", "NM1*PR*2*ACME HEALTH PLAN*****PI*ACME01",
    "HL*4*5*23*0", "PAT*19", "NM1*QC*1*ROE*CHILDNAME", "DMG*D8*20100301*F",
    "CLM*PCN-2*80.00***11:B:1*Y*A*Y*Y", "HI*ABK:J069",
    "NM1*82*1*NOTANNPI*BOB****24*123456789",
    "LX*1", "SV1*HC:99213*80.00*UN*1***1", "DTP*472*D8*20240202",
])

#: A second set: the same billing NPI sent with a new name (the later non-empty name wins) and one without a name
#: (ignored for the name), and a rendering provider without NM102.
_SET_2 = _set("0002", [
    "HL*1**20*1", "NM1*85*1*SMITH*JANE*Q***XX*1234567893",
    "HL*2*1*22*0", "SBR*P*18*GRP100******CI", "NM1*IL*1*DOE*PATIENTNAME****MI*MEMBER123", "DMG*D8*19800115*F",
    "NM1*PR*2*ACME HEALTH PLAN*****PI*ACME01",
    "CLM*PCN-3*90.00***11:B:1*Y*A*Y*Y", "HI*ABK:E119",
    "NM1*82*1******XX*1987654321",
    "LX*1", "SV1*HC:99213*90.00*UN*1***1", "DTP*472*D8*20240203",
    "CLM*PCN-4*90.00***11:B:1*Y*A*Y*Y", "HI*ABK:E119",
    "NM1*82**PARK*MIN****XX*1777777777",
    "LX*1", "SV1*HC:99213*90.00*UN*1***1", "DTP*472*D8*20240203",
])


def _rows(frame: pd.DataFrame) -> list[list]:
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def test_provider_name_formats():
    assert provider_name("1", "SMITH", "JANE") == "SMITH, JANE"
    assert provider_name("1", "SMITH", "JANE", "Q") == "SMITH, JANE Q"
    assert provider_name("1", "SMITH") == "SMITH"
    assert provider_name("2", "OAK  VALLEY CLINIC ", "IGNORED") == "OAK VALLEY CLINIC"
    assert provider_name("", "PARK", "MIN") == "PARK, MIN"
    assert provider_name("1", "", "") == ""


def test_837_gives_exactly_these_provider_rows():
    result = parse_x12(_837(_SET_1), "hand.837")
    assert result.rejections.empty, result.rejections.message.tolist()
    providers = result.tables["providers"]
    assert list(providers.columns) == schema.TABLES["providers"].names
    assert _rows(providers) == [
        ["1234567893", "SMITH, JANE", "1", "hand.837#8"],
        ["1987654321", "LEE, ANN MARIE", "1", "hand.837#18"],
        ["1666666666", "OAK VALLEY CLINIC", "2", "hand.837#26"],
    ]
    claims = result.tables["claims"].set_index("claim_id")
    assert claims.loc["PCN-1", "rendering_npi"] == "1987654321"  # the other payer's NM1*82 is not the claim's


def test_a_later_name_wins_and_an_empty_one_does_not():
    result = parse_x12(_837(_SET_1, _SET_2), "hand.837")
    assert result.rejections.empty, result.rejections.message.tolist()
    providers = result.tables["providers"].set_index("npi")
    assert providers.index.tolist() == ["1234567893", "1987654321", "1666666666", "1777777777"]
    assert providers["name"].tolist() == ["SMITH, JANE Q", "LEE, ANN MARIE", "OAK VALLEY CLINIC", "PARK, MIN"]
    assert providers["source"].tolist() == ["hand.837#53", "hand.837#18", "hand.837#26", "hand.837#67"]
    assert pd.isna(providers.loc["1777777777", "entity_type"])  # NM102 not sent


def test_patient_and_other_payer_names_never_reach_the_table():
    result = parse_x12(_837(_SET_1, _SET_2), "hand.837")
    text = result.tables["providers"].to_csv()
    for word in ("DOE", "ROE", "PATIENTNAME", "SUBSCRIBERNAME", "CHILDNAME", "OTHERSUBSCRIBER", "WRONG",
                 "OTHERPAYER", "NOTANNPI", "1555555555", "123456789,", "1888888888"):
        assert word not in text


def test_a_rejected_set_leaves_no_provider_rows():
    bad = _SET_2.replace("SV1*HC:99213*90.00*UN*1***1", "SV1*HC:99213*ABC*UN*1***1", 1)
    result = parse_x12(_837(_SET_1, bad), "hand.837")
    assert result.rejections["st_control_number"].tolist() == ["0002"]
    assert result.tables["providers"]["npi"].tolist() == ["1234567893", "1987654321", "1666666666"]
    assert result.tables["providers"]["name"].tolist()[0] == "SMITH, JANE"


def test_every_result_has_a_providers_frame():
    assert "providers" in OUTPUT_TABLES
    era = read_x12(FIXTURES / "era_paid_and_denied.835")
    assert "providers" in era.tables and era.tables["providers"].empty
    assert list(era.tables["providers"].columns) == schema.TABLES["providers"].names
    claims = read_x12(FIXTURES / "claims_professional.837")
    assert _rows(claims.tables["providers"]) == [
        ["1234567893", "FAMILY PRACTICE", "2", "claims_professional.837#9"],
        ["1987654321", "SMITH, ANN", "1", "claims_professional.837#20"],
        ["1555555555", "JONES, LEE", "1", "claims_professional.837#43"],
    ]
    schema.to_arrow("providers", claims.tables["providers"])  # the store can save it as it is


@needs_external
def test_public_837_samples():
    base = EXTERNAL / "linuxforhealth-x12" / "837_005010X222A2"
    # NM1*85*2*BEN KILDARE SERVICE*****XX*1912301953; no NM1*82; patient JANE and TED SMITH not read.
    example1 = read_x12(base / "demo.example1.837")
    assert _rows(example1.tables["providers"]) == [["1912301953", "BEN KILDARE SERVICE", "2",
                                                    "demo.example1.837#10"]]
    # NM1*85*2*SPECIALISTS*****XX*0100000009 and claim rendering NM1*82*1*HENZES*JACK****XX*9090909090; the
    # referring provider (NM1*DN) and the subscribers (NM1*IL MEDYUM) are not read.
    cob = read_x12(base / "demo.cob.example4.837")
    assert cob.tables["providers"][["npi", "name", "entity_type"]].values.tolist() == [
        ["0100000009", "SPECIALISTS", "2"], ["9090909090", "HENZES, JACK", "1"]]
    assert "MEDYUM" not in cob.tables["providers"].to_csv()


# --------------------------------------------------------------------------------------------- labels
from rcmkit.metrics.providers import label_providers, provider_label, provider_names  # noqa: E402


def _providers(*rows: tuple[str, str, str | None]) -> pd.DataFrame:
    return schema.conform("providers", pd.DataFrame(rows, columns=["npi", "name", "entity_type"]).assign(
        source="test"))


def test_provider_names_and_labels():
    tables = {"providers": _providers(("1234567893", "SMITH, JANE", "1"), ("1111111112", "  ", "1"),
                                      ("1987654321", "OAK CLINIC", "2"), ("1987654321", "OAK VALLEY CLINIC", "2"))}
    names = provider_names(tables)
    assert names == {"1234567893": "SMITH, JANE", "1987654321": "OAK VALLEY CLINIC"}
    assert provider_names(tables["providers"]) == names
    assert provider_names(names) == names
    assert provider_names({"claims": pd.DataFrame()}) == {}  # a practice without a providers table
    assert provider_names({"providers": schema.empty("providers")}) == {}
    assert provider_label("1234567893", names) == "SMITH, JANE (1234567893)"
    assert provider_label("1111111112", names) == "1111111112"  # a blank name is no name
    assert provider_label(None, names) == "" and provider_label(float("nan"), names) == ""
    frame = pd.DataFrame({"claim_id": ["A", "B", "C"], "rendering_npi": ["1234567893", "1999999999", None]})
    labelled = label_providers(frame, "rendering_npi", tables)
    assert labelled["rendering_npi"].tolist() == ["SMITH, JANE (1234567893)", "1999999999", ""]
    assert frame["rendering_npi"].tolist()[:2] == ["1234567893", "1999999999"]  # the input is not changed
    kept = label_providers(frame, "rendering_npi", tables, into="provider")
    assert kept.columns.tolist() == ["claim_id", "rendering_npi", "provider"]
    assert kept["provider"].tolist() == ["SMITH, JANE (1234567893)", "1999999999", ""]


def _small_with_names():
    from small_practice import tables as small_tables

    t = small_tables()
    return t, {**t, "providers": _providers(("1234567893", "SMITH, JANE", "1"))}


def test_work_lists_name_the_rendering_provider():
    """The small practice bills every claim under rendering NPI 1234567893 (tests/small_practice.py); the lists
    of test_metrics.test_work_lists gain its name, or keep the bare NPI without a providers table."""
    from rcmkit.metrics import denied_not_resubmitted, no_response, timely_filing_risk

    t, named = _small_with_names()
    month = "2026-03"
    assert denied_not_resubmitted(named, month)[["claim_id", "rendering_npi", "provider"]].values.tolist() == [
        ["C08", "1234567893", "SMITH, JANE (1234567893)"], ["C06", "1234567893", "SMITH, JANE (1234567893)"]]
    assert no_response(named, month)[["claim_id", "provider"]].values.tolist() == [
        ["C03", "SMITH, JANE (1234567893)"]]
    assert timely_filing_risk(named, month, warn_days=60)[["claim_id", "provider"]].values.tolist() == [
        ["C03", "SMITH, JANE (1234567893)"]]
    assert no_response(t, month)["provider"].tolist() == ["1234567893"]
    assert list(no_response(t, month).columns) == ["claim_id", "payer_id", "rendering_npi", "provider",
                                                   "last_submitted_on", "days_waiting", "balance_cents"]


def test_report_work_list_table_shows_the_provider_name():
    from rcmkit.report import suite
    from rcmkit.present import charts
    from rcmkit.present import tiles
    t, named = _small_with_names()
    colors = charts.payer_colors(t["payers"])
    wl = suite.worklist_summary(named, "2026-03")
    out = tiles.worklist_table(wl["denied_not_resubmitted"], t["payers"], colors)
    assert "<th class=\"\">Provider</th>" in out and out.count("SMITH, JANE (1234567893)") == 2
    assert out.index("Payer") < out.index("Provider") < out.index("Denied on")
    # names given to the table win over the list's; a list made without names still shows the NPI
    plain = suite.worklist_summary(t, "2026-03")
    assert out == tiles.worklist_table(plain["denied_not_resubmitted"], t["payers"], colors, providers=named)
    bare = tiles.worklist_table(plain["denied_not_resubmitted"], t["payers"], colors)
    assert "SMITH" not in bare and bare.count(">1234567893<") == 2
    assert "No claims on this list." in tiles.worklist_table(wl["timely_filing_risk"], t["payers"], colors)


# --------------------------------------------------------------------------------------------- demo
@pytest.mark.slow
def test_demo_names_its_providers_and_its_837s_carry_the_same_names():
    from rcmkit import demo
    from rcmkit.ingest.x12 import write as x12write
    t = demo.generate(seed=7, n_claims=300)
    providers = t["providers"]
    assert list(providers.columns) == schema.TABLES["providers"].names and providers["npi"].is_unique
    claims = t["claims"]
    assert set(providers["npi"]) == set(claims["billing_npi"]) | set(claims["rendering_npi"].dropna())
    billing = providers.set_index("npi").loc[claims["billing_npi"].iloc[0]]
    assert (billing["name"], billing["entity_type"]) == (x12write.DEMO_PRACTICE.name, "2")
    from rcmkit.scrub.codesets import npi_valid

    people = providers[providers["entity_type"] == "1"]
    assert people["name"].str.fullmatch(r"[A-Z]+, [A-Z]+").all()
    # one name per real provider; the demo's seeded typos (a rendering NPI failing its check digit, for the
    # claim scrubber) carry the name of the provider they were meant for
    real = people[people["npi"].map(npi_valid)]
    assert real["name"].is_unique and set(people["name"]) == set(real["name"])
    assert demo.generate(seed=7, n_claims=300)["providers"].equals(providers)  # deterministic
    roster = demo.patients(seed=7, n_claims=300)
    read = []
    for name, text in x12write.write_837p(claims, t["claim_lines"], t["payers"], roster, providers=providers):
        result = parse_x12(text.encode(), name)
        assert result.rejections.empty
        read.append(result.tables["providers"])
    got = pd.concat(read).drop_duplicates("npi", keep="last").sort_values("npi")
    want = providers.sort_values("npi")
    assert got[["npi", "name", "entity_type"]].values.tolist() == want[["npi", "name", "entity_type"]].values.tolist()


def test_writer_splits_names_back_into_nm1_elements():
    from rcmkit.ingest.x12.write import _provider_nm1

    frame = _providers(("1234567893", "SMITH, JANE Q", "1"), ("1987654321", "OAK VALLEY CLINIC", "2"),
                       ("1666666666", "  ", "1"))
    assert _provider_nm1(frame) == {"1234567893": ("1", "SMITH", "JANE", "Q"),
                                    "1987654321": ("2", "OAK VALLEY CLINIC", "", "")}


# --------------------------------------------------------------------------------------------- explorer
def test_explorer_names_providers_in_choices_and_heading():
    pytest.importorskip("ipywidgets")
    from rcmkit.explorer import Explorer, ExplorerData, Filters
    from rcmkit.metrics import MetricOptions

    t, named = _small_with_names()
    data = ExplorerData(named, MetricOptions(min_cell_count=1), practice="small")
    assert data.provider_choices() == [("SMITH, JANE (1234567893): 12 claims", "1234567893")]
    x = Explorer(data, end="2026-03", months=3, providers=("1234567893",))
    assert "rendering provider SMITH, JANE (1234567893)" in x.header.value
    assert "rendering provider SMITH, JANE (1234567893)" == Filters(providers=("1234567893",)).describe(
        {}, data.provider_names)
    bare = ExplorerData(t, MetricOptions(min_cell_count=1), practice="small")  # no providers table
    assert bare.provider_choices() == [("1234567893: 12 claims", "1234567893")]
    assert Filters(providers=("1234567893",)).describe() == "rendering provider 1234567893"


def test_explorer_loads_a_practice_without_a_providers_table(tmp_path):
    from rcmkit.core import store
    from rcmkit.explorer import load_data

    t, named = _small_with_names()
    store.save_tables(tmp_path, "p", {k: v for k, v in t.items() if k != "providers"})
    assert not store.table_path(tmp_path, "p", "providers").exists()
    assert load_data(tmp_path, "p").provider_names == {}
    store.save_tables(tmp_path, "q", named)
    assert load_data(tmp_path, "q").provider_names == {"1234567893": "SMITH, JANE"}


# --------------------------------------------------------------------------------------------- the report
@pytest.mark.slow
def test_report_work_lists_name_the_providers(demo_report, demo_root):
    """The demo's monthly report: work-list rows show "NAME (NPI)", never a bare NPI with a name known."""
    import html as htmllib
    import re

    from rcmkit.core.store import load_tables

    assert demo_report.returncode == 0, demo_report.stderr
    page = (demo_report.report_dir / "monthly_report.html").read_text(encoding="utf-8")
    names = provider_names(load_tables(demo_root, "demo", ["providers"], required=False))
    assert names, "the demo names its providers"
    shown = re.findall(r"<td class=\"\">([^<]*\(\d{10}\))</td>", page)
    assert shown and all(htmllib.unescape(s) in {f"{n} ({npi})" for npi, n in names.items()} for s in shown)
    assert "<th class=\"\">Provider</th>" in page
