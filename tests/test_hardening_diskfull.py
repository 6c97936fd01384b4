"""Issue #13: a full disk (OSError ENOSPC) while writing is one 'error:' line naming what could not be written,
and leaves no temporary files or folders behind; the stored tables stay the previous version."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

import rcmkit.report
from rcmkit.core import store
from rcmkit.cli import main
from rcmkit.report import run as report_run
from rcmkit.report.kernel import WarmKernel
from rcmkit.report.params import ReportParams
from rcmkit.report.record import write_metrics

from small_practice import tables as small_tables

HERE = Path(__file__).resolve().parent
FIXTURE_835 = HERE / "fixtures" / "x12" / "era_paid_and_denied.835"


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if ".tmp" in p.name or "failed-tmp" in p.name or ".old-" in p.name)


# --------------------------------------------------------------------------------------------- store
@pytest.fixture
def practice(tmp_path) -> Path:
    store.save_tables(tmp_path, "small", small_tables())
    return tmp_path


@pytest.mark.parametrize("fail_on", ["claims", "remittances", "payers"])
def test_store_write_enospc_is_a_store_error_and_the_old_snapshot_stays(practice, monkeypatch, fail_on):
    """Writing fails on the table ``fail_on`` after some bytes went to a data file (and after the tables sorted
    before it were committed as new Delta versions), as delta-rs reports a full disk: the tables written are
    rolled back to the snapshot's versions, the practice stays at the previous snapshot."""
    before = store.load_tables(practice, "small", ["claims", "remittances", "payers"])
    snapshot = store.manifest(practice, "small")
    real = store._write_delta

    def write(name, path, data, mode):
        if name == fail_on:
            (path / "part-00000-partial.zstd.parquet").write_bytes(b"PAR1 partial")
            raise OSError("Generic LocalFileSystem error: Unable to write: No space left on device (os error 28)")
        real(name, path, data, mode)

    monkeypatch.setattr(store, "_write_delta", write)
    t = small_tables()
    with pytest.raises(store.StoreError) as info:
        store.save_tables(practice, "small", {"claims": t["claims"].iloc[:3], "remittances": t["remittances"].iloc[:2],
                                              "payers": t["payers"].iloc[:1]})
    message = str(info.value)
    assert "\n" not in message
    assert f"cannot write {practice / 'small' / 'tables' / fail_on}" in message
    assert "No space left on device" in message
    assert _leftovers(practice) == []
    rolled_back = store.manifest(practice, "small")  # the same content; tables written are at their RESTORE
    assert {n: {**t, "version": 0} for n, t in rolled_back["tables"].items()} == snapshot["tables"]
    for name in ["claims", "remittances", "payers"]:  # no Delta version beyond the snapshot's
        assert store._log_version(practice / "small" / "tables" / name) == rolled_back["tables"][name]["version"]
        assert rolled_back["tables"][name]["version"] == (2 if name < fail_on else 0)  # + write, RESTORE
    monkeypatch.setattr(store, "_write_delta", real)
    after = store.load_tables(practice, "small", ["claims", "remittances", "payers"])
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name])
    assert len(after["claims"]) == 15 and len(after["payers"]) == 4


def test_store_snapshot_enospc_leaves_nothing_and_keeps_the_old_version(practice, monkeypatch):
    real_dump = json.dump

    def dump(obj, fh, **kw):
        if "snapshot" in obj:
            fh.write('{"snapshot": ')
            _enospc()
        real_dump(obj, fh, **kw)

    monkeypatch.setattr(store.json, "dump", dump)
    with pytest.raises(store.StoreError, match=r"cannot write .*_snapshots/00000002\.json.*No space left"):
        store.save_tables(practice, "small", {"payers": small_tables()["payers"].iloc[:1]})
    monkeypatch.setattr(store.json, "dump", real_dump)
    assert _leftovers(practice) == []
    assert store.snapshot_id(practice, "small") == 1  # the disk was still full for the roll back's snapshot
    assert store._log_version(practice / "small" / "tables" / "payers") == 2  # its write, then the RESTORE
    assert len(store.load_tables(practice, "small", ["payers"])["payers"]) == 4
    store.save_tables(practice, "small", {"contracts": small_tables()["contracts"]})  # the next writer
    assert store.snapshot_id(practice, "small") == 3  # 2: the roll back's snapshot, 3: its own
    assert store.manifest(practice, "small", 2)["tables"]["payers"]["version"] == 3  # restored again
    assert len(store.load_tables(practice, "small", ["payers"])["payers"]) == 4


