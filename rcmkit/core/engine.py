"""Where the metrics run: pandas (the default), DuckDB (one machine, larger than memory) or PySpark (a cluster).

The metric functions are written once, on `narwhals <https://narwhals-dev.github.io/narwhals/>`_ expressions,
and run unchanged on whichever engine holds the tables:

* a mapping of **pandas** DataFrames (what :func:`rcmkit.core.store.load_tables` returns and notebooks use); the
  metric queries over them run in `Polars <https://pola.rs>`_ (lazy, one optimized plan per query instead of a
  pandas operation per step: about 4x faster on a small practice, and multi-threaded on a large one); the tables
  stay pandas, and results come back as pandas;
* lazy **DuckDB** relations over the practice's parquet files: ``open_tables(root, practice, "duckdb")`` (any
  relations of DuckDB's default connection will do: ``duckdb.read_parquet(...)``, ``duckdb.sql(...)``);
* **PySpark** DataFrames: ``open_tables(root, practice, "spark", spark=session)``, ``root`` may be any URI
  the session reads (``s3a://bucket/rcm``, ``hdfs://...``, ``abfss://...``).

Small results (a KPI's numerator, an aging table, a payer x code table) are collected to pandas; per-claim work
stays in the engine. Rules the metric code follows, because narwhals' backends differ at their edges:

* aggregations inside ``group_by().agg()`` are plain column reductions (``nw.col(x).sum()``); derived values are
  computed with ``with_columns`` first (the pandas backend of narwhals 2.29 silently mis-aggregates a
  ``when/then`` inside ``agg``; ``tests/test_engine.py`` checks the metric code keeps to this rule);
* membership in another table's keys is a semi or anti join, never a Python list of keys;
* dates are compared with literals of the column's own type (:func:`on_or_before`, :func:`between`) so DuckDB and
  Spark prune row groups, and day differences use :func:`day_number` (Spark has no duration arithmetic);
* integer sums come back as int64 from :func:`collect` (DuckDB widens them to DECIMAL(38)).
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import narwhals as nw
import pandas as pd
import pyarrow as pa

from rcmkit.core import schema
__all__ = ["ENGINES", "engine_of", "lazy", "lazy_tables", "collect", "materialize", "held", "like", "open_tables",
           "pandas_tables", "pandas_table", "day_number", "on_or_before", "between", "date_value", "int_sum"]

ENGINES = ("pandas", "duckdb", "spark")


def engine_of(frame: Any) -> str:
    """'pandas', 'duckdb' or 'spark' for a native frame or a narwhals frame over one; 'polars' for the queries
    :func:`lazy` builds over pandas tables."""
    native = frame.to_native() if isinstance(frame, (nw.DataFrame, nw.LazyFrame)) else frame
    if isinstance(native, pd.DataFrame):
        return "pandas"
    module = type(native).__module__
    if module.startswith("polars"):
        return "polars"
    if module.startswith("duckdb"):
        return "duckdb"
    if module.startswith("pyspark"):
        return "spark"
    raise TypeError(f"tables must be pandas DataFrames, DuckDB relations or Spark DataFrames, got {type(native)}")


def lazy(frame: Any) -> nw.LazyFrame:
    """A narwhals LazyFrame over any supported native frame. A pandas DataFrame becomes a Polars LazyFrame (through
    arrow, when this is called): the query runs in Polars and :func:`collect` returns pandas. A frame changed in
    place afterwards needs a new call (prepared tables never change: :func:`lazy_tables` converts them once)."""
    if isinstance(frame, nw.LazyFrame):
        return frame
    if isinstance(frame, nw.DataFrame):
        return frame.lazy()
    if isinstance(frame, pd.DataFrame):
        return nw.from_native(_polars(frame).lazy())
    wrapped = nw.from_native(frame)
    return wrapped.lazy() if isinstance(wrapped, nw.DataFrame) else wrapped


def _polars(df: pd.DataFrame):
    import polars as pl

    return pl.from_arrow(pa.Table.from_pandas(df, preserve_index=False))


def lazy_tables(tables: Mapping[str, Any], names: Iterable[str]) -> dict[str, nw.LazyFrame]:
    """The named tables as LazyFrames; a table missing from ``tables`` is the canonical empty table, in the
    engine of the others. Tables that promise never to change (a ``memo`` method: prepared tables) are
    converted once."""
    names = list(names)
    memo = getattr(tables, "memo", None)
    convert = (lambda n: memo(("lazy", n), lambda: lazy(tables[n]))) if memo is not None else (
        lambda n: lazy(tables[n]))
    # prepared tables say whether they hold a table without collecting it (tables collected on demand)
    holds = getattr(tables, "holds", None) or (lambda n: n in tables and tables[n] is not None)
    present = {n: convert(n) for n in names if holds(n)}
    if len(present) < len(names):
        if present:
            template = next(iter(present.values()))
        else:
            others = [v for v in tables.values() if v is not None]
            template = lazy(others[0]) if others else None
        for n in names:
            if n not in present:
                empty = schema.empty(n)
                present[n] = like(empty, template) if template is not None else lazy(empty)
    return present


def _canonical_arrow(table: pa.Table) -> pa.Table:
    """``table`` with dates as timestamp[ns] and whole decimals as int64 (other decimals float64): the types
    :func:`collect` returns in pandas."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_date(t):
            t = pa.timestamp("ns")
        elif pa.types.is_decimal(t):
            t = pa.int64() if t.scale == 0 else pa.float64()
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas in the canonical dtypes: dates as datetime64[ns], whole decimals as int64."""
    return _canonical_arrow(table).to_pandas()


def collect(frame: nw.LazyFrame | nw.DataFrame) -> pd.DataFrame:
    """Run a lazy query and return its result as a pandas DataFrame in canonical dtypes (pandas-backed frames
    are returned as they are, without a copy through arrow)."""
    if engine_of(frame) == "pandas":
        native = frame.collect().to_native() if isinstance(frame, nw.LazyFrame) else frame.to_native()
        return native.reset_index(drop=True)
    result = _run(frame, "pyarrow") if isinstance(frame, nw.LazyFrame) else frame
    return _to_pandas(result.to_native())


#: Polars' engine for the queries over pandas tables: the in-memory one. Polars' default (streaming) costs about
#: 2 ms more per query on the small frames of a practice, a selection of the explorer or a test (the queries of a
#: report or an explorer change are many and small), and measured on the 1 M-line practice's report model it
#: took as much CPU (22.9 s streaming, 23.8 s in-memory) for less memory (peak 2.76 against 2.56 GiB).
POLARS_ENGINE = "in-memory"


def _run(frame: nw.LazyFrame, backend: str | None = None) -> nw.DataFrame:
    """``frame.collect(backend)``, on :data:`POLARS_ENGINE` when Polars runs it."""
    if engine_of(frame) == "polars":
        return frame.collect(backend, engine=POLARS_ENGINE)
    return frame.collect(backend)


def like(df: pd.DataFrame, template: nw.LazyFrame) -> nw.LazyFrame:
    """A small pandas frame (a crosswalk, a rebuilt ledger) as a LazyFrame of ``template``'s engine, so the two
    can be joined."""
    kind = engine_of(template)
    if kind in ("pandas", "polars"):
        return lazy(df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.cast(pa.schema([pa.field(f.name, pa.date32() if pa.types.is_timestamp(f.type) else f.type)
                                  for f in table.schema]))
    if kind == "duckdb":
        import duckdb

        return lazy(duckdb.from_arrow(table))
    return lazy(template.to_native().sparkSession.createDataFrame(table))  # Spark 4 takes arrow tables


def materialize(frame: nw.LazyFrame) -> nw.LazyFrame:
    """Compute a lazy intermediate once (per-claim first adjudications, say) so the metrics that reuse it do
    not recompute it: pandas frames already are; DuckDB results move to an in-memory arrow table; Spark
    results are cached."""
    kind = engine_of(frame)
    if kind == "pandas":
        return frame
    if kind == "polars":
        return _run(frame).lazy()
    if kind == "duckdb":
        import duckdb

        return lazy(duckdb.from_arrow(frame.collect(backend="pyarrow").to_native()))
    return lazy(frame.to_native().cache())


def held(frame: nw.LazyFrame) -> nw.LazyFrame:
    """An intermediate that many queries read, computed once where the data is in memory (pandas tables, run in
    Polars: the result is small next to the tables and recomputing it would cost a full pass per query), left a
    query on DuckDB and Spark (which plan it into each query that reads it, where materializing it can cost more
    than the queries themselves; :meth:`rcmkit.metrics.Prepared.pin` computes it once for a caller that knows many
    queries will read it)."""
    return materialize(frame) if engine_of(frame) in ("pandas", "polars") else frame


def pandas_tables(tables: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Every table as a pandas DataFrame in canonical dtypes (lazy tables are collected). For the few metrics
    that are computed in pandas only (work lists, scorecards): they read one practice at a time. A lazy engine's
    result goes from arrow to the canonical pandas form in one conversion, one table at a time."""
    return {name: pandas_table(name, frame) for name, frame in tables.items()}  # one table at a time


