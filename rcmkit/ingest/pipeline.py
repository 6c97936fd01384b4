"""``rcmkit ingest``: read a practice's files (X12 835/837, PM CSV/Excel exports) into its stored tables.

Idempotent: a file whose SHA-256 is already in the practice's ``ingested_files`` is skipped; a transaction the
practice already holds under other bytes (the same payer check or EFT trace number with the same date and
amount; the same claim submission) is not loaded twice. Everything a run adds is written in one crash-safe
store transaction under the practice lock (stored rows read by key; the ledger of the claims the run touched
rebuilt), so a run either lands whole or not at all. X12 files are read in batches (small files batched per
task, the 835s of a batch read as one: :func:`rcmkit.ingest.x12.reader.read_x12`; memory is bounded by the batch
size or the largest file, not by the total input), with a progress bar over files, by ``jobs`` readers: worker
processes and the ingest process, which first decodes the PM exports and drafts what of their tables needs no
look-up (their lookups of payers and claims wait for the X12 rows). On a first ingest the tables are written in
a background thread while the PM rows and the ledger are built (:meth:`rcmkit.core.store.Transaction.stage`).
A claim known from both a PM export and an 837 (same claim_id) is held once, from the 837, in whichever order
they arrive.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
from tqdm.auto import tqdm

from rcmkit.core import schema

from rcmkit.core import store
from rcmkit.core.ledger import build_ledger
from rcmkit.core.frames import drop_duplicates, isin
from rcmkit.ingest.x12.reader import DEFAULT_PATIENT_SALT, OUTPUT_TABLES, read_x12

__all__ = ["IngestSummary", "ingest", "expand_paths", "derive_payers", "touched_claims", "CSV_SUFFIXES"]

CSV_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm", ".xls")

#: Tables a run reads and rewrites (the ledger is rebuilt from them).
_STORED = tuple(dict.fromkeys(("payers",) + tuple(t for t in OUTPUT_TABLES if t != "ingested_files") + (
    "postings", "unapplied_postings", "contracts", "providers", "ingest_warnings", "rejections", "csv_rejections",
    "ingested_files")))
#: What the PM export's lookups read of the stored claims.
_PARTY_COLUMNS = ["claim_id", "submission_id", "frequency_code", "submitted_on", "payer_id"]

#: 835 CLP06 / 837 SBR09 claim filing indicator -> payer class.
FILING_INDICATOR_CLASS = {
    "MA": "medicare", "MB": "medicare", "16": "medicare",
    "MC": "medicaid",
    "CI": "commercial", "BL": "commercial", "HM": "commercial", "12": "commercial", "13": "commercial",
    "14": "commercial", "15": "commercial", "17": "commercial", "DS": "commercial",
    "CH": "other", "VA": "other", "WC": "other", "AM": "other", "OF": "other", "TV": "other", "ZZ": "other",
}


#: Exit codes of ``rcmkit ingest`` (also in the README): success; the work failed (a crash); bad usage or
#: input that stopped the run; loaded, but rows or files were rejected or postings wait in suspense.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ATTENTION = 0, 1, 2, 3


@dataclass
class IngestSummary:
    """What a run did: files read and skipped, rows added, money, every kind of rejection and warning with its
    count and first example, the files that will be read again, and what waits in suspense."""

    files: int = 0
    skipped: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    paid_cents: int = 0
    charge_cents: int = 0
    duplicates: int = 0
    rejections: list[str] = field(default_factory=list)
    warnings: int = 0
    #: (code, count, first message) of each kind of rejection, then of each kind of warning
    rejection_kinds: list[tuple[str, int, str]] = field(default_factory=list)
    warning_kinds: list[tuple[str, int, str]] = field(default_factory=list)
    #: files not recorded as ingested (rows rejected, or no column-map pattern matched): read again next run
    retry: list[str] = field(default_factory=list)
    #: postings whose claim the practice does not hold yet, after this run: count and ledger cents
    unapplied: int = 0
    unapplied_cents: int = 0
    #: postings applied from suspense in this run; postings replaced by a corrected export (same transaction id)
    applied_from_suspense: int = 0
    corrected: int = 0
    contracts: int = 0
    #: wall seconds of the run's stages (benchmarks/ingest_incremental.py prints them): 'prepare' (hashes, stored
    #: keys), 'read' (X12 files, with the PM exports decoded and drafted meanwhile), 'pm' (PM rows built), 'merge'
    #: (the merge with the stored tables), 'ledger', 'commit' (the Delta writes not done yet: on a first ingest the
    #: other tables are written in the background during the stages before, so mostly the ledger's)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_ATTENTION` when anything was rejected, a file will be retried or postings wait in
        suspense; :data:`EXIT_OK` otherwise."""
        return EXIT_ATTENTION if (self.rejections or self.retry or self.unapplied) else EXIT_OK

    def lines(self) -> list[str]:
        out = [
            f"files read: {self.files}; skipped as already ingested: {len(self.skipped)}",
            f"claims added: {self.added.get('claims', 0):,} (charges ${self.charge_cents / 100:,.2f}); "
            f"remittances added: {self.added.get('remittances', 0):,} (paid ${self.paid_cents / 100:,.2f}); "
            f"postings added: {self.added.get('postings', 0):,}"
            + (f" ({self.applied_from_suspense:,} from suspense)" if self.applied_from_suspense else "")
            + (f"; postings corrected: {self.corrected:,}" if self.corrected else ""),
        ]
        if self.contracts:
            out.append(f"contract rates loaded: {self.contracts:,}")
        out.append(f"transactions already held under other bytes, not loaded again: {self.duplicates}")
        if self.unapplied:
            out.append(f"unapplied postings (suspense: their claim is not held yet; applied when it arrives): "
                       f"{self.unapplied:,} (${-self.unapplied_cents / 100:,.2f})")
        out.append(f"warnings: {self.warnings}; rejected: {len(self.rejections)}")
        out += [f"  rejected [{code}] x{n}: {first}" for code, n, first in self.rejection_kinds]
        out += [f"  warning [{code}] x{n}: {first}" for code, n, first in self.warning_kinds]
        if self.retry:
            out.append(f"will be read again next run (rows rejected or no column-map pattern matched; what loaded "
                       f"is not loaded twice): {', '.join(self.retry)}")
        return out


