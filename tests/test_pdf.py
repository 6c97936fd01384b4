"""The PDF laid out for print (rcmkit.report.export.print_html, html_to_pdf): sections on new pages, long tables
shortened with the full table in an appendix, and the practice, the month and "Page X of Y" on every page, printed
from CSS margin boxes by Playwright or, without Playwright, by the Chromium command line.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from bs4 import BeautifulSoup

from rcmkit.report.export import LONG_TABLE_ROWS, TOP_ROWS, _css_string, find_chromium, html_to_pdf, print_html

FOOTER = "Small <Family> Practice \u00b7 March 2026"


def _table(caption: str, n: int, *, rowspan: bool = False) -> str:
    rows = "".join(f"<tr><td{' rowspan=2' if rowspan and i == 0 else ''}>Payer {i}</td><td class='num'>${i},000</td>"
                   "</tr>" for i in range(n))
    return (f'<table class="rcm rcm-table"><caption>{caption}</caption><thead><tr><th>Payer</th>'
            f'<th class="num">Paid</th></tr></thead><tbody>{rows}</tbody></table>')


def _cell(inner: str, prose: bool = False) -> str:
    kind = "jp-MarkdownCell rcm-prose" if prose else "jp-CodeCell"
    return f'<div class="jp-Cell {kind} jp-Notebook-cell">{inner}</div>'


def _report(long_rows: int = 40) -> str:
    """A report page shaped like notebook_to_html's: a title, three sections, a short and a long table."""
    para = "<p>" + "A sentence about the practice's month. " * 40 + "</p>"
    body = "".join([
        _cell("<h1>Monthly revenue-cycle report</h1>", prose=True),
        _cell("<h2>Executive summary</h2>" + para, prose=True),
        _cell("<h2>A/R aging by payer</h2>" + para, prose=True),
        _cell(_table("Open A/R by payer", 8)),
        _cell("<h2>Reimbursement by payer and procedure code</h2>" + para, prose=True),
        _cell(_table("Reimbursement by payer and procedure code", long_rows)),
        _cell(_table("Merged cells", 30, rowspan=True)),
    ])
    return ("<!DOCTYPE html><html><head><title>r</title></head>"
            f"<body class='jp-Notebook'><main>{body}</main></body></html>")


def test_print_html_breaks_sections_and_moves_long_tables_to_the_appendix():
    soup = BeautifulSoup(print_html(_report(40)), "html.parser")
    cells = soup.main.find_all("div", class_="jp-Cell", recursive=False)
    # the first section follows the title on page 1; each later section starts a page
    assert ["rcm-section" in c["class"] for c in cells] == [False, False, True, False, True, False, False]
    tables = soup.find_all("table")
    short, top, appendix_full, appendix_merged = tables
    assert "rcm-keep" in short["class"] and len(short.tbody.find_all("tr")) == 8
    assert len(top.tbody.find_all("tr")) == TOP_ROWS == 12 and "rcm-keep" not in top["class"]
    assert top.find_next("p").get_text() == "The first 12 of 40 rows; the full table is in the appendix (table A1)."
    assert "Merged cells: 30 rows, in the appendix (table A2)." in soup.get_text()
    appendix = soup.find("section", class_="rcm-appendix")
    assert appendix.h2.get_text() == "Appendix: full tables"
    assert [h.get_text() for h in appendix.find_all("h3")] == ["A1. Reimbursement by payer and procedure code",
                                                              "A2. Merged cells"]
    assert appendix_full.parent is appendix and len(appendix_full.tbody.find_all("tr")) == 40
    assert len(appendix_merged.tbody.find_all("tr")) == 30
    # a total row stays under the top rows
    total = _report(40).replace("<tr><td>Payer 39</td>", "<tr class='rcm-total'><td>All payers</td>")
    top = BeautifulSoup(print_html(total), "html.parser").find_all("table")[1]
    assert [tr.td.get_text() for tr in top.tbody.find_all("tr")][-2:] == ["Payer 11", "All payers"]
    # a table at the limit stays whole in place
    at_limit = BeautifulSoup(print_html(_report(LONG_TABLE_ROWS)), "html.parser")
    assert at_limit.find("section", class_="rcm-appendix").find_all("h3")[0].get_text() == "A1. Merged cells"