def pandas_table(name: str, frame: Any) -> pd.DataFrame | None:
    """One table of :func:`pandas_tables`: ``frame`` (table ``name``) as a pandas DataFrame in canonical dtypes;
    a pandas frame (or None) is returned as it is."""
    if frame is None or isinstance(frame, pd.DataFrame):
        return frame
    query = lazy(frame)
    if name not in schema.TABLES:
        return collect(query)
    table = _canonical_arrow(_run(query, "pyarrow").to_native())
    return schema.from_arrow(name, table.select([c for c in schema.TABLES[name].names if c in table.column_names]))


def open_tables(root: str | os.PathLike, practice: str, engine: str = "pandas", *,
                names: Iterable[str] | None = None, columns: Mapping[str, Iterable[str]] | None = None,
                spark: Any = None, version: int | None = None) -> dict[str, Any]:
    """A practice's canonical tables on an engine, all of one store snapshot (the newest, or ``version``:
    :func:`rcmkit.core.store.snapshot_id`): pandas DataFrames (read now), DuckDB relations or Spark DataFrames
    (lazy scans of the parquet files of each table's Delta version in that snapshot,
    :func:`rcmkit.core.store.committed_paths`: files of a version never change, so later commits do not change
    what they read; dated tables are partitioned by month).

    ``names``: the tables to open (default: all). ``columns``: per table, the columns pandas reads (e.g.
    :data:`rcmkit.metrics.SUITE_COLUMNS`: what :func:`rcmkit.metrics.kpi_suite` needs; the lazy engines read
    only what a query uses anyway). ``spark``: the SparkSession to use (default: the active one, or a local
    one). Spark reads through the Delta connector (``format("delta")`` with ``versionAsOf``) when the session
    has Delta's SQL extension configured, otherwise through the snapshot's file list (``read.parquet(*files)``).
    DuckDB runs on its default connection (the small frames rcmkit joins in, and its intermediate results,
    live there too): configure it with ``duckdb.default_connection().execute("SET memory_limit = '4GB'")``.
    A table the practice does not have is left out.
    """
    from rcmkit.core import store

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    names = list(names) if names is not None else list(schema.TABLES)
    if engine == "pandas":
        snap = store.manifest(root, practice, version)
        present = [n for n in names if n in snap["tables"]]
        return store.load_tables(root, practice, present, required=False, columns=columns,
                                 version=snap["snapshot"] if snap["tables"] else None)
    remote = "://" in str(root)
    if engine == "spark":
        import warnings

        # pyspark 4.x warns about pandas 3 wherever it checks the version; rcmkit hands Spark arrow tables
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        session = spark or _spark_session()
        if remote and not _has_delta_connector(session):
            raise ValueError("a data root on remote storage is read through Spark's Delta connector (delta-spark): "
                             "configure the session with io.delta.sql.DeltaSparkSessionExtension (see README, Spark)")
        if _has_delta_connector(session):
            base = f"{str(root).rstrip('/')}/{store.practice_dir('.', practice).name}"
            snap = _spark_snapshot(session, base, version) if remote else store.manifest(root, practice, version)
            return {n: session.read.format("delta").option("versionAsOf", snap["tables"][n]["version"])
                    .load(f"{base}/{store.TABLES_DIR}/{n}").select(*schema.TABLES[n].names)
                    for n in names if n in snap["tables"]}
    snap = store.manifest(root, practice, version)
    paths = store.committed_paths(root, practice, names, version=snap["snapshot"] if snap["tables"] else None)
    out = {}
    for n, files in paths.items():
        wanted = schema.TABLES[n].names
        empty = schema.to_arrow(n, schema.empty(n))
        if engine == "duckdb":
            import duckdb

            con = duckdb.default_connection()
            if not files:
                out[n] = con.from_arrow(empty)
                continue
            rel = con.read_parquet([str(f) for f in files], hive_partitioning=False, union_by_name=True)
            # a column added to the schema after these files were written (a store from an older rcmkit)
            # reads as typed NULLs, as the pandas loader gives it
            canonical = con.from_arrow(empty)
            types = dict(zip(canonical.columns, canonical.types))
            out[n] = rel.select(*[c if c in rel.columns else duckdb.SQLExpression(
                f'CAST(NULL AS {types[c]}) AS "{c}"') for c in wanted])
        else:
            if not files:
                out[n] = session.createDataFrame(empty)
                continue
            from pyspark.sql import functions as F

            frame = session.read.parquet(*[str(f) for f in files])
            kinds = dict(session.createDataFrame(empty).dtypes)
            out[n] = frame.select(*[c if c in frame.columns else F.lit(None).cast(kinds[c]).alias(c)
                                    for c in wanted])
    return out