def _kinds(frame: pd.DataFrame) -> list[tuple[str, int, str]]:
    """(code, count, first message) per code, most frequent first."""
    if frame.empty:
        return []
    groups = frame.groupby("code", sort=False)["message"]
    out = [(str(code), int(g.size), str(g.iloc[0])) for code, g in groups]
    return sorted(out, key=lambda k: (-k[1], k[0]))


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named, and the files under folders named (recursively, hidden ones skipped), sorted per argument."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file()
                            and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return files


def _read_batch(paths: list[str], salt: bytes):
    return read_x12(paths, patient_salt=salt)


def _batches(files: list[Path], max_files: int = 64, max_bytes: int = 64 << 20) -> list[list[Path]]:
    """Group small files so each task reads several (a file costs a fixed ~30 ms to turn into frames); a large
    file gets a task of its own, so a worker's memory is bounded by ``max_bytes`` or by its one file."""
    batches: list[list[Path]] = []
    size = 0
    for f in files:
        n = f.stat().st_size
        if not batches or len(batches[-1]) >= max_files or size + n > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(f)
        size += n
    return batches


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the kernel kills this worker when its parent dies (``kill -9`` included), so no
    orphan stays blocked on a pipe holding its memory (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a no-op)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
            return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


#: The X12 workers are started fresh ("spawn": fork + exec of a new interpreter), never by forking the ingest: a
#: fork of a process holding threads (pyarrow's, deltalake's, tqdm's monitor) can copy a held lock, and about one
#: start in six hung. Not "forkserver": its workers are the server's children and hold the pipe that would tell
#: the server the ingest died, so a killed ingest would leave server and workers behind. A worker's start costs
#: an interpreter and the reader's imports (about a second, once per worker), paid only by runs of several batches.
POOL_START = "spawn"
#: One reader process (``jobs=1``): the PM exports are decoded in a thread while the X12 files are read (issue #15).
DECODE_IN_THREAD = True


def _read_x12_files(files: list[Path], salt: bytes, jobs: int, progress: bool, meanwhile=None) -> tuple[list, Any]:
    """The X12 files read in batches, and the result of ``meanwhile()`` (the PM exports' decoding, issue #15).

    ``jobs`` readers: with one, this process reads the batches while ``meanwhile`` runs in a thread; with
    several, ``jobs - 1`` worker processes take batches from the front of the queue while this process runs
    ``meanwhile``, then takes batches from the back until none is left (on 2 cores, one worker and this process
    read the 250,000-claim inbox 0.2-1 s sooner than two workers beside this process: one process fewer to start
    and to share the cores with; the batches this process reads are not sent through a pipe)."""
    bar = tqdm(total=len(files), desc="X12 files", unit="file", disable=not progress)
    # one process: batches bounded by bytes only (the 835 and 837 readers' fixed cost is per batch, issue #15);
    # several: batches of at most 64 files, so that the readers share the work
    batches = _batches(files, max_files=64 if jobs > 1 else 1 << 16)
    results: list = [None] * len(batches)
    other = None
    try:
        if (jobs <= 1 or len(batches) <= 1) and meanwhile is not None and DECODE_IN_THREAD:
            # one process: ``meanwhile`` runs in a thread while this one reads the X12 files (the PM export's
            # CSV reader and string kernels are arrow's, which release the GIL, as do the X12 readers' kernels)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rcmkit-pm-decode") as pool:
                decoding = pool.submit(meanwhile)
                for i, batch in enumerate(batches):
                    results[i] = _read_batch([str(f) for f in batch], salt)
                    bar.update(len(batch))
                other = decoding.result()
        elif jobs <= 1 or len(batches) <= 1:
            for i, batch in enumerate(batches):
                results[i] = _read_batch([str(f) for f in batch], salt)
                bar.update(len(batch))
            other = meanwhile() if meanwhile else None
        else:
            other = _read_shared(batches, salt, jobs - 1, results, bar, meanwhile)
    finally:
        bar.close()
    return results, other


def _read_shared(batches: list[list[Path]], salt: bytes, workers: int, results: list, bar, meanwhile) -> Any:
    """Fill ``results`` (one per batch, in order): ``workers`` worker processes take batches from the front of
    the queue (each given its next one as it finishes: at most two waiting per worker), this process runs
    ``meanwhile`` and then reads batches from the back; the result of ``meanwhile()``."""
    import collections
    import threading

    todo = collections.deque(range(len(batches)))
    lock = threading.Lock()
    futures: dict[int, Any] = {}
    failed: list[BaseException] = []

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(POOL_START),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        def give_next(done=None) -> None:
            if done is not None and not done.cancelled() and done.exception() is not None:
                failed.append(done.exception())
                return
            with lock:  # taken and registered at once: a batch is always in the queue, read here or a future
                if failed or not todo:
                    return
                i = todo.popleft()
                try:
                    futures[i] = future = pool.submit(_read_batch, [str(f) for f in batches[i]], salt)
                except RuntimeError:  # the pool is shutting down (this process failed): nothing more to give
                    return
            future.add_done_callback(give_next)  # outside the lock: a finished future calls back at once

        for _ in range(2 * workers):
            give_next()
        try:
            other = meanwhile() if meanwhile else None
            while not failed:
                with lock:
                    if not todo:
                        break
                    i = todo.pop()
                results[i] = _read_batch([str(f) for f in batches[i]], salt)
                bar.update(len(batches[i]))
        except BaseException:
            with lock:
                todo.clear()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        if failed:  # a worker's batch failed: no more were given; the error is the user's
            pool.shutdown(wait=False, cancel_futures=True)
            raise failed[0]
        for i in range(len(batches)):
            if results[i] is None:
                with lock:
                    future = futures[i]
                results[i] = future.result()  # a worker's failure is raised here
                bar.update(len(batches[i]))
    return other


