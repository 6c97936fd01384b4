"""The portfolio page (issue #16): practices ranked on each headline KPI, the change since last month, the book's
median, client-safe failure rows, links to every output, the month validated; sorting checked in Chromium.

Three fake practices' metrics.json files (and two of their February files) with hand-computed ranks, medians and
changes (March 2026):

| practice | days in A/R | A/R total | over 120 | clean claims | denials | net coll. | charges | payments |
|---|---|---|---|---|---|---|---|---|
| alpha   | 40.0 (Feb 42.5) | 100,000 | 10% | 95% (Feb 93%) | 5% | 97% | 50,000 (Feb 48,000) | 45,000 (Feb 46,000) |
| bravo   | 35.0 | 60,000 | 20% | 90% | 8% | 99% | 30,000 | 31,000 |
| charlie | 55.5 (Feb 50.0) | 80,000 (Feb 70,000) | 25% over 90 | 95% | n/a | 92% | 20,000 | 15,000 |
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rcmkit.core import store
from rcmkit.core.ledger import build_ledger
from rcmkit.report import load_params
from rcmkit.report.batch import PracticeOutcome, write_pages
from rcmkit.report.params import ParamError
from rcmkit.report.portfolio import (FAILED_TEXT, HEADLINE_KPIS, STALE_TEXT, collect_rows, kpi_medians, kpi_ranks,
                                     portfolio_html, write_portfolio)
from small_practice import tables as small_tables

MONTH, PREV = "2026-03", "2026-02"
UNITS = {"days_in_ar": "days", "ar_total": "usd", "ar_over_120_pct": "pct", "ar_over_90_pct": "pct",
         "clean_claim_rate": "pct", "initial_denial_rate": "pct", "net_collection_rate": "pct", "charges": "usd",
         "payments": "usd"}
KEYS = ("days_in_ar", "ar_total", "ar_over_120_pct", "clean_claim_rate", "initial_denial_rate", "net_collection_rate",
        "charges", "payments")
NOW = {
    "alpha": ("Alpha Clinic", (40.0, 100000, 0.10, 0.95, 0.05, 0.97, 50000, 45000)),
    "bravo": ("Bravo Pediatrics", (35.0, 60000, 0.20, 0.90, 0.08, 0.99, 30000, 31000)),
    "charlie": ("Charlie Family Practice", (55.5, 80000, None, 0.95, None, 0.92, 20000, 15000)),
}
BEFORE = {"alpha": {"days_in_ar": 42.5, "clean_claim_rate": 0.93, "charges": 48000, "payments": 46000},
          "charlie": {"days_in_ar": 50.0, "ar_total": 70000}}


def _doc(practice: str, month: str, values: dict, name: str | None = None) -> dict:
    kpis = {k: {"label": k, "value": v, "unit": UNITS[k]} for k, v in values.items()}
    doc = {"practice": practice, "month": month, "data_through": f"{month}-31", "kpis": kpis,
           "benchmarks": {"days_in_ar": {"good": 40, "acceptable": 50, "source": "AAFP", "status": "meeting"}},
           "summary": {"opportunities": [{"label": "Patient balances over 120 days", "cents": 123456}]}}
    if name:
        doc["practice_name"] = name
    return doc


def _write(root: Path, practice: str, month: str, doc: dict, *files: str) -> Path:
    folder = root / practice / month
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    for f in files:
        (folder / f).write_text("x", encoding="utf-8")
    return folder


@pytest.fixture
def book(tmp_path) -> Path:
    for practice, (name, values) in NOW.items():
        kpis = dict(zip(KEYS, values))
        if practice == "charlie":  # a report with the 90-day share only: shown, not ranked
            kpis.pop("ar_over_120_pct")
            kpis["ar_over_90_pct"] = 0.25
        _write(tmp_path, practice, MONTH, _doc(practice, MONTH, kpis, name), "monthly_report.html",
               "monthly_report.slides.html", *(["monthly_report.pdf"] if practice == "alpha" else []))
    for practice, values in BEFORE.items():
        _write(tmp_path, practice, PREV, _doc(practice, PREV, values))
    return tmp_path


class _Table(HTMLParser):
    """The rows of the page's ranked table: each cell's attributes, text and the change note under its value."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.part = None
        self.cell = None
        self.in_chg = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("tbody", "tfoot") and not self.rows or tag == "tfoot":
            self.part = tag
        if tag == "tr" and self.part:
            self.rows.append({"part": self.part, "attrs": a, "cells": []})
        elif tag == "td" and self.part:
            self.cell = {"attrs": a, "text": "", "chg": None, "links": []}
            self.rows[-1]["cells"].append(self.cell)
        elif tag == "span" and self.cell is not None and "chg" in (a.get("class") or ""):
            self.in_chg = [a["class"].split()[1], ""]
            self.cell["chg"] = self.in_chg
        elif tag == "a" and self.cell is not None:
            self.cell["links"].append(a["href"])

    def handle_endtag(self, tag):
        if tag == "span":
            self.in_chg = None
        elif tag == "td":
            self.cell = None
        elif tag == "table":
            self.part = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data
        if self.in_chg is not None:
            self.in_chg[1] += data


