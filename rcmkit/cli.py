"""The ``rcmkit`` command: a flat list of thin commands, each calling the Python API.

Exit codes: 0 success; 1 the work failed (a notebook cell raised, ...); 2 bad input (parameters, options),
reported as one ``error: ...`` line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from rcmkit import __version__

__all__ = ["main"]


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rcmkit")
def main() -> None:
    """rcmkit: revenue-cycle analytics for medical practices."""
    from rcmkit.startup import skip_slow_iri_checks

    skip_slow_iri_checks()  # a report run reads notebooks: 2-4 s of grammar compiling no notebook needs


# --------------------------------------------------------------------------------------------- demo
@main.command()
@click.option("--practice", default="demo", show_default=True, help="Practice folder name to create.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option("--claims", "n_claims", type=click.IntRange(min=1), default=25_000, show_default=True,
              help="Number of claims to generate.")
@click.option("--profile", default="family_medicine", show_default=True,
              help="Practice profile: family_medicine or pediatrics.")
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Folder holding one folder of canonical tables per practice.")
@click.option("--direct", is_flag=True, help="Save the generated tables directly instead of writing X12/CSV files "
              "and ingesting them (faster; skips the real input path).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Readers of the demo's X12 files: this process and JOBS-1 worker processes.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def demo(practice: str, seed: int, n_claims: int, profile: str, data_root: str, direct: bool, jobs: int,
         progress: bool) -> None:
    """Generate a demo practice: by default as real 837P/835 files and a PM export, ingested like a practice's."""
    from rcmkit.core import store
    from rcmkit.demo import PROFILES, build_demo, write_demo

    try:
        folder = store.practice_dir(data_root, practice)
    except store.StoreError as exc:
        _fail(f"--practice: {exc}", 2)
    if profile not in PROFILES:
        _fail(f"--profile: unknown profile {profile!r}; expected one of {sorted(PROFILES)}", 2)
    kwargs = {"seed": seed, "n_claims": n_claims, "profile": profile}
    try:
        if direct:
            write_demo(data_root, practice, **kwargs)
            from rcmkit.core.ledger import write_ledger

            write_ledger(data_root, practice)
        else:
            built = build_demo(data_root, practice, jobs=jobs, progress=progress, **kwargs)
            files = built["files"]
            click.echo(f"wrote {files['837']['files']} 837P files, {files['835']['files']} 835 files and "
                       f"{files['pm']['files']} PM export files to {files['inbox']}")
            for line in built["ingest"].lines():
                click.echo(line)
        from rcmkit.ingest.x12.reader import DEFAULT_PATIENT_SALT
        from rcmkit.ingest.salt import write_salt

        # The demo's patients are fictional and keyed with rcmkit's public salt; later ingests reuse it.
        write_salt(data_root, practice, DEFAULT_PATIENT_SALT)
    except (store.StoreError, OSError, RuntimeError) as exc:
        _fail(f"cannot write the demo practice to {folder}: {exc}", 1)
    tables = store.manifest(data_root, practice).get("tables", {})
    click.echo(f"demo practice {practice!r} (seed {seed}, {n_claims:,} claims) is in {folder.resolve()}")
    for name in ("payers", "claims", "claim_lines", "remittances", "remit_lines", "adjustments", "postings",
                 "contracts", "ledger"):
        click.echo(f"  {name:<24} {tables.get(name, {}).get('rows', 0):>10,} rows")


# --------------------------------------------------------------------------------------------- report
@main.command()
@click.argument("params_file", metavar="PARAMS.yaml")
@click.option("--month", default=None, metavar="YYYY-MM", help="Report month; overrides the parameter file.")
@click.option("--output-root", default=None, type=click.Path(file_okay=False),
              help="Reports folder; overrides the parameter file (default: reports).")
@click.option("--notebook", default=None, type=click.Path(dir_okay=False),
              help="Report notebook to run (default: the packaged monthly report).")
@click.option("--kernel", default=None, help="Jupyter kernel (default: 'rcmkit', registered when missing).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--pdf/--no-pdf", default=True, show_default=True,
              help="Print the PDF with Chromium (--no-pdf: HTML, slides and notebook only, about 2 s sooner).")
