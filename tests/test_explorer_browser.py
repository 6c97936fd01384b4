"""End to end in a real browser: the explorer notebook served by Voila on localhost (with a token), opened in
headless Chromium (Debian's /usr/bin/chromium driven by Playwright), the payer control changed by selecting an
option, and the KPI tile checked against the number rcmkit computes for the same selection.

Skipped, with the reason, where Chromium, Playwright or Voila is missing (``.ci/run`` installs Chromium).
Set ``RCMKIT_EXPLORER_SCREENSHOT=path.png`` to keep a screenshot of the page after the change.
"""

from __future__ import annotations

import os
import shutil

import pytest

from rcmkit.report.browser import chromium_path

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LABEL = "Initial denial rate (claims)"


def _skip_reason() -> str | None:
    if chromium_path() is None:
        return ("no Chromium: install Debian's 'chromium' (apt-get install chromium; .ci/run does) or set "
                "RCMKIT_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    from rcmkit.explorer.app import voila_available

    if not voila_available():
        return "voila is not installed (pip install -e .)"
    return None


@pytest.fixture(scope="module")
def explorer_page_data(request):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)  # before the demo practice is built: a skip costs nothing
    from rcmkit.explorer import Filters, Period, load_data
    from rcmkit.present.format import kpi_value

    demo_root = request.getfixturevalue("demo_root")

    data = load_data(demo_root, "demo")
    period = Period(data.last_month, 3)
    everyone = kpi_value(data.kpis(Filters(), period)["initial_denial_rate"])
    # The payer whose denial rate differs most from the practice's: the tile must visibly change.
    choices = {label: pid for label, pid in data.payer_choices()}
    shown = {label: data.kpis(Filters(payers=(pid,)), period)["initial_denial_rate"]
             for label, pid in choices.items()}
    label = max((lb for lb, k in shown.items() if k.value is not None and kpi_value(k) != everyone),
                key=lambda lb: abs(shown[lb].value - data.kpis(Filters(), period)["initial_denial_rate"].value))
    return demo_root, period, everyone, label, kpi_value(shown[label])


def test_change_the_payer_in_the_browser(tmp_path, explorer_page_data):
    from rcmkit.explorer.app import prepare_notebook, running_voila, tile_value, wait_for_explorer
    from rcmkit.report.browser import open_browser

    demo_root, period, everyone, payer_label, expected = explorer_page_data
    nb = prepare_notebook(tmp_path / "app", practice="demo", data_root=demo_root, end=period.end, months=3,
                          export_dir=tmp_path / "exports")
    with running_voila(nb, timeout=60) as server, open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
        page.goto(server.url, wait_until="domcontentloaded", timeout=60_000)
        try:
            wait_for_explorer(page, timeout_ms=90_000)
        except Exception:
            pytest.fail(f"the explorer did not render; Voila log:\n{server.log.read_text(errors='replace')[-3000:]}")
        assert tile_value(page, LABEL) == everyone

        page.locator(".rcmx-payer select").select_option(value=payer_label)
        page.wait_for_function(
            """([label, expected]) => {
                 const tile = [...document.querySelectorAll('.rcm-tile')]
                   .find(t => t.querySelector('.rcm-label')?.textContent === label);
                 return tile && tile.querySelector('.rcm-value').firstChild.textContent.trim() === expected;
               }""",
            arg=[LABEL, expected], timeout=30_000)
        assert tile_value(page, LABEL) == expected != everyone
        assert payer_label.split(" (")[0] in page.locator(".rcmkit-explorer h2 + .rcmx-sub").inner_text()

        # One click exports the view; the page offers the file as a download.
        page.locator(".rcmx-export-csv button, button.rcmx-export-csv").first.click()
        link = page.locator("a.rcmx-download")
        link.wait_for(timeout=30_000)
        with page.expect_download() as download:
            link.click()
        csv = download.value.path().read_text()
        assert csv.splitlines()[0].startswith("category,claims,lines,denied")

        shot = tmp_path / "explorer.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000
        if os.environ.get("RCMKIT_EXPLORER_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["RCMKIT_EXPLORER_SCREENSHOT"])
