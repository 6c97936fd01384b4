"""How well the claim scrubber finds the demo's seeded errors, and how well its denial-risk score ranks claims.

Builds the demo practice the real way (837P/835 files written, then ingested) with a seed, scrubs all its 837
files with ``rcmkit.scrub.scrub_files`` (the practice's history for duplicates), and compares the findings with
the seeded truth (``demo_truth/seeded_errors.csv``):

* per seeded error kind: how many were seeded, found by the rule of the same name (recall) and how many of that
  rule's flagged claims carry that seeded error (precision);
* the false-positive rate: clean claims (no seeded error) with an error-severity finding;
* the risk model against the payer x code baseline with a time split: trained on original claims adjudicated
  before month M, scored on the original claims submitted in M: AUC, precision in the top decile, Brier score
  and a decile calibration table, side by side.

    .venv/bin/python benchmarks/scrub_eval.py                    # seed 7, 25,000 claims, M = 2026-08
    .venv/bin/python benchmarks/scrub_eval.py --claims 5000 --month 2026-06 --seed 3
    .venv/bin/python benchmarks/scrub_eval.py --rules benchmarks/scrub_demo_payer_rules.csv   # the payer's own limit
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from rcmkit.core import store
from rcmkit.demo import build_demo
from rcmkit.demo.build import truth_path
from rcmkit.ingest.x12.reader import DEFAULT_PATIENT_SALT
from rcmkit.scrub import risk
from rcmkit.scrub.batch import scrub_files

KINDS = ("dx_invalid", "dx_not_billable", "npi_invalid", "modifier25_missing", "duplicate", "timely_filing")


def _seq(claims: pd.DataFrame) -> pd.Series:
    """The demo's submission name (claim_id-S<n>, n by submission date) of each ingested submission."""
    order = claims.sort_values(["claim_id", "submitted_on", "submission_id"])
    n = order.groupby("claim_id").cumcount() + 1
    return (order["claim_id"] + "-S" + n.astype(str)).reindex(claims.index)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--claims", type=int, default=25_000)
    ap.add_argument("--month", default="2026-08",
                    help="the month the risk model scores (trained on the months before)")
    ap.add_argument("--rules", default=None, help="a payer rule file (e.g. benchmarks/scrub_demo_payer_rules.csv: "
                    "the demo Medicaid plan's own 95-day filing limit)")
    ap.add_argument("--root", default=None, help="data root to build the demo in (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="scrub_eval_"))
    t0 = time.perf_counter()
    if not (root / "bench").exists():  # --root of an earlier run: reuse its demo
        build_demo(root, "bench", seed=args.seed, n_claims=args.claims, progress=False)
    t_build = time.perf_counter() - t0
    tables = store.load_tables(root, "bench", ["payers", "claims", "claim_lines", "remittances", "remit_lines",
                                               "adjustments"])
    truth = pd.read_csv(truth_path(root, "bench"), dtype=str)
    salt = DEFAULT_PATIENT_SALT  # build_demo ingests with the default salt
    inbox = store.practice_dir(root, "bench") / "inbox" / "837"
    t0 = time.perf_counter()
    result = scrub_files([inbox], as_of=tables["claims"]["submitted_on"].max().date(), history=tables,
                         patient_salt=salt, with_risk=False, rules_path=args.rules)
    t_scrub = time.perf_counter() - t0
    claims = result.claims.assign(demo_sub=_seq(result.claims))
    name = claims.set_index("submission_id")["demo_sub"]
    f = result.findings.assign(demo_sub=result.findings["submission_id"].map(name))
    errors = f[f["severity"] == "error"]
    print(f"demo: seed {args.seed}, {len(claims):,} submissions in {len(list(inbox.iterdir())):,} 837 files "
          f"(built in {t_build:.0f} s); scrubbed in {t_scrub:.1f} s against {result.icd_label}")
    print(f"seeded errors: {len(truth):,} on {truth['submission_id'].nunique():,} submissions "
          f"({truth['submission_id'].nunique() / len(claims):.1%})\n")
    print(f"{'seeded error':<22}{'seeded':>8}{'found':>8}{'recall':>9}{'flagged':>9}{'precision':>11}")
    for kind in KINDS:
        seeded = set(truth.loc[truth["kind"] == kind, "submission_id"])
        flagged = set(errors.loc[errors["rule"] == kind, "demo_sub"])
        hit = seeded & flagged
        rec = len(hit) / len(seeded) if seeded else float("nan")
        prec = len(hit) / len(flagged) if flagged else float("nan")
        print(f"{kind:<22}{len(seeded):>8,}{len(hit):>8,}{rec:>9.1%}{len(flagged):>9,}{prec:>11.1%}")
    other = errors[~errors["rule"].isin(KINDS)]
    if len(other):
        print("other error rules fired:", other["rule"].value_counts().to_dict())
    dirty = set(truth["submission_id"])
    clean = claims[~claims["demo_sub"].isin(dirty)]
    fp = set(errors["demo_sub"]) & set(clean["demo_sub"])
    warn = set(f.loc[f["severity"] == "warning", "demo_sub"]) & set(clean["demo_sub"])
    print(f"\nclean submissions: {len(clean):,}; with an error finding: {len(fp):,} "
          f"(false-positive rate {len(fp) / len(clean):.2%}); with a warning: {len(warn):,} "
          f"({len(warn) / len(clean):.2%})")
    if fp:
        fps = errors[errors["demo_sub"].isin(fp)]
        print("false positives by rule:", fps.drop_duplicates(["demo_sub", "rule"])["rule"].value_counts().to_dict())
        print(fps.head(5)[["demo_sub", "rule", "evidence"]].to_string(index=False))

    # ------------------------------------------------------------------------------------- the risk model
    t0 = time.perf_counter()
    outcomes = risk.line_outcomes(tables)
    ev = risk.evaluate(tables["claims"], tables["claim_lines"], outcomes, args.month, result.findings)
    t_risk = time.perf_counter() - t0
    print(f"\ndenial-risk model, time split: train on {ev['train_claims']:,} original claims adjudicated before "
          f"{args.month}, score {ev['test_claims']:,} submitted in {args.month} "
          f"(denied: {ev['test_denial_rate']:.1%}); "
          f"{t_risk:.1f} s")
    print(f"{'':<28}{'model':>10}{'payer x code':>15}")
    for key, label in (("auc", "AUC"), ("top_decile_precision", "precision, top decile"), ("brier", "Brier score")):
        print(f"{label:<28}{ev['model'][key]:>10.3f}{ev['baseline'][key]:>15.3f}")
    print("\ncalibration by decile of each score (mean predicted vs share denied):")
    dm, db = ev["model"]["deciles"], ev["baseline"]["deciles"]
    print(f"{'decile':>6}{'claims':>8}{'model pred':>12}{'denied':>9}{'base pred':>11}{'denied':>9}")
    for d in dm.index:
        print(f"{d:>6}{int(dm.loc[d, 'claims']):>8}{dm.loc[d, 'predicted']:>12.3f}{dm.loc[d, 'denied']:>9.3f}"
              f"{db.loc[d, 'predicted']:>11.3f}{db.loc[d, 'denied']:>9.3f}")
    print("\nmodel coefficients (standardized):", {k: round(v, 2) for k, v in ev["coefficients"].items()})


if __name__ == "__main__":
    main()
