"""Issue #13: what rcmkit writes for people survives hostile values, and same-day events keep the 835's order.

Part 1 (same-day ordering): two adjudications of one claim on one day, at CLP segment positions 92 and 102 of one
835. As strings their remit_ids sort '...:102' before '...:92'; every place that breaks a same-day tie must pick the
one at segment 92 first (rcmkit.core.ledger.event_order): the first adjudication (pandas and DuckDB, with and without
the ``source`` column), the work lists' latest answer, the explorer's payer of a claim known only from its 835s.

Part 2 (hostile outputs): a small practice whose payer names and ids, claim ids, provider names and NPIs, practice
name and title carry spreadsheet formulas and markup. Every CSV rcmkit writes for people is parsed with the csv
module (no cell may start with = + - @ tab or CR unless it is a plain number) and every HTML page with html.parser
(no script running ``alert``, no ``onerror``/``onmouseover`` attribute, no ``img`` with src ``x``), and the hostile
text still shows, escaped.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from rcmkit.core import engine

from rcmkit.core import schema

from rcmkit.core import store
from rcmkit.core.ledger import _event_order, build_ledger, event_order, sort_events, with_event_order
from rcmkit.metrics import MetricOptions
from rcmkit.metrics.denials import first_adjudications, initial_denial_rate
from rcmkit.metrics.worklists import _last_answer_rows

from small_practice import tables as small_tables

D = pd.Timestamp
SHA = "0f9e8d7c6b5a"
EARLY = f"{SHA}:000000002:0001:92"  # the denial, CLP at segment 92
LATE = f"{SHA}:000000002:0001:102"  # the payment, CLP at segment 102 of the same 835, the same day


# --------------------------------------------------------------------------------------------------------------
# Part 1: same-day ordering by position, not by the remit_id string
# --------------------------------------------------------------------------------------------------------------

def _same_day_practice(late_payer: str = "BCX") -> dict[str, pd.DataFrame]:
    """The small practice with claim C02's 835s replaced by a denial (segment 92, CO-16 300) and a payment (segment
    102, paid 180, CO-45 120), both paid on 2026-02-15 in era_feb.835."""
    t = small_tables()

    def remit(rid, pos, payer, paid):
        return dict(remit_id=rid, claim_id="C02", payer_claim_id="PCNC02", status_code="1", billed_cents=30000,
                    paid_cents=paid, patient_responsibility_cents=0, payer_id=payer, paid_on=D("2026-02-15"),
                    trace_number="T0215", source=f"era_feb.835#{pos}")

    def line(rid, paid, allowed):
        return dict(remit_id=rid, line_number=1, procedure_code="99214", modifiers="", billed_cents=30000,
                    paid_cents=paid, allowed_cents=allowed, units=1.0, service_date=D("2026-02-15"))

    remits = [remit(LATE, 102, late_payer, 18000), remit(EARLY, 92, "BCX", 0)]  # string order: LATE first
    lines = [line(LATE, 18000, 18000), line(EARLY, 0, None)]
    adjs = [dict(remit_id=LATE, line_number=1, group_code="CO", reason_code="45", amount_cents=12000, quantity=None),
            dict(remit_id=EARLY, line_number=1, group_code="CO", reason_code="16", amount_cents=30000, quantity=None)]
    old = set(t["remittances"].loc[t["remittances"]["claim_id"] == "C02", "remit_id"])
    keep = lambda name: t[name][~t[name]["remit_id"].isin(old)]  # noqa: E731
    t["remittances"] = schema.conform("remittances", pd.concat([keep("remittances"), pd.DataFrame(remits)],
                                                               ignore_index=True))
    t["remit_lines"] = schema.conform("remit_lines", pd.concat(
        [keep("remit_lines"), pd.DataFrame(lines).astype({"allowed_cents": "Int64"})], ignore_index=True))
    t["adjustments"] = schema.conform("adjustments", pd.concat(
        [keep("adjustments"), pd.DataFrame(adjs).astype({"line_number": "Int32"})], ignore_index=True))
    t["ledger"] = build_ledger(t)
    assert sorted([EARLY, LATE]) == [LATE, EARLY]  # the trap: as strings, 102 sorts first
    return t


def test_event_order_is_public_and_the_old_name_still_works():
    t = _same_day_practice()
    rank = event_order(t["remittances"], [LATE, EARLY])
    assert rank[EARLY] < rank[LATE]
    assert _event_order is event_order
    whole = event_order(t["remittances"])  # default: every remittance
    assert whole[EARLY] < whole[LATE] and len(whole) == t["remittances"]["remit_id"].nunique()
    ordered = sort_events(t["remittances"], ["claim_id", "paid_on"])
    c02 = ordered.loc[ordered["claim_id"] == "C02", "remit_id"].tolist()
    assert c02 == [EARLY, LATE]


def _first_c02(tables) -> pd.Series:
    first = first_adjudications(tables)
    return first[first["claim_id"] == "C02"].iloc[0]


def test_first_adjudication_is_the_segment_92_denial_on_pandas():
    row = _first_c02(_same_day_practice())
    assert row["remit_id"] == EARLY and bool(row["denied"]) and row["paid_cents"] == 0


@pytest.mark.slow  # DuckDB on a hand-built 92-segment remittance (~2 s each); pandas event order stays fast
@pytest.mark.parametrize("columns", ["all", "without_source"])
def test_first_adjudication_is_the_segment_92_denial_on_duckdb(tmp_path, columns):
    """The lazy path sorts on integer columns (rcmkit.core.ledger.with_event_order); without ``source`` (what pandas
    loads for the KPI suite) the remit_id's trailing number (the CLP segment in an era835 id) still orders."""
    pytest.importorskip("duckdb")
    t = _same_day_practice()
    store.save_tables(tmp_path, "p", t)
    cols = None
    if columns == "without_source":
        cols = {"remittances": tuple(c for c in schema.TABLES["remittances"].names if c != "source")}
    for name in ("pandas", "duckdb"):
        opened = engine.open_tables(tmp_path, "p", name, columns=cols) if cols else engine.open_tables(
            tmp_path, "p", name)
        row = _first_c02(opened)
        assert row["remit_id"] == EARLY and bool(row["denied"]), name
        values = [k.value for k in initial_denial_rate(opened, "2026-02")]
        assert values == [k.value for k in initial_denial_rate(t, "2026-02")], name


