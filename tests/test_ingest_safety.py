"""Ingest safety: the per-practice patient salt (issue #13, item 4) and X12 workers that die with their parent
(item 7)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rcmkit.core import store
from rcmkit.cli import main
from rcmkit.ingest.x12.reader import DEFAULT_PATIENT_SALT
from rcmkit.ingest.salt import practice_salt, salt_path

X12 = Path(__file__).parent / "fixtures" / "x12"
CLAIMS = X12 / "claims_professional.837"


def _ingest(root: Path, *paths: Path, env: dict | None = None):
    return CliRunner(env=env or {"RCMKIT_PATIENT_SALT": ""}).invoke(
        main, ["ingest", "--practice", "p", "--data-root", str(root), "--no-progress", *map(str, paths)])


def test_a_new_practice_gets_its_own_random_secret_salt_and_keeps_it(tmp_path):
    root = tmp_path / "data"
    first = _ingest(root, CLAIMS)
    assert first.exit_code == 0, first.output
    path = salt_path(root, "p")
    assert "created a random secret salt for practice 'p'" in first.output and str(path) in first.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.is_relative_to(store.practice_dir(root, "p"))  # a copy of the tables does not carry it
    secret = path.read_bytes()
    assert len(secret) == 64 and secret != DEFAULT_PATIENT_SALT
    keys = set(store.load_table(root, "p", "claims")["patient_key"])
    # the public default would give other keys: the pseudonyms cannot be recomputed from a member ID
    from rcmkit.ingest import read_x12

    assert keys.isdisjoint(set(read_x12([CLAIMS], patient_salt=DEFAULT_PATIENT_SALT).tables["claims"]["patient_key"]))
    assert keys == set(read_x12([CLAIMS], patient_salt=secret).tables["claims"]["patient_key"])
    again = _ingest(root, X12 / "era_paid_and_denied.835")
    assert "salted with the practice's secret" in again.output and path.read_bytes() == secret


def test_a_practice_with_tables_but_no_secret_is_refused_not_split_in_two(tmp_path):
    root = tmp_path / "data"
    _ingest(root, CLAIMS)
    salt_path(root, "p").unlink()
    refused = _ingest(root, X12 / "era_paid_and_denied.835")
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "already holds tables but has no secret salt" in refused.output
    assert store.load_table(root, "p", "remittances").empty  # nothing was written


def test_the_environment_salt_wins_and_the_demo_keeps_its_public_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SALT", "s3cret")
    salt, said = practice_salt(tmp_path, "p", "MY_SALT")
    assert salt == b"s3cret" and "$MY_SALT" in said and not salt_path(tmp_path, "p").exists()
    out = CliRunner().invoke(main, ["demo", "--practice", "d", "--data-root", str(tmp_path), "--claims", "60",
                                    "--direct", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert salt_path(tmp_path, "d").read_bytes() == DEFAULT_PATIENT_SALT


#: The workers are spawned (a fresh interpreter each): they unpickle the task function by name, so the sleeping stand-in for
#: the reader lives in a module of its own (written to the test's folder, on the child's PYTHONPATH). Each worker
#: says its pid in one write(2) to the shared pipe: print() writes its pieces separately when the output is unbuffered
#: (PYTHONUNBUFFERED), and two workers' words interleaved ("workerworker 19240", "19243": the test's one flake).
_SLEEPER = """
import os, time

def slow(paths, salt):
    os.write(1, f"worker {os.getpid()}\\n".encode())  # one write: two workers' lines never interleave
    time.sleep(60)
"""

_CHILD = """
import os
import sys
from pathlib import Path
from rcmkit.ingest import pipeline
import x12_sleeper

pipeline._read_batch = x12_sleeper.slow
files = [Path(p) for p in sys.argv[1:]]
pipeline._batches = lambda files, **kw: [[f] for f in files]
print("child", os.getpid(), "batches", len(pipeline._batches(files)), flush=True)  # said if the test fails
pipeline._read_x12_files(files, b"s", 3, False)  # 3 readers: this process and 2 worker processes
"""


@pytest.mark.slow
def test_x12_workers_die_with_their_parent(tmp_path):
    """`kill -9` of an ingest reading with two worker processes (`--jobs 2` then, `--jobs 3` now: the ingest
    process reads too) left both workers alive, blocked on a pipe (120 MB each)."""
    files = [X12 / "era_paid_and_denied.835", X12 / "era_reversal_plb.835", CLAIMS]
    (tmp_path / "x12_sleeper.py").write_text(_SLEEPER)
    child, workers, said = _start_ingest_with_sleeping_workers(files, tmp_path)
    if len(workers) < 2:
        child.kill()
        _, err = child.communicate(timeout=30)
        pytest.fail(f"workers {workers} started, not 2; exit code {child.returncode}; printed {said}: "
                    f"{err[-1500:]}")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    deadline = time.monotonic() + 30
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = [w for w in workers if _alive(w)]
        time.sleep(0.1)
    for w in alive:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their parent"


def _start_ingest_with_sleeping_workers(files: list[Path], folder: Path
                                        ) -> tuple[subprocess.Popen, list[int], list[str]]:
    """An ingest with 2 X12 workers that each print their pid and sleep; the pids of those that started, and every
    line printed (the child's pid and batch count first: a failure says which path the child took)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *map(str, files)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    workers: list[int] = []
    said: list[str] = []
    while len(workers) < 2:  # a child that died (with its workers) ends the output
        line = child.stdout.readline()
        if not line:
            break
        said.append(line.strip())
        if line.startswith("worker ") and int(line.split()[1]) != child.pid:  # not the ingest reading itself
            workers.append(int(line.split()[1]))
    return child, workers, said


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
