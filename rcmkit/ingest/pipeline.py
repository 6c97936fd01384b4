"""``rcmkit ingest``: read a practice's files (X12 835/837, PM CSV/Excel exports) into its stored tables.

Idempotent: a file whose SHA-256 is already in the practice's ``ingested_files`` is skipped; a transaction the
practice already holds under other bytes (the same payer check or EFT trace number with the same date and
amount; the same claim submission) is not loaded twice. Everything a run adds is appended in one crash-safe
store transaction under the practice lock, and the ledger is rebuilt from the result, so a run either lands
whole or not at all. X12 files are read in worker processes (small files batched per task; memory is bounded by
the batch size or the largest file, not by the total input), with a progress bar over files. A claim known
from both a PM export and an 837 (same claim_id) is held once, from the 837, in whichever order they arrive.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
from tqdm.auto import tqdm

from .. import schema, store
from ..ledger import build_ledger
from .reader import DEFAULT_PATIENT_SALT, OUTPUT_TABLES, read_x12

__all__ = ["IngestSummary", "ingest", "expand_paths", "derive_payers", "CSV_SUFFIXES"]

CSV_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm", ".xls")

#: Tables a run reads and rewrites (the ledger is rebuilt from them).
_STORED = ("payers",) + tuple(t for t in OUTPUT_TABLES if t != "ingested_files") + (
    "postings", "ingest_warnings", "rejections", "csv_rejections", "ingested_files")

#: 835 CLP06 / 837 SBR09 claim filing indicator -> payer class.
FILING_INDICATOR_CLASS = {
    "MA": "medicare", "MB": "medicare", "16": "medicare",
    "MC": "medicaid",
    "CI": "commercial", "BL": "commercial", "HM": "commercial", "12": "commercial", "13": "commercial",
    "14": "commercial", "15": "commercial", "17": "commercial", "DS": "commercial",
    "CH": "other", "VA": "other", "WC": "other", "AM": "other", "OF": "other", "TV": "other", "ZZ": "other",
}


@dataclass
class IngestSummary:
    """What a run did: files read and skipped, rows added, money, and every rejection with its reason."""

    files: int = 0
    skipped: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    paid_cents: int = 0
    charge_cents: int = 0
    duplicates: int = 0
    rejections: list[str] = field(default_factory=list)
    warnings: int = 0

    def lines(self) -> list[str]:
        out = [
            f"files read: {self.files}; skipped as already ingested: {len(self.skipped)}",
            f"claims added: {self.added.get('claims', 0):,} (charges ${self.charge_cents / 100:,.2f}); "
            f"remittances added: {self.added.get('remittances', 0):,} (paid ${self.paid_cents / 100:,.2f}); "
            f"postings added: {self.added.get('postings', 0):,}",
            f"transactions already held under other bytes, not loaded again: {self.duplicates}",
            f"warnings: {self.warnings}; rejected: {len(self.rejections)}",
        ]
        out += [f"  rejected: {msg}" for msg in self.rejections]
        return out


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


def _read_x12_files(files: list[Path], salt: bytes, jobs: int, progress: bool) -> list:
    bar = tqdm(total=len(files), desc="X12 files", unit="file", disable=not progress)
    batches = _batches(files)
    results = []
    try:
        if jobs <= 1 or len(batches) <= 1:
            for batch in batches:
                results.append(_read_batch([str(f) for f in batch], salt))
                bar.update(len(batch))
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                args = [[str(f) for f in batch] for batch in batches]
                for batch, result in zip(batches, pool.map(_read_batch, args, [salt] * len(args))):
                    results.append(result)
                    bar.update(len(batch))
    finally:
        bar.close()
    return results


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
    rederive = set(existing.loc[placeholder & existing["payer_id"].isin(names.index), "payer_id"])
    new = sorted((set(ids) - set(existing["payer_id"])) | rederive)
    if not new:
        return existing
    existing = existing[~existing["payer_id"].isin(rederive)]
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
    remits = new["remittance_details"].loc[new["remittance_details"]["payment_id"].isin(held), "remit_id"]
    claim_key = ["claim_id", "frequency_code", "submitted_on", "payer_id", "total_charge_cents"]
    subs = new["claims"].merge(old["claims"][claim_key].drop_duplicates(), on=claim_key, how="inner")["submission_id"]
    out = {}
    for name, df in new.items():
        if "payment_id" in df.columns:
            df = df[~df["payment_id"].isin(held)]
        if "remit_id" in df.columns:
            df = df[~df["remit_id"].isin(remits)]
        if "submission_id" in df.columns:
            df = df[~df["submission_id"].isin(subs)]
        out[name] = df
    return out, len(held) + len(subs)


def _drop_pm_claims(current: dict[str, pd.DataFrame], x12_claim_ids: set[str]) -> dict[str, pd.DataFrame]:
    """Claims first known from a PM export (their submission_id is the claim_id) give way to the 837
    submissions of the same claims when those arrive: the 837 is the richer source, and one claim must not
    count twice."""
    claims = current["claims"]
    replaced = claims.loc[(claims["submission_id"] == claims["claim_id"]) & claims["claim_id"].isin(x12_claim_ids),
                          "submission_id"]
    if replaced.empty:
        return current
    out = dict(current)
    out["claims"] = claims[~claims["submission_id"].isin(replaced)]
    out["claim_lines"] = current["claim_lines"][~current["claim_lines"]["submission_id"].isin(replaced)]
    return out


def _append(old: pd.DataFrame, new: pd.DataFrame, name: str) -> pd.DataFrame:
    if new.empty:
        return old
    both = pd.concat([old, schema.conform(name, new)], ignore_index=True) if len(old) else schema.conform(name, new)
    key = list(schema.TABLES[name].key)
    return both.drop_duplicates(key, keep="first") if key else both


def ingest(
    root: str | os.PathLike,
    practice: str,
    paths: Iterable[str | os.PathLike],
    *,
    column_map: str | os.PathLike | None = None,
    patient_salt: str | bytes = DEFAULT_PATIENT_SALT,
    jobs: int = 1,
    progress: bool = True,
) -> IngestSummary:
    """Read ``paths`` (files or folders) into ``practice``'s tables under ``root``; returns what happened.

    X12 files (any name; recognised by content) go to :func:`rcmkit.ingest.read_x12`; ``.csv``/``.xlsx``
    exports to :func:`rcmkit.ingest.pm_csv.read_pm_export` with ``column_map`` (required for them).
    """
    files = expand_paths(paths)
    salt = patient_salt.encode() if isinstance(patient_salt, str) else patient_salt
    seen = set(store.load_table(root, practice, "ingested_files", required=False)["sha256"])
    hashes = {f: store.file_sha256(f) for f in files}
    summary = IngestSummary(skipped=[str(f) for f in files if hashes[f] in seen])
    todo = [f for f in files if hashes[f] not in seen]
    todo = list({hashes[f]: f for f in todo}.values())  # the same bytes twice in one run: read once
    if not todo:
        return summary
    csvs = [f for f in todo if f.suffix.lower() in CSV_SUFFIXES]
    x12s = [f for f in todo if f.suffix.lower() not in CSV_SUFFIXES]
    if csvs and column_map is None:
        raise ValueError(f"{csvs[0]}: a CSV/Excel export needs --column-map (a YAML map such as "
                         "parameters/column_maps/generic.yaml)")
    results = _read_x12_files(x12s, salt, jobs, progress)
    new = {name: pd.concat([r.tables[name] for r in results], ignore_index=True) if results
           else schema.empty(name) for name in OUTPUT_TABLES}
    warnings = [r.warnings for r in results]
    rejections = [r.rejections for r in results]
    csv_new: dict[str, pd.DataFrame] = {}
    csv_rejections = schema.empty("csv_rejections")
    if csvs:
        from .pm_csv import read_pm_export

        csv_result = read_pm_export(csvs, column_map, patient_salt=salt)
        csv_new = csv_result.tables
        csv_rejections = csv_result.rejections
        w = csv_result.warnings
        warnings.append(pd.DataFrame({"file": w["file"], "segment_number": w["line"], "segment_id": w["column"],
                                      "code": w["code"], "found": w["count"].astype(str) + " row(s)",
                                      "message": w["message"]}).reindex(columns=schema.TABLES["ingest_warnings"].names))
        csv_files = pd.DataFrame({"file": [f.name for f in csvs], "sha256": [hashes[f] for f in csvs],
                                  "size_bytes": [f.stat().st_size for f in csvs], "encoding": "csv",
                                  "transaction_sets": 0, "rejected_sets": 0, "warnings": 0})
        new["ingested_files"] = pd.concat([new["ingested_files"], csv_files], ignore_index=True)
    summary.files = len(x12s) + len(csvs)

    def change(current: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        current = _drop_pm_claims(current, set(new["claims"]["claim_id"]))
        fresh, summary.duplicates = _drop_known(new, current)
        # A PM export lists every claim, including those its 835/837 files already gave: X12 claims win.
        held = set(current["claims"]["claim_id"]) | set(fresh["claims"]["claim_id"])
        for name, df in csv_new.items():
            if name == "claims":
                df = df[~df["claim_id"].isin(held)]
            elif name == "claim_lines":
                df = df[df["submission_id"].isin(csv_new["claims"].loc[~csv_new["claims"]["claim_id"].isin(held),
                                                                       "submission_id"])]
            fresh[name] = pd.concat([fresh[name], df], ignore_index=True) if name in fresh else df
        fresh["ingest_warnings"] = pd.concat(warnings, ignore_index=True) if warnings else schema.empty("ingest_warnings")
        fresh["rejections"] = pd.concat(rejections, ignore_index=True) if rejections else schema.empty("rejections")
        fresh["csv_rejections"] = csv_rejections
        out = {name: _append(current[name], fresh[name], name) for name in _STORED if name in fresh and name != "payers"}
        merged = {**current, **out}
        payers = current["payers"]
        if "payers" in fresh and len(fresh["payers"]):
            payers = _append(payers, fresh["payers"], "payers")
        out["payers"] = derive_payers(payers, merged)
        merged["payers"] = out["payers"]
        # build_ledger fails on all-empty inputs (pd.concat of nothing): a first run whose files were all rejected
        money = any(len(merged[n]) for n in ("claims", "remittances", "adjustments", "postings"))
        out["ledger"] = build_ledger(merged) if money else schema.empty("ledger")
        summary.added = {n: len(out[n]) - len(current[n]) for n in ("claims", "remittances", "postings") if n in out}
        added_claims = fresh["claims"][~fresh["claims"]["submission_id"].isin(current["claims"]["submission_id"])]
        added_remits = fresh["remittances"][~fresh["remittances"]["remit_id"].isin(current["remittances"]["remit_id"])]
        summary.charge_cents = int(added_claims["total_charge_cents"].sum())
        summary.paid_cents = int(added_remits["paid_cents"].sum())
        summary.warnings = len(fresh["ingest_warnings"])
        summary.rejections = list(fresh["rejections"]["message"]) + list(csv_rejections.get("message", []))
        return out

    store.update_tables(root, practice, _STORED, change)
    return summary

