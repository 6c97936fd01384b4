"""Loading and saving a practice's canonical tables: the only module that touches ``data/<practice>/``.

Layout: ``<root>/<practice>/<table>.parquet``, one plain parquet file per table that any tool can read
(pandas, DuckDB, Spark, R arrow), plus ``_manifest.json`` (which files make up the current version, their row
counts and SHA-256).

Writes are transactions over several tables at once and are crash safe:

1. every new table file is written to ``<table>.parquet.tmp-<token>`` and fsynced;
2. a journal ``_commit.json`` naming those renames is written atomically (write + fsync + rename): this is the
   commit point;
3. the renames happen, the manifest is rewritten, the version is published (``current``, below), the journal
   is removed.

A process killed before step 2 leaves only temporary files, which the next writer deletes (roll back); killed
after it, the next reader or writer finishes the renames from the journal (roll forward). Either way the tables
are exactly the old or exactly the new version (``tests/test_reliability.py`` kills writers at every step, and
readers in the middle of a roll forward, to prove it). A journal can only rename a table's temporary file onto
that table: it is checked before a roll forward. Writers on one practice serialize on an advisory lock
(``.lock``, ``flock`` exclusive); readers of several tables hold it shared, so they see one version, never a
mix of the tables before and after a commit. Different practices never wait for each other. Readers outside
rcmkit take no lock: for them ``<practice>/current`` is a symbolic link to ``.versions/v<N>/`` (hard links of
one complete version's files), switched by one atomic rename once a commit's renames are done, so a commit
interrupted mid-way never shows them a mix.

Files and folders the store creates are private to their owner: ``0600`` files in ``0700`` folders, or the mode
in the environment variable ``RCMKIT_FILE_MODE`` (octal, e.g. ``0640``: folders get ``x`` wherever files get
``r``). :func:`make_dirs`, :func:`write_file` and :func:`restrict` apply the same rule for other writers under
the data and report roots.
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
]

#: A practice name is a plain folder name: letters, digits, '-', '_' and '.', not starting with '.'.
PRACTICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MANIFEST = "_manifest.json"
JOURNAL = "_commit.json"
LOCK = ".lock"
#: Environment variable with the octal mode of created files (default 0600: owner only).
FILE_MODE_ENV = "RCMKIT_FILE_MODE"
DEFAULT_FILE_MODE = 0o600
#: Test hook: the name of a step of a commit (see :func:`_crash_point`) at which the process kills itself.
CRASH_ENV = "RCMKIT_CRASH_AT"
_TMP_NAME = re.compile(r"(?P<final>(?P<table>[a-z_]+)\.parquet)\.tmp-[0-9a-f]{1,32}")


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
    if table not in schema.TABLES:
        raise StoreError(f"unknown table {table!r}; canonical tables are {sorted(schema.TABLES)}")
    return practice_dir(root, practice) / f"{table}.parquet"


def has_tables(root: str | os.PathLike, practice: str, tables: Iterable[str] = ("claims",)) -> bool:
    return all(table_path(root, practice, t).exists() for t in tables)


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
    variable ``RCMKIT_CRASH_AT`` names ``point``. Points, in commit order: ``tmp:<table>`` (its temporary file
    written), ``journal-tmp`` (journal written, not yet renamed into place: the commit point is the rename),
    ``committed`` (journal in place), ``rename:<k>`` (k-th rename done), ``renamed``, ``manifest``,
    ``journal-removed``. The ``rename:``..``journal-removed`` points are also passed when a later process
    rolls a dead writer's commit forward."""
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


@contextlib.contextmanager
def _read_lock(folder: Path, timeout: float, poll: float = 0.2) -> Iterator[None]:
    """Hold the practice's lock shared while several tables are read: no commit happens in between (writers
    wait), and readers do not wait for each other."""
    fd = _open_lock(folder)
    if fd is None:
        yield
        return
    try:
        _acquire(fd, fcntl.LOCK_SH, folder, timeout, poll)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------- commit
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


def _recover(folder: Path) -> None:
    """Finish a committed transaction (roll forward) or drop an uncommitted one (roll back). Needs the lock."""
    journal = folder / JOURNAL
    if journal.exists():
        renames, manifest = _read_journal(journal)
        for k, (tmp_name, final_name) in enumerate(renames, start=1):
            tmp = folder / tmp_name
            if tmp.exists():
                os.replace(tmp, folder / final_name)
            _crash_point(f"rename:{k}")
        _fsync_dir(folder)
        _crash_point("renamed")
        _write_json_atomic(folder / MANIFEST, manifest)
        _crash_point("manifest")
        _publish(folder, manifest)
        journal.unlink()
        _crash_point("journal-removed")
    for stray in folder.glob("*.tmp-*"):
        stray.unlink()


