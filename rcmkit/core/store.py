"""Loading and saving a practice's canonical tables: the only module that touches ``data/<practice>/``.

Layout (issue #15)::

    <root>/<practice>/tables/<table>/     a Delta Lake table (delta-rs, the ``deltalake`` package): parquet
                                          files plus its ``_delta_log/``; any Delta reader can open it
    <root>/<practice>/_snapshots/<N>.json snapshot N of the practice: {table: Delta version, rows, sha256}
    <root>/<practice>/.lock               the writers' lock

Dated tables (:data:`MONTH_CLUSTERED`) are partitioned by the calendar month of their main date, in a column
``_month`` (``YYYY-MM``; rows without a date in the Delta null partition) that exists only in the Delta table:
:func:`load_tables` drops it, so canonical frames are unchanged. Every table also carries ``_seq`` (int64, the
row's position in the order it was stored): reads sort by (month, ``_seq``), so a table reads back in the same
order whatever the file layout, appends included. Tools outside rcmkit see both columns.

Lookups (issue #15). Each write sorts a table's rows by its lookup column (:data:`CLUSTER_BY`) and gives its
lookup columns (:data:`LOOKUP_COLUMNS`) page statistics and parquet bloom filters; a keyed read
(:meth:`Transaction.read` ``where=``) is a DataFusion query of the Delta version that skips the files, row groups
and pages that cannot hold its keys, so an ingest's lookups cost about the same in a practice of any size. Tables
write a Delta checkpoint every 20 versions (:data:`TABLE_CONFIG`), so opening a version replays a bounded log.

Commits. Delta commits are per table; a store commit writes several tables and is one snapshot:

1. each table's new version is written (overwrite, append, or merge: :class:`Append`, :class:`Upsert`);
2. ``_snapshots/<N>.json`` naming every table's Delta version is written atomically (write + fsync + rename):
   this is the commit point.

Readers read the newest snapshot and each table at its version (``DeltaTable(path, version=v)``), so they see
one committed version, never a mix, without any lock: a writer killed before step 2 leaves table versions no
snapshot names, which readers never see and the next writer rolls back (Delta ``RESTORE`` to the snapshot's
version; a table the snapshot does not have is removed). ``tests/test_reliability.py`` kills writers at every
step to prove it. Writers on one practice serialize on an advisory lock (``.lock``, ``flock`` exclusive);
different practices never wait for each other. Old snapshots stay: ``load_tables(..., version=N)`` reads
snapshot N as long as ``rcmkit store compact`` (:func:`compact`) has not vacuumed its files.

Files and folders the store creates are private to their owner: ``0600`` files in ``0700`` folders, or the mode
in the environment variable ``RCMKIT_FILE_MODE`` (octal, e.g. ``0640``: folders get ``x`` wherever files get
``r``); delta-rs writes under a matching umask and the files are restricted again after each write.
:func:`make_dirs`, :func:`write_file` and :func:`restrict` apply the same rule for other writers under the data
and report roots.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rcmkit.core import schema
from rcmkit.errors import RcmkitError

__all__ = [
    "PRACTICE_NAME",
    "StoreError",
    "PracticeBusy",
    "practice_dir",
    "load_table",
    "load_tables",
    "save_tables",
    "update_tables",
    "transaction",
    "Transaction",
    "practice_lock",
    "table_path",
    "has_tables",
    "file_sha256",
    "FILE_MODE_ENV",
    "file_mode",
    "dir_mode",
    "make_dirs",
    "write_file",
    "restrict",
    "committed_paths",
    "Append",
    "Upsert",
    "snapshot_id",
    "manifest",
    "delta_datasets",
    "table_digest",
    "migrate",
    "compact",
    "MONTH_COLUMN",
    "SEQ_COLUMN",
]

#: A practice name is a plain folder name: letters, digits, '-', '_' and '.', not starting with '.'.
PRACTICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Folder of the practice's Delta tables, and of its snapshots (one JSON file per store commit).
TABLES_DIR = "tables"
SNAPSHOTS_DIR = "_snapshots"
#: Columns the Delta tables carry besides the canonical ones (dropped by :func:`load_tables`).
MONTH_COLUMN = "_month"
SEQ_COLUMN = "_seq"
#: Where ``rcmkit store migrate`` keeps the plain parquet files of the old layout until the user deletes them.
MIGRATED_DIR = ".migrated-parquet"
LOCK = ".lock"
#: Environment variable with the octal mode of created files (default 0600: owner only).
FILE_MODE_ENV = "RCMKIT_FILE_MODE"
DEFAULT_FILE_MODE = 0o600
#: Test hook: the name of a step of a commit (see :func:`_crash_point`) at which the process kills itself.
CRASH_ENV = "RCMKIT_CRASH_AT"
_SNAPSHOT_NAME = re.compile(r"(?P<n>[0-9]{8,})\.json")


class StoreError(RcmkitError, RuntimeError):
    """A practice's store cannot be read or written; the message says which file and why."""


class PracticeBusy(StoreError):
    """Another process holds the practice's lock past the timeout."""


def practice_dir(root: str | os.PathLike, practice: str) -> Path:
    """The folder of ``practice`` under ``root``; rejects names that could escape it."""
    if not isinstance(practice, str) or not PRACTICE_NAME.fullmatch(practice) or ".." in practice:
        raise StoreError(
            f"invalid practice name {practice!r}: use letters, digits, '-', '_' or '.', "
            "at most 64 characters, not starting with '.'"
        )
    return Path(root) / practice


def table_path(root: str | os.PathLike, practice: str, table: str) -> Path:
    """The folder of ``table``'s Delta table (``<practice>/tables/<table>``)."""
    if table not in schema.TABLES:
        raise StoreError(f"unknown table {table!r}; canonical tables are {sorted(schema.TABLES)}")
    return practice_dir(root, practice) / TABLES_DIR / table


def has_tables(root: str | os.PathLike, practice: str, tables: Iterable[str] = ("claims",)) -> bool:
    """True when the practice's newest snapshot holds every table in ``tables``."""
    folder = practice_dir(root, practice)
    held = _latest(folder)["tables"] if folder.is_dir() else {}
    return all(t in held for t in tables)


# --------------------------------------------------------------------------------------------- file modes
def file_mode() -> int:
    """The mode of files the store (and rcmkit's other writers under data/ and reports/) create: 0600, or the
    octal mode in ``RCMKIT_FILE_MODE``. The owner must be able to read and write; no execute bits."""
    text = os.environ.get(FILE_MODE_ENV, "").strip()
    if not text:
        return DEFAULT_FILE_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if mode < 0 or mode & ~0o666 or mode & 0o600 != 0o600:
        raise StoreError(f"{FILE_MODE_ENV}={text!r} is not a file mode rcmkit can use: expected an octal mode "
                         "such as 0600 (owner only, the default) or 0640, readable and writable by the owner, "
                         "without execute bits")
    return mode


def dir_mode() -> int:
    """The mode of created folders: the file mode with ``x`` wherever it has ``r`` (0600 -> 0700, 0640 -> 0750)."""
    mode = file_mode()
    return mode | ((mode & 0o444) >> 2)


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p``: each folder it creates gets :func:`dir_mode` exactly (whatever the umask); folders that
    exist are left as they are. Returns ``path``."""
    path = Path(path)
    missing = []
    folder = path
    while not folder.is_dir() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    mode = dir_mode()
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue  # made by a concurrent process (or a file: the caller's next step says so)
        os.chmod(folder, mode)  # mkdir's mode is filtered by the umask
    return path


def _create(path: Path, *, exclusive: bool = True) -> int:
    """A file opened for writing, created with :func:`file_mode` exactly (an existing one is truncated and
    given that mode when not ``exclusive``)."""
    mode = file_mode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC), mode)
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` (replacing it) as a file with :func:`file_mode`; its folder must exist."""
    with os.fdopen(_create(Path(path), exclusive=False), "wb") as fh:
        fh.write(data)