def test_with_event_order_agrees_across_engines():
    duckdb = pytest.importorskip("duckdb")
    import narwhals as nw

    df = pd.DataFrame({"remit_id": [LATE, EARLY, "R10", "R9", "X", "12345"],
                       "source": ["f.835#102", "f.835#92", None, "demo", "x#y", "demo"]})
    got = {}
    for label, native in (("pandas", df), ("duckdb", duckdb.from_df(df))):
        frame, order = with_event_order(nw.from_native(native).lazy())
        got[label] = engine.collect(frame.sort(order))["remit_id"].tolist()
    assert got["pandas"] == got["duckdb"] == [EARLY, LATE, "12345", "R9", "R10", "X"]


def test_work_lists_latest_answer_is_the_segment_102_payment():
    """Two answers the same day: the later in the file (102, paid) is the latest, not the string-last (92)."""
    last = _last_answer_rows(_same_day_practice(), None, D("2026-03-31"))  # every claim's, not the open ones'
    c02 = last[last["claim_id"] == "C02"].iloc[0]
    assert c02["paid_cents"] == 18000 and not bool(c02["any_denial"])


def test_explorer_payer_of_a_claim_known_from_835s_is_the_first_event():
    from rcmkit.explorer.filters import ClaimIndex

    t = _same_day_practice(late_payer="MCD")
    index = ClaimIndex({k: v for k, v in t.items() if k not in ("claims", "claim_lines")})
    attrs = index.attributes.set_index("claim_id")
    assert attrs.loc["C02", "payer_id"] == "BCX"  # the segment-92 remittance's payer, not the string-first's


# --------------------------------------------------------------------------------------------------------------
# Part 2: hostile values in every CSV and HTML rcmkit writes for people
# --------------------------------------------------------------------------------------------------------------


FORMULAS = ['=HYPERLINK("http://evil/x","click")', "=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\r=2"]
MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '" onmouseover="alert(1)', "</td><b>x</b>"]

#: Payer ids: formulas (the payer_id is shown in work lists, tables and exports).
PAYER_IDS = {"MCR": "=1+1", "MCD": "+cmd|' /C calc'!A0", "BCX": '=HYPERLINK("http://evil/x","click")',
             "SELF": "@SUM(1)"}
#: Payer names: markup, a formula and a tab formula.
PAYER_NAMES = {"MCR": "<script>alert(1)</script>", "MCD": "<img src=x onerror=alert(1)>",
               "BCX": '" onmouseover="alert(1)', "SELF": "</td><b>x</b> -2+3"}
