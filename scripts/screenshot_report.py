#!/usr/bin/env python
"""Screenshot a report for the README (docs/report.png), with Playwright driving the system's Chromium.

    .venv/bin/python scripts/screenshot_report.py reports/demo/2026-10/monthly_report.html docs/report.png

The top of the report (title, executive summary, KPI tiles) at 1200 CSS pixels wide. Needs the ``test`` extra
(playwright) and Debian's chromium (or RCMKIT_CHROMIUM pointing at a Chromium).
"""

from __future__ import annotations

import argparse
import sys

from rcmkit.report.browser import screenshot


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", help="the report's monthly_report.html")
    ap.add_argument("png", nargs="?", default="docs/report.png", help="where to write the PNG (docs/report.png)")
    ap.add_argument("--width", type=int, default=1200, help="viewport width in CSS pixels (1200)")
    ap.add_argument("--height", type=int, default=1350, help="height of the top part to keep; 0: the full page")
    args = ap.parse_args(argv)
    try:
        out = screenshot(args.html, args.png, width=args.width, height=args.height or None)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
