"""The slide deck (rcmkit.report.deck): built from the report model of the small hand-made practice
(tests/small_practice.py, March 2026; its numbers are worked out by hand in tests/test_metrics.py), self-contained,
at most 12 slides; in Chromium (browser tests): offline without errors or requests, every slide inside 16:9.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from small_practice import tables as small_tables

from rcmkit.present import format as fmt
from rcmkit.report.deck import MAX_SLIDES, SLIDE_HEIGHT, SLIDE_WIDTH, build_deck, kpi_cards
from rcmkit.report.model import build_report
from rcmkit.report.run import external_resources

NAME = "Small <b>Family</b> Practice"


@pytest.fixture(scope="module")
def report(small_report):
    """The session's small-practice model (tests/conftest.py) under a name with markup in it (the deck must
    escape it). The executive summary names the practice too: it is built again for the new name."""
    import dataclasses

    from rcmkit.present.narrative import executive_summary

    r = small_report
    summary = executive_summary(r.tables, r.month, r.options, kpis=r.kpis, trend=r.trend, status=r.status,
                                practice=r.practice, practice_name=NAME, aging=r.aging, open_denials=r.open_denials,
                                suspense=r.suspense, comparison=r.comparison)
    return dataclasses.replace(r, practice_name=NAME, summary=summary)


@pytest.fixture(scope="module")
def deck(report) -> str:
    return build_deck(report)


class _Cards(HTMLParser):
    """``{kpi key: {"label", "value", "status", "target", "change"}}`` from the numbers slide; visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cards: dict[str, dict[str, str]] = {}
        self.text: list[str] = []
        self._key = self._part = None
        self._script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self._script = True
        if "data-kpi" in a:
            self._key = a["data-kpi"]
            self.cards[self._key] = {}
        elif self._key and tag == "div":
            self._part = a.get("class")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = False

    def handle_data(self, data):
        if not self._script:
            self.text.append(data)
        if self._key and self._part:
            self.cards[self._key][self._part] = self.cards[self._key].get(self._part, "") + data
            if self._part == "change":
                self._key = self._part = None


def _parse(html: str) -> _Cards:
    p = _Cards()
    p.feed(html)
    p.close()
    return p


def test_deck_shows_the_hand_computed_numbers(deck, report):
    """March 2026: charges 120 + 80 + 90 + 60 = $350 (February: 100 + 250 + 100 = $450); payments $530 (February:
    the patient's $20 on C01); open A/R $490 of which C03's $150 is over 120 days (30.6%, AAFP acceptable under 25%:
    misses); days in A/R 33.9 (under 40: meets)."""
    cards = _parse(deck).cards
    assert cards["charges"] == {"label": "Charges", "value": "$350", "status": "No target",
                                "change": "-$100 from Feb 2026"}  # no target line
    assert cards["payments"]["value"] == "$530" and cards["payments"]["change"] == "+$510 from Feb 2026"
    assert cards["ar_total"]["value"] == "$490"
    assert cards["ar_over_120_pct"]["value"] == "30.6%" and cards["ar_over_120_pct"]["status"] == "Misses target"
    assert cards["ar_over_120_pct"]["target"] == "Target 12% or less (acceptable 25%)"
    assert cards["days_in_ar"]["value"] == "33.9 days" and cards["days_in_ar"]["status"] == "Meets target"
    assert cards["days_in_ar"]["target"] == "Target 40 days or less (acceptable 50 days)"
    # every card is the model's own number, formatted once
    assert {k: c["value"] for k, c in cards.items()} == {c["key"]: fmt.kpi_value(report.kpis[c["key"]])
                                                         for c in kpi_cards(report)}
    assert len(cards) == 11


def test_deck_is_self_contained_and_short(deck):
    assert external_resources(deck) == []
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", deck, re.IGNORECASE)
    markup = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", deck).lower()  # the charts are not markup
    assert "<script src" not in markup and "require(" not in markup and "reveal" not in markup
    assert "http" not in markup and "cdn" not in markup
    n = len(re.findall(r'<section class="slide\b', deck))
    assert 8 <= n <= MAX_SLIDES
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', deck)) == 4  # the four charts
    assert f"{n} / {n}</span>" in deck and "1 / " in deck


def test_deck_speaks_client_words(deck, report):
    text = " ".join(_parse(deck).text)
    assert not re.search(r"_cents|rcmkit\.|\b[a-z]+_[a-z_]+\(|\b[a-z]+_[a-z]+_[a-z]+\b", text), \
        re.findall(r"_cents|rcmkit\.|\b[a-z]+_[a-z_]+\(|\b[a-z]+_[a-z]+_[a-z]+\b", text)
    for heading in ("The month in brief", "Headline numbers against targets", "Days in A/R, last twelve months",
                    "A/R aging by payer", "Denials by reason", "Charges and payments", "Largest dollar opportunities",
                    "Next steps"):
        assert heading in text
    assert "March 2026" in text and "Misses target" in text
    # dates are written for people: the title slide's data-through date too, never ISO
    assert f"data through {fmt.day_label(report.data_through)}" in text
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), re.findall(r"\b\d{4}-\d{2}-\d{2}\b", text)
    # the opportunities slide holds each of the summary's opportunities, in dollars
    for o in report.summary.opportunities:
        assert fmt.usd_whole(o.cents) in text