#: Claim ids, in claim order C01, C02, ...: every hostile value (cycled).
HOSTILE_CLAIMS = FORMULAS + MARKUP
#: Providers: (npi, name).
PROVIDERS = [("=1+1", "<img src=x onerror=alert(1)>"), ("\t=1", "<script>alert(1)</script>"),
             ("@SUM(1)", '" onmouseover="alert(1)'), ("-2+3", "=HYPERLINK(\"http://evil/x\",\"click\")")]
PRACTICE_NAME = "<script>alert(1)</script> =1+1"
TITLE = '<img src=x onerror=alert(1)> " onmouseover="alert(1) </td><b>x</b>'


def hostile_tables() -> dict[str, pd.DataFrame]:
    """The hand-computed small practice with every payer id and name, claim id, provider NPI and name replaced by
    hostile text (the numbers are unchanged: only identifiers and names differ)."""
    t = small_tables()
    t.pop("ledger", None)
    claim_ids = sorted(t["claims"]["claim_id"].unique())
    claims_map = {cid: f"{HOSTILE_CLAIMS[i % len(HOSTILE_CLAIMS)]}#{i}" if i >= len(HOSTILE_CLAIMS)
                  else HOSTILE_CLAIMS[i] for i, cid in enumerate(claim_ids)}
    for name in ("claims", "remittances", "postings"):
        t[name] = t[name].assign(claim_id=t[name]["claim_id"].map(lambda c: claims_map.get(c, c)))
    for name, cols in (("payers", ["payer_id"]), ("claims", ["payer_id"]), ("remittances", ["payer_id"]),
                       ("postings", ["responsible"]), ("contracts", ["payer_id"])):
        for col in cols:
            t[name] = t[name].assign(**{col: t[name][col].map(lambda p: PAYER_IDS.get(p, p))})
    t["payers"] = t["payers"].assign(payer_name=t["payers"]["payer_id"].map(
        {PAYER_IDS[k]: v for k, v in PAYER_NAMES.items()}))
    npis = [PROVIDERS[i % len(PROVIDERS)][0] for i in range(len(t["claims"]))]
    order = t["claims"]["claim_id"].map({v: i for i, v in enumerate(claims_map.values())}).to_numpy()
    t["claims"] = t["claims"].assign(rendering_npi=[npis[i] for i in order], billing_npi=PROVIDERS[0][0])
    t["providers"] = schema.conform("providers", pd.DataFrame(
        {"npi": [n for n, _ in PROVIDERS], "name": [m for _, m in PROVIDERS], "entity_type": "1",
         "source": "fixture"}))
    for name in list(t):
        t[name] = schema.conform(name, t[name])
    t["ledger"] = build_ledger(t)
    return t


HOSTILE_TEXTS = sorted({*FORMULAS, *MARKUP, *PAYER_IDS.values(), *PAYER_NAMES.values(), PRACTICE_NAME, TITLE,
                        *(n for n, _ in PROVIDERS), *(m for _, m in PROVIDERS)})


class _Scan(HTMLParser):
    """What in a page would run: script elements whose text calls ``alert``, event-handler attributes, img src=x;
    and the visible text (outside scripts, entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower() in ("onerror", "onmouseover", "onload", "onclick"):
                self.problems.append(f"<{tag}> carries {name}={value!r}")
            if tag == "img" and name == "src" and (value or "").strip() == "x":
                self.problems.append("<img src=x>")
        if tag == "script":
            self._in_script = True

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert" in data:
            self.problems.append(f"script running alert: {data.strip()[:80]!r}")
        if not self._in_script:
            self.text.append(data)


def scan_html(page: str, label: str) -> str:
    """Assert ``page`` runs nothing hostile; returns its visible text (entities decoded)."""
    scan = _Scan()
    scan.feed(page)
    scan.close()
    assert scan.problems == [], f"{label}: {scan.problems}"
    # a hostile '</td><b>x</b>' shown as text is '&lt;/td&gt;&lt;b&gt;x&lt;/b&gt;'; as markup it would be a real <b>
    assert "<b>x</b>" not in page, f"{label}: unescaped </td><b>x</b>"
    return "".join(scan.text)


def _plain_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return bool(re.fullmatch(r"-?\d+(\.\d+)?", cell))


def scan_csv(data: bytes | str, label: str) -> list[list[str]]:
    """Assert no cell of the CSV starts with a formula character unless it is a plain number; returns the rows."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for r, row in enumerate(rows, start=1):
        for c, cell in enumerate(row, start=1):
            if cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not _plain_number(cell):
                raise AssertionError(f"{label}: row {r} column {c} is a formula cell: {cell!r}")
    return rows