def derive_payers(existing: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The payers table after ingest: known payers kept as they are; a new payer_id gets its 835 name (N1*PR)
    and a class from its most frequent claim filing indicator (CLP06), else 'other' (and its ID as its name
    until an 835 names it: such a payer is derived again when one does). Edit the stored payers
    table (or load a PM payers list) to correct a class."""
    ids = pd.concat([tables["claims"]["payer_id"], tables["remittances"]["payer_id"]]).dropna().unique()
    # A payer first met in an 837 has no name there (its ID stands in) and no filing indicator: once its 835s
    # arrive, it is derived again from them, whichever order the files came in.
    placeholder = existing["payer_name"].astype(str) == existing["payer_id"].astype(str)
    payments = tables["payments"]
    names = payments.dropna(subset=["payer_name"]).drop_duplicates("payer_id").set_index("payer_id")["payer_name"]
    rederive = set(existing.loc[placeholder & isin(existing["payer_id"], names.index), "payer_id"])
    new = sorted((set(ids) - set(existing["payer_id"])) | rederive)
    if not new:
        return existing
    existing = existing[~isin(existing["payer_id"], rederive)]
    details = tables["remittance_details"].merge(tables["remittances"][["remit_id", "payer_id"]], on="remit_id")
    filing = details.dropna(subset=["claim_filing_indicator"])
    mode = filing.groupby("payer_id")["claim_filing_indicator"].agg(lambda s: s.value_counts().index[0])
    added = pd.DataFrame({"payer_id": new})
    added["payer_name"] = added["payer_id"].map(names.to_dict()).astype(object).fillna(added["payer_id"])
    added["payer_class"] = added["payer_id"].map(mode.to_dict()).map(FILING_INDICATOR_CLASS).fillna("other")
    return pd.concat([existing, added], ignore_index=True)


def _drop_known(new: dict[str, pd.DataFrame], old: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], int]:
    """Leave out transactions the store already holds under other bytes (a re-sent or re-formatted file)."""
    key = ["payer_id", "trace_number", "paid_on", "payment_cents"]
    held = new["payments"].merge(old["payments"][key].drop_duplicates(), on=key, how="inner")["payment_id"]
    remits = new["remittance_details"].loc[isin(new["remittance_details"]["payment_id"], held), "remit_id"]
    claim_key = ["claim_id", "frequency_code", "submitted_on", "payer_id", "total_charge_cents"]
    subs = new["claims"].merge(old["claims"][claim_key].drop_duplicates(), on=claim_key, how="inner")["submission_id"]
    out = {}
    for name, df in new.items():
        if "payment_id" in df.columns:
            df = df[~isin(df["payment_id"], held)]
        if "remit_id" in df.columns:
            df = df[~isin(df["remit_id"], remits)]
        if "submission_id" in df.columns:
            df = df[~isin(df["submission_id"], subs)]
        out[name] = df
    return out, len(held) + len(subs)


def _drop_pm_claims(current: dict[str, pd.DataFrame], x12_claim_ids: pd.Series) -> dict[str, pd.DataFrame]:
    """Claims first known from a PM export (their submission_id is the claim_id) give way to the 837
    submissions of the same claims when those arrive: the 837 is the richer source, and one claim must not
    count twice."""
    claims = current["claims"]
    replaced = claims.loc[(claims["submission_id"] == claims["claim_id"]) & isin(claims["claim_id"], x12_claim_ids),
                          "submission_id"]
    if replaced.empty:
        return current
    out = dict(current)
    out["claims"] = claims[~isin(claims["submission_id"], replaced)]
    out["claim_lines"] = current["claim_lines"][~isin(current["claim_lines"]["submission_id"], replaced)]
    return out


def _append(old: pd.DataFrame, new: pd.DataFrame, name: str, keep: str = "first") -> pd.DataFrame:
    if new.empty:
        return old
    both = pd.concat([old, schema.conform(name, new)], ignore_index=True) if len(old) else schema.conform(name, new)
    key = list(schema.TABLES[name].key)
    return drop_duplicates(both, key, keep=keep) if key else both


def _legacy_ids(postings: pd.DataFrame) -> pd.DataFrame:
    """Postings stored before they had a natural key get one from where they came from (file:line)."""
    missing = postings["posting_id"].isna()
    if not missing.any():
        return postings
    base = "legacy:" + postings["source"].fillna("").astype(str)
    ids = base + "#" + (base.groupby(base).cumcount() + 1).astype(str)
    return postings.assign(posting_id=postings["posting_id"].where(~missing, ids))


_POSTING_CONTENT = ["claim_id", "posted_on", "kind", "amount_cents", "responsible"]


def _merge_postings(stored: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Stored postings plus the new ones, by natural key: a key already held adds nothing, unless its content
    differs (a corrected export of the same transaction id), which replaces the stored row. Returns the
    postings, how many were corrected, and the stored postings kept (the first rows of the postings)."""
    stored = _legacy_ids(stored)
    if new.empty:
        return stored, 0, stored
    new = schema.conform("postings", new).drop_duplicates("posting_id", keep="last")
    both = stored.merge(new[["posting_id"] + _POSTING_CONTENT], on="posting_id", suffixes=("", "_new"))
    changed = pd.Series(False, index=both.index)
    for c in _POSTING_CONTENT:
        changed |= both[c].astype(str) != both[f"{c}_new"].astype(str)
    corrected = set(both.loc[changed, "posting_id"])
    kept = stored[~isin(stored["posting_id"], corrected)]
    return _append(kept, new, "postings"), len({i.removesuffix("/to") for i in corrected}), kept


def _merge_providers(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Provider names by NPI: the latest non-empty name wins (a provider renamed in a later file); where it came
    from is the first source (in sort order) that gave that name, so files read in any order agree."""
    rows = [f for f in frames if len(f)]
    if not rows:
        return schema.empty("providers")
    rows = pd.concat(rows, ignore_index=True)
    rows = rows[rows["name"].notna() & (rows["name"].astype(str).str.strip() != "")]
    latest = rows.drop_duplicates("npi", keep="last")[["npi", "name"]]
    same = rows.merge(latest, on=["npi", "name"])
    first = same.sort_values(["npi", "source"], kind="mergesort", na_position="last").drop_duplicates("npi")
    return schema.conform("providers", first.sort_values("npi", kind="mergesort"))


def _replace_by_file(old: pd.DataFrame, new: pd.DataFrame, files: set[str], name: str) -> pd.DataFrame:
    """A file read again replaces what earlier runs said about it (its warnings and rejections)."""
    kept = old[~isin(old["file"], files)]
    frames = [f for f in (kept, new) if len(f)]
    return schema.conform(name, pd.concat(frames, ignore_index=True)) if frames else schema.empty(name)


def ingest(
    root: str | os.PathLike,
    practice: str,
    paths: Iterable[str | os.PathLike],
    *,
    column_map: str | os.PathLike | None = None,
    patient_salt: str | bytes = DEFAULT_PATIENT_SALT,
    jobs: int = 1,
    progress: bool = True,
    force: bool = False,
    incremental: bool = True,
) -> IngestSummary:
    """Read ``paths`` (files or folders) into ``practice``'s tables under ``root``; returns what happened.

    X12 files (any name; recognised by content) go to :func:`rcmkit.ingest.read_x12`; ``.csv``/``.xlsx``
    exports to :func:`rcmkit.ingest.pm.reader.read_pm_export` with ``column_map`` (required for them), whose
    lookups see the practice's stored payers and claims. A PM file is recorded as ingested only when all of it
    loaded (no rejected row, a map pattern matched): otherwise it is read again on the next run, and what
    already loaded is not loaded twice (claims by claim ID, postings by natural key, payers and contract rates
    by their keys). Postings whose claim is not held wait in ``unapplied_postings`` and are applied by the run
    that brings the claim. ``force`` reads files already ingested again.

    The ledger is maintained incrementally: only the claims this run touched (new or replaced submissions, new
    remittances and their adjustments, new or corrected postings, postings applied from suspense, claims of a
    payer that became or stopped being self-pay) get their ledger rows built again
    (:func:`rcmkit.core.ledger.build_ledger` on their rows) and written in place of their stored rows, in the
    months those rows are in. The first ingest of a practice (no stored ledger), or ``incremental=False``,
    builds the whole ledger. Either way the stored ledger equals ``build_ledger`` of the stored tables
    (tests/test_ledger_incremental.py).
    """
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        summary.seconds[stage] = summary.seconds.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    files = expand_paths(paths)
    salt = patient_salt.encode() if isinstance(patient_salt, str) else patient_salt
    stored = store.load_tables(root, practice, ["ingested_files", "unapplied_postings"],
                               required=False, columns={"ingested_files": ["sha256"]})
    seen = set() if force else set(stored["ingested_files"]["sha256"])
    hashes = {f: store.file_sha256(f) for f in files}
    summary = IngestSummary(skipped=[str(f) for f in files if hashes[f] in seen],
                            unapplied=len(stored["unapplied_postings"]),
                            unapplied_cents=int(stored["unapplied_postings"]["amount_cents"].sum()))
    todo = [f for f in files if hashes[f] not in seen]
    todo = list({hashes[f]: f for f in todo}.values())  # the same bytes twice in one run: read once
    if not todo:
        return summary
    csvs = [f for f in todo if f.suffix.lower() in CSV_SUFFIXES]
    x12s = [f for f in todo if f.suffix.lower() not in CSV_SUFFIXES]
    if csvs and column_map is None:
        raise ValueError(f"{csvs[0]}: a CSV/Excel export needs --column-map (a YAML map such as "
                         "parameters/column_maps/generic.yaml)")
    def decode_csvs():
        """The PM exports read and parsed, and what of their tables needs no look-up (the claims' and postings'
        draft), while the X12 files are read (issue #15)."""
        from rcmkit.ingest.pm.build import draft_tables
        from rcmkit.ingest.pm.reader import decode_pm_export

        decoded = decode_pm_export(csvs, column_map, patient_salt=salt)
        decoded.draft = draft_tables(decoded.records, decoded.cmap)
        return decoded

    lap("prepare")
    results, decoded = _read_x12_files(x12s, salt, jobs, progress, meanwhile=decode_csvs if csvs else None)
    lap("read")
    new = {name: pd.concat([r.tables[name] for r in results], ignore_index=True) if results
           else schema.empty(name) for name in OUTPUT_TABLES}
    warnings = [r.warnings for r in results]
    rejections = [r.rejections for r in results]
    csv_new: dict[str, pd.DataFrame] = {}
    csv_rejections = schema.empty("csv_rejections")
    parties = None

    def build_pm(stored_payers: pd.DataFrame, stored_claims: pd.DataFrame) -> None:
        """The PM exports' rows built; their lookups see the stored payers and claims (``_PARTY_COLUMNS``) and
        the run's X12 ones."""
        nonlocal csv_new, csv_rejections, parties
        if not csvs:
            return
        from rcmkit.ingest.pm.reader import build_pm_export

        x12_payers = pd.DataFrame({"payer_id": pd.concat([new["claims"]["payer_id"], new["remittances"]["payer_id"]])
                                   .dropna().unique()}).assign(payer_name=lambda d: d["payer_id"], payer_class="other")
        unknown = x12_payers[~isin(x12_payers["payer_id"], stored_payers["payer_id"])]
        known_payers = pd.concat([stored_payers, unknown], ignore_index=True)
        known_claims = pd.concat([stored_claims, new["claims"][_PARTY_COLUMNS]], ignore_index=True)
        csv_result = build_pm_export(decoded, known={"payers": known_payers, "claims": known_claims})
        csv_new, parties = csv_result.tables, csv_result.parties
        csv_rejections = csv_result.rejections
        w = csv_result.warnings
        warnings.append(pd.DataFrame({"file": w["file"], "segment_number": w["line"], "segment_id": w["column"],
                                      "code": w["code"], "found": w["count"].astype(str) + " row(s)",
                                      "message": w["message"]}).reindex(columns=schema.TABLES["ingest_warnings"].names))
        unmatched = set(w.loc[w["code"] == "unmatched_file", "file"])
        summary.retry = sorted(set(csv_rejections["file"]) | unmatched)
        done = [f for f in csvs if f.name not in set(summary.retry)]
        csv_files = pd.DataFrame({"file": [f.name for f in done], "sha256": [hashes[f] for f in done],
                                  "size_bytes": [f.stat().st_size for f in done], "encoding": "csv",
                                  "transaction_sets": 0, "rejected_sets": 0, "warnings": 0})
        new["ingested_files"] = pd.concat([new["ingested_files"], csv_files], ignore_index=True)

    summary.files = len(x12s) + len(csvs)
    read_names = {f.name for f in x12s + csvs}
    from rcmkit.ingest.pm import apply_postings, claim_parties, merge_parties

    def x12_merge(current: dict[str, pd.DataFrame]) -> tuple[dict, dict, int, dict]:
        """The part of the merge the PM exports do not change, which can be written while they are built
        (:data:`_X12_ONLY`): (current without the PM claims an 837 replaced, the run's X12 rows not held yet,
        how many transactions were held, the X12-only tables after the run)."""
        current = _drop_pm_claims(current, new["claims"]["claim_id"])
        fresh, duplicates = _drop_known(new, current)
        return current, fresh, duplicates, {name: _append(current[name], fresh[name], name) for name in _X12_ONLY}

    def compute(current: dict[str, pd.DataFrame], x12: tuple | None = None
                ) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
        """The run's merge with the stored tables ``current`` (all of them, or the rows the run's keys and
        claims select), ``x12``: its :func:`x12_merge`, when done already: (current without the PM claims an
        837 replaced, the new tables, the run's postings, the stored postings no corrected row replaced)."""
        current, fresh, summary.duplicates, x12_out = x12_merge(current) if x12 is None else x12
        fresh = dict(fresh)
        # A PM export lists every claim, including those its 835/837 files already gave: X12 claims win.
        held = pd.concat([current["claims"]["claim_id"], fresh["claims"]["claim_id"]], ignore_index=True)
        pm_claims = csv_new.get("claims", schema.empty("claims"))
        pm_claims = pm_claims[~isin(pm_claims["claim_id"], held)]
        pm_lines = csv_new.get("claim_lines", schema.empty("claim_lines"))
        pm_lines = pm_lines[isin(pm_lines["submission_id"], pm_claims["submission_id"])]
        for name, df in (("claims", pm_claims), ("claim_lines", pm_lines)):
            fresh[name] = pd.concat([fresh[name], df], ignore_index=True) if len(df) else fresh[name]
        out = {name: _append(current[name], fresh[name], name) for name in ("claims", "claim_lines")}
        out.update(x12_out)
        # the files' rows: X12 and PM (the PM ones are added by build_pm, which may come after x12_merge; no
        # stored transaction drops a file's row: _drop_known leaves this table as it is)
        out["ingested_files"] = _append(current["ingested_files"], new["ingested_files"], "ingested_files")
        for name, table in (("ingest_warnings", warnings), ("rejections", rejections)):
            run = pd.concat(table, ignore_index=True) if table else schema.empty(name)
            out[name] = _replace_by_file(current[name], run, read_names, name)
        merged = {**current, **out}
        # a PM payers file is the practice's word on its payers: it replaces stored rows of the same payer_id
        payers = _append(current["payers"], csv_new.get("payers", schema.empty("payers")), "payers", keep="last")
        out["payers"] = merged["payers"] = derive_payers(payers, merged)
        # postings: the run's, then those waiting in suspense whose claim is now held
        pending = pd.concat([current["unapplied_postings"], csv_new.get("unapplied_postings",
                                                                        schema.empty("unapplied_postings"))],
                            ignore_index=True).drop_duplicates("posting_id", keep="last")
        all_parties = merge_parties(claim_parties(merged["claims"]), parties)
        applied, waiting, late = apply_postings(pending, all_parties, merged["payers"])
        from_suspense = set(current["unapplied_postings"]["posting_id"])
        summary.applied_from_suspense = int(applied["posting_id"].str.removesuffix("/to").isin(from_suspense)
                                            .groupby(applied["posting_id"].str.removesuffix("/to")).first().sum())
        run_postings = pd.concat([csv_new.get("postings", schema.empty("postings")), applied], ignore_index=True)
        out["postings"], summary.corrected, kept = _merge_postings(current["postings"], run_postings)
        # a posting whose party cannot be resolved yet (a payer not loaded yet) stays in suspense, said again
        # (as a rejection of its file and line) on every run until a payers file or the map names it
        unresolved = pending[~isin(pending["posting_id"], applied["posting_id"].str.removesuffix("/to"))
                             & ~isin(pending["posting_id"], waiting["posting_id"])]
        waiting = pd.concat([waiting, schema.conform("unapplied_postings", unresolved)], ignore_index=True)
        waiting = waiting[~isin(waiting["posting_id"], out["postings"]["posting_id"])]
        out["unapplied_postings"] = waiting
        run_csv_rejections = pd.concat([csv_rejections, late], ignore_index=True) if len(late) else csv_rejections
        # what was said about a waiting posting is taken back once it posts
        posted = set(pending.loc[isin(pending["posting_id"], applied["posting_id"]), "source"].dropna())
        said = current["csv_rejections"]
        said = said[~(said["file"] + ":" + said["line"].astype(str)).isin(posted)]
        out["csv_rejections"] = _replace_by_file(said, run_csv_rejections, read_names | set(late["file"]),
                                                 "csv_rejections")
        # contract rates replace stored ones of the same key; provider names: the latest non-empty one wins
        rates = csv_new.get("contracts", schema.empty("contracts"))
        out["contracts"] = _append(current["contracts"], rates, "contracts", keep="last")
        out["providers"] = _merge_providers([current["providers"], new.get("providers", schema.empty("providers")),
                                             csv_new.get("providers", schema.empty("providers"))])
        summary.added = {n: len(out[n]) - len(current[n]) for n in ("claims", "remittances", "postings") if n in out}
        added_claims = fresh["claims"][~isin(fresh["claims"]["submission_id"], current["claims"]["submission_id"])]
        added_remits = fresh["remittances"][~isin(fresh["remittances"]["remit_id"], current["remittances"]["remit_id"])]
        summary.charge_cents = int(added_claims["total_charge_cents"].sum())
        summary.paid_cents = int(added_remits["paid_cents"].sum())
        run_warnings = pd.concat(warnings, ignore_index=True) if warnings else schema.empty("ingest_warnings")
        run_rejections = pd.concat(rejections + [run_csv_rejections], ignore_index=True)
        summary.warnings = len(run_warnings)
        summary.rejections = list(run_rejections["message"])
        summary.rejection_kinds, summary.warning_kinds = _kinds(run_rejections), _kinds(run_warnings)
        summary.unapplied = len(waiting)
        summary.unapplied_cents = int(waiting["amount_cents"].sum())
        summary.contracts = len(rates)
        return current, out, run_postings, kept

    def change(stored_tables: dict[str, pd.DataFrame], x12: tuple | None, staged: Iterable[str]
               ) -> dict[str, pd.DataFrame | store.Append | store.Upsert]:
        """The merge with every stored row (``x12``: its X12 part, whose tables ``staged`` are being written
        already); every other table but the ledger staged (written in the background while the ledger is built:
        issue #15); the ledger's change returned."""
        current, out, run_postings, _kept = compute(stored_tables, x12)
        lap("merge")
        tx.stage(_incremental(stored_tables, current, {n: t for n, t in out.items() if n not in staged},
                              read_names, held_tables))
        merged = {**current, **out}
        if incremental and held_tables.get("ledger") is not None:
            ledger = _ledger_update(stored_tables, merged, run_postings)
            return {} if ledger is None else {"ledger": ledger}
        return {"ledger": _full_ledger(merged)}  # the first ingest, or asked for: the whole ledger

    with store.transaction(root, practice) as tx:
        held_tables = tx.tables
        keyed = incremental and "ledger" in held_tables
        x12, staged, every_row = None, (), None
        if not keyed:  # the first ingest, or incremental=False: every stored row read, and the X12-only tables
            # (most of the rows) merged and written in the background while the PM exports' rows are built
            every_row = {name: tx.read(name) for name in _STORED}
            x12 = x12_merge(every_row)
            staged = _X12_ONLY
            tx.stage(_incremental(every_row, x12[0], x12[3], read_names, held_tables))
            lap("merge")
        if csvs:
            build_pm(every_row["payers"] if every_row else tx.read("payers"),
                     every_row["claims"][_PARTY_COLUMNS] if every_row else tx.read("claims", columns=_PARTY_COLUMNS))
            lap("pm")
        relevant = _relevant(tx, new, csv_new) if keyed else None
        if relevant is None:  # the first ingest, incremental=False, or postings without keys: every row read
            changes = change(every_row or {name: tx.read(name) for name in _STORED}, x12, staged)
            lap("ledger")
            tx.commit(changes)
        else:
            before, claim_ids = relevant
            current, out, run_postings, kept = compute(before)
            lap("merge")
            changes = _keyed_changes(tx, before, claim_ids, current, out, run_postings, kept, read_names)
            lap("ledger")
            tx.commit(changes)
    lap("commit")
    return summary


def _full_ledger(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    # build_ledger fails on all-empty inputs (pd.concat of nothing): a first run whose files were all rejected
    money = any(len(tables[n]) for n in ("claims", "remittances", "adjustments", "postings"))
    return build_ledger(tables) if money else schema.empty("ledger")


def _months(*dates: pd.Series) -> tuple[str | None, ...]:
    """The ``_month`` partitions (YYYY-MM; None for no date) of these dates."""
    found: set[str | None] = set()
    for d in dates:
        d = pd.to_datetime(d)
        found |= set(d.dropna().dt.strftime("%Y-%m"))
        if d.isna().any():
            found.add(None)
    return tuple(sorted(found, key=lambda m: (m is None, m or "")))


def touched_claims(before: Mapping[str, pd.DataFrame], after: Mapping[str, pd.DataFrame],
                   run_postings: pd.DataFrame) -> set[str]:
    """The claims whose ledger rows may differ between the tables ``before`` and ``after`` an ingest: claims
    with a submission added or removed (a PM copy replaced by the 837), a remittance added or removed, an
    adjustment added, a posting added or corrected by this run (``run_postings``, those applied from suspense
    included: the stored and the new claim of a corrected posting), and the claims of a payer whose self-pay
    class changed (the charge's responsible party depends on it)."""
    from rcmkit.core.ledger import self_pay_ids

    def changed(name: str, key: str) -> pd.Series:
        old, new = before[name], after[name]
        return pd.concat([old.loc[~isin(old[key], new[key]), "claim_id"],
                          new.loc[~isin(new[key], old[key]), "claim_id"]])

    ids = [changed("claims", "submission_id"), changed("remittances", "remit_id")]
    adj_old, adj_new = before["adjustments"], after["adjustments"]
    grown = len(adj_new) >= len(adj_old) and adj_new.iloc[:len(adj_old)].equals(adj_old)
    added = adj_new.iloc[len(adj_old):] if grown else pd.concat([adj_old, adj_new]).drop_duplicates(keep=False)
    remits = pd.concat([before["remittances"][["remit_id", "claim_id"]],
                        after["remittances"][["remit_id", "claim_id"]]])
    ids.append(remits.loc[isin(remits["remit_id"], added["remit_id"]), "claim_id"])
    posted = set(run_postings["posting_id"])
    for frame in (before["postings"], after["postings"]):
        ids.append(frame.loc[isin(frame["posting_id"], posted), "claim_id"])
    ids.append(run_postings["claim_id"])
    flipped = self_pay_ids(before.get("payers")) ^ self_pay_ids(after.get("payers"))
    if flipped:
        ids.append(after["claims"].loc[isin(after["claims"]["payer_id"], flipped), "claim_id"])
    return set(pd.concat(ids).dropna())


def _ledger_update(before: Mapping[str, pd.DataFrame], after: Mapping[str, pd.DataFrame],
                   run_postings: pd.DataFrame) -> store.Upsert | None:
    """The ledger rows of the claims this run touched (:func:`touched_claims`), built from their rows of each
    input table, before and after the run (:func:`_ledger_change`). None when no claim was touched."""
    touched = touched_claims(before, after, run_postings)
    if not touched:
        return None

    def rows(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        sub = {name: tables[name][isin(tables[name]["claim_id"], touched)]
               for name in ("claims", "remittances", "postings")}
        adjustments = tables["adjustments"]
        sub["adjustments"] = adjustments[isin(adjustments["remit_id"], sub["remittances"]["remit_id"])]
        sub["payers"] = tables["payers"]
        return sub

    return _ledger_change(rows(before), rows(after), touched)


#: Tables an incremental ingest reads whole: they grow with the practice's payers, rates, files and suspense, not
#: with its claims.
_SMALL = ("payers", "unapplied_postings", "contracts", "providers", "ingest_warnings", "rejections", "csv_rejections")
#: Appended tables without a key: the run's rows are appended as they are, no stored row is read.
_KEYLESS = ("adjustments", "plb", "remarks")


def _ids(*columns: pd.Series) -> set:
    return set().union(*(set(c.dropna()) for c in columns))


def _relevant(tx: store.Transaction, new: Mapping[str, pd.DataFrame], csv_new: Mapping[str, pd.DataFrame]
              ) -> tuple[dict[str, pd.DataFrame], set[str]] | None:
    """The stored rows an incremental ingest needs, read by key (:meth:`rcmkit.core.store.Transaction.read`):
    rows whose key the run's rows repeat (for de-duplication: submission, remit, payment, posting ids, payment
    trace numbers, file hashes), the claims of the run's PM claims and of postings waiting in suspense (to apply
    them), every stored row of the claims the run's 837s and PM rows name (their ledger is rebuilt from them; the
    claims an 835 pays are not read: :func:`_keyed_changes` appends its remittances' ledger rows), and the small
    tables whole (:data:`_SMALL`); and the ids of those claims. None when postings stored before they had keys
    need the whole table (their ids are numbered over it)."""
    csv = lambda name: csv_new.get(name, schema.empty(name))  # noqa: E731
    out = {name: tx.read(name) for name in _SMALL}
    pending = pd.concat([out["unapplied_postings"], csv("unapplied_postings")], ignore_index=True)
    # the claims the run may touch, read whole now so the ledger needs no second read (touched_claims may add a
    # few: the stored claim of a corrected posting, the claims of a payer that turned self-pay). Not the claims
    # of the run's 835s: a remittance's ledger rows need none of its claim's stored rows (_keyed_changes).
    claim_ids = _ids(new["claims"]["claim_id"], csv("claims")["claim_id"], csv("postings")["claim_id"],
                     pending["claim_id"])
    posting_ids = _ids(csv("postings")["posting_id"], pending["posting_id"], pending["posting_id"] + "/to")
    out["postings"] = tx.read("postings", where={"posting_id": posting_ids | {None}, "claim_id": claim_ids})
    if out["postings"]["posting_id"].isna().any():
        return None
    subs = _ids(new["claims"]["submission_id"], csv("claims")["submission_id"], csv("claim_lines")["submission_id"])
    out["claims"] = tx.read("claims", where={"claim_id": claim_ids, "submission_id": subs})
    # A submission's (a remittance's) rows in the other tables are written by the run that stores it, and left
    # out by every run that finds it held: only ids the claims (remittances) table holds can be in them.
    held_subs = set(out["claims"]["submission_id"]) & subs
    pm_copies = out["claims"].loc[out["claims"]["submission_id"] == out["claims"]["claim_id"], "submission_id"]
    for name, ids in (("claim_lines", held_subs | set(pm_copies)), ("claim_line_details", held_subs)):
        out[name] = tx.read(name, where={"submission_id": ids}) if ids else schema.empty(name)
    remits = _ids(new["remittances"]["remit_id"])
    out["remittances"] = tx.read("remittances", where={"remit_id": remits, "claim_id": claim_ids})
    held_remits = set(out["remittances"]["remit_id"]) & remits
    for name in ("remit_lines", "remittance_details", "remit_line_details"):
        out[name] = tx.read(name, where={"remit_id": held_remits}) if held_remits else schema.empty(name)
    traces = new["payments"]["trace_number"]
    out["payments"] = tx.read("payments", where={"payment_id": _ids(new["payments"]["payment_id"]),
                                                 "trace_number": set(traces.dropna()) | ({None} if traces.isna().any()
                                                                                          else set())})
    out["ingested_files"] = tx.read("ingested_files", where={"sha256": _ids(new["ingested_files"]["sha256"])})
    for name in _KEYLESS:
        out[name] = schema.empty(name)
    return out, claim_ids


def _keyed_changes(tx: store.Transaction, before: dict[str, pd.DataFrame], held: set[str],
                   current: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame], run_postings: pd.DataFrame,
                   kept: pd.DataFrame, read_names: set[str]) -> dict[str, pd.DataFrame | store.Append | store.Upsert]:
    """What an incremental ingest writes, from its merge with the stored rows it read (``before``): the new rows
    of each appended table (an Upsert where PM copies of claims gave way to their 837), new and corrected
    postings by posting id, the small tables as :func:`_incremental` writes them, and the ledger: the rows of
    the run's new remittances appended for claims nothing else touched, and for the other touched claims
    (:func:`touched_claims`) the difference between their ledger built from all their rows, old and new, and
    the one built from their stored rows (:func:`_ledger_change`; ``before`` holds every stored row of the claims
    ``held``; the rows of other touched claims are read by claim id)."""
    from rcmkit.core.ledger import self_pay_ids

    changes: dict[str, pd.DataFrame | store.Append | store.Upsert] = {}
    for name in _APPENDED:
        cur, df = current[name], out[name]
        added = df.iloc[len(cur):]  # _append keeps the stored rows first
        if len(cur) == len(before[name]):
            if len(added):
                changes[name] = store.Append(added)
            continue
        key = list(schema.TABLES[name].key)
        dropped = before[name][~before[name].index.isin(cur.index)]  # _drop_pm_claims filters rows, index kept
        months = _months(dropped[store.MONTH_CLUSTERED[name]]) if name in store.MONTH_CLUSTERED else None
        changes[name] = store.Upsert(added, keys=key, delete=dropped[key], months=months)
    added = out["postings"].iloc[len(kept):]
    if len(added):
        prior = before["postings"][isin(before["postings"]["posting_id"], added["posting_id"])]
        changes["postings"] = store.Upsert(added, keys=("posting_id",), months=_months(prior["posted_on"]))
    changes.update(_incremental(before, current, {n: out[n] for n in _SMALL}, read_names, tx.tables))

    merged = {**current, **out}
    # Remittances this run adds, with their adjustments, add ledger rows of their own (rcmkit.core.ledger: a
    # payment or reversal from CLP04, contractual and patient-responsibility rows from its CAS rows; the default
    # denial policy posts nothing at the 835), whatever the claim's other rows: a claim touched by nothing else
    # gets those rows appended, and none of its stored rows is read (a day's 835 pays claims of every age).
    remits = merged["remittances"]
    added_remits = remits[~isin(remits["remit_id"], before["remittances"]["remit_id"])]
    added_adjustments = merged["adjustments"][isin(merged["adjustments"]["remit_id"], added_remits["remit_id"])]
    others = {**merged, "remittances": remits[~isin(remits["remit_id"], added_remits["remit_id"])],
              "adjustments": merged["adjustments"][~isin(merged["adjustments"]["remit_id"], added_remits["remit_id"])]}
    touched = touched_claims(before, others, run_postings)
    flipped = self_pay_ids(before["payers"]) ^ self_pay_ids(out["payers"])
    if flipped:
        touched |= set(tx.read("claims", where={"payer_id": flipped}, columns=["claim_id"])["claim_id"])
    by_remit = added_remits[~isin(added_remits["claim_id"], touched)]
    by_remit_adjustments = added_adjustments[isin(added_adjustments["remit_id"], by_remit["remit_id"])]
    appended = _full_ledger({"claims": schema.empty("claims"), "postings": schema.empty("postings"),
                             "remittances": by_remit, "adjustments": by_remit_adjustments, "payers": out["payers"]})
    if not touched:
        if len(appended):
            changes["ledger"] = store.Append(appended)
        return changes
    more = touched - held
    stored = {}
    for name in ("claims", "remittances", "postings"):
        frame = before[name][isin(before[name]["claim_id"], touched & held)]
        if more:
            frame = pd.concat([frame, tx.read(name, where={"claim_id": more})], ignore_index=True)
        stored[name] = frame
    after = {}
    for name, frame in stored.items():
        change = changes.get(name)
        if isinstance(change, (store.Append, store.Upsert)):
            keys = list(schema.TABLES[name].key)
            gone = change.frame[keys]
            if isinstance(change, store.Upsert) and change.delete is not None:
                gone = pd.concat([gone, change.delete], ignore_index=True)
            frame = frame[~frame[keys[0]].isin(gone[keys[0]])] if len(keys) == 1 else frame
            frame = pd.concat([frame, change.frame[change.frame["claim_id"].isin(touched)]], ignore_index=True)
        after[name] = frame
    remit_ids = after["remittances"]["remit_id"]
    adjustments = tx.read("adjustments", where={"remit_id": set(remit_ids) | set(stored["remittances"]["remit_id"])})
    stored_adjustments = adjustments[isin(adjustments["remit_id"], stored["remittances"]["remit_id"])]
    adjustments = adjustments[isin(adjustments["remit_id"], remit_ids)]
    if "adjustments" in changes:
        run_adj = changes["adjustments"].frame
        adjustments = pd.concat([adjustments, run_adj[isin(run_adj["remit_id"], remit_ids)]], ignore_index=True)
    after["adjustments"] = adjustments
    after["payers"] = out["payers"]
    stored["adjustments"] = stored_adjustments
    stored["payers"] = before["payers"]
    rebuilt = _ledger_change(stored, after, touched)
    changes["ledger"] = dataclasses.replace(rebuilt, frame=pd.concat([rebuilt.frame, appended], ignore_index=True))
    return changes


def _ledger_change(stored: Mapping[str, pd.DataFrame], after: Mapping[str, pd.DataFrame], touched: set[str]
                   ) -> store.Upsert:
    """The ledger change of the ``touched`` claims, from their rows before (``stored``) and after the run: the
    stored ledger is ``build_ledger`` of the stored tables, so each claim's stored ledger rows are
    ``build_ledger`` of its stored rows. A claim whose new rows include all of those (a payment, an adjustment or
    a posting added: the usual day) gets only the difference appended, with no stored row read or rewritten; a
    claim that lost or changed a row (a corrected posting, a PM copy replaced, a payer's class changed) has its
    stored rows deleted, in the months they fall in, and all its new rows written."""
    old, new = _full_ledger(stored), _full_ledger(after)
    columns = list(schema.TABLES["ledger"].names)

    def counted(frame: pd.DataFrame) -> pd.DataFrame:
        # each row with its occurrence number among equal rows: the multiset difference is then a set difference
        return frame.assign(_n=frame.groupby(columns, dropna=False, sort=False).cumcount())

    old_n, new_n = counted(old), counted(new)
    lost = old_n.merge(new_n[columns + ["_n"]], on=columns + ["_n"], how="left", indicator=True)
    rebuilt = set(lost.loc[lost["_merge"] == "left_only", "claim_id"])
    gained = new_n.merge(old_n[columns + ["_n"]], on=columns + ["_n"], how="left", indicator=True)
    added = gained.loc[(gained["_merge"] == "left_only") & ~isin(gained["claim_id"], rebuilt), columns]
    frame = pd.concat([added, new[isin(new["claim_id"], rebuilt)]], ignore_index=True)
    dates = [new.loc[isin(new["claim_id"], rebuilt), "posted_on"]]
    for tables in (stored, after):
        for name, column in (("claims", "submitted_on"), ("remittances", "paid_on"), ("postings", "posted_on")):
            t = tables[name]
            dates.append(t.loc[isin(t["claim_id"], rebuilt), column])
    return store.Upsert(schema.conform("ledger", frame), keys=("claim_id",),
                        delete=pd.DataFrame({"claim_id": sorted(rebuilt)}, dtype=object), months=_months(*dates),
                        replace=False)


#: Tables whose rows come from X12 files only: an ingest's merge of them does not wait for the PM exports.
_X12_ONLY = ("remittances", "remit_lines", "adjustments", "payments", "remittance_details", "remit_line_details",
             "claim_line_details", "plb", "remarks")
#: Tables an ingest only adds rows to (new files' rows, new keys: :func:`_append`).
_APPENDED = ("claims", "claim_lines", "remittances", "remit_lines", "adjustments", "payments", "remittance_details",
             "remit_line_details", "claim_line_details", "plb", "remarks", "ingested_files")


def _incremental(stored: dict[str, pd.DataFrame], current: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame],
                 read_names: set[str], held: dict) -> dict[str, pd.DataFrame | store.Append]:
    """The ingest's new tables as the store writes them: a table that only gained rows at its end is an
    :class:`rcmkit.core.store.Append` of those rows (a Delta append that touches their months only); a table the
    practice holds and this run left equal is not written; any other is written whole."""
    result: dict[str, pd.DataFrame | store.Append] = {}
    for name, df in out.items():
        before = stored.get(name)
        if before is None:  # not read (the ledger): written whole
            result[name] = df
            continue
        if name in held and (df is before or (len(df) == len(before) and df.equals(before))):
            continue
        grown = len(df) >= len(before) and current[name] is before
        if name in _APPENDED and grown and df.index[:len(before)].equals(pd.RangeIndex(len(before))):
            result[name] = store.Append(df.iloc[len(before):])  # _append kept the stored rows first, in order
        elif name in ("ingest_warnings", "rejections") and not isin(before["file"], read_names).any():
            result[name] = store.Append(df.iloc[len(before):])  # no stored row was about a file read again
        else:
            result[name] = df
    return result
