"""Loading and saving a practice's canonical tables: the only module that touches ``data/<practice>/``.

Layout: ``<root>/<practice>/<table>.parquet``, one plain parquet file per table that any tool can read
(pandas, DuckDB, Spark, R arrow), plus ``_manifest.json`` (which files make up the current version, their row
counts and SHA-256).

Writes are transactions over several tables at once and are crash safe:

1. every new table file is written to ``<table>.parquet.tmp-<token>`` and fsynced;
2. a journal ``_commit.json`` naming those renames is written atomically (write + fsync + rename): this is the
   commit point;
3. the renames happen, the manifest is rewritten, the journal is removed.

A process killed before step 2 leaves only temporary files, which the next writer deletes (roll back); killed
after it, the next reader or writer finishes the renames from the journal (roll forward). Either way the tables
are exactly the old or exactly the new version. Writers on one practice serialize on an advisory lock
(``.lock``); different practices never wait for each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema

__all__ = [
    "PRACTICE_NAME",
    "StoreError",
    "PracticeBusy",
    "practice_dir",
    "load_table",
    "load_tables",
    "save_tables",
    "update_tables",
    "practice_lock",
    "table_path",
    "has_tables",
    "file_sha256",
]

#: A practice name is a plain folder name: letters, digits, '-', '_' and '.', not starting with '.'.
PRACTICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MANIFEST = "_manifest.json"
JOURNAL = "_commit.json"
LOCK = ".lock"


class StoreError(RuntimeError):
    """A practice's store cannot be read or written; the message says which file and why."""


class PracticeBusy(StoreError):
    """Another process holds the practice's lock past the timeout."""


def practice_dir(root: str | os.PathLike, practice: str) -> Path:
    """The folder of ``practice`` under ``root``; rejects names that could escape it."""
    if not isinstance(practice, str) or not PRACTICE_NAME.match(practice) or ".." in practice:
        raise StoreError(
            f"invalid practice name {practice!r}: use letters, digits, '-', '_' or '.', "
            "at most 64 characters, not starting with '.'"
        )
    return Path(root) / practice


def table_path(root: str | os.PathLike, practice: str, table: str) -> Path:
    if table not in schema.TABLES:
        raise StoreError(f"unknown table {table!r}; canonical tables are {sorted(schema.TABLES)}")
    return practice_dir(root, practice) / f"{table}.parquet"


def has_tables(root: str | os.PathLike, practice: str, tables: Iterable[str] = ("claims",)) -> bool:
    return all(table_path(root, practice, t).exists() for t in tables)


# --------------------------------------------------------------------------------------------- locking
@contextlib.contextmanager
def practice_lock(folder: Path, timeout: float = 600.0, poll: float = 0.2) -> Iterator[None]:
    """Hold the practice's exclusive lock. After ``timeout`` seconds raise :class:`PracticeBusy` naming the holder."""
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                    raise PracticeBusy(
                        f"practice {folder.name!r} is busy: {holder}; gave up after {timeout:.0f} s"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"held by pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        _recover(folder)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock


# --------------------------------------------------------------------------------------------- commit
def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _recover(folder: Path) -> None:
    """Finish a committed transaction (roll forward) or drop an uncommitted one (roll back). Needs the lock."""
    journal = folder / JOURNAL
    if journal.exists():
        plan = json.loads(journal.read_text(encoding="utf-8"))
        for tmp_name, final_name in plan["renames"]:
            tmp = folder / tmp_name
            if tmp.exists():
                os.replace(tmp, folder / final_name)
        _fsync_dir(folder)
        _write_json_atomic(folder / MANIFEST, plan["manifest"])
        journal.unlink()
    for stray in folder.glob("*.tmp-*"):
        stray.unlink()


def _commit(folder: Path, arrow: Mapping[str, pa.Table]) -> dict:
    """Write the tables as one transaction. The caller holds the practice lock."""
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"version": 0, "tables": {}}
    token = secrets.token_hex(4)
    renames = []
    for name, table in sorted(arrow.items()):
        final = f"{name}.parquet"
        tmp = folder / f"{final}.tmp-{token}"
        # Deterministic bytes: fixed writer options, no pandas metadata, no timestamps.
        pq.write_table(table, tmp, compression="zstd", store_schema=False)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        manifest["tables"][name] = {"file": final, "rows": table.num_rows, "sha256": file_sha256(tmp)}
        renames.append((tmp.name, final))
    manifest["version"] = int(manifest.get("version", 0)) + 1
    _write_json_atomic(folder / JOURNAL, {"renames": renames, "manifest": manifest})
    _recover(folder)
    return manifest


def save_tables(
    root: str | os.PathLike,
    practice: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    lock_timeout: float = 600.0,
) -> dict:
    """Replace the given tables of ``practice`` in one crash-safe transaction; returns the new manifest.

    Each frame is conformed to its canonical schema first (a :class:`rcmkit.schema.SchemaError` lists every
    problem, and nothing is written). Tables not named keep their current version.
    """
    folder = practice_dir(root, practice)
    arrow = {name: schema.to_arrow(name, df) for name, df in tables.items()}
    with practice_lock(folder, timeout=lock_timeout):
        return _commit(folder, arrow)


def update_tables(
    root: str | os.PathLike,
    practice: str,
    names: Iterable[str],
    change: Callable[[dict[str, pd.DataFrame]], Mapping[str, pd.DataFrame]],
    *,
    lock_timeout: float = 600.0,
) -> dict:
    """Read-modify-write under the practice lock: ``change(current tables)`` returns the tables to replace.

    The lock is held from the read to the commit, so two concurrent updates serialize and neither loses the
    other's rows (an ingest while another ingest runs waits, then sees its result).
    """
    folder = practice_dir(root, practice)
    with practice_lock(folder, timeout=lock_timeout):
        current = {n: _read(folder, n, required=False) for n in names}
        changed = change(current)
        arrow = {name: schema.to_arrow(name, df) for name, df in changed.items()}
        return _commit(folder, arrow) if arrow else {}


# --------------------------------------------------------------------------------------------- reading
def _read(folder: Path, name: str, *, required: bool) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.exists():
        if required:
            raise StoreError(
                f"no {name!r} table for practice {folder.name!r}: expected {path}. Create it with "
                f"'rcmkit demo --practice {folder.name}' or 'rcmkit ingest --practice {folder.name} FILES'."
            )
        return schema.empty(name)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise StoreError(f"{path}: not a readable parquet file ({exc})") from exc
    missing = [c for c in schema.TABLES[name].names if c not in table.column_names]
    if missing:
        raise StoreError(f"{path}: missing canonical columns {missing}")
    return schema.from_arrow(name, table.select(schema.TABLES[name].names))


def load_table(root: str | os.PathLike, practice: str, name: str, *, required: bool = True) -> pd.DataFrame:
    """One canonical table as a pandas frame; an empty canonical frame when absent and not ``required``."""
    folder = table_path(root, practice, name).parent
    if (folder / JOURNAL).exists():  # a writer died after its commit point: finish its work first
        with practice_lock(folder):
            pass
    return _read(folder, name, required=required)


def load_tables(
    root: str | os.PathLike, practice: str, names: Iterable[str] | None = None, *, required: bool = True
) -> dict[str, pd.DataFrame]:
    """Several tables at once (all canonical tables by default)."""
    names = list(names) if names is not None else list(schema.TABLES)
    return {n: load_table(root, practice, n, required=required) for n in names}