@click.option("--as-of-version", "as_of_version", type=click.IntRange(min=1), default=None, metavar="N",
              help="Read store snapshot N (run.json's store.store_snapshot) instead of the newest: reproduces an "
              "earlier report exactly after later files have arrived.")
def report(params_file: str, month: str | None, output_root: str | None, notebook: str | None, kernel: str | None,
           progress: bool, pdf: bool, as_of_version: int | None) -> None:
    """Run the monthly report for PARAMS.yaml and print the HTML path.

    Publishes <output_root>/<practice>/<YYYY-MM>/ with monthly_report.html, its PDF (when chromium is
    installed) and slide deck, the executed notebook, metrics.json and run.json. The parameter file and the
    store's folders are validated before any kernel starts (exit 2); the kernel then starts while the data's months
    are checked.
    """
    from rcmkit.report.kernel import WarmKernel, resolve_kernel
    from rcmkit.report.params import ParamError, load_params

    try:  # the file and the store's layout first (no table read): one line and exit 2, before a kernel starts
        load_params(params_file, month=month, output_root=output_root, store_version=as_of_version,
                    check_data="layout")
    except ParamError as exc:
        _fail(str(exc), 2)
    if notebook is not None and not Path(notebook).is_file():
        _fail(f"--notebook: no such file {notebook}", 2)
    log = lambda msg: click.echo(msg, err=True)  # noqa: E731
    # The kernel boots and imports the report's modules while this process checks the data and pins the snapshot.
    kernel = kernel or resolve_kernel(log=log)
    try:
        warm = WarmKernel(kernel).start()
    except Exception:  # noqa: BLE001 - e.g. no such kernel: run_report starts one itself and says what failed
        warm = None
    try:
        from rcmkit.report import NotebookFailed, ReportError, run_report

        try:
            params = load_params(params_file, month=month, output_root=output_root, store_version=as_of_version)
        except ParamError as exc:
            _fail(str(exc), 2)
        try:
            result = run_report(params, notebook=notebook, kernel=kernel, progress=progress, pdf=pdf, log=log,
                                kernel_manager=warm)
        except NotebookFailed as exc:
            _fail(str(exc), 1)
        except ReportError as exc:
            _fail(str(exc), 1)
    finally:
        if warm is not None:
            warm.discard()
    log(f"published {result.report_dir} in {result.seconds:.1f} s")
    click.echo(str(result.html.resolve()))


# --------------------------------------------------------------------------------------------- store
@main.group("store")
def store_group() -> None:
    """Maintain a practice's store: convert the old parquet layout, compact the Delta tables."""


@store_group.command("migrate")
@click.option("--practice", required=True, help="Practice folder under --data-root.")
@click.option("--data-root", default="data", show_default=True, type=click.Path(file_okay=False))
def store_migrate(practice: str, data_root: str) -> None:
    """Convert <practice>/<table>.parquet files (the layout before Delta tables) to Delta tables, losing
    nothing: row counts and content digests are compared; the old files move to <practice>/.migrated-parquet/."""
    from rcmkit.core import store

    try:
        result = store.migrate(data_root, practice)
    except store.StoreError as exc:
        _fail(str(exc), 1)
    for name, t in sorted(result["tables"].items()):
        click.echo(f"  {name:<24} {t['rows']:>10,} rows  sha256 {t['sha256'][:16]} (same before and after)")
    folder = store.practice_dir(data_root, practice)
    click.echo(f"migrated {len(result['tables'])} tables of {practice!r} to Delta (snapshot {result['snapshot']}); "
               f"the old files are in {folder / store.MIGRATED_DIR}: delete them when you no longer need them")


@store_group.command("compact")
@click.option("--practice", required=True, help="Practice folder under --data-root.")
@click.option("--data-root", default="data", show_default=True, type=click.Path(file_okay=False))
@click.option("--retain-days", type=click.FloatRange(min=0), default=None,
              help="Keep the files of versions younger than this many days (default: 400).")