#: ``<practice>/current``: a symbolic link to the folder of the last committed version's table files, switched by
#: one atomic rename when a commit is complete. Tools outside rcmkit (DuckDB, pandas, R) read
#: ``<practice>/current/*.parquet`` and see one version, never a mix, even while a commit is interrupted.
CURRENT = "current"
VERSIONS = ".versions"


def _publish(folder: Path, manifest: dict) -> None:
    """Hard-link the committed version's table files into ``.versions/v<N>/`` and point ``current`` at it with
    one rename (idempotent: a recovery may publish the same version again). Versions other than the new and the
    previous one are removed (a reader that just resolved ``current`` can still open the previous one)."""
    versions = make_dirs(folder / VERSIONS)
    name = f"v{int(manifest.get('version', 0)):08d}"
    target = versions / name
    if not target.is_dir():
        tmp = versions / f".{name}.tmp-{secrets.token_hex(4)}"
        make_dirs(tmp)
        for table in manifest.get("tables", {}).values():
            source = folder / table["file"]
            try:
                os.link(source, tmp / table["file"])
            except OSError:  # no hard links on this file system: a copy
                shutil.copy2(source, tmp / table["file"])
        _fsync_dir(tmp)
        os.replace(tmp, target)
    link = folder / f"{CURRENT}.tmp-{secrets.token_hex(4)}"
    previous = os.readlink(folder / CURRENT) if (folder / CURRENT).is_symlink() else None
    if (folder / CURRENT).is_dir() and previous is None:  # a copy of the practice folder made it a real folder
        shutil.rmtree(folder / CURRENT)
    os.symlink(os.path.join(VERSIONS, name), link)
    os.replace(link, folder / CURRENT)
    _fsync_dir(folder)
    keep = {name, Path(previous).name if previous else name}
    for old in versions.iterdir():
        if old.name not in keep and not (old.name.startswith(".") and time.time() - old.stat().st_mtime < 3600):
            shutil.rmtree(old, ignore_errors=True)


def _read_journal(journal: Path) -> tuple[list[tuple[str, str]], dict]:
    """The renames and manifest of a commit journal, checked: each rename must turn a temporary file of a
    canonical table into that table's file in the same folder (a journal cannot move files anywhere else)."""
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        renames = [(str(a), str(b)) for a, b in plan["renames"]]
        manifest = plan["manifest"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{journal}: not a commit journal rcmkit can read ({exc}); the tables are the previous "
                         "version until it is removed") from exc
    for tmp_name, final_name in renames:
        match = _TMP_NAME.fullmatch(tmp_name)
        if not match or match["final"] != final_name or match["table"] not in schema.TABLES:
            raise StoreError(f"{journal}: renames {tmp_name!r} to {final_name!r}, which is not a temporary file "
                             "of a canonical table becoming that table; refusing to roll forward")
    return renames, manifest


#: Tables stored in date order with one row group per calendar month of this column, so DuckDB and Spark skip
#: the months a query does not need (row-group min/max statistics) while the table stays one plain file.
MONTH_CLUSTERED = {"claims": "submitted_on", "remittances": "paid_on", "postings": "posted_on", "ledger": "posted_on"}
#: Row groups of other tables (and of a very large month) hold at most this many rows.
ROW_GROUP_ROWS = 1 << 20


def _month_groups(table: pa.Table, column: str) -> tuple[pa.Table, list[tuple[int, int]]]:
    """``table`` in a stable order by the calendar month of ``column`` (nulls last) and the (offset, length) of
    each month's rows."""
    import numpy as np
    import pyarrow.compute as pc

    dates = table[column]
    key = pc.add(pc.multiply(pc.year(dates), 12), pc.month(dates))
    key = pc.fill_null(key, np.iinfo(np.int64).max).to_numpy().astype("int64", copy=False)
    order = np.argsort(key, kind="stable")
    ordered = table.take(pa.array(order)) if len(order) and (np.diff(order) != 1).any() else table
    sorted_key = key[order]
    bounds = np.flatnonzero(np.diff(sorted_key)) + 1
    starts = np.concatenate([[0], bounds]).astype(int)
    ends = np.concatenate([bounds, [len(sorted_key)]]).astype(int)
    return ordered, [(int(a), int(b - a)) for a, b in zip(starts, ends)]


