"""Reliability and security of the store and of ingest: crashes, concurrent runs, hostile input, PHI hygiene and
private file modes.

* Crash safety: an ingest is killed (SIGKILL) at every step of the store's commit (the ``RCMKIT_CRASH_AT``
  hook of :func:`rcmkit.core.store._crash_point`), during a later writer's roll-back, and at increasing delays
  from its start. After each kill the practice reads as exactly the state before the run or exactly the state
  after it (Delta versions no snapshot names are never read), and running the ingest again ends in the state of
  one uninterrupted run.
* Concurrency: readers see one committed version while a writer commits over and over; concurrent ingests of
  overlapping files equal a serial run; a busy practice names its holder; other practices do not wait.
* Hostile input: practice names, snapshot files, and X12 files over the reader's limits
  (:mod:`rcmkit.ingest.limits`), generated small by lowering the limits.
* PHI: no roster name, member ID or birth date in any stored text or message after ingesting the demo's files.
* Files and folders the store and the demo inbox create are private (0600/0700, or ``RCMKIT_FILE_MODE``).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import stat
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcmkit import demo

from rcmkit.core import schema

from rcmkit.core import store

from rcmkit.ingest.x12 import write as x12write
from rcmkit.ingest import limits, parse_x12, read_x12
from rcmkit.ingest.pipeline import _STORED, ingest

#: Child processes start from a fork server: delta-rs' runtime does not survive a fork of a process that used it.
FORK = mp.get_context("forkserver")
PRACTICE = "p"


# --------------------------------------------------------------------------------------------- shared set-up
def _concat(texts: list[str]) -> str:
    return "".join(texts)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> dict[str, list[Path]]:
    """A small demo practice's 837P and 835 files, concatenated into a few files: run A, and run B that
    overlaps A by one file (the same claims sent again)."""
    folder = tmp_path_factory.mktemp("inbox")
    tables = demo.generate(seed=5, n_claims=60)
    roster = demo.patients(seed=5, n_claims=60)
    c837 = [t for _, t in x12write.write_837p(tables["claims"], tables["claim_lines"], tables["payers"], roster)]
    c835 = [t for _, t in x12write.write_835(tables["remittances"], tables["remit_lines"], tables["adjustments"],
                                             tables["payers"], roster, claims=tables["claims"])]
    files = {}
    for kind, texts in (("837", c837), ("835", c835)):
        thirds = np.array_split(np.arange(len(texts)), 3)
        for k, part in enumerate(thirds):
            path = folder / f"{kind}_{k}.x12"
            path.write_text(_concat([texts[i] for i in part]))
            files[f"{kind}_{k}"] = path
    return {"A": [files["837_0"], files["835_0"], files["837_1"]],
            "B": [files["837_1"], files["835_1"], files["837_2"], files["835_2"]],
            "C": [files["835_0"], files["835_2"], files["837_0"]]}


def table_hashes(root: Path, practice: str = PRACTICE) -> dict[str, str]:
    """Content digest of every table of the newest snapshot, as a reader reads it (row counts checked against
    the snapshot's)."""
    snap = store.manifest(root, practice)
    tables = store.load_tables(root, practice, list(snap["tables"]))
    assert {n: len(df) for n, df in tables.items()} == {n: t["rows"] for n, t in snap["tables"].items()}
    return {n: store.table_digest(schema.to_arrow(n, df)) for n, df in sorted(tables.items())}


def uncommitted(root: Path, practice: str = PRACTICE) -> list[str]:
    """Tables with Delta versions (or a whole table) no snapshot names: what a killed writer left."""
    folder = root / practice
    held = store.manifest(root, practice)["tables"]
    return sorted(p.name for p in (folder / "tables").iterdir()
                  if p.name not in held or store._log_version(p) > held[p.name]["version"])


@pytest.fixture(scope="module")
def states(inbox, tmp_path_factory) -> dict:
    """The practice after run A ('before') and after runs A then B ('after'), run serially without crashes."""
    before = tmp_path_factory.mktemp("before")
    ingest(before, PRACTICE, inbox["A"], progress=False)
    after = tmp_path_factory.mktemp("after")
    shutil.copytree(before / PRACTICE, after / PRACTICE)
    ingest(after, PRACTICE, inbox["B"], progress=False)
    rows = {k: {n: t["rows"] for n, t in store.manifest(r, PRACTICE)["tables"].items()}
            for k, r in (("before", before), ("after", after))}
    snaps = [store.manifest(r, PRACTICE)["tables"] for r in (before, after)]
    written = sorted(n for n in snaps[1] if snaps[0].get(n) != snaps[1][n])  # what run B commits, in order
    return {"before_root": before, "before": table_hashes(before), "after": table_hashes(after),
            "before_rows": rows["before"], "after_rows": rows["after"], "written": written}


def _ingest_child(root: Path, files: list[Path], crash_at: str | None) -> None:
    if crash_at:
        os.environ[store.CRASH_ENV] = crash_at
    ingest(root, PRACTICE, files, progress=False)


def _run_child(target, *args, timeout: float = 60) -> int:
    proc = FORK.Process(target=target, args=args)
    proc.start()
    proc.join(timeout)
    assert proc.exitcode is not None, "child hung"
    return proc.exitcode


def _fresh_before(states, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(states["before_root"] / PRACTICE, root / PRACTICE)
    return root


def _observed(root: Path) -> dict[str, str]:
    """What the next reader sees (the newest snapshot; versions a killed writer left are not read)."""
    t = store.load_tables(root, PRACTICE, ["claims"], required=False)
    assert len(t["claims"]) == t["claims"]["submission_id"].nunique()
    return table_hashes(root)


# --------------------------------------------------------------------------------------------- crash safety
#: (crash point, state the practice must then be in), in commit order; 'first', 'middle' and 'last' stand for
#: the tables the ingest writes (sorted: the order in which _commit writes them; tables it leaves equal are not).
CRASH_POINTS = [("table:first", "before"), ("table:middle", "before"), ("table:last", "before"),
                ("snapshot-tmp", "before"), ("committed", "after"), ("restricted", "after")]


def _resolve(point: str, written: list[str]) -> str:
    index = {"first": 0, "middle": len(written) // 2, "last": len(written) - 1}
    kind, _, which = point.partition(":")
    if kind in ("table", "restore") and which in index:
        return f"{kind}:{written[index[which]]}"
    return point


@pytest.mark.slow
@pytest.mark.parametrize("point,expected", CRASH_POINTS, ids=[p for p, _ in CRASH_POINTS])
def test_ingest_killed_at_each_commit_step_is_before_or_after_and_reruns_once(inbox, states, tmp_path, point,
                                                                              expected):
    point = _resolve(point, states["written"])  # the tables run B writes
    root = _fresh_before(states, tmp_path)
    assert _run_child(_ingest_child, root, inbox["B"], point) == -signal.SIGKILL, f"never reached {point}"
    folder = root / PRACTICE
    assert store.snapshot_id(root, PRACTICE) == store.snapshot_id(states["before_root"], PRACTICE) + (
        expected == "after")
    if point.startswith("table:"):  # the killed writer's table versions are there, and not read
        assert uncommitted(root)
    assert _observed(root) == states[expected]
    summary = ingest(root, PRACTICE, inbox["B"], progress=False)  # the next run, no manual step in between
    assert table_hashes(root) == states["after"]
    new_files = [f for f in inbox["B"] if f not in inbox["A"]]
    assert summary.files == (len(new_files) if expected == "before" else 0)  # done exactly once
    assert not list(folder.rglob("*.tmp-*")) and not uncommitted(root)


@pytest.mark.slow
def test_a_crash_during_roll_back_is_rolled_back_by_the_next_writer(inbox, states, tmp_path):
    root = _fresh_before(states, tmp_path)
    written = states["written"]
    assert _run_child(_ingest_child, root, inbox["B"], f"table:{written[-1]}") == -signal.SIGKILL  # all tables
    left = uncommitted(root)
    assert len(left) >= 3, left
    # the next writer dies after rolling back the first table it finds
    assert _run_child(_ingest_child, root, inbox["B"], f"restore:{left[0]}") == -signal.SIGKILL
    assert _observed(root) == states["before"]
    assert len(uncommitted(root)) == len(left)  # one restored (a version no snapshot names yet), the rest as left
    ingest(root, PRACTICE, inbox["B"], progress=False)
    assert _observed(root) == states["after"] and not uncommitted(root)


@pytest.mark.slow
def test_ingest_killed_at_increasing_delays(inbox, states, tmp_path):
    """SIGKILL from outside at moments spread over a whole run (reading files, building tables, committing)."""
    root = _fresh_before(states, tmp_path / "timing")
    started = time.monotonic()
    assert _run_child(_ingest_child, root, inbox["B"], None) == 0
    duration = time.monotonic() - started
    rng = np.random.default_rng()  # a different spread on every run, around the commit at the end of the run
    fractions = [0.0, 0.3, 0.5, 0.65, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.5, 3.0]
    delays = [duration * max(0.0, f + rng.uniform(-0.03, 0.03)) for f in fractions]
    seen = {"before": 0, "after": 0, "mid-commit": 0}
    for k, delay in enumerate(delays):
        root = _fresh_before(states, tmp_path / f"kill{k}")
        proc = FORK.Process(target=_ingest_child, args=(root, inbox["B"], None))
        proc.start()
        time.sleep(delay)
        proc.kill()  # SIGKILL; a fork server reaps its children itself
        proc.join(30)
        folder = root / PRACTICE
        if (folder / "tables").is_dir() and uncommitted(root):
            seen["mid-commit"] += 1
        observed = _observed(root)
        assert observed in (states["before"], states["after"]), f"killed after {delay:.3f} s: a mixed state"
        seen["before" if observed == states["before"] else "after"] += 1
        ingest(root, PRACTICE, inbox["B"], progress=False)
        assert table_hashes(root) == states["after"], f"killed after {delay:.3f} s: the rerun did not converge"
    print(f"kills: {seen}")
    assert seen["before"] >= 1 and seen["after"] >= 1, seen


# --------------------------------------------------------------------------------------------- concurrency
def _versioned(v: int, rows: int = 3000) -> dict[str, pd.DataFrame]:
    """Two tables that both carry version ``v``: a reader must never see two different versions."""
    payers = pd.DataFrame({"payer_id": [f"V{v}-{i}" for i in range(rows)], "payer_name": f"v{v}",
                           "payer_class": "other"})
    files = pd.DataFrame({"file": [f"v{v}-{i}.835" for i in range(rows)], "sha256": [f"{v}:{i}" for i in range(rows)],
                          "size_bytes": v, "encoding": "ascii", "transaction_sets": 1, "rejected_sets": 0,
                          "warnings": 0})
    return {"payers": payers, "ingested_files": files}


def _writer(root: Path, versions: int) -> None:
    for v in range(1, versions + 1):
        store.save_tables(root, PRACTICE, _versioned(v))


def _reader(root: Path, seconds: float, out) -> None:
    reads = mixed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = store.load_tables(root, PRACTICE, ["payers", "ingested_files"])
        a, b = set(t["payers"]["payer_name"]), set(t["ingested_files"]["size_bytes"])
        reads += 1
        mixed += a != {f"v{v}" for v in b} or len(a) != 1
    out.put((reads, mixed))


@pytest.mark.slow
def test_reads_during_commits_see_one_version(tmp_path):
    store.save_tables(tmp_path, PRACTICE, _versioned(0))
    out = FORK.Queue()
    writer = FORK.Process(target=_writer, args=(tmp_path, 20))
    readers = [FORK.Process(target=_reader, args=(tmp_path, 2.0, out)) for _ in range(2)]
    for p in [writer, *readers]:
        p.start()
    results = [out.get(timeout=60) for _ in readers]
    for p in [writer, *readers]:
        p.join(60)
    assert writer.exitcode == 0 and all(r.exitcode == 0 for r in readers)
    assert sum(r for r, _ in results) > 20, results
    assert sum(m for _, m in results) == 0, f"(reads, mixed versions) per reader: {results}"
    assert set(store.load_table(tmp_path, PRACTICE, "payers")["payer_name"]) == {"v20"}


def _ingest_worker(root: Path, files: list[Path]) -> None:
    ingest(root, PRACTICE, files, progress=False)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df.map(lambda v: tuple(v) if isinstance(v, (list, np.ndarray)) else v)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


@pytest.mark.slow
def test_three_concurrent_ingests_of_overlapping_files_equal_a_serial_run(inbox, tmp_path):
    serial = tmp_path / "serial"
    for run in "ABC":
        ingest(serial, PRACTICE, inbox[run], progress=False)
    parallel = tmp_path / "parallel"
    workers = [FORK.Process(target=_ingest_worker, args=(parallel, inbox[run])) for run in "ABC"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    a, b = store.load_tables(serial, PRACTICE, required=False), store.load_tables(parallel, PRACTICE, required=False)
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(_sorted(a[name]), _sorted(b[name]), obj=name)


def _report_reader(root: Path, seconds: float, out) -> None:
    counts = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = store.load_tables(root, PRACTICE, ["claims", "claim_lines", "remittances", "ledger", "ingested_files"])
        assert set(t["claim_lines"]["submission_id"]) <= set(t["claims"]["submission_id"])
        counts.add(tuple(len(t[n]) for n in ("claims", "claim_lines", "remittances", "ledger", "ingested_files")))
    out.put(counts)


@pytest.mark.slow
def test_a_report_reading_while_an_ingest_commits_sees_before_or_after(inbox, states, tmp_path):
    root = _fresh_before(states, tmp_path)
    expected = set()
    for which in ("before", "after"):
        rt = tmp_path / which
        shutil.copytree(states["before_root"] / PRACTICE, rt / PRACTICE)
        if which == "after":
            ingest(rt, PRACTICE, inbox["B"], progress=False)
        t = store.load_tables(rt, PRACTICE, required=False)
        expected.add(tuple(len(t[n]) for n in ("claims", "claim_lines", "remittances", "ledger", "ingested_files")))
    out = FORK.Queue()
    reader = FORK.Process(target=_report_reader, args=(root, 2.5, out))
    reader.start()
    time.sleep(0.2)
    ingest(root, PRACTICE, inbox["B"], progress=False)
    seen = out.get(timeout=60)
    reader.join(30)
    assert reader.exitcode == 0
    assert seen <= expected and seen, (seen, expected)


def _hold(folder: Path, ready, release) -> None:
    with store.practice_lock(folder):
        ready.set()
        release.wait(30)


@pytest.mark.slow
def test_busy_practice_names_its_holder_every_time_and_other_practices_do_not_wait(tmp_path):
    folder = tmp_path / "a"
    ready, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold, args=(folder, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        held = rf"practice 'a' is busy: held by pid {holder.pid} since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d; gave up"
        for _ in range(2):  # a process that gave up must not erase the holder's note for the next one
            with pytest.raises(store.PracticeBusy, match=held):
                store.save_tables(tmp_path, "a", {"payers": _versioned(1, 2)["payers"]}, lock_timeout=0.3)
        started = time.monotonic()  # readers never wait: they read the newest snapshot
        assert store.load_table(tmp_path, "a", "payers", required=False, lock_timeout=0.3).empty
        assert time.monotonic() - started < 1
        started = time.monotonic()
        store.save_tables(tmp_path, "b", _versioned(1, 2))  # another practice: no waiting
        assert len(store.load_table(tmp_path, "b", "payers")) == 2
        assert time.monotonic() - started < 2
    finally:
        release.set()
        holder.join(10)


def test_readers_never_wait_and_see_the_last_snapshot_while_a_writer_holds_the_lock(tmp_path):
    store.save_tables(tmp_path, "a", _versioned(1, 2))
    ready, release = FORK.Event(), FORK.Event()
    writer = FORK.Process(target=_hold, args=(tmp_path / "a", ready, release))
    writer.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        assert set(store.load_table(tmp_path, "a", "payers", lock_timeout=1)["payer_name"]) == {"v1"}
        assert time.monotonic() - started < 1
        with pytest.raises(store.PracticeBusy, match="held by pid"):
            store.save_tables(tmp_path, "a", _versioned(2, 2), lock_timeout=0.3)
    finally:
        release.set()
        writer.join(10)
    store.save_tables(tmp_path, "a", _versioned(2, 2), lock_timeout=5)
    assert set(store.load_table(tmp_path, "a", "payers")["payer_name"]) == {"v2"}


# --------------------------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("name", ["abc\n", "a\x00b", "..", "a..b", "../a", "a/../b", "/abs", "C:\\x", "a\\b",
                                  "~root", "$(id)", "a b", "ab\u0301", "é", "-rf", ".lock", "x" * 65, 7, None])
def test_hostile_practice_names_are_refused(tmp_path, name):
    with pytest.raises(store.StoreError, match="invalid practice name"):
        store.practice_dir(tmp_path, name)


def test_a_snapshot_cannot_name_anything_but_canonical_tables(tmp_path):
    """A snapshot file is checked before it is used: it can only name canonical tables (folders under
    <practice>/tables/) at integer versions; anything else is refused, and nothing outside is read or removed."""
    store.save_tables(tmp_path, PRACTICE, _versioned(1, 2))
    folder = tmp_path / PRACTICE
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep me")
    good = json.loads((folder / "_snapshots" / "00000001.json").read_text())
    for tables in ({"../victim": {"version": 0}}, {"payers": {"version": "../../x"}}, {"payers": {"version": -1}},
                   {"evil": {"version": 0}}, {"payers": {}}):
        (folder / "_snapshots" / "00000002.json").write_text(json.dumps({"snapshot": 2, "tables": tables}))
        with pytest.raises(store.StoreError, match="not a snapshot rcmkit can read"):
            store.load_table(tmp_path, PRACTICE, "payers")
        with pytest.raises(store.StoreError, match="not a snapshot rcmkit can read"):
            store.save_tables(tmp_path, PRACTICE, _versioned(3, 2))
        assert (victim / "keep.txt").read_text() == "keep me"
    (folder / "_snapshots" / "00000002.json").write_text("{not json")
    with pytest.raises(store.StoreError, match="not a snapshot rcmkit can read"):
        store.load_table(tmp_path, PRACTICE, "payers")
    (folder / "_snapshots" / "00000002.json").write_text(json.dumps({**good, "snapshot": 2}))
    assert set(store.load_table(tmp_path, PRACTICE, "payers")["payer_name"]) == {"v1"}


# --------------------------------------------------------------------------------------------- PHI hygiene
def _phi_patterns(roster: pd.DataFrame) -> dict[str, re.Pattern]:
    """Every roster name, member ID and birth date (before the data's years, so no date of service can equal
    one), in the spellings a file or a message could use."""
    names = set(roster["first_name"].str.upper()) | set(roster["last_name"].str.upper())
    ids = set(roster["member_id"].dropna())
    births = pd.to_datetime(roster["birth_date"])
    births = births[births < "2024-01-01"]
    dates = set()
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y", "%m%d%Y", "%d.%m.%Y", "%-m/%-d/%Y"):
        dates |= set(births.dt.strftime(fmt))
    alt = lambda values: re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, sorted(values, key=len,
                                                                                          reverse=True))) + r")(?![A-Za-z0-9])", re.I)
    return {"name": alt(names), "member ID": alt(ids), "birth date": alt(dates)}


