"""End to end in a real browser: the explorer notebook served by Voila on localhost (with a token), opened in
headless Chromium (Debian's /usr/bin/chromium driven by Playwright), the payer control changed by selecting an
option, and the KPI tile checked against the number rcmkit computes for the same selection.

Skipped, with the reason, where Chromium, Playwright or Voila is missing (``.ci/run`` installs Chromium).
Set ``RCMKIT_EXPLORER_SCREENSHOT=path.png`` to keep a screenshot of the page after the change.
"""

from __future__ import annotations

import contextlib
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


def _kernels(server) -> list:
    """The kernel processes Voila runs now (its children running ipykernel)."""
    psutil = pytest.importorskip("psutil")
    try:
        children = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
    return found


def test_offline_no_request_leaves_localhost_and_the_console_stays_clean(tmp_path, explorer_page_data):
    """With every request to another host refused, the explorer loads, a control changes the tiles, and a bad code
    search clears them with the reason beside the search box: no external request, no console error."""
    from rcmkit.explorer.app import prepare_notebook, running_voila, tile_value, wait_for_explorer
    from rcmkit.report.browser import open_browser

    demo_root, period, everyone, payer_label, expected = explorer_page_data
    nb = prepare_notebook(tmp_path / "app", practice="demo", data_root=demo_root, end=period.end, months=3)
    external, errors = [], []
    with running_voila(nb, timeout=60) as server, open_browser() as browser:
        local = f"http://127.0.0.1:{server.port}/"
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        allowed = (local, "data:", "blob:", f"ws://127.0.0.1:{server.port}/")
        page.on("request", lambda r: None if r.url.startswith(allowed) else external.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(local) else route.abort())
        page.goto(server.url, wait_until="load", timeout=60_000)
        wait_for_explorer(page, timeout_ms=90_000)
        assert tile_value(page, LABEL) == everyone
        page.locator(".rcmx-payer select").select_option(value=payer_label)
        page.wait_for_function(
            """([label, expected]) => {
                 const tile = [...document.querySelectorAll('.rcm-tile')]
                   .find(t => t.querySelector('.rcm-label')?.textContent === label);
                 return tile && tile.querySelector('.rcm-value').firstChild.textContent.trim() === expected;
               }""", arg=[LABEL, expected], timeout=30_000)

        box = page.locator(".rcmx-codes input")
        box.fill("99-213")
        box.press("Enter")
        page.wait_for_selector(".rcmx-message .rcmx-error", timeout=30_000)
        assert page.locator(".rcmkit-explorer .rcm-tile").count() == 0  # the old results are gone
        assert "is not a code" in page.locator(".rcmx-message").inner_text()
        b, m = box.bounding_box(), page.locator(".rcmx-message .rcmx-error").bounding_box()
        assert abs((m["y"] + m["height"] / 2) - (b["y"] + b["height"] / 2)) < 40  # on the search box's row
        page.wait_for_timeout(500)  # let late requests (fonts, icons) show up
        if os.environ.get("RCMKIT_EXPLORER_SCREENSHOT"):
            page.screenshot(path=os.environ["RCMKIT_EXPLORER_SCREENSHOT"].replace(".png", "-error.png"))
    assert external == [], f"requests to other hosts: {external}"
    assert errors == [], f"console errors: {errors}"


def test_the_kernel_of_a_closed_page_is_culled(tmp_path, explorer_page_data):
    """Voila started with a 3-second idle timeout: the kernel of an open page stays (it is connected), the kernel
    of a closed page is shut down."""
    import time

    from rcmkit.explorer.app import prepare_notebook, running_voila, wait_for_explorer
    from rcmkit.report.browser import open_browser

    demo_root, period, *_ = explorer_page_data
    nb = prepare_notebook(tmp_path / "app", practice="demo", data_root=demo_root, end=period.end, months=3)
    with running_voila(nb, timeout=60, cull_idle=3, cull_interval=1) as server, open_browser() as browser:
        assert _kernels(server) == []
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url, wait_until="domcontentloaded", timeout=60_000)
        wait_for_explorer(page, timeout_ms=90_000)
        assert len(_kernels(server)) == 1
        page.wait_for_timeout(6_000)  # twice the idle timeout: a connected page keeps its kernel
        assert len(_kernels(server)) == 1
        page.close()
        deadline = time.monotonic() + 30
        while _kernels(server) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _kernels(server) == [], server.log.read_text(errors="replace")[-2000:]
        assert "Culling 'idle' kernel" in server.log.read_text(errors="replace")


def test_the_cash_forecast_and_claim_checks_tabs_in_the_browser(tmp_path, explorer_page_data):
    """Clicking the Cash forecast tab draws the 13-week chart and the by-payer table; clicking Claim checks shows
    the batch, its findings and scores, and choosing a payer x code in the drill-down shows its history."""
    from rcmkit.explorer import Filters, load_data
    from rcmkit.explorer.app import prepare_notebook, running_voila, wait_for_explorer
    from rcmkit.present.format import usd_whole
    from rcmkit.report.browser import open_browser

    demo_root, period, *_ = explorer_page_data
    total = load_data(demo_root, "demo").cash(Filters(), period.end).table.iloc[-1]
    nb = prepare_notebook(tmp_path / "app", practice="demo", data_root=demo_root, end=period.end, months=3)
    tab = ".rcmx-tabs .lm-TabBar-tab, .rcmx-tabs .p-TabBar-tab"
    with running_voila(nb, timeout=60) as server, open_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(server.url, wait_until="domcontentloaded", timeout=60_000)
        wait_for_explorer(page, timeout_ms=90_000)
        page.locator(tab).filter(has_text="Cash forecast").first.click()
        page.wait_for_function("() => document.querySelector('.rcmx-cash-table')?.textContent"
                               ".includes('Cash expected from the balances open on')", timeout=60_000)
        assert page.locator(".rcmx-cash-chart img, img.rcmx-cash-chart").first.is_visible()
        text = page.locator(".rcmx-cash-table").inner_text()
        assert usd_whole(total["expected_30d_cents"]) in text  # the practice's 30-day total, as rcmkit computes it
        if os.environ.get("RCMKIT_EXPLORER_SCREENSHOT"):
            page.screenshot(path=os.environ["RCMKIT_EXPLORER_SCREENSHOT"].replace(".png", "-cash.png"))
        page.locator(tab).filter(has_text="Claim checks").first.click()
        # the summary says "Checking the claims first sent ..." while it works: wait for the findings table
        page.wait_for_function("() => document.querySelector('.rcmx-checks-table')?.textContent"
                               ".includes('What the checks found')", timeout=90_000)
        assert "first sent" in page.locator(".rcmx-checks-summary").inner_text()
        assert "Checking the claims" not in page.locator(".rcmx-checks-summary").inner_text()
        page.locator(".rcmx-pair select").select_option(index=1)
        page.wait_for_function("() => document.querySelector('.rcmx-history-table')?.textContent"
                               ".includes('first answers from the payer before')", timeout=30_000)
        if os.environ.get("RCMKIT_EXPLORER_SCREENSHOT"):
            page.screenshot(path=os.environ["RCMKIT_EXPLORER_SCREENSHOT"].replace(".png", "-checks.png"))