def restrict(path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a folder and everything under it) the store's modes: for output that another
    library wrote (papermill, nbconvert, a browser's PDF). Symbolic links are not followed."""
    path = Path(path)
    if path.is_symlink():
        return
    if path.is_dir():
        for sub, _dirs, files in os.walk(path):
            os.chmod(sub, dir_mode())
            for name in files:
                if not os.path.islink(os.path.join(sub, name)):
                    os.chmod(os.path.join(sub, name), file_mode())
    elif path.is_file():
        os.chmod(path, file_mode())


# --------------------------------------------------------------------------------------------- locking
def _crash_point(point: str) -> None:
    """Test hook: die here, as a SIGKILL or a power loss would (no cleanup, no flush), when the environment
    variable ``RCMKIT_CRASH_AT`` names ``point``. Points, in commit order: ``table:<table>`` (its new Delta
    version committed), ``snapshot-tmp`` (snapshot written, not yet renamed into place: the commit point is the
    rename), ``committed`` (snapshot in place), ``restricted`` (file modes set). A later writer rolling back a
    dead writer's table versions passes ``restore:<table>`` after each table."""
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _open_lock(folder: Path) -> int | None:
    """The practice's lock file opened (created with :func:`file_mode` when missing); read-only when the folder
    is not writable; None when it does not exist and cannot be created (a read-only copy that nobody writes)."""
    lock_path = folder / LOCK
    try:
        os.close(_create(lock_path))
    except FileExistsError:
        pass
    except OSError:  # read-only folder or file system
        try:
            return os.open(lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
    try:
        return os.open(lock_path, os.O_RDWR)
    except PermissionError:
        return os.open(lock_path, os.O_RDONLY)


def _acquire(fd: int, operation: int, folder: Path, timeout: float, poll: float) -> None:
    """``flock(fd, operation)``, retried (every 10 ms, doubling up to ``poll`` s) for ``timeout`` seconds; then
    :class:`PracticeBusy` naming the holder."""
    deadline = time.monotonic() + timeout
    wait = 0.01
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or \
                    "other processes are reading its tables"
                raise PracticeBusy(f"practice {folder.name!r} is busy: {holder}; gave up after {timeout:.0f} s") \
                    from None
            time.sleep(max(0.0, min(wait, poll, deadline - time.monotonic())))
            wait *= 2


@contextlib.contextmanager
def practice_lock(folder: Path, timeout: float = 600.0, poll: float = 0.2) -> Iterator[None]:
    """Hold the practice's exclusive lock. After ``timeout`` seconds raise :class:`PracticeBusy` naming the holder."""
    make_dirs(folder)
    fd = _open_lock(folder)
    if fd is None:
        raise StoreError(f"cannot create the lock file {folder / LOCK}: is the data folder writable?")
    try:
        _acquire(fd, fcntl.LOCK_EX, folder, timeout, poll)
        try:
            with contextlib.suppress(OSError):  # the note is for humans; a read-only lock file cannot take it
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"held by pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
            _recover(folder)
            yield
        finally:  # only the holder clears its note: a process that gave up must not erase the holder's
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock


# --------------------------------------------------------------------------------------------- what a change returns
@dataclass(frozen=True)
class Append:
    """Rows to add to a table (a Delta append): what :func:`update_tables`' ``change`` returns, instead of the
    whole new table, for a table that only grows."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Upsert:
    """Rows that replace the stored rows with the same ``keys`` and are added where there are none: a Delta merge
    that deletes the matching rows, then an append. Replaced rows take their new place at the end of the table's
    order (of their month, for a dated table)."""

    frame: pd.DataFrame
    keys: tuple[str, ...] = field(default=())
    #: More key values (a frame of the ``keys`` columns) whose stored rows are deleted, with no row taking their
    #: place: e.g. the ledger of a claim that now posts nothing.
    delete: pd.DataFrame | None = None
    #: The ``_month`` partitions (``YYYY-MM``, None for the undated partition) that can hold the stored rows to
    #: delete, when the caller knows them: the delete then reads and rewrites those months only.
    months: tuple[str | None, ...] | None = None
    #: False: the frame's rows are added as they are and only the ``delete`` keys' stored rows are deleted (rows
    #: the caller knows are new, e.g. a claim's ledger rows that a run adds to the ones stored).
    replace: bool = True

    def __post_init__(self):
        object.__setattr__(self, "keys", tuple(self.keys))
        if not self.keys:
            raise ValueError("Upsert needs the key columns it replaces rows by")
        if self.months is not None:
            object.__setattr__(self, "months", tuple(self.months))


# --------------------------------------------------------------------------------------------- snapshots
def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_json_atomic(path: Path, payload: dict, crash_point: str | None = None) -> None:
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}")
    try:
        with os.fdopen(_create(tmp), "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:  # a full disk: the temporary file goes, ``path`` is the old version
        _unlink_quietly(tmp)
        raise
    if crash_point:
        _crash_point(crash_point)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def table_digest(table: pa.Table) -> str:
    """SHA-256 of a table's content: the bytes of the table (schema and rows, in order) written as parquet with
    fixed options, which depend on the values only (not on chunks, slices or validity buffers in memory). Its
    columns are made one chunk each first: the parquet writer checks a string column's dictionary against its
    size limit at chunk ends among others, so where it falls back to plain pages, and the bytes, depended on
    the chunks (the same rows read in other batches, e.g. ``ingest --jobs 2``, gave another digest)."""
    h = hashlib.sha256()

    class _Sink:  # a file-like object that hashes what is written to it
        closed = False

        def write(self, data):
            h.update(data)
            return len(data)

        def flush(self):
            pass

        def tell(self):
            return 0

    pq.write_table(table.replace_schema_metadata(None).combine_chunks(), _Sink(), compression="none",
                   store_schema=False, write_statistics=False, row_group_size=1 << 20)
    return h.hexdigest()


_EMPTY_SNAPSHOT = {"snapshot": 0, "tables": {}}


def _snapshot_numbers(folder: Path) -> list[int]:
    try:
        names = os.listdir(folder / SNAPSHOTS_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(int(m["n"]) for n in names if (m := _SNAPSHOT_NAME.fullmatch(n)))


def _snapshot_path(folder: Path, number: int) -> Path:
    return folder / SNAPSHOTS_DIR / f"{int(number):08d}.json"


def _read_snapshot(folder: Path, number: int) -> dict:
    """Snapshot ``number`` of the practice, checked: canonical table names, integer Delta versions."""
    path = _snapshot_path(folder, number)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        tables = doc["tables"]
        ok = doc["snapshot"] == number and all(
            n in schema.TABLES and type(t["version"]) is int and t["version"] >= 0 for n, t in tables.items())
    except FileNotFoundError:
        known = _snapshot_numbers(folder)
        raise StoreError(f"practice {folder.name!r} has no snapshot {number}"
                         + (f" (snapshots 1 to {known[-1]})" if known else " (no tables yet)")) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path}: not a snapshot rcmkit can read ({exc})") from exc
    if not ok:
        raise StoreError(f"{path}: not a snapshot rcmkit can read (unknown table or version)")
    return doc


def _latest(folder: Path) -> dict:
    """The practice's newest snapshot ({"snapshot": 0, "tables": {}} when it has none)."""
    numbers = _snapshot_numbers(folder)
    return _read_snapshot(folder, numbers[-1]) if numbers else dict(_EMPTY_SNAPSHOT)


def _legacy_files(folder: Path) -> list[Path]:
    return [folder / f"{n}.parquet" for n in schema.TABLES if (folder / f"{n}.parquet").is_file()]


def _check_layout(folder: Path) -> None:
    """A practice still in the plain-parquet layout of rcmkit before issue #15 says how to convert it."""
    if not _snapshot_numbers(folder) and folder.is_dir() and _legacy_files(folder):
        raise StoreError(f"practice {folder.name!r} is stored as plain parquet files (the layout before Delta "
                         f"tables); convert it once with 'rcmkit store migrate --practice {folder.name}'")


def _snapshot_of(folder: Path, version: int | None) -> dict:
    if not folder.is_dir():
        if version is not None:
            raise StoreError(f"practice {folder.name!r} has no snapshot {version} (no tables yet)")
        return dict(_EMPTY_SNAPSHOT)
    _check_layout(folder)
    return _latest(folder) if version is None else _read_snapshot(folder, int(version))


def snapshot_id(root: str | os.PathLike, practice: str) -> int:
    """The number of the practice's newest snapshot (0 when it has no tables): pass it as ``version=`` to read
    exactly these tables again later."""
    return int(_snapshot_of(practice_dir(root, practice), None)["snapshot"])


def manifest(root: str | os.PathLike, practice: str, version: int | None = None) -> dict:
    """Snapshot ``version`` (default: the newest): ``{"snapshot": N, "tables": {name: {"version": Delta version,
    "rows": n, "sha256": content digest, "next_seq": n}}}``. A table's ``sha256`` is :func:`table_digest` of the
    rows last written whole, chained (``sha256(previous + operation + digest of the rows)``) over later appends
    and upserts: equal for equal histories, and cheap to keep for an append."""
    return _snapshot_of(practice_dir(root, practice), version)


# --------------------------------------------------------------------------------------------- writing
#: Tables partitioned by the calendar month of this column (``_month``): a late 835 adds files to its month.
MONTH_CLUSTERED = {"claims": "submitted_on", "remittances": "paid_on", "postings": "posted_on", "ledger": "posted_on"}
#: Table properties of the Delta tables rcmkit creates: old log entries are never removed behind the user's back
#: (reports read old versions); ``rcmkit store compact`` is the one command that removes files.
#: A checkpoint every 20 versions bounds what opening a version replays (a checkpoint and at most 19 log entries),
#: however many ingests the table has seen.
TABLE_CONFIG = {"delta.enableExpiredLogCleanup": "false", "delta.checkpointInterval": "20"}


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """delta-rs creates files with the umask: make it give :func:`file_mode` files in :func:`dir_mode` folders."""
    old = os.umask(0o777 & ~dir_mode())
    try:
        yield
    finally:
        os.umask(old)


def _restrict_tree(path: Path, files: Iterable[str] | None = None) -> None:
    """:func:`restrict` for a table folder, changing only what differs (a table keeps many files). ``files``:
    only these (paths relative to ``path``) and the folders that lead to them, not the whole tree."""
    fmode, dmode = file_mode(), dir_mode()

    def fix(p: str, mode: int) -> None:
        st = os.lstat(p)
        if not os.path.islink(p) and st.st_mode & 0o7777 != mode:
            os.chmod(p, mode)

    if files is not None:
        folders = {str(path)}
        for rel in files:
            p = path / rel
            if not p.exists():
                continue
            fix(str(p), fmode)
            parent = p.parent
            while parent != path and str(parent) not in folders:
                folders.add(str(parent))
                parent = parent.parent
        for sub in folders:
            fix(sub, dmode)
        return
    for sub, _dirs, names in os.walk(path):
        fix(sub, dmode)
        for name in names:
            fix(os.path.join(sub, name), fmode)


def _restrict_written(path: Path, since: int) -> None:
    """:func:`_restrict_tree` for the files a table's versions after ``since`` added (their log entries, the
    data files they add, checkpoints), so the cost follows the commit, not the table's history; the whole
    tree for a new table or a log that cannot be read."""
    from urllib.parse import unquote

    if since < 0:
        return _restrict_tree(path)
    log = path / "_delta_log"
    names = ["_delta_log/_last_checkpoint"]
    try:
        for version in range(since + 1, _log_version(path) + 1):
            entry = f"{version:020d}.json"
            names += [f"_delta_log/{entry}", f"_delta_log/{version:020d}.checkpoint.parquet"]
            for line in (log / entry).read_text(encoding="utf-8").splitlines():
                add = json.loads(line).get("add") if line.strip() else None
                if add:
                    names.append(unquote(add["path"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return _restrict_tree(path)
    _restrict_tree(path, files=names)


def _with_helpers(name: str, table: pa.Table, start: int) -> pa.Table:
    """``table`` with ``_seq`` (``start``, ``start + 1``, ...) and, for a dated table, ``_month``."""
    import numpy as np
    import pyarrow.compute as pc

    out = table.append_column(pa.field(SEQ_COLUMN, pa.int64(), nullable=False),
                              pa.array(np.arange(start, start + table.num_rows, dtype=np.int64)))
    column = MONTH_CLUSTERED.get(name)
    if column is not None:
        out = out.append_column(pa.field(MONTH_COLUMN, pa.string()), month_strings(table[column]))
    return out


def month_strings(dates) -> pa.Array:
    """'YYYY-MM' of each date (null for null), from the year and month numbers: what ``strftime("%Y-%m")``
    gives, at about a third of its cost (a 250k-claim bulk ingest spent 3 s in strftime)."""
    import pyarrow.compute as pc

    def padded(numbers, width):
        return pc.utf8_lpad(pc.cast(numbers, pa.string()), width=width, padding="0")

    # the text of each distinct month, then taken for every row (a 1.6 M-row ledger has a few dozen months)
    months = pc.add(pc.multiply(pc.cast(pc.year(dates), pa.int32()), 12), pc.cast(pc.month(dates), pa.int32()))
    distinct = pc.unique(months).drop_null()
    years, numbers = pc.divide(pc.subtract(distinct, 1), 12), pc.add(pc.remainder(pc.subtract(distinct, 1), 12), 1)
    text = pc.binary_join_element_wise(padded(years, 4), padded(numbers, 2), "-")
    return pc.take(text, pc.index_in(months, value_set=distinct))


#: Per table, the column its rows are sorted by inside each file it writes (issue #15): the column an ingest
#: looks rows up by (:meth:`Transaction.read` ``where=``). Sorted, each page of that column covers a narrow range
#: of keys, so a lookup of a few keys decodes the pages whose min/max statistics can hold them (the page index,
#: :data:`LOOKUP_COLUMNS`), not the whole table. Reading order does not depend on it: reads sort by month and
#: ``_seq``.
CLUSTER_BY = {"claims": "claim_id", "claim_lines": "submission_id", "claim_line_details": "submission_id",
              "remittances": "remit_id", "remit_lines": "remit_id", "remittance_details": "remit_id",
              "remit_line_details": "remit_id", "adjustments": "remit_id", "postings": "claim_id",
              "ledger": "claim_id", "payments": "payment_id"}
#: Rows per parquet row group (parquet-rs' default). Smaller groups cost space (about 1.7x at 16,384 rows: every
#: group starts its pages and dictionaries again) and gain nothing once lookups prune by page and bloom filter.
ROW_GROUP_ROWS = 1 << 20
#: Per table, the columns an ingest looks rows up by: the files the store writes carry a parquet bloom filter of
#: each (1% false positives, sized for the rows written, at most a row group's) and page-level statistics, which
#: the keyed read's query engine (:func:`_query`) uses to skip the row groups and pages that do not hold a key:
#: the ids of a new day are mostly not held, and their lookups then read almost nothing.
LOOKUP_COLUMNS = {"claims": ("claim_id", "submission_id"), "claim_lines": ("submission_id",),
                  "claim_line_details": ("submission_id",), "remittances": ("remit_id", "claim_id"),
                  "remit_lines": ("remit_id",), "remittance_details": ("remit_id",),
                  "remit_line_details": ("remit_id",), "adjustments": ("remit_id",),
                  "postings": ("posting_id", "claim_id"), "payments": ("payment_id", "trace_number"),
                  "ingested_files": ("sha256",)}
#: Distinct values a merge's rewritten files are sized for (a merge rewrites the files of a few months).
_MERGE_NDV = 1 << 16


def _writer_properties(name: str, rows: int):
    """ZSTD, row groups of :data:`ROW_GROUP_ROWS`, and for ``name``'s :data:`LOOKUP_COLUMNS` page statistics and
    bloom filters sized for ``rows`` distinct values."""
    from deltalake import BloomFilterProperties, ColumnProperties, WriterProperties

    ndv = max(1, min(rows, ROW_GROUP_ROWS))
    lookup = ColumnProperties(statistics_enabled="PAGE",
                              bloom_filter_properties=BloomFilterProperties(True, 0.01, ndv))
    return WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_ROWS,
                            column_properties={c: lookup for c in LOOKUP_COLUMNS.get(name, ())})


def _clustered(name: str, data: pa.Table) -> pa.Table:
    """``data`` sorted by its table's :data:`CLUSTER_BY` column (then ``_seq``), when it is not already."""
    import numpy as np
    import pyarrow.compute as pc

    column = CLUSTER_BY.get(name)
    if column is None or column not in data.column_names or data.num_rows < 2:
        return data
    if _in_order(data[column], data[SEQ_COLUMN]):  # e.g. the ledger, built in claim order
        return data
    order = pc.sort_indices(data, sort_keys=[(column, "ascending", "at_end"), (SEQ_COLUMN, "ascending", "at_end")])
    return data if not (np.diff(order.to_numpy()) != 1).any() else data.take(order)


def _in_order(values: pa.ChunkedArray, seq: pa.ChunkedArray) -> bool:
    """Whether rows are sorted by ``values`` (missing ones last), then ``seq``, as they are: ``seq`` increasing
    and ``values`` non-decreasing (compared as arrow sorts them: strings by their UTF-8 bytes), with no value
    after a missing one. One pass over the column instead of a sort."""
    import numpy as np
    import pyarrow.compute as pc

    if seq.null_count or (np.diff(seq.to_numpy()) <= 0).any():
        return False
    values = values.combine_chunks()
    present = len(values) - values.null_count
    if values.null_count and pc.any(pc.is_null(values.slice(0, present))).as_py():
        return False
    values = values.slice(0, present)
    if present < 2:
        return True
    return bool(pc.all(pc.less_equal(values.slice(0, present - 1), values.slice(1))).as_py())


def _file_rows(name: str, data: pa.Table) -> int:
    """The most rows one file of this write holds: its largest month, for a table partitioned by month."""
    import pyarrow.compute as pc

    if name not in MONTH_CLUSTERED or MONTH_COLUMN not in data.column_names or not data.num_rows:
        return data.num_rows
    return int(pc.max(pc.value_counts(data[MONTH_COLUMN]).field("counts")).as_py())


def _write_delta(name: str, path: Path, data: pa.Table, mode: str) -> None:
    """One Delta commit of ``data`` to the table at ``path`` (``mode``: 'overwrite' or 'append'), its rows
    sorted by :data:`CLUSTER_BY` in row groups of :data:`ROW_GROUP_ROWS`."""
    from deltalake import write_deltalake

    exists = (path / "_delta_log").is_dir()
    write_deltalake(str(path), _clustered(name, data), mode=mode,
                    partition_by=[MONTH_COLUMN] if name in MONTH_CLUSTERED else None,
                    schema_mode="overwrite" if mode == "overwrite" else "merge",
                    writer_properties=_writer_properties(name, _file_rows(name, data)),
                    configuration=None if exists else TABLE_CONFIG)


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _delete_keys(path: Path, rows: pa.Table, keys: tuple[str, ...], months: tuple[str | None, ...] | None = None
                 ) -> int:
    """Delete the stored rows whose ``keys`` equal those of ``rows`` (one Delta commit); the number deleted.
    ``months``: only these ``_month`` partitions are searched (the others are neither read nor rewritten)."""
    from deltalake import DeltaTable

    source = rows.select(list(keys))
    if source.num_rows == 0:
        return 0
    predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    if months is not None:
        named = sorted({m for m in months if m is not None})
        parts = ([f"t.{MONTH_COLUMN} IN ({', '.join(map(_sql_text, named))})"] if named else []) + \
            ([f"t.{MONTH_COLUMN} IS NULL"] if None in months else [])
        if not parts:
            return 0
        predicate = f"({' OR '.join(parts)}) AND {predicate}"
    metrics = (DeltaTable(str(path)).merge(source, predicate, source_alias="s", target_alias="t",
                                           writer_properties=_writer_properties(path.name, _MERGE_NDV))
               .when_matched_delete().execute())
    return int(metrics.get("num_target_rows_deleted", 0))


def _chain(previous: str, operation: str, table: pa.Table | str) -> str:
    """The digest of a table version from its previous one's, the operation and the rows it wrote (or their
    :func:`table_digest`, computed already)."""
    digest = table if isinstance(table, str) else table_digest(table)
    return hashlib.sha256(f"{previous}\n{operation}\n{digest}".encode()).hexdigest()


class _DigestAlongside:
    """:func:`table_digest` of ``table`` computed in a thread of its own while the caller writes it (both are
    arrow's and delta-rs' work, which releases the GIL; issue #15); :meth:`result` waits for it."""

    def __init__(self, table: pa.Table):
        import threading

        self._value: str | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(table,), name="rcmkit-digest", daemon=True)
        self._thread.start()

    def _run(self, table: pa.Table) -> None:
        try:
            self._value = table_digest(table)
        except BaseException as exc:  # raised to the caller by result()
            self._value = exc

    def result(self) -> str:
        self._thread.join()
        if isinstance(self._value, BaseException):
            raise self._value
        return self._value


def _log_version(path: Path) -> int:
    """The newest version in a Delta table's log (-1 when it has none), from the log's file names."""
    try:
        names = os.listdir(path / "_delta_log")
    except FileNotFoundError:
        return -1
    versions = [int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit()]
    return max(versions, default=-1)


#: Rows from which a table's content digest is computed alongside its Delta write rather than after it.
_DIGEST_ALONGSIDE_ROWS = 100_000


def _write_table(folder: Path, name: str, kind: str, table: pa.Table, keys: tuple[str, ...],
                 info: dict | None, delete: pa.Table | None = None,
                 months: tuple[str | None, ...] | None = None, replace: bool = True) -> dict | None:
    """Write one table's new Delta version; its snapshot entry (None when there was nothing to write)."""
    path = folder / TABLES_DIR / name
    n = table.num_rows
    doomed = (table.select(list(keys)) if replace else table.select(list(keys)).slice(0, 0)) \
        if kind == "upsert" else None
    if doomed is not None and delete is not None and delete.num_rows:
        doomed = pa.concat_tables([doomed, delete.select(list(keys)).cast(doomed.schema)])
    if kind != "overwrite" and n == 0 and info is not None and (doomed is None or doomed.num_rows == 0):
        return None
    alongside = _DigestAlongside(table) if n >= _DIGEST_ALONGSIDE_ROWS else None

    def content() -> str:  # the rows' table_digest: computed alongside the write, or now
        return alongside.result() if alongside is not None else table_digest(table)

    try:
        if kind == "overwrite" or info is None:
            make_dirs(path)
            _write_delta(name, path, _with_helpers(name, table, 0), "overwrite")
            rows, seq, digest = n, n, content()
        elif kind == "append":
            _write_delta(name, path, _with_helpers(name, table, info["next_seq"]), "append")
            rows, seq = info["rows"] + n, info["next_seq"] + n
            digest = _chain(info["sha256"], "append", content())
        else:
            deleted = _delete_keys(path, doomed, keys, months if name in MONTH_CLUSTERED else None)
            if n:
                _write_delta(name, path, _with_helpers(name, table, info["next_seq"]), "append")
            elif not deleted:
                return None
            rows, seq = info["rows"] - deleted + n, info["next_seq"] + n
            digest = _chain(info["sha256"], ("upsert " if replace else "append ") + ",".join(keys), content())
            if delete is not None and delete.num_rows:
                digest = _chain(digest, "delete " + ",".join(keys), delete)
    finally:
        if alongside is not None:  # its thread has ended before this returns or raises (a failed write)
            with contextlib.suppress(BaseException):
                alongside.result()
    return {"version": _log_version(path), "rows": rows, "sha256": digest, "next_seq": seq}


def _write_error(path: Path, exc: BaseException) -> StoreError:
    """One line for the user: what could not be written, and why (e.g. 'No space left on device')."""
    text = str(exc)
    why = (exc.strerror if isinstance(exc, OSError) else None) or \
        (text.strip().splitlines() or [type(exc).__name__])[-1]
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    for known in ("No space left on device", "Disk quota exceeded"):  # delta-rs: the OS message in its own text
        if known in text:
            why, full = known, True
    hint = "; free some space and run again" if full else ""
    return StoreError(f"cannot write {path}: {why}{hint}; the stored tables are unchanged")


def _recover(folder: Path) -> None:
    """Roll back what a writer killed before its commit point left: table versions newer than the newest
    snapshot names are restored to that snapshot's version (Delta RESTORE: a new version with the old content,
    named by a new snapshot of the same content), tables it does not have are removed, temporary snapshot files
    go. Needs the practice lock."""
    for stray in (folder / SNAPSHOTS_DIR).glob("*.tmp-*"):
        _unlink_quietly(stray)
    tables_dir = folder / TABLES_DIR
    if not tables_dir.is_dir():
        return
    latest = _latest(folder)
    held = {n: dict(t) for n, t in latest["tables"].items()}
    restored = False
    for name in sorted(os.listdir(tables_dir)):
        path = tables_dir / name
        info = held.get(name)
        if info is None:
            shutil.rmtree(path)
        elif _log_version(path) > info["version"]:
            from deltalake import DeltaTable

            with _private_umask():
                DeltaTable(str(path)).restore(info["version"])
            info["version"] = _log_version(path)
            restored = True
            _crash_point(f"restore:{name}")
    if restored:  # the same content at the RESTORE versions: a new snapshot, so no version is left unnamed
        _write_json_atomic(_snapshot_path(folder, latest["snapshot"] + 1),
                           {"snapshot": latest["snapshot"] + 1, "tables": held})


class _Commit:
    """One snapshot's writes, under the practice lock (after :func:`_recover`): table versions written by
    :meth:`write` (one call or several, e.g. staged in a background thread: :meth:`Transaction.stage`), then the
    snapshot that names them (:meth:`finish`: the commit point). A failure before that point rolls the tables
    written so far back (:meth:`fail`); the practice stays at the previous snapshot."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.base = _latest(folder)
        self.tables = dict(self.base["tables"])
        self.written: list[str] = []
        self.new = {"snapshot": int(self.base["snapshot"]) + 1, "tables": self.tables}
        self.target = _snapshot_path(folder, self.new["snapshot"])
        self.current = folder / TABLES_DIR  # what is being written, for the error message

    def write(self, ops: Mapping[str, tuple]) -> None:
        """Write these tables' new Delta versions (not yet visible: no snapshot names them)."""
        with _private_umask():
            for name in sorted(ops):
                kind, table, keys, *extra = ops[name]
                self.current = self.folder / TABLES_DIR / name
                info = _write_table(self.folder, name, kind, table, keys, self.tables.get(name), *extra)
                if info is not None:
                    self.tables[name] = info
                    self.written.append(name)
                    _crash_point(f"table:{name}")

    def finish(self) -> dict:
        """The snapshot naming every table written (the commit point), then the written files' modes; the new
        snapshot (the base one when nothing was written)."""
        if not self.written:
            return self.base
        self.current = self.target
        with _private_umask():
            make_dirs(self.folder / SNAPSHOTS_DIR)
            _write_json_atomic(self.target, self.new, crash_point="snapshot-tmp")
        _crash_point("committed")
        with contextlib.suppress(OSError):
            for name in self.written:
                _restrict_written(self.folder / TABLES_DIR / name,
                                  self.base["tables"].get(name, {}).get("version", -1))
            _restrict_tree(self.folder / SNAPSHOTS_DIR, files=[self.target.name])
        _crash_point("restricted")
        return self.new

    def fail(self, exc: BaseException) -> BaseException:
        """Roll back after ``exc`` (unless the snapshot is already in place: committed all the same); the error
        to raise (a :class:`StoreError` naming what could not be written, for a failed write)."""
        if self.target.exists():
            return exc
        with contextlib.suppress(Exception):  # roll back now; else the next writer does
            _recover(self.folder)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, schema.SchemaError)):
            return exc
        return _write_error(self.current, exc)


def _commit(folder: Path, ops: Mapping[str, tuple[str, pa.Table, tuple[str, ...]]]) -> dict:
    """Write the tables as one snapshot. The caller holds the practice lock (and :func:`_recover` has run).

    ``ops``: per table, ('overwrite' | 'append' | 'upsert', canonical arrow table, keys). A failed write before
    the commit point (a full disk) rolls the tables written so far back and raises :class:`StoreError` naming the
    table; the practice stays at the previous snapshot."""
    writer = _Commit(folder)
    try:
        writer.write(ops)
        return writer.finish()
    except BaseException as exc:
        raised = writer.fail(exc)
        if raised is exc:
            raise
        raise raised from None


def _ops(changed: Mapping[str, object]) -> dict[str, tuple[str, pa.Table, tuple[str, ...]]]:
    """A change's tables as commit operations, each conformed to its canonical schema first."""
    out = {}
    for name, value in changed.items():
        if name not in schema.TABLES:  # before anything is written
            raise StoreError(f"unknown table {name!r}; canonical tables are {sorted(schema.TABLES)}")
        if isinstance(value, Append):
            out[name] = ("append", schema.to_arrow(name, value.frame), ())
        elif isinstance(value, Upsert):
            delete = None
            if value.delete is not None:
                spec = pa.schema([schema.TABLES[name].arrow_schema.field(k) for k in value.keys])
                delete = pa.Table.from_pandas(value.delete[list(value.keys)], schema=spec, preserve_index=False)
            out[name] = ("upsert", schema.to_arrow(name, value.frame), value.keys, delete, value.months,
                         value.replace)
        else:
            out[name] = ("overwrite", schema.to_arrow(name, value), ())
    return out


def save_tables(
    root: str | os.PathLike,
    practice: str,
    tables: Mapping[str, pd.DataFrame | Append | Upsert],
    *,
    lock_timeout: float = 600.0,
) -> dict:
    """Replace the given tables of ``practice`` (or append / upsert rows: :class:`Append`, :class:`Upsert`) in
    one crash-safe snapshot; returns it (:func:`manifest`).

    Each frame is conformed to its canonical schema first (a :class:`rcmkit.core.schema.SchemaError` lists every
    problem, and nothing is written). Tables not named keep their current version.
    """
    folder = practice_dir(root, practice)
    ops = _ops(tables)
    _check_layout(folder)
    with practice_lock(folder, timeout=lock_timeout):
        return _commit(folder, ops)


def update_tables(
    root: str | os.PathLike,
    practice: str,
    names: Iterable[str],
    change: Callable[[dict[str, pd.DataFrame]], Mapping[str, pd.DataFrame | Append | Upsert]],
    *,
    lock_timeout: float = 600.0,
) -> dict:
    """Read-modify-write under the practice lock: ``change(current tables)`` returns, per table to change, the
    whole new table, an :class:`Append` of new rows or an :class:`Upsert` of rows by key.

    The lock is held from the read to the commit, so two concurrent updates serialize and neither loses the
    other's rows (an ingest while another ingest runs waits, then sees its result). Returns the new snapshot
    (the current one when nothing changed).
    """
    folder = practice_dir(root, practice)
    _check_layout(folder)
    with practice_lock(folder, timeout=lock_timeout):
        snap = _latest(folder)
        current = {n: _read(folder, n, snap["tables"].get(n), required=False) for n in names}
        ops = _ops(change(current))
        return _commit(folder, ops) if ops else snap


class Transaction:
    """A practice's tables at one snapshot, read under its lock, and one commit (:func:`transaction`)."""

    def __init__(self, folder: Path, snap: dict):
        self.folder, self.snapshot = folder, snap
        self.result: dict | None = None
        self._datasets: dict = {}  # (table, Delta version) -> its pyarrow dataset, opened once per transaction
        self._writer: _Commit | None = None  # staged writes (stage), finished by commit
        self._staged: list = []  # their futures, in order
        self._staged_names: set[str] = set()
        self._pool = None

    @property
    def tables(self) -> dict:
        """The snapshot's entry of every table it holds (``version``, ``rows``, ...)."""
        return self.snapshot["tables"]

    def read(self, name: str, *, where: Mapping[str, Iterable] | None = None,
             columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Table ``name`` (empty when the snapshot does not have it), in stored order; ``where``: only the rows
        whose value in one of its columns is one of the values given for that column (a key lookup that
        materializes the matching rows only); ``columns``: only these columns."""
        table_path(self.folder.parent, self.folder.name, name)
        return _read(self.folder, name, self.tables.get(name), required=False, columns=columns, where=where,
                     datasets=self._datasets)

    def stage(self, changes: Mapping[str, pd.DataFrame | Append | Upsert]) -> None:
        """Start writing these tables' new versions now, in a background thread, while the caller computes the
        others (an ingest builds the ledger meanwhile: the writes are arrow's and delta-rs' work, which releases
        the GIL; issue #15). Nothing is visible before :meth:`commit` writes the snapshot; a failed staged write
        is raised by :meth:`commit`; a transaction left without a commit rolls the staged tables back. Each
        table is staged or committed once; the changes are conformed here (a schema error, nothing written).
        While staged writes run, the process's umask is the store's (delta-rs creates files with it): the
        caller creates no files until :meth:`commit`."""
        if self.result is not None:
            raise StoreError("a transaction commits once")
        ops = _ops(changes)
        if not ops:
            return
        again = sorted(set(ops) & self._staged_names)
        if again:
            raise StoreError(f"tables staged twice in one transaction: {again}")
        self._staged_names |= set(ops)
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._writer = _Commit(self.folder)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rcmkit-commit")
        self._staged.append(self._pool.submit(self._writer.write, ops))

    def _wait_staged(self) -> None:
        """Wait for the staged writes; the first failure raised."""
        try:
            for future in self._staged:
                future.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def commit(self, changes: Mapping[str, pd.DataFrame | Append | Upsert]) -> dict:
        """Write the changes (and wait for the staged ones) as one snapshot (once); returns it (the current one
        when nothing changed)."""
        if self.result is not None:
            raise StoreError("a transaction commits once")
        if self._writer is None:
            ops = _ops(changes)
            self.result = _commit(self.folder, ops) if ops else self.snapshot
            return self.result
        writer = self._writer
        try:
            ops = _ops(changes)
            again = sorted(set(ops) & self._staged_names)
            if again:
                raise StoreError(f"tables staged and committed in one transaction: {again}")
            self._wait_staged()
            writer.write(ops)
            self.result = writer.finish()
        except BaseException as exc:
            self._writer = None
            with contextlib.suppress(BaseException):  # no staged write may still run during the roll-back
                self._wait_staged()
            raised = writer.fail(exc)
            if raised is exc:
                raise
            raise raised from None
        self._writer = None
        return self.result

    def _abandon(self) -> None:
        """The caller failed after staging writes: wait for them, and roll them back."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with contextlib.suppress(BaseException):
            self._wait_staged()
        with contextlib.suppress(Exception):
            _recover(self.folder)


@contextlib.contextmanager
def transaction(root: str | os.PathLike, practice: str, *, lock_timeout: float = 600.0) -> Iterator[Transaction]:
    """Read-modify-write with keyed reads: the practice lock is held from the first read to the commit, like
    :func:`update_tables`, but the caller reads only the rows it needs (:meth:`Transaction.read` with ``where``)
    and commits once (:meth:`Transaction.commit`), optionally after staging some tables' writes in the
    background (:meth:`Transaction.stage`). Nothing is visible unless ``commit`` is called: the staged writes of a
    transaction that ends without a commit are rolled back."""
    folder = practice_dir(root, practice)
    _check_layout(folder)
    with practice_lock(folder, timeout=lock_timeout):
        tx = Transaction(folder, _latest(folder))
        try:
            yield tx
        finally:
            tx._abandon()  # staged writes of a transaction that did not commit are rolled back


# --------------------------------------------------------------------------------------------- reading
def _delta_table(folder: Path, name: str, version: int):
    from deltalake import DeltaTable

    path = folder / TABLES_DIR / name
    try:
        return DeltaTable(str(path), version=version)
    except Exception as exc:  # delta-rs raises its own types for a missing log or version
        raise StoreError(f"{path}: cannot read version {version} of this Delta table ({exc}); was it vacuumed "
                         "(rcmkit store compact) or copied partially?") from exc


def _dataset(folder: Path, name: str, version: int, table=None):
    """Version ``version`` of a table (its ``DeltaTable``, when open) as a pyarrow dataset whose files are read
    from the local file system directly (not through delta-rs' Python file-system bridge, which costs a Python
    call per read)."""
    import pyarrow.fs as pafs

    path = folder / TABLES_DIR / name
    table = _delta_table(folder, name, version) if table is None else table
    return table.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(str(path.resolve()), pafs.LocalFileSystem()))


def _canonical_arrow(name: str, table: pa.Table, wanted: list[str], where: object) -> pa.Table:
    """``table``'s ``wanted`` columns in canonical order and types; columns added to the schema later
    (``Column.optional``) read as nulls from tables written before."""
    spec = {c.name: c for c in schema.TABLES[name].columns}
    for c in [c for c in wanted if c not in table.column_names and spec[c].optional]:
        table = table.append_column(pa.field(c, spec[c].type, nullable=True), pa.nulls(table.num_rows, spec[c].type))
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise StoreError(f"{where}: missing canonical columns {missing}")
    table = table.select(wanted)
    target = pa.schema([pa.field(c, spec[c].type) for c in wanted])
    return table if table.schema.equals(target) else table.cast(target)


#: Tables whose stored order is by value, not by when rows were written: they are read sorted by month, then these
#: columns (the order :func:`rcmkit.core.ledger.build_ledger` gives), so rows an :class:`Upsert` replaced read back
#: exactly where a whole rewrite would put them. Rows equal on all of them are equal.
ORDERED_BY = {"ledger": ("claim_id", "posted_on", "kind", "responsible", "amount_cents")}


def _where(name: str, where: Mapping[str, Iterable] | None, present: set[str], cast: bool = True):
    """A pyarrow dataset filter: rows whose value in one of ``where``'s columns is among its values (a column
    the stored table does not have yet, :attr:`rcmkit.core.schema.Column.optional`, reads as nulls). ``cast``:
    columns are cast to their canonical type first, for files Delta's merge rewrote, which hold ``string_view``
    columns that pyarrow cannot compare with a plain string when it prunes row groups by their statistics; the
    cast also stops that pruning (every row group is read), so files of plain columns are filtered without it
    (:func:`_scan`)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if where is None:
        return None
    spec = schema.TABLES[name].arrow_schema
    expr = None
    for column, values in where.items():
        values = pd.Series(list(values) if not isinstance(values, (pd.Series, pd.Index)) else values, dtype=object)
        given = values.dropna()
        if column not in present:
            part = pc.scalar(given.size < values.size)
        else:
            kind = spec.field(column).type
            field = ds.field(column).cast(kind) if cast else ds.field(column)
            part = field.isin(pa.array(given.tolist(), type=kind)) if len(given) else pc.scalar(False)
            if given.size < values.size:
                part = part | field.is_null()
        expr = part if expr is None else expr | part
    return pc.scalar(False) if expr is None else expr


def _sql_values(kind: pa.DataType, values: list) -> str | None:
    """SQL literals of ``values`` for a column of type ``kind``; None for a type this does not write."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ", ".join(_sql_text(str(v)) for v in values)
    if pa.types.is_integer(kind):
        return ", ".join(str(int(v)) for v in values)
    return None


def _opened(folder: Path, name: str, version: int, cache: dict | None):
    """The ``DeltaTable`` of a table's version, opened once per transaction (``cache``)."""
    key = ("delta", name, version)
    table = None if cache is None else cache.get(key)
    if table is None:
        table = _delta_table(folder, name, version)
        if cache is not None:
            cache[key] = table
    return table


#: Keys per IN list of a keyed query (longer lists crashed DataFusion's planner: a segmentation fault while
#: ingesting the 25k-claim demo's 929 files at once), and keys above which a keyed read scans instead of querying.
QUERY_IN_LIST = 500
QUERY_MAX_KEYS = 20_000


def _query(table, name: str, columns: list[str], where: Mapping[str, Iterable], present: set[str]
           ) -> pa.Table | None:
    """The keyed read of :func:`_read_arrow` as one SQL query of the Delta version (DataFusion, through
    ``deltalake.QueryBuilder``): ``SELECT columns WHERE a IN (...) OR b IN (...) [OR a IS NULL]``. DataFusion
    skips files and row groups by their min/max statistics and by the bloom filters of the lookup columns
    (:data:`LOOKUP_COLUMNS`), so a few keys read a few row groups, and keys the table does not hold (a new day's
    ids) read almost nothing, however large the table. None when a ``where`` column's type has no literal here."""
    from deltalake import QueryBuilder

    spec = schema.TABLES[name].arrow_schema
    keys = {column: list(values) for column, values in where.items()}
    if sum(len(v) for v in keys.values()) > QUERY_MAX_KEYS:  # a bulk ingest: a scan reads no more than this
        return None
    parts = []
    for column, values in keys.items():
        given = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
        nulls = len(given) < len(values)
        if column not in present:  # an optional column the stored table does not have yet: all nulls
            parts += ["TRUE"] if nulls else []
            continue
        given = sorted(set(given))
        for at in range(0, len(given), QUERY_IN_LIST):  # DataFusion crashes (SIGSEGV) on IN lists of thousands
            literals = _sql_values(spec.field(column).type, given[at:at + QUERY_IN_LIST])
            if literals is None:
                return None
            parts.append(f'"{column}" IN ({literals})')
        if nulls:
            parts.append(f'"{column}" IS NULL')
    select = ", ".join(f'"{c}"' for c in columns)
    # one query per condition (an OR of conditions on several columns stops DataFusion's pruning), the rows
    # matched twice kept once (by ``_seq``, unique in a table)
    # DataFusion gives string_view columns (and may give other physically equal types): back to the stored ones
    target = pa.schema([pa.field(c, (spec.field(c).type if c in spec.names else
                                     pa.int64() if c == SEQ_COLUMN else pa.string())) for c in columns])
    results = []
    for part in parts or ["FALSE"]:
        found = pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(
            f"SELECT {select} FROM t WHERE {part}")).read_all()
        results.append(found.cast(target) if not found.schema.equals(target) else found)
    result = results[0] if len(results) == 1 else pa.concat_tables(results)
    if len(results) > 1 and result.num_rows:
        import numpy as np

        _, first = np.unique(result[SEQ_COLUMN].to_numpy(), return_index=True)
        result = result.take(pa.array(np.sort(first)))
    return result


def _scan(dataset, columns: list[str], name: str, where, present: set[str], cache: dict | None,
          version: int) -> pa.Table:
    """``dataset.to_table`` of ``columns``, filtered by ``where`` (:func:`_where`): the files whose ``where``
    columns are plain strings are scanned with the plain filter, which skips the row groups whose min/max
    statistics cannot hold the values (the files are sorted by :data:`CLUSTER_BY`: a few keys read a few row
    groups); the files a merge rewrote (``string_view`` columns) with the cast one."""
    import pyarrow.dataset as ds

    if where is None:
        return dataset.to_table(columns=columns)
    key = (name, version, "split", tuple(sorted(c for c in where if c in present)))
    split = None if cache is None else cache.get(key)
    if split is None:
        plain, view = [], []
        for fragment in dataset.get_fragments():
            physical = fragment.physical_schema
            viewed = any(c in physical.names and pa.types.is_string_view(physical.field(c).type) for c in key[3])
            (view if viewed else plain).append(fragment)
        split = [(ds.FileSystemDataset(frags, dataset.schema, dataset.format, dataset.filesystem), cast)
                 for frags, cast in ((plain, False), (view, True)) if frags]
        if cache is not None:
            cache[key] = split
    parts = [part.to_table(columns=columns, filter=_where(name, where, present, cast=cast)) for part, cast in split]
    if not parts:
        return dataset.to_table(columns=columns, filter=_where(name, where, present))
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _read_arrow(folder: Path, name: str, version: int, wanted: list[str], where=None,
                datasets: dict | None = None) -> pa.Table:
    """Version ``version`` of a table, ``wanted`` columns, in stored order (month, then ``_seq``, or the
    :data:`ORDERED_BY` columns)."""
    import numpy as np
    import pyarrow.compute as pc

    delta = _opened(folder, name, version, datasets)
    present = set(pa.schema(delta.schema().to_arrow()).names)

    def dataset():
        found = None if datasets is None else datasets.get((name, version))
        if found is None:
            found = _dataset(folder, name, version, delta)
            if datasets is not None:
                datasets[(name, version)] = found
        return found

    dated = MONTH_COLUMN in present
    ordered = [c for c in ORDERED_BY.get(name, ()) if c in present]
    helpers = [SEQ_COLUMN] + ([MONTH_COLUMN] if dated else []) + [c for c in ordered if c not in wanted]
    try:
        columns = [c for c in wanted if c in present] + helpers
        table = None if where is None else _query(delta, name, columns, where, present)
        if table is None:
            table = _scan(dataset(), columns, name, where, present, datasets, version)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise StoreError(f"{folder / TABLES_DIR / name}: version {version} cannot be read ({exc}); was it vacuumed "
                         "(rcmkit store compact) or copied partially?") from exc
    keys = ([(MONTH_COLUMN, "ascending", "at_end")] if dated else []) + (
        [(c, "ascending", "at_end") for c in ordered] or [(SEQ_COLUMN, "ascending", "at_end")])
    try:
        order = pc.sort_indices(table, sort_keys=keys)
    except (TypeError, ValueError):  # pyarrow < 25: one null placement for all keys
        order = pc.sort_indices(table, sort_keys=[k[:2] for k in keys], null_placement="at_end")
    if len(order) and (np.diff(order.to_numpy()) != 1).any():
        table = table.take(order)
    return _canonical_arrow(name, table.drop_columns(helpers), wanted, folder / TABLES_DIR / name)


def _read(folder: Path, name: str, info: dict | None, *, required: bool,
          columns: Iterable[str] | None = None, where: Mapping[str, Iterable] | None = None,
          datasets: dict | None = None) -> pd.DataFrame:
    if info is None:
        if required:
            raise StoreError(
                f"no {name!r} table for practice {folder.name!r}: expected {folder / TABLES_DIR / name}. Create it "
                f"with 'rcmkit demo --practice {folder.name}' or 'rcmkit ingest --practice {folder.name} FILES'."
            )
        empty = schema.empty(name)
        return empty if columns is None else empty[[c for c in empty.columns if c in set(columns)]]
    wanted = schema.TABLES[name].names if columns is None else [c for c in schema.TABLES[name].names
                                                                  if c in set(columns)]
    return schema.from_arrow(name, _read_arrow(folder, name, info["version"], wanted, where, datasets))


def load_table(root: str | os.PathLike, practice: str, name: str, *, required: bool = True,
               lock_timeout: float = 600.0, version: int | None = None) -> pd.DataFrame:
    """One canonical table as a pandas frame; an empty canonical frame when absent and not ``required``."""
    return load_tables(root, practice, [name], required=required, lock_timeout=lock_timeout, version=version)[name]


def load_tables(
    root: str | os.PathLike, practice: str, names: Iterable[str] | None = None, *, required: bool = True,
    lock_timeout: float = 600.0, columns: Mapping[str, Iterable[str]] | None = None, version: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Several tables at once (all canonical tables by default), all of one snapshot: the newest, or snapshot
    ``version`` (:func:`snapshot_id`). Readers take no lock: a snapshot never changes, and a commit is visible
    only once its snapshot is written. ``columns``: for the tables it names, read only those columns (in
    canonical order), e.g. :data:`rcmkit.metrics.SUITE_COLUMNS` for the KPI suite. ``lock_timeout`` is accepted
    for compatibility and unused."""
    names = list(names) if names is not None else list(schema.TABLES)
    columns = dict(columns or {})
    for name in names:
        table_path(root, practice, name)  # an unknown table or practice name is an error
    folder = practice_dir(root, practice)
    snap = _snapshot_of(folder, version)
    return {n: _read(folder, n, snap["tables"].get(n), required=required, columns=columns.get(n)) for n in names}


def committed_paths(root: str | os.PathLike, practice: str, names: Iterable[str] | None = None, *,
                    version: int | None = None, lock_timeout: float = 600.0,
                    snapshot: bool = True) -> dict[str, list[Path]]:
    """Per table, the parquet files of its Delta version in the newest snapshot (or snapshot ``version``), for
    engines that scan parquet themselves without a Delta connector (DuckDB ``read_parquet([...])``, Spark
    ``read.parquet(*files)``: :func:`rcmkit.core.engine.open_tables`). The files of a version never change, so
    a lazy scan reads that version whatever commits follow (until ``rcmkit store compact`` vacuums it). The
    files hold the canonical columns and ``_seq``; ``_month`` is in the folder names only. Tables the snapshot
    does not have are left out. ``lock_timeout`` and ``snapshot`` are accepted for compatibility and unused."""
    names = list(names) if names is not None else list(schema.TABLES)
    for name in names:
        table_path(root, practice, name)
    folder = practice_dir(root, practice)
    snap = _snapshot_of(folder, version)
    return {n: [Path(u.removeprefix("file://"))
                for u in _delta_table(folder, n, snap["tables"][n]["version"]).file_uris()]
            for n in names if n in snap["tables"]}


def delta_datasets(root: str | os.PathLike, practice: str, names: Iterable[str] | None = None, *,
                   version: int | None = None) -> dict[str, object]:
    """Per table, a ``pyarrow.dataset.Dataset`` of its Delta version in the newest snapshot (or snapshot
    ``version``): DuckDB scans it lazily (``duckdb.from_arrow(dataset)``), with ``_month`` as a column."""
    names = list(names) if names is not None else list(schema.TABLES)
    folder = practice_dir(root, practice)
    snap = _snapshot_of(folder, version)
    return {n: _dataset(folder, n, snap["tables"][n]["version"]) for n in names if n in snap["tables"]}


# --------------------------------------------------------------------------------------------- migration, compaction
#: Files of the plain-parquet layout (before issue #15) that ``migrate`` moves to :data:`MIGRATED_DIR`.
_LEGACY_EXTRAS = ("_manifest.json", "current", ".versions", ".snapshots")


def migrate(root: str | os.PathLike, practice: str, *, lock_timeout: float = 600.0) -> dict:
    """Convert a practice stored as plain parquet files (``<practice>/<table>.parquet``) to Delta tables in one
    snapshot. Each table's rows and content digest (:func:`table_digest` of its canonical rows, in stored order)
    are compared before and after; on any difference the Delta tables are removed again and nothing changes.
    The old files (and ``_manifest.json``, ``current``, ``.versions``) move to ``<practice>/.migrated-parquet/``,
    kept until the user deletes them. Returns ``{"snapshot": N, "tables": {name: {"rows", "sha256"}}}``."""
    folder = practice_dir(root, practice)
    if not folder.is_dir():
        raise StoreError(f"no practice {practice!r} under {root}")
    with practice_lock(folder, timeout=lock_timeout):
        if (folder / "_commit.json").exists():
            raise StoreError(f"{folder / '_commit.json'}: an unfinished commit of the old store; finish it with the "
                             "rcmkit version that wrote it (any read does) before migrating")
        old = _legacy_files(folder)
        if not old:
            raise StoreError(f"practice {practice!r} has no plain parquet tables: nothing to migrate")
        if _snapshot_numbers(folder):
            raise StoreError(f"practice {practice!r} has Delta tables already and old parquet files beside them; "
                             "move the old files away by hand")
        before: dict[str, pa.Table] = {}
        for path in old:
            name = path.name[: -len(".parquet")]
            try:
                table = pq.read_table(path)
            except Exception as exc:  # pyarrow raises several types for unreadable files
                raise StoreError(f"{path}: not a readable parquet file ({exc}); nothing was migrated") from exc
            before[name] = _canonical_arrow(name, table, schema.TABLES[name].names, path)
        expected = {n: {"rows": t.num_rows, "sha256": table_digest(t)} for n, t in before.items()}
        try:
            snap = _commit(folder, {n: ("overwrite", t, ()) for n, t in before.items()})
            got = {}
            for name in before:
                table = _read_arrow(folder, name, snap["tables"][name]["version"], schema.TABLES[name].names)
                got[name] = {"rows": table.num_rows, "sha256": table_digest(table)}
            if got != expected:
                bad = sorted(n for n in expected if got.get(n) != expected[n])
                raise StoreError(f"practice {practice!r}: the Delta tables differ from the parquet files in {bad}; "
                                 "nothing was migrated")
        except BaseException:
            shutil.rmtree(folder / TABLES_DIR, ignore_errors=True)
            shutil.rmtree(folder / SNAPSHOTS_DIR, ignore_errors=True)
            raise
        kept = make_dirs(folder / MIGRATED_DIR)
        for path in [*old, *(folder / n for n in _LEGACY_EXTRAS)]:
            if path.exists() or path.is_symlink():
                os.replace(path, kept / path.name)
        _fsync_dir(folder)
        return {"snapshot": snap["snapshot"], "tables": expected}


#: Days of history ``rcmkit store compact`` keeps by default (besides the versions reports name).
DEFAULT_RETAIN_DAYS = 400


def report_snapshots(reports_root: str | os.PathLike, practice: str) -> list[int]:
    """The store snapshots the practice's reports read: ``store_snapshot`` of every
    ``<reports_root>/<practice>/*/run.json`` (reports written before issue #15 have none)."""
    folder = practice_dir(reports_root, practice)
    out = set()
    for run in folder.glob("*/run.json"):
        try:
            number = json.loads(run.read_text(encoding="utf-8")).get("store", {}).get("store_snapshot")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(number, int):
            out.add(number)
    return sorted(out)


def compact(root: str | os.PathLike, practice: str, *, retain_days: float = DEFAULT_RETAIN_DAYS,
            keep_snapshots: Iterable[int] = (), lock_timeout: float = 600.0) -> dict:
    """OPTIMIZE (compact small files into large ones) then VACUUM every table of the practice, as one new
    snapshot with the same content. VACUUM deletes the files no version younger than ``retain_days`` needs,
    except those of the snapshots in ``keep_snapshots`` (the ones reports read: :func:`report_snapshots`) and
    the newest. Returns ``{"snapshot": N, "files_removed": n, "tables": {...}}``."""
    from deltalake import DeltaTable, WriterProperties

    folder = practice_dir(root, practice)
    _check_layout(folder)
    with practice_lock(folder, timeout=lock_timeout):
        base = _latest(folder)
        if not base["tables"]:
            raise StoreError(f"practice {practice!r} has no tables to compact")
        kept = [_read_snapshot(folder, int(n)) for n in sorted(set(keep_snapshots)) if n in _snapshot_numbers(folder)]
        tables = {n: dict(t) for n, t in base["tables"].items()}
        removed = 0
        with _private_umask():
            for name in sorted(tables):
                path = folder / TABLES_DIR / name
                table = DeltaTable(str(path))
                rows = int(tables[name].get("rows", ROW_GROUP_ROWS))
                if CLUSTER_BY.get(name):  # sorted by the lookup column again, in row groups keyed reads can skip
                    table.optimize.z_order([CLUSTER_BY[name]], writer_properties=_writer_properties(name, rows))
                else:
                    table.optimize.compact(writer_properties=_writer_properties(name, rows))
                tables[name]["version"] = _log_version(path)
                versions = sorted({tables[name]["version"]} | {s["tables"][name]["version"] for s in kept
                                                                if name in s["tables"]})
                table = DeltaTable(str(path))
                removed += len(table.vacuum(retention_hours=int(retain_days * 24), dry_run=False,
                                            enforce_retention_duration=False, keep_versions=versions))
                _crash_point(f"table:{name}")
            new = {"snapshot": int(base["snapshot"]) + 1, "tables": tables}
            _write_json_atomic(_snapshot_path(folder, new["snapshot"]), new, crash_point="snapshot-tmp")
        for name in tables:
            _restrict_tree(folder / TABLES_DIR / name)
        return {**new, "files_removed": removed}