def _scan(text: str, patterns: dict[str, re.Pattern], where: str) -> None:
    for kind, pattern in patterns.items():
        found = pattern.search(text)
        assert found is None, f"{where}: a patient {kind} ({found.group(0)!r}) in {text[:200]!r}"


def _damage_phi(text: str) -> str:
    """The 837/835 segments that carry patient data, broken so that readers complain about them."""
    text = re.sub(r"(NM1\*IL\*1\*[^*]*\*[^*]*)\*\*\*\*MI\*(\w+)~", r"\1****MI*~", text, count=3)  # member ID gone
    text = re.sub(r"DMG\*D8\*(\d{8})\*", r"DMG*D8*\1X*", text, count=3)  # birth date not a date
    text = re.sub(r"NM1\*QC\*1\*([^*~]*)\*", r"NM1*QC*1*\1~", text, count=3)  # a terminator inside a name
    return text


@pytest.mark.slow
def test_no_patient_name_member_id_or_birth_date_in_tables_or_messages(tmp_path):
    kw = {"seed": 8, "n_claims": 80}
    result = demo.build_demo(tmp_path, "phi", progress=False, **kw)
    roster = demo.patients(**kw)
    # the same files again with their patient segments damaged, so that warnings and rejections are produced
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    inbox = tmp_path / "phi" / "inbox"
    for path in sorted((inbox / "837").iterdir())[:10] + sorted((inbox / "835").iterdir())[:10]:
        (damaged / path.name).write_text(_damage_phi(path.read_text()))
    summary = ingest(tmp_path, "phi", [damaged], progress=False)
    patterns = _phi_patterns(roster)
    assert patterns["name"].search(" ".join(roster["last_name"]))  # the patterns do find the roster
    texts = [("summary", line) for line in result["ingest"].lines() + summary.lines()]
    folder = tmp_path / "phi"
    for path in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            if frame[column].dtype == object:
                texts += [(f"{path.name}:{column}", str(v)) for v in set(map(str, frame[column].dropna()))]
    texts += [(p.name, p.read_text()) for p in folder.glob("*.json")]
    for where, text in texts:
        _scan(text, patterns, where)
    stored = store.load_tables(tmp_path, "phi", ["ingest_warnings", "rejections"])
    assert len(stored["ingest_warnings"]) > 0  # the damage did produce messages (and none names a patient)


