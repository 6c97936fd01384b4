"""``python -m rcmkit.explorer serve|screenshot``: the explorer notebook as a Voila app, or a PNG of it."""

from __future__ import annotations

import argparse
import sys
import tempfile

from rcmkit.explorer import app


def _params(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--practice", default="demo", help="practice folder under the data root (default: demo)")
    ap.add_argument("--data-root", default="data", help="folder holding <practice>/tables/<table> (default: data)")
    ap.add_argument("--end", default=None, help="last month of the period, YYYY-MM (default: the last full month)")
    ap.add_argument("--months", type=int, default=3, choices=list(app.PERIOD_MONTHS), help="period length")
    ap.add_argument("--metric", default="initial_denial_rate", choices=list(app.METRICS))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rcmkit.explorer", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve notebooks/explore.ipynb with Voila on localhost (with a token)")
    _params(s)
    s.add_argument("--port", type=int, default=8866)
    s.add_argument("--token", default=None, help="access token (default: a random one, printed)")
    s.add_argument("--export-dir", default="reports/explorer", help="where the export buttons save files")
    s.add_argument("--cull-idle", type=int, default=app.CULL_IDLE_SECONDS, metavar="SECONDS",
                   help="shut down a visit's kernel once no page has been connected to it for this long "
                        f"(default: {app.CULL_IDLE_SECONDS}; 0: never)")
    shot = sub.add_parser("screenshot", help="a PNG of the explorer in headless Chromium (docs/explorer.png)")
    shot.add_argument("png")
    _params(shot)
    args = ap.parse_args(argv)
    params = dict(practice=args.practice, data_root=args.data_root, end=args.end, months=args.months,
                  metric=args.metric)
    try:
        if args.command == "serve":
            app.cull_options(args.cull_idle)  # checked before the notebook is prepared
        if args.command == "screenshot":
            print(app.screenshot(args.png, **params))
            return 0
        with tempfile.TemporaryDirectory(prefix="rcmkit-explorer-") as tmp:
            nb = app.prepare_notebook(tmp, export_dir=args.export_dir, **params)
            return app.serve(nb, port=args.port, token=args.token, cull_idle=args.cull_idle)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