def _spark_snapshot(session, base: str, version: int | None) -> dict:
    """The practice's newest snapshot (or ``version``) read through Spark from remote storage."""
    import json

    from pyspark.sql.functions import input_file_name

    rows = (session.read.text(f"{base}/_snapshots/*.json", wholetext=True)
            .withColumn("path", input_file_name()).collect())
    snaps = {int(r["path"].rsplit("/", 1)[-1].split(".")[0]): r["value"] for r in rows}
    if not snaps or (version is not None and version not in snaps):
        raise ValueError(f"{base}: no store snapshot {version if version is not None else ''}".rstrip())
    return json.loads(snaps[max(snaps) if version is None else version])


def _has_delta_connector(session) -> bool:
    """True when the Spark session has Delta Lake's SQL extension (the delta-spark package) configured."""
    try:
        return "DeltaSparkSessionExtension" in (session.conf.get("spark.sql.extensions", "") or "")
    except Exception:  # a session without that setting
        return False


def _spark_session():
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (SparkSession.builder.master("local[2]").appName("rcmkit")
            .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false").getOrCreate())


# -- expressions ------------------------------------------------------------------------------------------------

def day_number(expr: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 of a date expression, by integer arithmetic on year and day of year (proleptic
    Gregorian), so differences of dates work on every engine."""
    y = expr.dt.year().cast(nw.Int64)
    return ((y - 1970) * 365 + (y - 1969) // 4 - (y - 1901) // 100 + (y - 1601) // 400
            + expr.dt.ordinal_day().cast(nw.Int64) - 1)


def date_value(frame: nw.LazyFrame, column: str, when: pd.Timestamp | str) -> nw.Expr:
    """A literal of ``when`` in the type of ``frame[column]`` (a date on DuckDB/Spark, a datetime on pandas)."""
    ts = pd.Timestamp(when)
    if frame.collect_schema()[column] == nw.Date:
        return nw.lit(ts.date(), nw.Date)
    return nw.lit(ts.to_pydatetime())


def on_or_before(frame: nw.LazyFrame, column: str, when) -> nw.Expr:
    return nw.col(column) <= date_value(frame, column, when)


def between(frame: nw.LazyFrame, column: str, start, end) -> nw.Expr:
    """``start <= column <= end`` (both inclusive)."""
    return (nw.col(column) >= date_value(frame, column, start)) & (nw.col(column) <= date_value(frame, column, end))


def int_sum(column: str, alias: str | None = None) -> nw.Expr:
    """Sum of an integer column (a plain reduction, so pandas group-bys stay on their fast path; DuckDB's
    DECIMAL(38) sums come back as int64 from :func:`collect`)."""
    return nw.col(column).sum().alias(alias or column)