# --------------------------------------------------------------------------------------------- file modes
def _modes(folder: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        out[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return out


@pytest.fixture()
def open_umask():
    old = os.umask(0o002)  # a permissive umask: the modes must not depend on it
    yield
    os.umask(old)


def _crash_child(root: Path, point: str) -> None:
    os.environ[store.CRASH_ENV] = point
    store.save_tables(root, PRACTICE, _versioned(2, 2))


def test_store_files_and_folders_are_private(tmp_path, open_umask, monkeypatch):
    monkeypatch.delenv(store.FILE_MODE_ENV, raising=False)
    root = tmp_path / "data"
    store.save_tables(root, PRACTICE, _versioned(1, 2))
    assert _run_child(_crash_child, root, "snapshot-tmp") == -signal.SIGKILL  # new table versions, a tmp snapshot
    modes = _modes(root)
    assert {".lock", "_snapshots", "00000001.json", "_delta_log", "payers", "ingested_files"} <= {
        Path(k).name for k in modes}
    assert any(".tmp-" in k for k in modes) and any(k.endswith(".parquet") for k in modes)
    assert uncommitted(root) == ["ingested_files", "payers"]
    for path, mode in modes.items():
        assert mode == (0o700 if (root / path).is_dir() else 0o600), (path, oct(mode))
    monkeypatch.setenv(store.FILE_MODE_ENV, "0640")
    store.save_tables(tmp_path / "shared", PRACTICE, _versioned(1, 2))
    for path, mode in _modes(tmp_path / "shared").items():
        assert mode == (0o750 if (tmp_path / "shared" / path).is_dir() else 0o640), (path, oct(mode))
    monkeypatch.setenv(store.FILE_MODE_ENV, "0777")
    with pytest.raises(store.StoreError, match="RCMKIT_FILE_MODE='0777' is not a file mode"):
        store.save_tables(tmp_path / "bad", PRACTICE, _versioned(1, 2))


def test_demo_inbox_is_private(tmp_path, open_umask, monkeypatch):
    monkeypatch.delenv(store.FILE_MODE_ENV, raising=False)
    kw = {"seed": 3, "n_claims": 20}
    x12write.write_demo_files(tmp_path, demo.generate(**kw), demo.patients(**kw), practice="d")
    modes = _modes(tmp_path / "d" / "inbox")
    assert len(modes) > 5
    for path, mode in modes.items():
        assert mode == (0o700 if (tmp_path / "d" / "inbox" / path).is_dir() else 0o600), (path, oct(mode))
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700


def test_restrict_and_write_file_for_other_writers(tmp_path, open_umask, monkeypatch):
    monkeypatch.delenv(store.FILE_MODE_ENV, raising=False)
    out = store.make_dirs(tmp_path / "reports" / "demo" / "2026-09")
    store.write_file(out / "metrics.json", b"{}")
    (out / "report.html").write_text("<html>")  # written by another library with the umask's mode
    store.restrict(tmp_path / "reports")
    for path, mode in _modes(tmp_path / "reports").items():
        assert mode == (0o700 if (tmp_path / "reports" / path).is_dir() else 0o600), (path, oct(mode))
    assert hashlib.sha256((out / "metrics.json").read_bytes()).hexdigest() == hashlib.sha256(b"{}").hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("point,expected", [("table:middle", "before"), ("snapshot-tmp", "before"),
                                            ("committed", "after")])
def test_readers_outside_rcmkit_never_see_a_mix_after_a_kill_mid_commit(inbox, states, tmp_path, point, expected):
    """Issue #13: after a kill in the middle of a commit, a tool outside rcmkit that reads the table versions the
    newest ``_snapshots/<N>.json`` names (deltalake here; Spark's ``versionAsOf`` or DuckDB alike) sees exactly
    one version, before any rcmkit command repairs anything: the newest Delta version of each table is a mix."""
    from deltalake import DeltaTable

    root = tmp_path / "data"
    shutil.copytree(states["before_root"] / PRACTICE, root / PRACTICE)
    point = _resolve(point, states["written"])
    assert _run_child(_ingest_child, root, inbox["B"], point) == -signal.SIGKILL
    folder = root / PRACTICE

    def seen(latest: bool = False) -> dict[str, str]:
        newest = max(folder.glob("_snapshots/*.json"), key=lambda p: int(p.stem))
        snap = json.loads(newest.read_text())["tables"]
        out = {}
        for name, info in snap.items():
            table = DeltaTable(str(folder / "tables" / name), version=None if latest else info["version"])
            df = table.to_pandas().drop(columns=["_seq", "_month"], errors="ignore")
            out[name] = len(df)
        return out

    rows = {k: states[f"{k}_rows"] for k in ("before", "after")}
    assert seen() == rows[expected]
    if point.startswith("table:"):  # the newest Delta versions are a mix right now: why the snapshots exist
        assert seen(latest=True) not in (rows["before"], rows["after"])
