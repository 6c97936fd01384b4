"""Reports read one store snapshot and record it (issue #15): ``run.json`` names the snapshot and the table
versions, and ``rcmkit report --as-of-version N`` reproduces an earlier report exactly after later files arrive."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rcmkit import demo
from rcmkit.cli import main
from rcmkit.core import store
from rcmkit.ingest.pipeline import ingest
from rcmkit.ingest.x12 import write as x12write
from rcmkit.report import load_params
from rcmkit.report.runlog import input_hashes, store_versions


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """A practice loaded from its 837P files and the first half of its 835 files (run A); the second half of the
    835 files (late payments, run B) waits in ``later``."""
    root = tmp_path_factory.mktemp("project")
    tables = demo.generate(seed=11, n_claims=150)
    roster = demo.patients(seed=11, n_claims=150)
    inbox = root / "inbox"
    inbox.mkdir()
    c837 = [t for _, t in x12write.write_837p(tables["claims"], tables["claim_lines"], tables["payers"], roster)]
    c835 = [t for _, t in x12write.write_835(tables["remittances"], tables["remit_lines"], tables["adjustments"],
                                             tables["payers"], roster, claims=tables["claims"])]
    half = len(c835) // 2
    files = {"837": "".join(c837), "835a": "".join(c835[:half]), "835b": "".join(c835[half:])}
    for name, text in files.items():
        (inbox / f"{name}.x12").write_text(text)
    ingest(root / "data", "p", [inbox / "837.x12", inbox / "835a.x12"], progress=False)
    (root / "p.yaml").write_text("practice: p\ndata_root: data\noutput_root: reports\n", encoding="utf-8")
    return {"root": root, "later": inbox / "835b.x12"}


def test_params_and_run_log_name_the_snapshot(project, monkeypatch):
    root = project["root"]
    monkeypatch.chdir(root)
    n = store.snapshot_id(root / "data", "p")
    assert n >= 1
    params = load_params(root / "p.yaml", cwd=root, store_version=n)
    assert params.store_version == n and params.notebook_parameters(".")["store_version"] == n
    snap = store.manifest(root / "data", "p", n)
    assert store_versions(root / "data", "p", n) == {
        "store_snapshot": n, "tables": {name: t["version"] for name, t in snap["tables"].items()}}
    assert input_hashes(root / "data", "p", n) == {name: t["sha256"] for name, t in snap["tables"].items()}
    bad = CliRunner().invoke(main, ["report", "p.yaml", "--as-of-version", str(n + 50)])
    assert bad.exit_code == 2 and f"has no snapshot {n + 50}" in bad.output, bad.output


@pytest.mark.slow  # two notebook runs
def test_report_as_of_version_is_byte_identical_after_later_files_arrive(project, monkeypatch):
    from rcmkit.report import run_report

    root = project["root"]
    monkeypatch.chdir(root)
    first = run_report(load_params("p.yaml"), progress=False, pdf=False, slides=False, log=lambda _m: None)
    run = json.loads((first.report_dir / "run.json").read_text())
    n = run["store"]["store_snapshot"]
    assert n == store.snapshot_id("data", "p") and run["store"]["tables"]["claims"] >= 0
    metrics = (first.report_dir / "metrics.json").read_bytes()
    month = json.loads(metrics)["month"]

    summary = ingest(root / "data", "p", [project["later"]], progress=False)  # late 835s for old claims
    assert summary.files == 1 and store.snapshot_id("data", "p") > n
    now = store.load_table("data", "p", "remittances")
    then = store.load_table("data", "p", "remittances", version=n)
    assert len(now) > len(then)  # the newest tables differ: the as-of report must not read them

    result = CliRunner().invoke(main, ["report", "p.yaml", "--month", month, "--as-of-version", str(n),
                                       "--output-root", "again", "--no-progress"])
    assert result.exit_code == 0, result.output
    again = Path("again") / "p" / month
    assert (again / "metrics.json").read_bytes() == metrics
    assert json.loads((again / "run.json").read_text())["store"] == run["store"]
    pd.testing.assert_frame_equal(store.load_table("data", "p", "remittances", version=n), then)