def test_the_definitions_section_starts_one_page_not_two():
    """The definitions' introduction shared the class of the print appendix, which starts a page: the section's
    heading and one paragraph printed alone on a page before its tables. Only the section's own heading starts a
    page now, and the print appendix is still the one element that breaks before it."""
    from rcmkit.present.appendix import definitions_appendix
    from rcmkit.metrics import KPI

    kpi = KPI(key="ar_total", label="A/R total", value=1.0, unit="usd", numerator=None, denominator=None,
              definition="Everything open at month end.", source="AAFP")
    body = "".join([_cell("<h1>Monthly revenue-cycle report</h1>", prose=True),
                    _cell("<h2>Executive summary</h2><p>x</p>", prose=True),
                    _cell("<h2>How these numbers are defined</h2><p>Sources disagree.</p>", prose=True),
                    _cell(definitions_appendix({"ar_total": kpi})), _cell(_table("Long", 40))])
    soup = BeautifulSoup(print_html(f"<html><body><main>{body}</main></body></html>"), "html.parser")
    breaking = [el for el in soup.find_all(True) if {"rcm-section", "rcm-appendix"} & set(el.get("class", []))]
    assert [el.name for el in breaking] == ["div", "section"]  # the definitions heading's cell; the appendix
    assert "How these numbers are defined" in breaking[0].get_text() and "A/R total" in soup.get_text()


def test_margin_boxes_escape_the_footer():
    assert _css_string('a"b\\c</style>\n') == '"a\\22 b\\5c c\\3c /style\\3e \\a "'
    page = print_html(_report(), header="Monthly report", footer=FOOTER, margin_boxes=True)
    assert '@bottom-left { content: "Small \\3c Family\\3e  Practice \\b7  March 2026";' in page
    assert '@bottom-right { content: "Page " counter(page) " of " counter(pages);' in page
    assert "<Family>" not in page
    without = print_html(_report(), header="Monthly report", footer=FOOTER)  # no header or footer
    assert "@bottom-left { content: none; }" in without and "Small" not in without


def _page_texts(pdf) -> list[str]:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [p for p in text.split("\f") if p.strip()]