def _rows(page: str) -> tuple[list[dict], dict]:
    t = _Table()
    t.feed(page)
    body = [r for r in t.rows if r["part"] == "tbody"]
    foot = [r for r in t.rows if r["part"] == "tfoot"]
    assert len(foot) == 1
    return body, foot[0]


def test_ranks_medians_and_changes_are_the_hand_computed_ones(book):
    rows = collect_rows(book, MONTH)
    assert [r.practice for r in rows] == ["alpha", "bravo", "charlie"]
    assert kpi_ranks(rows, "days_in_ar") == {"bravo": 1, "alpha": 2, "charlie": 3}  # lower is better
    assert kpi_ranks(rows, "ar_total") == {"alpha": 1, "charlie": 2, "bravo": 3}  # balances: largest first
    assert kpi_ranks(rows, "ar_over_120_pct") == {"alpha": 1, "bravo": 2}  # charlie's 90-day share is not ranked
    assert kpi_ranks(rows, "clean_claim_rate") == {"alpha": 1, "charlie": 1, "bravo": 3}  # a tie shares rank 1
    assert kpi_ranks(rows, "initial_denial_rate") == {"alpha": 1, "bravo": 2}  # charlie has no value
    assert kpi_ranks(rows, "net_collection_rate") == {"bravo": 1, "alpha": 2, "charlie": 3}
    assert kpi_ranks(rows, "payments") == {"alpha": 1, "bravo": 2, "charlie": 3}
    assert kpi_medians(rows) == pytest.approx({
        "days_in_ar": 40.0, "ar_total": 80000, "ar_over_120_pct": 0.15, "clean_claim_rate": 0.95,
        "initial_denial_rate": 0.065, "net_collection_rate": 0.97, "charges": 30000, "payments": 31000})

    body, foot = _rows(portfolio_html(rows, MONTH))
    # default order: days in A/R, best first, with the rank shown in the first column
    assert [(r["attrs"]["data-name"], r["cells"][0]["text"]) for r in body] == [
        ("bravo pediatrics", "1"), ("alpha clinic", "2"), ("charlie family practice", "3")]
    assert HEADLINE_KPIS == KEYS
    by_name = {r["attrs"]["data-name"].split()[0]: dict(zip(KEYS, r["cells"][3:3 + len(KEYS)])) for r in body}
    ranks = {p: {k: c["attrs"].get("data-rank") for k, c in cells.items()} for p, cells in by_name.items()}
    assert ranks["alpha"] == {"days_in_ar": "2", "ar_total": "1", "ar_over_120_pct": "1", "clean_claim_rate": "1",
                              "initial_denial_rate": "1", "net_collection_rate": "2", "charges": "1", "payments": "1"}
    assert ranks["charlie"]["ar_over_120_pct"] is None and ranks["charlie"]["initial_denial_rate"] is None
    assert ranks["charlie"]["clean_claim_rate"] == "1" and ranks["bravo"]["clean_claim_rate"] == "3"
    changes = {p: {k: c["chg"] for k, c in cells.items() if c["chg"]} for p, cells in by_name.items()}
    assert changes == {
        "alpha": {"days_in_ar": ["better", "-2.5 days"], "clean_claim_rate": ["better", "+2.0 pts"],
                  "charges": ["same", "+$2,000"], "payments": ["same", "-$1,000"]},
        "bravo": {},  # no February report
        "charlie": {"days_in_ar": ["worse", "+5.5 days"], "ar_total": ["same", "+$10,000"]},
    }
    assert by_name["charlie"]["ar_over_120_pct"]["text"].startswith("25.0% (over 90 days)")
    assert by_name["charlie"]["initial_denial_rate"]["text"] == "n/a"
    assert by_name["alpha"]["days_in_ar"]["text"].startswith("40.0 days (meets target)-2.5 days #2")
    medians = [c["text"] for c in foot["cells"][3:3 + len(KEYS)]]
    assert medians == ["40.0 days", "$80,000", "15.0%", "95.0%", "6.5%", "97.0%", "$30,000", "$31,000"]
    assert foot["cells"][1]["text"] == "Median of 3 practices"