@click.option("--reports-root", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Reports folder: the store versions its run.json files name are kept whatever their age.")
def store_compact(practice: str, data_root: str, retain_days: float | None, reports_root: str) -> None:
    """OPTIMIZE (merge small files) and VACUUM (delete files no kept version needs) every table of a practice."""
    from rcmkit.core import store

    try:
        keep = store.report_snapshots(reports_root, practice)
        result = store.compact(data_root, practice, keep_snapshots=keep,
                               retain_days=store.DEFAULT_RETAIN_DAYS if retain_days is None else retain_days)
    except store.StoreError as exc:
        _fail(str(exc), 1)
    kept = f"; kept snapshots {', '.join(map(str, keep))} that reports read" if keep else ""
    click.echo(f"compacted {len(result['tables'])} tables of {practice!r} (snapshot {result['snapshot']}), "
               f"removed {result['files_removed']} files{kept}")


@store_group.command("rebuild-ledger")
@click.option("--practice", required=True, help="Practice folder under --data-root.")
@click.option("--data-root", default="data", show_default=True, type=click.Path(file_okay=False))
def store_rebuild_ledger(practice: str, data_root: str) -> None:
    """Build the whole ledger again from the stored claims, remittances, adjustments, postings and payers
    (ingest keeps it up to date claim by claim; this is the full rebuild it must always agree with)."""
    from rcmkit.core import store
    from rcmkit.core.ledger import write_ledger

    if not store.has_tables(data_root, practice, ("claims",)):
        _fail(f"no stored claims for practice {practice!r} under {data_root}", 2)
    try:
        ledger = write_ledger(data_root, practice)
    except store.StoreError as exc:
        _fail(str(exc), 1)
    click.echo(f"rebuilt the ledger of {practice!r}: {len(ledger):,} rows, {ledger['claim_id'].nunique():,} claims "
               f"(snapshot {store.snapshot_id(data_root, practice)})")


# --------------------------------------------------------------------------------------------- run-monthly
@main.command("run-monthly")
@click.argument("paths", nargs=-1, required=True, metavar="PARAMS.yaml|FOLDER...")
@click.option("--month", default=None, metavar="YYYY-MM",
              help="Report month for every practice (default: each practice's parameter file, or its last full month).")
@click.option("--jobs", "-j", type=click.IntRange(min=1, max=64), default=2, show_default=True,
              help="Practices run at the same time (one Jupyter kernel each, kept for its next practice).")
@click.option("--force", is_flag=True, help="Rerun practices whose inputs and parameters are unchanged.")
@click.option("--output-root", default=None, type=click.Path(file_okay=False),
              help="Reports folder for every practice; overrides the parameter files.")
@click.option("--notebook", default=None, type=click.Path(dir_okay=False),
              help="Report notebook to run (default: the packaged monthly report).")
@click.option("--kernel", default=None, help="Jupyter kernel (default: 'rcmkit', registered when missing).")
@click.option("--pdf/--no-pdf", default=True, show_default=True, help="Print each report to PDF with Chromium.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--warm-kernels/--fresh-kernels", default=True, show_default=True,
              help="Keep one kernel per job for all its practices (reset between them) instead of one per practice.")
def run_monthly(paths: tuple[str, ...], month: str | None, jobs: int, force: bool, output_root: str | None,
                notebook: str | None, kernel: str | None, pdf: bool, progress: bool, warm_kernels: bool) -> None:
    """Run the monthly report for every parameter file given (or every *.yaml in a FOLDER), JOBS at a time.

    Each practice's outputs land in <output_root>/<practice>/<YYYY-MM>/ (notebook, HTML, PDF, slides,
    metrics.json, run.json); <output_root>/<YYYY-MM>/index.html lists every practice. A practice that fails does
    not stop the others; the command ends with a table of results and exits 1 when any practice failed.
    """
    from rcmkit.report.batch import outcome_table, run_monthly as run_all
    from rcmkit.metrics import parse_month

    try:
        month = parse_month(month, "--month") if month is not None else None
    except ValueError:
        _fail(f'--month: expected a "YYYY-MM" month such as 2026-09, got {month!r}', 2)
    if notebook is not None and not Path(notebook).is_file():
        _fail(f"--notebook: no such file {notebook}", 2)
    try:
        result = run_all(paths, month=month.strip() if month else None, jobs=jobs, force=force,
                         output_root=output_root, notebook=notebook, kernel=kernel, pdf=pdf, progress=progress,
                         log=lambda msg: click.echo(msg, err=True), warm=warm_kernels)
    except ValueError as exc:
        _fail(str(exc), 2)
    for note in result.notes:
        click.echo(note, err=True)
    click.echo(outcome_table(result))
    if result.failed:
        raise SystemExit(1)


# --------------------------------------------------------------------------------------------- ingest
@main.command()
@click.option("--practice", required=True, help="Practice folder name under the data root.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="PATH...")
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Folder holding one folder of tables per practice.")
@click.option("--column-map", default=None, help="YAML column map for CSV/Excel exports "
              "(a path, or a built-in name: generic, synthea).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Readers of the X12 files: this process and JOBS-1 worker processes sharing the batches "
              "(when the files make several batches of up to 64 files); 1 reads them here alone.")
@click.option("--salt-env", default="RCMKIT_PATIENT_SALT", show_default=True,
              help="Environment variable holding the practice's secret salt for patient pseudonyms; when it is "
              "unset, the practice's own random secret is used (created on the first ingest).")
@click.option("--force", is_flag=True, help="Read files again even when they were ingested before (what is "
              "already held is not loaded twice).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def ingest(practice: str, paths: tuple[str, ...], data_root: str, column_map: str | None, jobs: int,
           salt_env: str, force: bool, progress: bool) -> None:
    """Read X12 835/837 files and PM exports (files or folders) into a practice's tables.

    Idempotent: files already ingested (same SHA-256) are skipped, and payments, claim submissions and PM
    postings the practice already holds are not loaded twice. A PM file with rejected rows is read again on the
    next run. Ends with a summary: each kind of rejection and warning with its count and first example.

    Exit codes: 0 everything loaded; 3 loaded, but rows or files were rejected, files will be read again or
    postings wait in suspense for their claim; 2 bad usage or input that stopped the run (nothing written);
    1 an unexpected failure.
    """
    from rcmkit.core import store
    from rcmkit.ingest.pipeline import ingest as run_ingest
    from rcmkit.ingest.salt import SaltError, practice_salt

    try:
        salt, said = practice_salt(data_root, practice, salt_env)
        click.echo(said, err=True)
        summary = run_ingest(data_root, practice, paths, column_map=column_map, patient_salt=salt, jobs=jobs,
                             progress=progress, force=force)
    except (FileNotFoundError, ValueError, store.StoreError, SaltError) as exc:
        _fail(str(exc), 2)
    for line in summary.lines():
        click.echo(line)
    raise SystemExit(summary.exit_code)


# --------------------------------------------------------------------------------------------- explore
@main.command()
@click.option("--practice", default="demo", show_default=True, help="Practice folder name under the data root.")
@click.option("--data-root", default="data", show_default=True, help="Folder holding one folder per practice.")
@click.option("--end", default=None, metavar="YYYY-MM", help="Last month of the period (default: last full month).")
@click.option("--months", type=click.Choice(["1", "3", "6", "12"]), default="3", show_default=True,
              help="Period length in months.")
@click.option("--port", type=int, default=8866, show_default=True)
@click.option("--token", default=None, help="Access token (default: a random one, printed).")
@click.option("--export-dir", default="reports/explorer", show_default=True,
              help="Where the explorer's export buttons save files.")
@click.option("--screenshot", "png", default=None, type=click.Path(dir_okay=False),
              help="Write a PNG of the explorer (headless Chromium) instead of serving it.")
@click.option("--cull-idle", type=click.IntRange(min=0), default=600, show_default=True, metavar="SECONDS",
              help="Shut down a visit's kernel once no page has been connected to it for this long (0: never).")
def explore(practice: str, data_root: str, end: str | None, months: str, port: int, token: str | None,
            export_dir: str, png: str | None, cull_idle: int) -> None:
    """Serve the interactive explorer (notebooks/explore.ipynb as a Voila app) on localhost, or save a PNG of
    it: the same as ``python -m rcmkit.explorer serve|screenshot``. In JupyterLab, open the notebook instead."""
    from rcmkit.explorer.__main__ import main as explorer_main

    args = (["screenshot", png] if png else ["serve", "--port", str(port), "--export-dir", export_dir,
                                             "--cull-idle", str(cull_idle)] + (["--token", token] if token else []))
    args += ["--practice", practice, "--data-root", data_root, "--months", months] + (["--end", end] if end else [])
    raise SystemExit(explorer_main(args))


# --------------------------------------------------------------------------------------------- scrub
@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="FILE_OR_FOLDER...")
@click.option("--practice", default=None, help="A stored practice: its claims for duplicates, its 835 history "
              "for the denial-risk scores and the payer-history warnings, its salt for patient keys.")
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Folder holding one folder of tables per practice.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the work list (scrub_findings.csv, scrub_findings.html); default: the terminal only.")
@click.option("--format", "formats", type=click.Choice(["table", "csv", "html"]), multiple=True,
              help="What to write (repeatable); default: table, plus csv and html when --out is given.")
@click.option("--as-of", default=None, help="The day of the check, YYYY-MM-DD (service dates after it are in the "
              "future); default: the newest claim date in the batch.")
@click.option("--icd-release", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A CMS ICD-10-CM order file (icd10cm_order_YYYY.txt) to check diagnoses against instead of the "
              "packaged release.")
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A payer rule file (CSV) replacing rcmkit/data/scrub_payer_rules.csv (docs/scrub.md).")
@click.option("--salt-env", default="RCMKIT_PATIENT_SALT", show_default=True,
              help="Environment variable holding the practice's salt (as for rcmkit ingest).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def scrub(paths: tuple[str, ...], practice: str | None, data_root: str, out_dir: str | None,
          formats: tuple[str, ...], as_of: str | None, icd_release: str | None, rules_path: str | None,
          salt_env: str, progress: bool) -> None:
    """Check outgoing 837P/837I claims before they are sent: code sets, modifiers, NPIs, dates, duplicates and
    timely filing, plus each claim's denial risk from the practice's own 835s (with --practice). Nothing is stored.

    Exit codes: 0 no error-severity finding; 3 findings that need attention (or a part of a file that could not
    be read); 2 bad usage or input; 1 an unexpected failure.
    """
    import datetime as dt

    from rcmkit.core import store
    from rcmkit.scrub.batch import scrub_files
    from rcmkit.scrub.codesets import CodeSetError, IcdRelease
    from rcmkit.scrub.output import terminal_table, write_csv, write_html
    from rcmkit.scrub.rules import PayerRuleError, load_payer_rules

    formats = formats or (("table", "csv", "html") if out_dir else ("table",))
    if {"csv", "html"} & set(formats) and not out_dir:
        _fail("--format csv/html needs --out FOLDER", 2)
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(f"--as-of: {as_of!r} is not a date; expected YYYY-MM-DD", 2)
    try:
        icd = IcdRelease.from_order_file(icd_release) if icd_release else None
        if rules_path:
            load_payer_rules(rules_path)
        history, salt = None, None
        if practice:
            from rcmkit.ingest.salt import SaltError, practice_salt

            try:
                salt, said = practice_salt(data_root, practice, salt_env)
            except SaltError as exc:
                _fail(str(exc), 2)
            history = store.load_tables(data_root, practice, ["payers", "claims", "claim_lines", "remittances",
                                                              "remit_lines", "adjustments"], required=False)
        kwargs = {"patient_salt": salt} if salt else {}
        result = scrub_files(paths, as_of=day, history=history, icd=icd, rules_path=rules_path, progress=progress,
                             **kwargs)
    except (FileNotFoundError, CodeSetError, PayerRuleError, store.StoreError) as exc:
        _fail(str(exc), 2)
    if result.claims.empty and result.rejections.empty:
        _fail("no 837 claims found in " + ", ".join(paths), 2)
    if "table" in formats:
        click.echo(terminal_table(result.findings))
    if out_dir:
        if "csv" in formats:
            click.echo(f"wrote {write_csv(result.findings, Path(out_dir) / 'scrub_findings.csv', result.risk)}")
        if "html" in formats:
            click.echo(f"wrote {write_html(result, Path(out_dir) / 'scrub_findings.html')}")
        if result.risk is not None and "csv" in formats:
            from rcmkit.present.csvsafe import neutralise_frame
            from rcmkit.scrub.output import write_atomic

            risk = result.risk.assign(risk=result.risk["risk"].round(4), baseline=result.risk["baseline"].round(4))
            written = write_atomic(Path(out_dir) / "scrub_risk.csv", neutralise_frame(risk).to_csv(index=False))
            click.echo(f"wrote {written}")
    f = result.findings
    counts = f["severity"].value_counts()
    click.echo(f"checked {len(result.claims):,} claim(s) as of {result.as_of:%Y-%m-%d} against {result.icd_label}: "
               f"{int(counts.get('error', 0)):,} error(s) on "
               f"{f.loc[f.severity == 'error', 'submission_id'].nunique():,} "
               f"claim(s), {int(counts.get('warning', 0)):,} warning(s)")
    for m in list(result.notes) + list(result.rejections["message"]):
        click.echo(f"note: {m}")
    raise SystemExit(3 if result.needs_attention else 0)


# --------------------------------------------------------------------------------------------- validate
@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False), metavar="FILE...")
def validate(files: tuple[str, ...]) -> None:
    """Run pyx12's full X12 standard validation on each file; exit 1 when any file is invalid.

    pyx12 is slow (about 0.3 MB/s) and can fail on large files: a validator failure is reported as such, not as
    a verdict on the file.
    """
    from rcmkit.ingest.x12.validate import validate_x12

    verdicts = []
    for f in files:
        report = validate_x12(f)
        click.echo(report.summary())
        verdicts.append(report.valid)
    raise SystemExit(0 if all(v is not False for v in verdicts) else 1)


