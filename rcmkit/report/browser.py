"""Driving the system's Chromium with Playwright (PyPI ``playwright``, in the ``test`` extra): screenshots of a
report and browser checks in the tests.

``playwright install`` cannot download browsers on every machine, so rcmkit always passes the system browser
(Debian's ``/usr/bin/chromium``, or ``$RCMKIT_CHROMIUM``) as ``executable_path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

__all__ = ["LAUNCH_ARGS", "chromium_path", "open_browser", "screenshot"]

#: Launch flags: no sandbox (root in CI), no GPU, no network services of the browser's own.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    """``$RCMKIT_CHROMIUM``, else ``/usr/bin/chromium``, else a ``chromium`` on the PATH; None when absent."""
    env = os.environ.get("RCMKIT_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@contextlib.contextmanager
def open_browser(executable_path: str | None = None) -> Iterator:
    """A Playwright Chromium browser on the system's Chromium; closed on exit. Raises RuntimeError when either
    Playwright or Chromium is missing."""
    exe = executable_path or chromium_path()
    if not exe:
        raise RuntimeError("chromium not found (install Debian's chromium, or set RCMKIT_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("playwright is not installed (pip install -e '.[test]')") from None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(html: str | os.PathLike, png: str | os.PathLike, *, width: int = 1200, height: int | None = 1400,
               scale: float = 1.0) -> Path:
    """Save a PNG of the page ``html`` at ``width`` CSS pixels: its top ``height`` pixels (None: the full page)."""
    html, png = Path(html).resolve(), Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with open_browser() as browser:
        page = browser.new_page(viewport={"width": width, "height": height or 900}, device_scale_factor=scale)
        page.goto(html.as_uri(), wait_until="load")
        if height is None:
            page.screenshot(path=str(png), full_page=True)
        else:
            page.screenshot(path=str(png), clip={"x": 0, "y": 0, "width": width, "height": height})
    return png