def test_links_go_to_every_output_that_exists_relatively(book):
    page = write_portfolio(book, MONTH)
    body, _ = _rows(page.read_text(encoding="utf-8"))
    links = {r["attrs"]["data-name"].split()[0]: r["cells"][1]["links"] for r in body}
    base = "../alpha/2026-03/"
    assert links["alpha"] == [base + "monthly_report.html", base + "monthly_report.html", base + "monthly_report.pdf",
                              base + "monthly_report.slides.html", base + "metrics.json"]
    assert "../bravo/2026-03/monthly_report.pdf" not in links["bravo"] and len(links["bravo"]) == 4
    for hrefs in links.values():
        for href in hrefs:
            assert not re.match(r"^[a-z]+:|^/", href)
            assert (page.parent / href).resolve().is_file(), href
    text = page.read_text(encoding="utf-8")
    assert ('<div class="links"><a href="../alpha/2026-03/monthly_report.html">Report</a> &middot; '
            '<a href="../alpha/2026-03/monthly_report.pdf">PDF</a> &middot; '
            '<a href="../alpha/2026-03/monthly_report.slides.html">Slides</a> &middot; '
            '<a href="../alpha/2026-03/metrics.json">Data</a></div>') in text


def test_failures_show_client_safe_text_only(book):
    secret = "parameters/ghost.yaml:1: practice: no data for practice 'ghost': folder /srv/rcm/data/ghost does not " \
             "exist (create it with 'rcmkit demo --practice ghost' or 'rcmkit ingest')"
    rows = collect_rows(book, MONTH, {"ghost": secret, "alpha": "NotebookFailed: cell 12: KeyError 'balance_cents'"})
    assert rows[0].error and rows[0].metrics is not None  # alpha: this run failed, last month's report stays
    page = portfolio_html(rows, MONTH)
    for leak in ("/srv/rcm", "ghost.yaml", "rcmkit demo", "rcmkit ingest", "NotebookFailed", "balance_cents",
                 "KeyError"):
        assert leak not in page, leak
    assert page.count(FAILED_TEXT) == 1 and page.count(STALE_TEXT) == 1
    assert re.search(r"<h2>Not produced for March 2026</h2>.*<strong>ghost</strong>.*not produced.*"
                     + re.escape(FAILED_TEXT), page, re.S)
    assert "4 practices; 3 with a report; 1 could not be produced; 1 shown from an earlier run." in page
    body, _ = _rows(page)
    assert len(body) == 3  # the failed practice is not ranked


def test_failures_stay_on_their_own_month_and_no_page_without_reports(book):
    logged: list[str] = []
    outcomes = [
        PracticeOutcome("p/alpha.yaml", "ok", practice="alpha", month=MONTH, output_root=str(book)),
        PracticeOutcome("p/ghost.yaml", "failed", practice="ghost", output_root=str(book), error="no data"),
        PracticeOutcome("p/delta.yaml", "failed", practice="delta", month=MONTH, output_root=str(book), error="x"),
        PracticeOutcome("p/echo.yaml", "failed", practice="echo", month="2062-03", output_root=str(book),
                        error="2062-03 is not a full month in the data"),
    ]
    written = write_pages(outcomes, logged.append)
    assert written == [str(book / MONTH / "index.html")]
    page = Path(written[0]).read_text(encoding="utf-8")
    assert "<strong>delta</strong>" in page and "ghost" not in page and "echo" not in page
    assert not (book / "2062-03").exists()  # a mistyped month: no page of empty rows
    assert logged == [f"no portfolio page for 2062-03 in {book}: no practice has a report for that month"]