# --------------------------------------------------------------------------------------------- kpis
_KPI_TABLES = ("aging", "payers", "reimbursement", "denials")


def _metric_options(pairs: tuple[str, ...]):
    """``MetricOptions`` from ``KEY=VALUE`` pairs (integers where the option is one); ValueError names the bad one."""
    import dataclasses

    from rcmkit.metrics import MetricOptions

    fields = {f.name: f for f in dataclasses.fields(MetricOptions) if not f.name.startswith("_")}
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise ValueError(f"--option {pair[:80]!r}: expected KEY=VALUE with KEY one of {sorted(fields)}")
        if fields[key].type in (int, "int"):
            try:
                values[key] = int(value)
            except ValueError:
                raise ValueError(f"--option {key}: expected a whole number, got {value[:40]!r}") from None
        else:
            values[key] = value.strip()
    return MetricOptions(**values)


def _readable(frame):
    """A table for the terminal: ``*_cents`` columns as dollars, shares as percentages."""
    out = frame.copy()
    for c in list(out.columns):
        if c.endswith("_cents"):
            out[c] = out[c].map(lambda v: "" if v != v else f"{v / 100:,.2f}")
            out = out.rename(columns={c: c.removesuffix("_cents")})
        elif c.endswith(("_rate", "_pct", "share")) and out[c].dtype.kind == "f":
            out[c] = out[c].map(lambda v: "" if v != v else f"{v:.1%}")
    return out