def test_deck_escapes_names_and_is_deterministic(deck, report):
    assert "Small &lt;b&gt;Family&lt;/b&gt; Practice" in deck and "<b>Family</b>" not in deck
    assert build_deck(report) == deck


# --------------------------------------------------------------------------------------------- in Chromium
def _check_in_chromium(path, tmp_path) -> dict:
    """Open the deck at 1280x720 with every request but the file itself refused; each slide's fit, the console
    errors, the refused requests, keyboard navigation and the printed page count."""
    from rcmkit.report.browser import chromium_path, open_browser

    if chromium_path() is None:
        pytest.skip("chromium not found")
    pytest.importorskip("playwright")
    out = {"requests": [], "errors": [], "slides": []}
    with open_browser() as browser:
        page = browser.new_page(viewport={"width": SLIDE_WIDTH, "height": SLIDE_HEIGHT})
        page.on("console", lambda m: out["errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: out["errors"].append(str(e)))

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                out["requests"].append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(path.as_uri(), wait_until="load")
        n = page.evaluate("window.rcmDeck.count")
        for i in range(n):
            page.evaluate(f"window.rcmDeck.show({i})")
            out["slides"].append(page.evaluate("""() => {
                const s = document.querySelector('.slide.active'), f = s.querySelector('.foot');
                const r = s.getBoundingClientRect(), limit = f.getBoundingClientRect().top;
                let bottom = 0;
                for (const el of s.children) {
                    if (el !== f) bottom = Math.max(bottom, el.getBoundingClientRect().bottom);
                }
                const cards = [...s.querySelectorAll('.card')].filter(c => c.scrollHeight > c.clientHeight);
                return {sh: s.scrollHeight, ch: s.clientHeight, sw: s.scrollWidth, cw: s.clientWidth,
                        w: r.width, h: r.height, bottom: bottom, limit: limit, clipped: cards.length};
            }"""))
        page.evaluate("window.rcmDeck.show(0)")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        out["after_keys"] = page.evaluate(
            "[...document.querySelectorAll('.slide')].findIndex(s => s.classList.contains('active'))")
        page.screenshot(path=str(tmp_path / "slide3.png"))
        pdf = tmp_path / "deck.pdf"
        page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        out["pdf"] = pdf
    return out


def _pdf_pages(pdf) -> int | None:
    if not shutil.which("pdfinfo"):
        return None
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def _assert_deck_in_chromium(path, tmp_path):
    out = _check_in_chromium(path, tmp_path)
    assert out["errors"] == [] and out["requests"] == []
    assert 8 <= len(out["slides"]) <= MAX_SLIDES
    for i, s in enumerate(out["slides"], start=1):
        assert (s["w"], s["h"]) == (SLIDE_WIDTH, SLIDE_HEIGHT), i
        assert s["sh"] <= s["ch"] and s["sw"] <= s["cw"], (i, s)
        assert s["bottom"] <= s["limit"] + 1, (i, s)  # nothing runs into the slide's footer line
        assert s["clipped"] == 0, (i, s)  # no KPI card cuts its text
    assert out["after_keys"] == 2
    pages = _pdf_pages(out["pdf"])
    assert pages in (None, len(out["slides"]))  # printing gives one slide per page


@pytest.mark.browser
def test_small_deck_fits_16_9_offline(deck, tmp_path):
    path = tmp_path / "deck.html"
    path.write_text(deck, encoding="utf-8")
    _assert_deck_in_chromium(path, tmp_path)


@pytest.mark.browser
def test_demo_report_deck_fits_16_9_offline(demo_report, tmp_path):
    assert demo_report.returncode == 0, demo_report.stderr
    _assert_deck_in_chromium(demo_report.report_dir / "monthly_report.slides.html", tmp_path)


@pytest.mark.slow  # a second report build (~2 s); the deck's numbers stay fast: test_deck_shows_the_hand_computed_numbers
def test_deck_of_the_first_month_in_the_data():
    """November 2025, the small practice's first month (C03's $150): no prior month to compare with."""
    report = build_report(small_tables(), "2025-11", practice="small")
    deck = build_deck(report)
    cards = _parse(deck).cards
    assert cards["charges"]["value"] == "$150"
    assert 8 <= len(re.findall(r'<section class="slide\b', deck)) <= MAX_SLIDES
    assert ("Better than" in deck) == (report.summary.prior_month is not None)