@pytest.mark.parametrize("month", ["2026-13", "2026-3", "03/2026", "../2026-03", "", "2026-00"])
def test_a_mistyped_month_writes_no_page(tmp_path, month):
    with pytest.raises(ValueError, match="portfolio month must look like 'YYYY-MM'"):
        write_portfolio(tmp_path, month)
    assert list(tmp_path.iterdir()) == []


def test_a_month_without_activity_is_refused_before_any_report(tmp_path):
    """The small practice without claim C11 has no event in December 2025: its report would be $0 tiles."""
    t = small_tables()
    for name in ("claims", "remittances", "postings"):
        t[name] = t[name][t[name]["claim_id"] != "C11"].reset_index(drop=True)
    t["ledger"] = build_ledger(t)
    store.save_tables(tmp_path / "data", "small", t)
    params = tmp_path / "p.yaml"
    params.write_text("practice: small\ndata_root: data\nmonth: \"2025-12\"\n", encoding="utf-8")
    with pytest.raises(ParamError, match=r"p.yaml:3: month: 2025-12 has no claims, payments or postings in the "
                                         r"data for 'small'; expected a month with activity from 2025-11 to 2026-03"):
        load_params(params, cwd=tmp_path)
    assert load_params(params, cwd=tmp_path, month="2026-01").month == "2026-01"
    with pytest.raises(ParamError, match="2025-10 is before the data for 'small'; expected a month from 2025-11"):
        load_params(params, cwd=tmp_path, month="2025-10")


_DEVELOPER = re.compile(r"_cents|rcmkit\.|\b[a-z]+_[a-z_]+\b|\.yaml|/tmp/|Traceback")


@pytest.mark.browser
def test_page_in_chromium_sorts_offline_without_errors_or_overflow(book):
    from rcmkit.report.browser import chromium_path

    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium not found at /usr/bin/chromium: browser checks need Debian's chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    from rcmkit.report.browser import open_browser

    page_file = write_portfolio(book, MONTH, {"ghost": "ghost.yaml:1: no data in /tmp/x"})
    order = ("() => Array.from(document.querySelectorAll('#book tbody tr'))"
             ".map(r => [r.dataset.name, r.cells[0].textContent])")
    with open_browser(exe) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: None if req.url.startswith("file:") else problems.append(req.url))
        page.goto(page_file.as_uri(), wait_until="load")
        assert page.evaluate(order) == [["bravo pediatrics", "1"], ["alpha clinic", "2"],
                                        ["charlie family practice", "3"]]
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        text = page.inner_text("body")
        assert not _DEVELOPER.search(text), _DEVELOPER.search(text)
        page.locator("th button", has_text="Net collection rate").click()  # best first
        assert page.evaluate(order) == [["bravo pediatrics", "1"], ["alpha clinic", "2"],
                                        ["charlie family practice", "3"]]
        page.locator("th button", has_text="Initial denial rate").click()
        assert page.evaluate(order) == [["alpha clinic", "1"], ["bravo pediatrics", "2"],
                                        ["charlie family practice", "n/a"]]  # no value: last
        page.locator("th button", has_text="Initial denial rate").click()  # again: reversed, no value still last
        assert page.evaluate(order) == [["bravo pediatrics", "2"], ["alpha clinic", "1"],
                                        ["charlie family practice", "n/a"]]
        assert page.inner_text("#rank-by") == "Initial denial rate"
        assert page.get_attribute("th:has(button:text('Initial denial rate'))", "aria-sort") == "descending"
        page.locator("th button", has_text="Practice").click()
        assert [n for n, _ in page.evaluate(order)] == ["alpha clinic", "bravo pediatrics", "charlie family practice"]
        assert problems == []
