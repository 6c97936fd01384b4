#!/usr/bin/env python
"""Generate the three demo practices of the multi-practice example (``parameters/portfolio/``).

    .venv/bin/python scripts/portfolio_demo.py                 # into data/
    .venv/bin/python scripts/portfolio_demo.py --data-root /tmp/data --scale 0.1

Three synthetic practices of different sizes and payer mixes: a large and a small family-medicine practice and a
pediatrics practice (Medicaid-heavy, no Medicare). Seeded: the same command writes the same tables.
``make portfolio`` runs this, then ``rcmkit run-monthly parameters/portfolio/``.
"""

from __future__ import annotations

import argparse
import sys
import time

#: (practice folder, demo profile, claims, seed): the parameter files in parameters/portfolio/ name these.
PRACTICES = (
    ("lakeside-fm", "family_medicine", 9_000, 11),
    ("riverbend-peds", "pediatrics", 6_000, 23),
    ("hillcrest-fm", "family_medicine", 3_000, 37),
)


def write_practices(data_root: str, scale: float = 1.0, practices=PRACTICES, log=print) -> list[str]:
    """Write each practice's canonical tables and ledger under ``data_root``; returns the practice names."""
    from rcmkit.demo import write_demo
    from rcmkit.core.ledger import write_ledger

    names = []
    for name, profile, claims, seed in practices:
        t0 = time.monotonic()
        n = max(200, int(claims * scale))
        manifest = write_demo(data_root, name, seed=seed, n_claims=n, profile=profile) or {}
        if "ledger" not in manifest.get("tables", {}):
            write_ledger(data_root, name)
        log(f"wrote {name} ({profile}, {n:,} claims, seed {seed}) to {data_root}/{name} in {time.monotonic() - t0:.1f} s")
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="data", help="folder for the practices' tables (default: data)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every practice's claim count (default 1)")
    args = ap.parse_args(argv)
    if args.scale <= 0:
        ap.error("--scale must be positive")
    write_practices(args.data_root, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