def _write_parquet(name: str, table: pa.Table, fh) -> None:
    """Deterministic bytes (fixed writer options, no pandas metadata, no timestamps); month-clustered tables get
    one row group per month (:data:`MONTH_CLUSTERED`)."""
    column = MONTH_CLUSTERED.get(name)
    if column is None or table.num_rows == 0:
        pq.write_table(table, fh, compression="zstd", store_schema=False, row_group_size=ROW_GROUP_ROWS)
        return
    ordered, months = _month_groups(table, column)
    with pq.ParquetWriter(fh, ordered.schema, compression="zstd", store_schema=False) as writer:
        for offset, length in months:
            writer.write_table(ordered.slice(offset, length), row_group_size=ROW_GROUP_ROWS)


def _write_error(path: Path, exc: OSError) -> StoreError:
    """One line for the user: what could not be written, and why (e.g. 'No space left on device')."""
    why = exc.strerror or str(exc) or type(exc).__name__
    hint = "; free some space and run again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return StoreError(f"cannot write {path}: {why}{hint}; the stored tables are unchanged")


def _unfinished(folder: Path, exc: OSError) -> StoreError:
    return StoreError(f"cannot finish writing the tables in {folder}: {exc.strerror or exc}; the commit is recorded "
                      "and completes on the next read or write")