def test_the_scanners_catch_what_they_look_for():
    with pytest.raises(AssertionError, match="formula cell"):
        scan_csv('a,b\n1,"=1+1"\n', "t")
    with pytest.raises(AssertionError, match="formula cell"):
        scan_csv('a\n"\t=1"\n', "t")
    assert scan_csv("a,b\n-12.50,'=1+1\n", "t")[1] == ["-12.50", "'=1+1"]
    for bad in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '<td title="" onmouseover="alert(1)">',
                "<td></td><b>x</b>"):
        with pytest.raises(AssertionError):
            scan_html(bad, "t")
    text = scan_html("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td title=\"&quot; onmouseover=&quot;\">", "t")
    assert "<script>alert(1)</script>" in text


def _visible_markup_values(text: str, values) -> list[str]:
    return [v for v in values if v not in text]


# --------------------------------------------------------------------------------------------- the explorer
@pytest.mark.slow  # every explorer view and export (~4 s); the CSV escaping is fast in test_hardening_csv.py
def test_explorer_exports_and_pages_hold_hostile_values_as_text(tmp_path):
    """Every view of the explorer (each metric and level, each denial category and code drilled into, the heat
    map), exported as CSV (to a file, as the Export button does) and as Excel, and its HTML widgets."""
    import zipfile

    from rcmkit.explorer import Explorer, ExplorerData, export_frame
    from rcmkit.explorer.data import LEVELS

    data = ExplorerData(hostile_tables(), MetricOptions(min_cell_count=1), practice="hostile",
                        practice_name=PRACTICE_NAME)
    x = Explorer(data, end="2026-03", months=3)
    x.export_dir = tmp_path / "exports"
    pages, raw, csv_text = [], [], []

    def visit(label):
        csv_path = x.export("csv")
        rows = scan_csv(csv_path.read_bytes(), f"{label} (export)")
        csv_text.append("\n".join("\x1f".join(r) for r in rows))
        xlsx = zipfile.ZipFile(x.export("xlsx"))
        for name in xlsx.namelist():
            assert b"<f>" not in xlsx.read(name) and b"<f " not in xlsx.read(name), f"{label}: formula in {name}"
        scan_csv(export_frame(x.view_frame, tmp_path / "frame.csv").read_bytes(), f"{label} (export_frame)")
        page = "".join(w.value for w in (x.header, x.tiles, x.crumb, x.table, x.heatmap, x.download, x.status))
        pages.append(scan_html(page, label))
        raw.append(page)
        assert x.last_error is None, f"{label}: {x.last_error}"

    for metric, levels in LEVELS.items():
        x.metric.value = metric
        for _, level in levels:
            x.level.value = level
            visit(f"{metric}/{level}")
    x.metric.value = "initial_denial_rate"
    categories = [v for _, v in x.category.options if v != x.category.options[0][1]]
    assert categories
    for category in categories:
        x.category.value = category  # drills down to its codes
        visit(f"denials {category}")
        for code in [v for _, v in x.code.options if v != x.code.options[0][1]]:
            x.code.value = code  # drills down to its claims
            visit(f"denials {category} {code}")
        x.category.value = x.category.options[0][1]
    x.tabs.selected_index = 1
    visit("heat map")

    shown, exported = "".join(pages), "\n".join(csv_text)
    assert _visible_markup_values(shown, [PRACTICE_NAME, PAYER_NAMES["MCR"], PAYER_NAMES["MCD"], PAYER_NAMES["BCX"],
                                          "</td><b>x</b>", "<script>alert(1)</script>"]) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in "".join(raw) and "&lt;/td&gt;&lt;b&gt;x" in "".join(raw)
    # every formula value reaches the export as text, behind the quote that keeps a spreadsheet from running it
    for value in ("=1+1", "@SUM(1)", "-2+3", "\t=1", "\r=2", '=HYPERLINK("http://evil/x","click")'):
        assert "'" + value in exported, value


