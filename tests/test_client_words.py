"""Client words only (issue #16): the client report holds no developer text.

The report notebook's cells are run in-process on the small hand-made practice (tests/small_practice.py, March
2026), without a kernel: each markdown cell's text, each HTML cell's output and each chart's texts (titles, axis
labels, tick labels, legends, annotations) are joined into the report's client-visible text, which must not hold
``*_cents`` names, ``rcmkit.`` references, ``snake_case`` identifiers (column or function names) or absolute paths.
The slow tier scans the demo report's rendered HTML the same way.
"""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure


NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "monthly_report.ipynb"

#: (name, pattern) of developer text that must not reach a client.
FORBIDDEN = [
    ("a *_cents name", re.compile(r"\w_cents\b")),
    ("an rcmkit. reference", re.compile(r"\brcmkit\.\w")),
    ("a snake_case identifier", re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")),
    ("a snake_case( call", re.compile(r"\b[a-z]\w*_\w*\(")),
    ("an absolute path", re.compile(r"(?<![\w.:/])/(?:home|tmp|work|usr|var|opt|srv|root|Users|mnt)/")),
    ("a Windows path", re.compile(r"\b[A-Z]:\\\\")),
    ("a Python name in backticks", re.compile(r"``\w+``|:func:|:mod:")),
]


def scan(text: str) -> list[str]:
    """Every forbidden match in ``text``, as 'kind: match'."""
    return [f"{name}: {m.group(0)!r}" for name, rx in FORBIDDEN for m in rx.finditer(text)]


def visible_text(page: str) -> str:
    """The text a reader sees in an HTML page or fragment: styles, scripts and tags removed (attribute values
    are kept: a title tooltip is read too), entities unescaped."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    attrs = " ".join(re.findall(r'\s(?:title|alt|aria-label)="([^"]*)"', page))
    page = re.sub(r"<[^>]+>", " ", page)
    return htmllib.unescape(page + " " + attrs)


def figure_text(fig: Figure) -> str:
    """Every string drawn on a figure: titles, axis labels, tick labels, legends and annotations."""
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text())


def render_client_report(report) -> str:
    """The monthly report notebook's client-visible text for the model ``report``: markdown cells as written, the
    HTML and chart cells run against the model (the parameter, setup and metrics.json cells are skipped)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    from rcmkit.present import appendix, charts, tiles  # noqa: F401  (names the cells use)
    from rcmkit.report.suite import DENIAL_COHORT_BACK, NO_RESPONSE_DAYS, WARN_DAYS  # noqa: F401

    namespace = dict(locals(), HTML=lambda s: s, report=report)
    out = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            out.append(cell.source)
            continue
        source = cell.source
        if "parameters" in tags or "import" in source or "load_tables(" in source or "write_metrics(" in source:
            continue
        value = eval(compile(source, "<cell>", "eval"), namespace)  # one expression per rendering cell
        out.append(figure_text(value) if isinstance(value, Figure) else visible_text(str(value)))
    return "\n".join(out)


@pytest.fixture(scope="module")
def small_text(small_report) -> str:
    return render_client_report(small_report)


def test_scanner_catches_developer_text():
    text = ("rcmkit.metrics.charge_lag on balance_cents, max(0.02 x expected, 100 cents) in "
            "/work/main/rcmkit/data/benchmarks.csv; days_in_ar=gross_3m")
    found = scan(text)
    assert any(f.startswith("a *_cents name") for f in found)
    assert any(f.startswith("an rcmkit. reference") for f in found)
    assert any(f.startswith("an absolute path") for f in found)
    assert "a snake_case identifier: 'days_in_ar'" in found and "a snake_case identifier: 'charge_lag'" in found
    assert scan("Days in A/R: gross A/R over average daily charges of the last 3 months (AAFP). Sep 2026.") == []
    assert visible_text('<style>.a_b_c {}</style><p title="x_y">A &amp; B</p>').split() == ["A", "&", "B", "x_y"]


def test_small_practice_report_speaks_client_words(small_text):
    assert scan(small_text) == []


def test_small_practice_report_has_the_client_sections(small_text):
    # every section the issue asks for is rendered, in client words
    for needle in ("How these numbers are defined", "Days in A/R",
                   "Gross A/R at month end divided by the average daily charges of the last 3 months", "AAFP",
                   "Cash and volume", "Same month", "Recommended action",
                   "Providers in March 2026", "Payer mix", "Target ≤ 40 days (AAFP)", "Feb 2026"):
        assert needle in small_text or needle.lower() in small_text.lower(), needle
    assert "Methods" not in small_text and "Metric options" not in small_text
    # never "Mar 26" (a day or a year?); a day is written with its year: "Mar 31, 2026"
    assert not re.search(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2}\b(?!\d|, \d{4})", small_text)
    assert "Report date Mar 31, 2026" in small_text


@pytest.mark.slow
def test_demo_report_html_speaks_client_words(demo_report):
    assert demo_report.returncode == 0, demo_report.stderr[-2000:]
    page = (demo_report.report_dir / "monthly_report.html").read_text(encoding="utf-8")
    body = re.sub(r'<img[^>]*src="data:[^"]*"[^>]*>', " ", page)
    assert scan(visible_text(body)) == []
    # and the PDF a consultant hands over, as printed (headers, footers and the appendix of long tables included)
    pdf = demo_report.report_dir / "monthly_report.pdf"
    if pdf.is_file() and shutil.which("pdftotext"):
        printed = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Page 1 of" in printed and scan(printed) == []