def _commit(folder: Path, arrow: Mapping[str, pa.Table]) -> dict:
    """Write the tables as one transaction. The caller holds the practice lock.

    A failed write before the commit point (a full disk: ``OSError`` ENOSPC) removes this transaction's temporary
    files and raises :class:`StoreError` naming the file; the tables stay the previous version."""
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"version": 0, "tables": {}}
    token = secrets.token_hex(4)
    renames = []
    written: list[Path] = []
    try:
        for name, table in sorted(arrow.items()):
            final = f"{name}.parquet"
            tmp = folder / f"{final}.tmp-{token}"
            written.append(tmp)
            try:
                with os.fdopen(_create(tmp), "wb") as fh:
                    _write_parquet(name, table, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise _write_error(folder / final, exc) from None
            manifest["tables"][name] = {"file": final, "rows": table.num_rows, "sha256": file_sha256(tmp)}
            renames.append((tmp.name, final))
            _crash_point(f"tmp:{name}")
        manifest["version"] = int(manifest.get("version", 0)) + 1
        _write_json_atomic(folder / JOURNAL, {"renames": renames, "manifest": manifest}, crash_point="journal-tmp")
    except BaseException as exc:
        if (folder / JOURNAL).exists():  # the journal is in place (not synced?): committed all the same
            if isinstance(exc, OSError):
                raise _unfinished(folder, exc) from None
            raise
        # Not committed: roll back, nothing of this transaction stays. (A SIGKILL leaves the temporary files to
        # the next writer's _recover.)
        for tmp in written:
            _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise _write_error(folder / JOURNAL, exc) from None
        raise
    _crash_point("committed")
    try:
        _recover(folder)
    except OSError as exc:  # after the commit point: the next reader or writer finishes it from the journal
        raise _unfinished(folder, exc) from None
    return manifest


def save_tables(
    root: str | os.PathLike,
    practice: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    lock_timeout: float = 600.0,
) -> dict:
    """Replace the given tables of ``practice`` in one crash-safe transaction; returns the new manifest.

    Each frame is conformed to its canonical schema first (a :class:`rcmkit.core.schema.SchemaError` lists every
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
def _read(folder: Path, name: str, *, required: bool, columns: Iterable[str] | None = None) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.exists():
        if required:
            raise StoreError(
                f"no {name!r} table for practice {folder.name!r}: expected {path}. Create it with "
                f"'rcmkit demo --practice {folder.name}' or 'rcmkit ingest --practice {folder.name} FILES'."
            )
        empty = schema.empty(name)
        return empty if columns is None else empty[[c for c in empty.columns if c in set(columns)]]
    wanted = schema.TABLES[name].names if columns is None else [c for c in schema.TABLES[name].names
                                                                  if c in set(columns)]
    try:
        present = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in wanted if c in present])
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise StoreError(f"{path}: not a readable parquet file ({exc})") from exc
    # Columns added to a table's schema later (Column.optional): a file written before reads them as nulls.
    spec = {c.name: c for c in schema.TABLES[name].columns}
    for c in [c for c in wanted if c not in table.column_names and spec[c].optional]:
        table = table.append_column(pa.field(c, spec[c].type, nullable=True), pa.nulls(table.num_rows, spec[c].type))
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise StoreError(f"{path}: missing canonical columns {missing}")
    return schema.from_arrow(name, table.select(wanted))


def load_table(root: str | os.PathLike, practice: str, name: str, *, required: bool = True,
               lock_timeout: float = 600.0) -> pd.DataFrame:
    """One canonical table as a pandas frame; an empty canonical frame when absent and not ``required``."""
    return load_tables(root, practice, [name], required=required, lock_timeout=lock_timeout)[name]


def load_tables(
    root: str | os.PathLike, practice: str, names: Iterable[str] | None = None, *, required: bool = True,
    lock_timeout: float = 600.0, columns: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Several tables at once (all canonical tables by default), all of one committed version: the practice's
    lock is held shared while they are read, so a commit waits for the read and a read for a commit.
    ``columns``: for the tables it names, read only those columns (in canonical order), e.g.
    :data:`rcmkit.metrics.SUITE_COLUMNS` for the KPI suite."""
    names = list(names) if names is not None else list(schema.TABLES)
    columns = dict(columns or {})
    for name in names:
        table_path(root, practice, name)  # an unknown table or practice name is an error, before any waiting
    folder = practice_dir(root, practice)

    def read() -> dict[str, pd.DataFrame]:
        return {n: _read(folder, n, required=required, columns=columns.get(n)) for n in names}

    return _committed(folder, lock_timeout, read) if folder.is_dir() else read()


def _committed(folder: Path, lock_timeout: float, read: Callable[[], dict]):
    """``read()`` under the practice's shared lock, once no commit is pending: a writer that died after its
    commit point (a live one holds the lock while its journal exists) is finished first (roll forward)."""
    while True:
        with _read_lock(folder, lock_timeout):
            if not (folder / JOURNAL).exists():
                return read()
        with practice_lock(folder, timeout=lock_timeout):
            pass


#: Where :func:`committed_paths` keeps snapshots (hard links) of a version for lazy readers, and how long.
SNAPSHOTS = ".snapshots"
SNAPSHOT_TTL_SECONDS = 24 * 3600


def committed_paths(root: str | os.PathLike, practice: str, names: Iterable[str] | None = None, *,
                    lock_timeout: float = 600.0, snapshot: bool = True) -> dict[str, Path]:
    """The files of the practice's current committed version (after finishing a commit a dead writer left
    behind), for engines that scan parquet themselves (DuckDB, Spark: :func:`rcmkit.core.engine.open_tables`).
    Tables the practice does not have are left out.

    A lazy scan opens its files when a query runs, perhaps after a later commit. With ``snapshot`` (the default)
    the files are hard-linked, under the practice's shared lock, into ``.snapshots/<id>/``: a link keeps that
    version's bytes whatever later commits rename over the table files, so every query of a KPI run reads one
    version. Snapshots older than a day are removed when the next one is taken. Where the file system has no
    hard links, the table files themselves are returned."""
    names = list(names) if names is not None else list(schema.TABLES)
    for name in names:
        table_path(root, practice, name)
    folder = practice_dir(root, practice)
    if not folder.is_dir():
        return {}

    def read() -> dict[str, Path]:
        current = {n: folder / f"{n}.parquet" for n in names if (folder / f"{n}.parquet").exists()}
        return _snapshot(folder, current) if snapshot and current else current

    return _committed(folder, lock_timeout, read)


def _snapshot(folder: Path, files: Mapping[str, Path]) -> dict[str, Path]:
    snapshots = folder / SNAPSHOTS
    now = time.time()
    if snapshots.is_dir():
        for old in snapshots.iterdir():
            try:
                if now - old.stat().st_mtime > SNAPSHOT_TTL_SECONDS:
                    for f in old.iterdir():
                        f.unlink()
                    old.rmdir()
            except OSError:
                pass  # another reader is cleaning it up
    target = snapshots / f"{time.time_ns()}-{secrets.token_hex(4)}"
    try:
        make_dirs(target)
        out = {}
        for name, path in files.items():
            os.link(path, target / path.name)
            out[name] = target / path.name
        return out
    except OSError:
        return dict(files)