@pytest.mark.browser
@pytest.mark.parametrize("engine", ["playwright", "cli"])
def test_pdf_has_the_practice_month_and_page_on_every_page(tmp_path, engine):
    if find_chromium() is None:
        pytest.skip("chromium not found")
    if engine == "playwright":
        pytest.importorskip("playwright")
    page = tmp_path / "r.html"
    page.write_text(_report(60), encoding="utf-8")
    pdf = html_to_pdf(page, tmp_path / "r.pdf", header="Monthly revenue cycle report", footer=FOOTER, engine=engine)
    assert b"/MediaBox [0 0 612 792]" in pdf.read_bytes()  # US Letter
    pages = _page_texts(pdf)
    assert 4 <= len(pages) <= 8, len(pages)
    for i, text in enumerate(pages, start=1):
        assert FOOTER in text, (i, text[-300:])
        assert f"Page {i} of {len(pages)}" in text, (i, text[-300:])
        assert "Monthly revenue cycle report" in text
    # each section starts a page; the appendix is last
    firsts = [next(ln.strip() for ln in t.splitlines() if ln.strip() and "Monthly revenue cycle report" not in ln)
              for t in pages]
    for heading in ("A/R aging by payer", "Reimbursement by payer and procedure code", "Appendix: full tables"):
        assert heading in firsts, firsts
    assert "A1. Reimbursement by payer and procedure code" in pages[-2] + pages[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.pdf"]


@pytest.mark.browser
def test_demo_report_pdf_has_the_footer_on_every_page(demo_report):
    assert demo_report.returncode == 0, demo_report.stderr
    import json

    month = json.loads((demo_report.report_dir / "metrics.json").read_text())["month"]
    from rcmkit.present.format import month_label

    pdf = demo_report.report_dir / "monthly_report.pdf"
    if not pdf.exists():
        pytest.skip("PDF skipped: chromium not found")
    pages = _page_texts(pdf)
    assert 8 <= len(pages) <= 30, len(pages)
    for i, text in enumerate(pages, start=1):
        assert f"demo \u00b7 {month_label(month)}" in text, i
        assert f"Page {i} of {len(pages)}" in text, i
    assert "Executive summary" in pages[0]


def test_a_hanging_playwright_print_is_killed_with_its_browser_and_not_retried(tmp_path, monkeypatch):
    """Playwright bounds the launch and the page load but not ``page.pdf``: a print that hangs there held the
    report run forever. The print runs in a child process of its own session, killed whole after the timeout; a
    timeout is final (the command-line engine would hang the same way, doubling the wait)."""
    import sys
    import time

    from rcmkit.report import export

    pids = tmp_path / "pids"
    hanging = tmp_path / "hanging-python"  # stands in for the interpreter running the Playwright child
    hanging.write_text(f"#!/bin/sh\nsleep 60 &\necho $$ $! > {pids}\nwait\n")
    hanging.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(hanging))
    page = tmp_path / "r.html"
    page.write_text("<p>x</p>")
    started = time.monotonic()
    with pytest.raises(export.PdfError, match="^chromium did not finish printing r.html within 1 s$"):
        html_to_pdf(page, tmp_path / "r.pdf", chromium="/bin/true", timeout=1)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "r.pdf.tmp").exists()
    for pid in map(int, pids.read_text().split()):  # the child and what it started: gone (zombies reaped or not)
        try:
            state = open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0]
        except FileNotFoundError:
            continue
        assert state == "Z", f"process {pid} outlived the timeout"


@pytest.mark.browser
@pytest.mark.parametrize("scale", [1, 2])
def test_print_rules_draw_the_collapsed_table_borders_as_separate_ones(tmp_path, scale):
    """Chromium printed the report tables' collapsed borders slowly (about 1.5 s of CPU of each report's PDF); the
    print rules draw them as separate borders. The printed table looks exactly as it did collapsed: the 2 px
    header line, the 1 px row lines, the total row's single 2 px line and a group's first row."""
    pytest.importorskip("playwright")
    from rcmkit.present import tiles
    from rcmkit.report import export
    from rcmkit.report.browser import chromium_path, open_browser

    if chromium_path() is None:
        pytest.skip("chromium not found")
    rows = [{"payer": f"Payer {i}", "paid": f"${i},000.00", "__first": i in (2, 4), "__total": i == 5}
            for i in range(6)]
    table = tiles.html_table(rows, [("payer", "Payer", None, False), ("paid", "Paid", None, True)],
                             caption="Paid by payer", row_class=lambda i, r: "rcm-total" if r["__total"]
                             else "rcm-first" if r["__first"] else "")
    assert table.count('class="rcm-first"') == 2 and table.count('class="rcm-total"') == 1
    separate = export._PRINT_RULES
    collapsed = "\n".join(ln for ln in separate.splitlines() if ":root table.rcm.rcm-table" not in ln)
    assert "border-collapse: separate" in separate and "border-collapse: separate" not in collapsed

    def shot(rules: str) -> bytes:
        page = browser.new_page(viewport={"width": 420, "height": 300}, device_scale_factor=scale)
        page.set_content(f"<html><head><style>{rules}</style></head><body><div class='jp-RenderedHTMLCommon'>"
                         f"{table}</div></body></html>")
        page.emulate_media(media="print")
        assert page.eval_on_selector("table.rcm-table", "t => getComputedStyle(t).borderCollapse") == (
            "separate" if rules is separate else "collapse")
        png = page.screenshot()
        page.close()
        return png

    with open_browser() as browser:
        before, after = shot(collapsed), shot(separate)
    assert after == before