def test_csv_export_quotes_a_lone_carriage_return():
    """Python 3.11's csv writer leaves a field with a lone CR unquoted when rows end in LF: the row split and
    '=2' started a new row (found by this file's explorer scan, claim id '\\r=2'). Fixed in to_csv_bytes."""
    from rcmkit.explorer import to_csv_bytes

    frame = pd.DataFrame({"claim_id": ["\r=2", "a\rb", 'q"\r\n', "ok"], "paid_cents": [1, 2, 3, -5]})
    data = to_csv_bytes(frame)
    assert data.startswith(b"claim_id,paid\n") and data.endswith(b"ok,-0.05\n")
    rows = scan_csv(data, "frame")
    assert rows == [["claim_id", "paid"], ["'\r=2", "0.01"], ["a\rb", "0.02"], ['q"\r\n', "0.03"], ["ok", "-0.05"]]
    plain = pd.DataFrame({"claim_id": ["C11", "C02"], "paid_cents": [50000, -5]})
    assert to_csv_bytes(plain) == b"claim_id,paid\nC11,500.00\nC02,-0.05\n"


def test_external_references_parse_the_html():
    """report.export.external_references is report.run.external_resources: escaped text is not a reference."""
    from rcmkit.report.export import external_references
    from rcmkit.report.run import external_resources

    page = ('<td>&lt;img src=x onerror=alert(1)&gt;</td><td>&lt;a href="http://evil/x"&gt;</td>'
            '<img src="data:image/png;base64,AA"><a href="#top">top</a><script src="https://cdn.example/a.js">'
            '</script>')
    assert external_references(page) == external_resources(page) == ["https://cdn.example/a.js"]


# --------------------------------------------------------------------------------------------- report and portfolio
FAKE_CHROMIUM = ('#!/bin/sh\nfor a in "$@"; do case "$a" in --print-to-pdf=*) '
                 'printf "%%PDF-1.4 fake" > "${a#--print-to-pdf=}";; esac; done\n')


@pytest.mark.slow
def test_report_slides_and_portfolio_hold_hostile_values_as_text(tmp_path, monkeypatch):
    """``rcmkit run-monthly`` on the hostile practice (the real monthly report notebook, executed): every HTML and
    CSV under the output root is scanned; the hostile names are shown, escaped."""
    from conftest import run_cli

    fake = tmp_path / "fake-chromium"
    fake.write_text(FAKE_CHROMIUM)
    fake.chmod(0o755)
    monkeypatch.setenv("RCMKIT_CHROMIUM", str(fake))  # the PDF is not what is scanned: skip real printing
    project = tmp_path / "project"
    store.save_tables(project / "data", "hostile", hostile_tables())
    (project / "parameters").mkdir()
    (project / "parameters" / "hostile.yaml").write_text(
        'practice: hostile\ndata_root: data\nmonth: "2026-03"\noutput_root: reports\n'
        f"practice_name: {json.dumps(PRACTICE_NAME)}\ntitle: {json.dumps(TITLE)}\n", encoding="utf-8")
    proc = run_cli("run-monthly", "parameters", "--jobs", "1", "--no-progress", cwd=project, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = project / "reports"
    report_dir = reports / "hostile" / "2026-03"
    pages = {p.relative_to(reports).as_posix(): p for p in reports.rglob("*.html")}
    assert {"hostile/2026-03/monthly_report.html", "hostile/2026-03/monthly_report.slides.html",
            "2026-03/index.html"} <= set(pages)
    texts = {}
    for name, path in sorted(pages.items()):
        texts[name] = scan_html(path.read_text(encoding="utf-8"), name)
    for path in reports.rglob("*.csv"):
        scan_csv(path.read_bytes(), path.relative_to(reports).as_posix())
    want = [PRACTICE_NAME, TITLE, PAYER_NAMES["MCR"], PAYER_NAMES["MCD"], PAYER_NAMES["BCX"],
            *(m for _, m in PROVIDERS), *MARKUP, *FORMULAS[:6]]
    for name, shown in (("hostile/2026-03/monthly_report.html", want),
                        ("hostile/2026-03/monthly_report.slides.html", [PRACTICE_NAME, TITLE])):  # a short deck
        assert _visible_markup_values(texts[name], shown) == [], name
        raw = pages[name].read_text(encoding="utf-8")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and "&lt;img src=x onerror=alert(1)&gt;" in raw
    assert PRACTICE_NAME in texts["2026-03/index.html"]
    assert (report_dir / "metrics.json").exists()