@main.command()
@click.option("--practice", required=True, help="Practice folder name under the data root.")
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Folder holding one folder of tables per practice.")
@click.option("--month", default=None, help="YYYY-MM (default: the last full month in the data).")
@click.option("--engine", "engine_name", type=click.Choice(["pandas", "duckdb", "spark"]), default="duckdb",
              show_default=True, help="Where the metrics run (rcmkit.core.engine).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A metric option, as in a report's parameter file (repeatable): days_in_ar=gross_12m, "
              "denial_policy=at_remit, aging_basis=submission_date, aged_over_days=90, denial_scope=full, "
              "collection_months=3, reimbursement_months=12, min_cell_count=11, days_in_ar_net_months=12.")
@click.option("--table", "tables_wanted", multiple=True, type=click.Choice(_KPI_TABLES + ("all",)),
              help="Also print a table (repeatable): A/R aging by payer, the payer scorecard, reimbursement by "
              "payer x code, denial reasons; 'all' for every one.")
@click.option("--json", "as_json", is_flag=True, help="Print the KPIs (value, numerator, denominator, "
              "definition and source of each) and the tables asked for as JSON instead of text.")
def kpis(practice: str, data_root: str, month: str | None, engine_name: str, options: tuple[str, ...],
         tables_wanted: tuple[str, ...], as_json: bool) -> None:
    """Print a practice's headline KPIs for a month, computed on DuckDB (default), pandas or Spark.

    No notebook, no report: the numbers, the definitions they follow (every metric option can be set with
    --option) and, with --table, the aging, payer and reimbursement tables the report shows. Large practices
    are where DuckDB pays off (see the README's benchmark); Spark uses the active session or a local one.
    """
    import time

    import narwhals as nw

    from rcmkit.core import engine

    from rcmkit.core import store
    from rcmkit.metrics import SUITE_COLUMNS, kpi_suite, last_full_month, monthly_kpis, payer_scorecard
    from rcmkit.present import format as fmt
    from rcmkit.report.params import check_month

    started = time.perf_counter()
    wanted = list(_KPI_TABLES) if "all" in tables_wanted else list(dict.fromkeys(tables_wanted))
    extra: dict = {}
    try:
        opts = _metric_options(options)
        if not store.practice_dir(data_root, practice).is_dir():
            raise store.StoreError(f"no practice {practice!r} under {data_root}")
        tables = engine.open_tables(data_root, practice, engine_name, names=list(SUITE_COLUMNS),
                                    columns=SUITE_COLUMNS)
        if "claims" not in tables:
            raise store.StoreError(f"practice {practice!r} has no claims table under {data_root}")
        # the latest date of each dated table, computed on the engine
        latest = {name: engine.collect(engine.lazy(tables[name]).select(nw.col(column).max())).dropna()
                  for name, column in store.MONTH_CLUSTERED.items() if name in tables}
        last = last_full_month(latest)
        month = check_month("--month", None, month) if month else last
        if month > last:
            raise ValueError(f"--month {month} is not complete in the data: the last full month is {last}")
        if set(wanted) & {"aging", "reimbursement", "denials"}:
            suite = kpi_suite(tables, month, opts)
            result = suite["kpis"]
            extra = {"aging": suite["aging"], "reimbursement": suite["reimbursement"],
                     "denials": suite["denial_reasons"]}
        else:
            result = monthly_kpis(tables, month, opts)
        if "payers" in wanted:
            every = store.load_tables(data_root, practice, required=False)
            extra["payers"] = payer_scorecard(every, month, opts)
        suspense = store.load_table(data_root, practice, "unapplied_postings", required=False)
    except (ValueError, store.StoreError) as exc:
        _fail(str(exc), 2)
    shown = {name: extra[name] for name in wanted}
    if as_json:
        click.echo(json.dumps({"practice": practice, "month": month, "engine": engine_name,
                               "options": {k: v for k, v in vars(opts).items() if not k.startswith("_")},
                               "kpis": {k: v.to_dict() for k, v in result.items()},
                               "unapplied_postings": {"count": len(suspense),
                                                      "amount_cents": int(-suspense["amount_cents"].sum())},
                               "tables": {k: json.loads(v.to_json(orient="records", date_format="iso"))
                                          for k, v in shown.items()}}, indent=1))
        return
    click.echo(f"{practice} {month} ({engine_name}, {time.perf_counter() - started:.1f} s)")
    for kpi in result.values():
        click.echo(f"  {kpi.label:<34} {fmt.kpi_value(kpi):>14}")
    if len(suspense):
        waiting = -suspense["amount_cents"].sum() / 100
        click.echo(f"  {'Unapplied postings (suspense)':<34} {len(suspense):>6,} ${waiting:,.2f}")
    changed = {k: v for k, v in vars(opts).items() if not k.startswith("_") and v != getattr(type(opts)(), k)}
    if changed:
        click.echo("  options: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 200):
        for name, frame in shown.items():
            click.echo(f"\n{name}:")
            click.echo(_readable(frame).to_string(index=False) if len(frame) else "  (none)")


# --------------------------------------------------------------------------------------------- forecast
def _forecast_json(fc, by: str | None) -> dict:
    def records(frame):
        return json.loads(frame.to_json(orient="records", date_format="iso", double_precision=2))

    totals = fc.totals.assign(week_start=fc.totals["week_start"].dt.strftime("%Y-%m-%d"))
    out = {"as_of": fc.as_of.strftime("%Y-%m-%d"), "open_ar_cents": round(fc.open_cents),
           "interval_level": fc.options.level,
           "totals": records(totals.drop(columns=["kind"])),
           "writeoffs": records(fc.writeoffs)}
    if by:
        rows = fc.summary(by=by).drop(columns=["week_start"])
        out["by_" + by] = records(rows)
    return out


@main.command()
@click.option("--practice", required=True, help="Practice folder name under the data root.")
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Folder holding one folder of tables per practice.")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="Forecast from this date, using only what was posted by then (default: the end of the last "
              "full month in the data).")
@click.option("--format", "fmt_", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--by", type=click.Choice(["payer", "class"]), default=None,
              help="Also break the 30/60/90-day forecast down by payer or by payer class.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def forecast(practice: str, data_root: str, as_of: str | None, fmt_: str, by: str | None, progress: bool) -> None:
    """Forecast the cash today's open A/R will bring in over the next 30, 60 and 90 days and 13 weeks, with 80%
    intervals, plus expected write-offs by age (docs/forecast.md)."""
    import pandas as pd
    from tqdm import tqdm

    from rcmkit.core import store
    from rcmkit.forecast import forecast as run_forecast
    from rcmkit.metrics import last_full_month, month_window

    try:
        if not store.practice_dir(data_root, practice).is_dir():
            raise store.StoreError(f"no practice {practice!r} under {data_root}")
        tables = store.load_tables(data_root, practice, required=False)
        if tables.get("ledger") is None or tables.get("claims") is None:
            raise store.StoreError(f"practice {practice!r} has no claims or ledger under {data_root}")
        if as_of is None:
            day = month_window(last_full_month(tables)).end
        else:
            import datetime
            import re

            try:
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of.strip()):
                    raise ValueError
                day = pd.Timestamp(datetime.date.fromisoformat(as_of.strip()))
            except ValueError:
                raise ValueError(f"--as-of must be a date written YYYY-MM-DD, got {as_of[:40]!r}") from None
            first = tables["ledger"]["posted_on"].min()
            if pd.isna(first) or day < first:
                raise ValueError(f"--as-of {day:%Y-%m-%d} is before the practice's first charge "
                                 f"({'none' if pd.isna(first) else f'{first:%Y-%m-%d}'})")
    except (ValueError, store.StoreError) as exc:
        _fail(str(exc), 2)
    bar = (lambda it: tqdm(it, desc="earlier month ends", unit="month", leave=False)) if progress else None
    try:
        fc = run_forecast(tables, day, progress=bar)
    except (ValueError, KeyError) as exc:
        _fail(f"cannot forecast practice {practice!r}: {exc}", 1)
    if fmt_ == "json":
        click.echo(json.dumps({"practice": practice, **_forecast_json(fc, by)}, indent=1))
        return
    money = lambda c: f"${c / 100:,.0f}"  # noqa: E731
    click.echo(f"{practice}: cash expected from the open A/R of {fc.as_of:%Y-%m-%d} "
               f"({money(fc.open_cents)} open), {fc.options.level:.0%} range")
    for source, label in (("open A/R", "from today's open A/R"), ("all cash", "with new charges")):
        click.echo(f"  {label}:")
        for _, r in fc.summary(source=source).iterrows():
            click.echo(f"    next {r['end_day']:>2} days {money(r['expected_cents']):>12}   "
                       f"({money(r['low_cents'])} to {money(r['high_cents'])})")
    if by:
        rows = fc.summary(by=by)
        key = "payer_name" if by == "payer" else "payer_class"
        wide = rows.pivot_table(index=[key, "responsibility"], columns="end_day", values="expected_cents",
                                aggfunc="sum", sort=False)
        click.echo(f"\n  by {'payer' if by == 'payer' else 'payer class'} (open A/R):")
        click.echo(f"    {'':<32} {'30 days':>12} {'60 days':>12} {'90 days':>12}")
        for (name, resp), r in wide.iterrows():
            click.echo(f"    {str(name)[:32]:<32} " + " ".join(f"{money(r[h]):>12}" for h in (30, 60, 90)))
    click.echo("\n  13 weeks (open A/R):")
    for _, r in fc.summary(kind="week").iterrows():
        click.echo(f"    week of {r['week_start']:%Y-%m-%d} {money(r['expected_cents']):>12}   "
                   f"({money(r['low_cents'])} to {money(r['high_cents'])})")
    click.echo("\n  expected write-offs: open balances not expected to be collected (by age of the balance):")
    click.echo(f"    {'age (days)':<12} {'open':>12} {'contractual':>12} {'in 120 days':>12} {'in 365 days':>12}")
    for _, r in fc.writeoffs.iterrows():
        click.echo(f"    {r['bucket']:<12} {money(r['open_cents']):>12} {money(r['contractual_cents']):>12} "
                   f"{money(r['not_collected_120_cents']):>12} {money(r['not_collected_365_cents']):>12}")


if __name__ == "__main__":  # pragma: no cover
    main()