def test_ingest_cli_disk_full_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RCMKIT_PATIENT_SALT", "test-salt")
    monkeypatch.setattr(store, "_write_delta", lambda name, path, data, mode: _enospc())
    result = CliRunner().invoke(main, ["ingest", "--practice", "p1", "--data-root", str(tmp_path / "data"),
                                       "--no-progress", str(FIXTURE_835)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot write ") and "No space left on device" in lines[-1]
    assert "Traceback" not in result.output
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------- report
@pytest.fixture
def report_project(tmp_path, monkeypatch):
    """A practice on disk and a fake papermill that 'runs' the notebook: it writes the executed notebook and
    metrics.json into the staging folder as the real notebook does (no kernel needed)."""
    store.save_tables(tmp_path / "data", "small", small_tables())
    params = ReportParams(source="p.yaml", practice="small", data_root=tmp_path / "data", month="2026-03",
                          output_root=tmp_path / "reports")

    def execute_notebook(nb_in, nb_out, *, cwd, **_):
        nbformat.write(new_notebook(cells=[new_code_cell("1")]), nb_out)
        write_metrics(cwd, "small", "2026-03", {})

    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    nb = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), nb)
    return params, nb


def _run(params, nb, **kw):
    return report_run.run_report(params, notebook=nb, kernel="python3", progress=False, pdf=False, slides=False,
                                 log=lambda m: None, **kw)


def test_report_runs_with_the_fake_notebook(report_project):
    params, nb = report_project
    result = _run(params, nb)
    assert result.html.is_file() and _leftovers(params.output_root) == []


@pytest.mark.parametrize("target", [report_run.HTML_FILE, report_run.NOTEBOOK_FILE, "run.json.tmp"])
def test_report_write_enospc_is_a_report_error_and_leaves_nothing(report_project, monkeypatch, target):
    params, nb = report_project
    real = store.write_file

    def write_file(path, data):
        if Path(path).name == target:
            with open(path, "wb") as fh:
                fh.write(data[:10])
            _enospc()
        real(path, data)

    monkeypatch.setattr(store, "write_file", write_file)
    with pytest.raises(report_run.ReportError) as info:
        _run(params, nb)
    message = str(info.value)
    assert "\n" not in message and "cannot write" in message and "No space left on device" in message
    assert target.split(".tmp")[0] in message
    assert _leftovers(params.output_root) == []
    assert not (params.report_dir).exists()


def test_failed_notebook_kept_on_a_full_disk_leaves_no_failed_tmp(report_project, monkeypatch):
    """The notebook fails (papermill raises) and keeping the partial notebook hits ENOSPC writing its run.json:
    one ReportError, no '.failed-tmp-*' folder."""
    params, nb = report_project
    import papermill

    def failing(nb_in, nb_out, **_):
        nbformat.write(new_notebook(cells=[new_code_cell("1")]), nb_out)
        raise RuntimeError("kernel died")

    monkeypatch.setattr(papermill, "execute_notebook", failing)
    real = store.write_file
    monkeypatch.setattr(store, "write_file",
                        lambda path, data: _enospc() if Path(path).name == "run.json.tmp" else real(path, data))
    with pytest.raises(report_run.ReportError) as info:
        _run(params, nb)
    assert "kernel died" in str(info.value) and "\n" not in str(info.value)
    assert _leftovers(params.output_root) == []


def _no_kernel(self):
    raise RuntimeError("no kernel in this test: papermill is faked")


def test_report_cli_disk_full_is_one_error_line(report_project, monkeypatch, tmp_path):
    params, nb = report_project
    (tmp_path / "p.yaml").write_text("practice: small\ndata_root: data\nmonth: \"2026-03\"\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    real = store.write_file
    monkeypatch.setattr(store, "write_file", lambda path, data: _enospc() if Path(path).name == report_run.HTML_FILE
                        else real(path, data))
    # papermill is faked (no kernel runs the notebook), so the kernel the command starts early is not started
    # either: it would boot and import for nothing. Without a PDF no browser starts (the HTML write fails first).
    monkeypatch.setattr(WarmKernel, "start", _no_kernel)
    result = CliRunner().invoke(main, ["report", "p.yaml", "--notebook", str(nb), "--kernel", "python3",
                                       "--no-progress", "--no-pdf"])
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and report_run.HTML_FILE in last and "No space left" in last
    assert "Traceback" not in result.output
    assert _leftovers(tmp_path / "reports") == []


def test_explorer_export_on_a_full_disk_leaves_no_temporary_file(tmp_path, monkeypatch):
    from rcmkit.explorer import export_frame

    real = store.write_file

    def write_file(path, data):
        real(path, data[:3])
        _enospc()

    monkeypatch.setattr(store, "write_file", write_file)
    with pytest.raises(OSError, match="No space left"):
        export_frame(pd.DataFrame({"claim_id": ["C1"], "paid_cents": [100]}), tmp_path / "view.csv")
    assert list(tmp_path.iterdir()) == []
