"""Reliability and security of the store and of ingest: crashes, concurrent runs, hostile input, PHI hygiene and
private file modes.

* Crash safety: an ingest is killed (SIGKILL) at every step of the store's commit (the ``RCMKIT_CRASH_AT``
  hook of :func:`rcmkit.core.store._crash_point`), during a later process's roll-forward, and at increasing delays
  from its start. After each kill the practice reads as exactly the state before the run or exactly the state
  after it, and running the ingest again ends in the state of one uninterrupted run.
* Concurrency: readers see one committed version while a writer commits over and over; concurrent ingests of
  overlapping files equal a serial run; a busy practice names its holder; other practices do not wait.
* Hostile input: practice names, commit journals, and X12 files over the reader's limits
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

FORK = mp.get_context("fork")
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
    """SHA-256 of every table file, checked against the manifest (which must describe exactly those files)."""
    folder = root / practice
    files = {p.name[: -len(".parquet")]: store.file_sha256(p) for p in folder.glob("*.parquet")}
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert {name: t["sha256"] for name, t in manifest["tables"].items()} == files, "manifest and files disagree"
    return files


@pytest.fixture(scope="module")
def states(inbox, tmp_path_factory) -> dict:
    """The practice after run A ('before') and after runs A then B ('after'), run serially without crashes."""
    before = tmp_path_factory.mktemp("before")
    ingest(before, PRACTICE, inbox["A"], progress=False)
    after = tmp_path_factory.mktemp("after")
    shutil.copytree(before / PRACTICE, after / PRACTICE)
    ingest(after, PRACTICE, inbox["B"], progress=False)
    return {"before_root": before, "before": table_hashes(before), "after": table_hashes(after)}


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
    """What the next reader sees (load_tables rolls a committed-but-unfinished transaction forward)."""
    t = store.load_tables(root, PRACTICE, ["claims"], required=False)
    assert len(t["claims"]) == t["claims"]["submission_id"].nunique()
    return table_hashes(root)


# --------------------------------------------------------------------------------------------- crash safety
#: (crash point, state the practice must then be in), in commit order; 'first', 'middle' and 'last' stand for
#: the tables the ingest commits (sorted: the order in which _commit writes them) and their renames.
CRASH_POINTS = [("tmp:first", "before"), ("tmp:middle", "before"), ("tmp:last", "before"),
                ("journal-tmp", "before"), ("committed", "after"), ("rename:1", "after"), ("rename:2", "after"),
                ("rename:middle", "after"), ("rename:last", "after"), ("renamed", "after"), ("manifest", "after"),
                ("journal-removed", "after")]


def _resolve(point: str, written: list[str]) -> str:
    index = {"first": 0, "middle": len(written) // 2, "last": len(written) - 1}
    kind, _, which = point.partition(":")
    if kind == "tmp":
        return f"tmp:{written[index[which]]}"
    if kind == "rename" and which in index:
        return f"rename:{index[which] + 1}"
    return point


@pytest.mark.slow
@pytest.mark.parametrize("point,expected", CRASH_POINTS, ids=[p for p, _ in CRASH_POINTS])
def test_ingest_killed_at_each_commit_step_is_before_or_after_and_reruns_once(inbox, states, tmp_path, point,
                                                                              expected):
    point = _resolve(point, sorted(states["after"]))  # an ingest rewrites every table it holds
    root = _fresh_before(states, tmp_path)
    assert _run_child(_ingest_child, root, inbox["B"], point) == -signal.SIGKILL, f"never reached {point}"
    folder = root / PRACTICE
    if expected == "after":
        assert (folder / store.JOURNAL).exists() or point == "journal-removed"
    assert _observed(root) == states[expected]
    summary = ingest(root, PRACTICE, inbox["B"], progress=False)  # the next run, no manual step in between
    assert table_hashes(root) == states["after"]
    new_files = [f for f in inbox["B"] if f not in inbox["A"]]
    assert summary.files == (len(new_files) if expected == "before" else 0)  # done exactly once
    assert not list(folder.glob("*.tmp-*")) and not (folder / store.JOURNAL).exists()


def _read_child(root: Path, crash_at: str) -> None:
    os.environ[store.CRASH_ENV] = crash_at
    store.load_tables(root, PRACTICE, ["claims"])


@pytest.mark.slow
def test_a_crash_during_roll_forward_is_rolled_forward_by_the_next_process(inbox, states, tmp_path):
    root = _fresh_before(states, tmp_path)
    assert _run_child(_ingest_child, root, inbox["B"], "rename:3") == -signal.SIGKILL  # writer dies mid-renames
    assert _run_child(_read_child, root, "rename:5") == -signal.SIGKILL  # a reader rolling it forward dies too
    assert _run_child(_read_child, root, "manifest") == -signal.SIGKILL  # and the next one after the manifest
    assert _observed(root) == states["after"]


@pytest.mark.slow
def test_ingest_killed_at_increasing_delays(inbox, states, tmp_path):
    """SIGKILL from outside at moments spread over a whole run (reading files, building tables, committing)."""
    root = _fresh_before(states, tmp_path / "timing")
    started = time.monotonic()
    assert _run_child(_ingest_child, root, inbox["B"], None) == 0
    duration = time.monotonic() - started
    rng = np.random.default_rng()  # a different spread on every run, around the commit at the end of the run
    fractions = [0.0, 0.3, 0.5, 0.65, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.5]
    delays = [duration * max(0.0, f + rng.uniform(-0.03, 0.03)) for f in fractions]
    seen = {"before": 0, "after": 0, "mid-commit": 0}
    for k, delay in enumerate(delays):
        root = _fresh_before(states, tmp_path / f"kill{k}")
        proc = FORK.Process(target=_ingest_child, args=(root, inbox["B"], None))
        proc.start()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        folder = root / PRACTICE
        if (folder / store.JOURNAL).exists() or list(folder.glob("*.parquet.tmp-*")):
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


def _hold(folder: Path, ready, release, shared: bool) -> None:
    lock = store._read_lock(folder, 5) if shared else store.practice_lock(folder)
    with lock:
        ready.set()
        release.wait(30)


@pytest.mark.slow
def test_busy_practice_names_its_holder_every_time_and_other_practices_do_not_wait(tmp_path):
    folder = tmp_path / "a"
    ready, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold, args=(folder, ready, release, False))
    holder.start()
    try:
        assert ready.wait(10)
        held = rf"practice 'a' is busy: held by pid {holder.pid} since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d; gave up"
        for _ in range(2):  # a process that gave up must not erase the holder's note for the next one
            with pytest.raises(store.PracticeBusy, match=held):
                store.save_tables(tmp_path, "a", {"payers": _versioned(1, 2)["payers"]}, lock_timeout=0.3)
        with pytest.raises(store.PracticeBusy, match=held):  # readers wait for a writer too, with a timeout
            store.load_table(tmp_path, "a", "payers", required=False, lock_timeout=0.3)
        started = time.monotonic()
        store.save_tables(tmp_path, "b", _versioned(1, 2))  # another practice: no waiting
        assert len(store.load_table(tmp_path, "b", "payers")) == 2
        assert time.monotonic() - started < 2
    finally:
        release.set()
        holder.join(10)


def test_readers_share_the_lock_and_a_waiting_writer_says_so(tmp_path):
    store.save_tables(tmp_path, "a", _versioned(1, 2))
    ready, release = FORK.Event(), FORK.Event()
    reader = FORK.Process(target=_hold, args=(tmp_path / "a", ready, release, True))
    reader.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        assert len(store.load_table(tmp_path, "a", "payers", lock_timeout=1)) == 2  # readers do not wait
        assert time.monotonic() - started < 1
        with pytest.raises(store.PracticeBusy, match="other processes are reading its tables"):
            store.save_tables(tmp_path, "a", _versioned(2, 2), lock_timeout=0.3)
    finally:
        release.set()
        reader.join(10)
    store.save_tables(tmp_path, "a", _versioned(2, 2), lock_timeout=5)


# --------------------------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize("name", ["abc\n", "a\x00b", "..", "a..b", "../a", "a/../b", "/abs", "C:\\x", "a\\b",
                                  "~root", "$(id)", "a b", "ab\u0301", "é", "-rf", ".lock", "x" * 65, 7, None])
def test_hostile_practice_names_are_refused(tmp_path, name):
    with pytest.raises(store.StoreError, match="invalid practice name"):
        store.practice_dir(tmp_path, name)


def test_a_journal_cannot_move_files_out_of_the_practice_folder(tmp_path):
    store.save_tables(tmp_path, PRACTICE, _versioned(1, 2))
    folder = tmp_path / PRACTICE
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / "payers.parquet.tmp-abcd").write_bytes(b"x")
    for renames in ([["payers.parquet.tmp-abcd", "../victim.txt"]], [["../victim.txt", "payers.parquet"]],
                    [["payers.parquet.tmp-abcd", "claims.parquet"]], [["evil.parquet.tmp-ab", "evil.parquet"]]):
        (folder / store.JOURNAL).write_text(json.dumps({"renames": renames, "manifest": {}}))
        with pytest.raises(store.StoreError, match="refusing to roll forward"):
            store.load_table(tmp_path, PRACTICE, "payers")
        assert victim.read_text() == "keep me"
    (folder / store.JOURNAL).write_text("{not json")
    with pytest.raises(store.StoreError, match="not a commit journal"):
        store.load_table(tmp_path, PRACTICE, "payers")


@pytest.fixture()
def era() -> bytes:
    return (Path(__file__).parent / "fixtures" / "x12" / "era_paid_and_denied.835").read_bytes()


def _limit_rejection(result, name: str, words: str) -> str:
    rej = result.rejections
    assert list(rej["code"]) == ["limit"] and rej["first_segment"].isna().all(), rej
    message = rej["message"].iloc[0]
    assert message.startswith(f"{name}: ") and words in message and message.endswith("file not loaded"), message
    assert result.tables["ingested_files"].empty  # not recorded: a run with a higher limit reads it
    assert result.tables["remittances"].empty
    return message


def test_file_over_the_size_limit_is_refused_unread_and_loads_once_allowed(tmp_path, era, monkeypatch):
    path = tmp_path / "in" / "big.835"
    path.parent.mkdir()
    path.write_bytes(era)
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", len(era) - 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("a file over the limit was read"))
    message = _limit_rejection(read_x12(path), "big.835", f"the file is {len(era):,} bytes")
    assert "RCMKIT_MAX_X12_BYTES" in message
    monkeypatch.undo()
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", len(era) - 1)
    summary = ingest(tmp_path / "data", PRACTICE, [path], progress=False)
    assert summary.rejections == [message]
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", len(era))
    summary = ingest(tmp_path / "data", PRACTICE, [path], progress=False)
    assert summary.skipped == [] and summary.added["remittances"] > 0


def test_a_10_mb_segment_is_refused_with_the_default_limit(era):
    huge = era.replace(b"N1*PR*", b"N1*PR*" + b"A" * (10 << 20), 1)
    started = time.monotonic()
    message = _limit_rejection(parse_x12(huge, "huge.835"), "huge.835", "bytes long, more than the limit of 65,536")
    number = 1 + [s.strip() for s in era.decode().split("~")].index(re.search(r"N1\*PR\*[^~]*", era.decode())[0])
    assert f"segment {number} (N1)" in message and time.monotonic() - started < 5


def test_segment_count_limit_is_checked_before_indexing(era, monkeypatch):
    monkeypatch.setattr(limits, "MAX_SEGMENTS", 10)
    _limit_rejection(parse_x12(era, "many.835"), "many.835", "segment terminators '~', more than the limit of 10")


def _isa(n: int, element: str = "*", segment: str = "~") -> str:
    return (f"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*"
            f"{n:09d}*0*P*:~").replace("*", element).replace("~", segment)


def test_many_isa_headers_are_refused_or_read_in_bounded_time(monkeypatch):
    headers = "".join(_isa(n) + "\n" for n in range(20_000)).encode()
    started = time.monotonic()
    result = parse_x12(headers, "isas.x12")  # under the default limit: read, in linear time, warnings capped
    assert time.monotonic() - started < 10
    assert result.rejections.empty
    per_code = result.warnings.groupby("code").size()
    assert (per_code <= limits.MAX_WARNINGS_PER_CODE + 1).all(), per_code
    assert result.warnings["message"].str.contains("more 'envelope' warnings not listed").any()
    monkeypatch.setattr(limits, "MAX_ENVELOPES", 1000)
    _limit_rejection(parse_x12(headers, "isas.x12"), "isas.x12", "20,000 ISA segments, more than the limit")


def test_separator_changes_are_limited(monkeypatch):
    seps = [("*", "~"), ("|", "!")]
    body = "".join(_isa(n, *seps[n % 2]) + "\n" for n in range(200)).encode()
    started = time.monotonic()
    _limit_rejection(parse_x12(body, "seps.x12"), "seps.x12", "the separators change at segment")
    assert time.monotonic() - started < 10
    hostile = (_isa(1) + "\n" + "ISA|00~\n" * 50_000).encode()  # ISAs without their elements: no file-long scans
    started = time.monotonic()
    parse_x12(hostile, "hostile.x12")
    assert time.monotonic() - started < 10


def test_deep_hl_nesting_is_rejected_quickly():
    professional = (Path(__file__).parent / "fixtures" / "x12" / "claims_professional.837").read_text()
    head, _, rest = professional.partition("HL*")
    chain = "".join(f"HL*{k}*{k - 1 if k > 1 else ''}*{20 if k == 1 else 22}*1~\n"
                    f"CLM*C{k}*10***11:B:1*Y*A*Y*Y~\nLX*1~\nSV1*HC:99213*10*UN*1***1~\nDTP*472*D8*20260105~\n"
                    for k in range(1, 3001))
    text = head + chain + "SE*1*0001~\nGE*1*1~\nIEA*1*000000001~\n"
    started = time.monotonic()
    result = parse_x12(text.encode(), "deep.837")
    assert time.monotonic() - started < 10
    assert list(result.rejections["code"]) == ["hierarchy"]
    assert f"more than the limit of {limits.MAX_HL_DEPTH}" in result.rejections["message"].iloc[0]
    assert result.rejections["claims"].iloc[0] == 3000


def test_deeply_repeated_loops_read_in_bounded_time(era):
    text = era.decode()
    svc = re.search(r"SVC\*[^~]*~\s*(?:(?:DTM|CAS|AMT|REF|LQ)\*[^~]*~\s*)*", text).group(0)
    many = text.replace(svc, svc * 20_000, 1).encode()
    started = time.monotonic()
    result = parse_x12(many, "many_lines.835")
    assert time.monotonic() - started < 15
    assert len(result.tables["remit_lines"]) > 20_000
    per_code = result.warnings.groupby("code").size()
    assert (per_code <= limits.MAX_WARNINGS_PER_CODE + 1).all(), per_code


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
    assert _run_child(_crash_child, root, "committed") == -signal.SIGKILL  # leaves tmp files and a journal
    modes = _modes(root)
    assert {".lock", "_manifest.json", "_commit.json", "payers.parquet"} <= {Path(k).name for k in modes}
    assert any(".tmp-" in k for k in modes)
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
@pytest.mark.parametrize("point", ["committed", "rename:middle", "renamed", "manifest"])
def test_readers_outside_rcmkit_never_see_a_mix_after_a_kill_mid_commit(inbox, states, tmp_path, point):
    """Issue #13: after a kill in the middle of a commit, a tool outside rcmkit (pyarrow here; DuckDB or R alike)
    reading <practice>/current/*.parquet sees exactly the previous version, before any rcmkit command repairs
    anything; once one has, it sees exactly the new version."""
    import pyarrow.parquet as pq

    root = tmp_path / "data"
    shutil.copytree(states["before_root"] / PRACTICE, root / PRACTICE, symlinks=True)  # keep `current` a link
    point = _resolve(point, sorted(states["after"]))
    assert _run_child(_ingest_child, root, inbox["B"], point) == -signal.SIGKILL
    current = root / PRACTICE / store.CURRENT
    assert current.is_symlink()

    def seen() -> dict[str, str]:
        files = {p.name[: -len(".parquet")]: store.file_sha256(p) for p in current.glob("*.parquet")}
        for p in current.glob("*.parquet"):
            pq.read_table(p)  # readable whole
        return files

    assert seen() == states["before"]  # no mix: nothing of the interrupted commit is visible yet
    if point.startswith("rename:"):  # the table files themselves are a mix right now: why `current` exists
        top = {p.name[: -len(".parquet")]: store.file_sha256(p) for p in (root / PRACTICE).glob("*.parquet")}
        assert top not in (states["before"], states["after"])
    store.load_tables(root, PRACTICE, ["claims"])  # any rcmkit command finishes the commit
    assert seen() == states["after"]
