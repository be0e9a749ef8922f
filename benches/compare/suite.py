#!/usr/bin/env python3
"""promodb vs DuckDB vs ClickHouse (chDB): the war-room query suite, side by side.

Each query of suite/ is written once per engine, with the same meaning:
`suite/NN_name.promodb.sql` (DataFusion SQL and promodb's views and functions),
`NN_name.duckdb.sql` and `NN_name.clickhouse.sql`. Over one generated promo
(`promodb gen --scale N --seed 42`, cached under data/):

1. Check: every query runs in every engine and mode, and all return the same rows,
   before anything is timed; so do the queries of suite/checks/, which are never timed
   (per-user results behind aggregated suite queries, e.g. each user's funnel level).
   Rows are compared in order when the promodb query ends in an ORDER BY (the suite's
   ORDER BYs are total), sorted otherwise; DECIMALs exactly, as strings at their scale;
   floats with a relative tolerance of 1e-9; timestamps as UTC instants; a DECIMAL never
   equals a float or an integer (types are compared by kind).
2. Time, in two modes:
   - memory: DuckDB tables (CREATE TABLE AS from Parquet), chDB Memory-engine tables;
   - parquet: DuckDB views over read_parquet(), chDB views over file(..., Parquet).
   1 warm-up, then 5 timed runs, interleaved engine by engine (promodb, DuckDB, chDB,
   then again), median. DuckDB and chDB: the query plus fetching its result as an Arrow
   table (they have run it before, in the check). promodb: its CLI,
   `promodb sql --load TABLE=PATH ... --timing --run-on-each-line`, one process per
   query and mode that loads the tables and runs the query once (untimed), then runs it
   again each time the harness writes a line to its stdin and prints the time of that
   run (loading excluded); over Parquet `--attach TABLE=PATH` instead, which reads the
   files in place at each run, as DuckDB's and chDB's views do. Last year's tables and the targets,
   which are not canonical, are read with CREATE EXTERNAL TABLE and copied into memory with
   CREATE TABLE AS before the query, untimed (memory), or registered in place with
   `--table NAME=PATH` (Parquet). promodb's rows over Parquet are checked against its own
   rows in memory.
3. Peak RSS: promodb, DuckDB and chDB, each in its own process, holding every table in
   memory (load only, then after running every query once).

Usage: run.sh suite (creates the venv), or directly with the venv's python:
    SCALE=200000 python suite.py [--only REGEX] [--modes memory,parquet] [--check-only]
Env: SCALE (user_events rows of `promodb gen`, default 10,000,000), PROMODB_BIN
(default <repo>/target/release/promodb; required).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import chdb
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from chdb.session import Session

from groupby_append import (
    HERE,
    SEED,
    TIMED_RUNS,
    WARMUP_RUNS,
    log,
    machine,
    promodb_binary,
)

SUITE_DIR = HERE / "suite"
CHECKS_DIR = SUITE_DIR / "checks"  # compared like the suite's queries, never timed
ENGINES = ("promodb", "duckdb", "clickhouse")
MODES = ("memory", "parquet")
ENGINE_LABEL = {"promodb": "promodb", "duckdb": "DuckDB", "clickhouse": "ClickHouse (chDB)"}
FLOAT_REL_TOL = 1e-9

# Every table the suite may use: name -> file under the generated directory.
CANONICAL = ["orders", "user_events", "payments", "refunds", "ad_spend", "inventory",
             "tickets", "shipments", "skus"]
EXTRA = {  # not canonical: promodb gets them with CREATE EXTERNAL TABLE + CREATE TABLE AS
    "last_year_orders": "last_year/orders.parquet",
    "last_year_payments": "last_year/payments.parquet",
    "last_year_user_events": "last_year/user_events.parquet",
    "targets": "targets.parquet",
}
TABLE_FILES = {**{t: f"{t}.parquet" for t in CANONICAL}, **EXTRA}

# The canonical tables each built-in promodb view reads (crates/promodb/src/views/).
VIEW_TABLES = {
    "kpi_minute": ["orders"],
    "channel_performance": ["ad_spend", "orders", "skus"],
    "current_stock": ["inventory"],
    "stock_risk": ["orders", "inventory"],
    "stock_turn": ["inventory", "orders", "skus"],
    "stock_turn_by_category": ["inventory", "orders", "skus"],
    "payment_health": ["payments"],
    "refund_rate": ["orders", "refunds", "skus"],
    "category_mix": ["orders", "skus"],
    "funnel_by_channel": ["user_events"],
    "customer_rfm": ["orders"],
}


# ---------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------


def strip_comments_and_strings(sql: str, keep_strings: bool = False) -> str:
    """The SQL without -- and /* */ comments; string literals blanked unless keep_strings."""
    out = []
    i = 0
    while i < len(sql):
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = len(sql) if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = len(sql) if j < 0 else j + 2
            out.append(" ")
        elif sql[i] == "'":
            j = i + 1
            while j < len(sql):
                if sql[j] == "'" and sql.startswith("''", j):
                    j += 2
                elif sql[j] == "'":
                    break
                else:
                    j += 1
            out.append(sql[i:j + 1] if keep_strings else "''")
            i = j + 1
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


def has_top_level_order_by(sql: str) -> bool:
    """True when the statement ends in an ORDER BY outside any parentheses."""
    text = strip_comments_and_strings(sql)
    depth = 0
    top = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            top.append(ch)
    return re.search(r"\border\s+by\b", "".join(top), flags=re.IGNORECASE) is not None


def referenced_tables(sql: str) -> tuple[list[str], list[str]]:
    """(canonical tables, extra tables) a promodb query reads, views expanded.

    A word match on the SQL without comments and strings: a column alias named like a table
    (`... AS orders`) loads that table too, which is harmless.
    """
    words = set(re.findall(r"[a-z_][a-z0-9_]*", strip_comments_and_strings(sql).lower()))
    canonical = {t for t in CANONICAL if t in words}
    for view, tables in VIEW_TABLES.items():
        if view in words:
            canonical.update(tables)
    extra = [t for t in EXTRA if t in words]
    return [t for t in CANONICAL if t in canonical], extra


def description(sql: str) -> str:
    """The leading comment block of a query file, as one line."""
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return " ".join(lines)


@dataclass
class Query:
    name: str
    sql: dict[str, str]  # engine -> SQL text (trailing ';' removed)
    ordered: bool
    tables: list[str]  # canonical tables promodb must --load
    extra: list[str]  # non-canonical tables promodb must create

    @property
    def description(self) -> str:
        return description(self.sql["promodb"])


def load_queries(directory: Path, only: str | None) -> list[Query]:
    names = sorted({p.name.split(".")[0] for p in directory.glob("*.sql")})
    queries = []
    for name in names:
        if only and not re.search(only, name):
            continue
        sql = {}
        for engine in ENGINES:
            path = directory / f"{name}.{engine}.sql"
            if not path.exists():
                sys.exit(f"{path} is missing: every query needs one file per engine")
            sql[engine] = path.read_text().strip().rstrip(";").strip()
        tables, extra = referenced_tables(sql["promodb"])
        queries.append(Query(name, sql, has_top_level_order_by(sql["promodb"]), tables, extra))
    return queries


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


def promo_data(binary: Path, data_dir: Path, scale: int) -> tuple[Path, float | None]:
    """The generated promo's directory and the seconds spent generating it (None: reused).

    The name carries scale and seed only: delete data/ after changing the generator.
    """
    out = data_dir / f"promo_scale{scale}_seed{SEED}"
    if out.is_dir():
        log(f"reusing {out}")
        return out, None
    partial = data_dir / f"promo_scale{scale}_seed{SEED}.partial"
    if partial.exists():
        subprocess.run(["rm", "-rf", str(partial)], check=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [str(binary), "gen", "--scale", str(scale), "--seed", str(SEED), "--out", str(partial)]
    log(f"generating: {shlex.join(command)}")
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=sys.stderr)
    seconds = time.perf_counter() - started
    partial.rename(out)
    log(f"generated in {seconds:.1f} s")
    return out, seconds


def table_rows(promo: Path) -> dict[str, int]:
    return {t: pq.read_metadata(promo / f).num_rows for t, f in TABLE_FILES.items()}


# ---------------------------------------------------------------------------------------
# Result normalization
# ---------------------------------------------------------------------------------------

# A normalized cell: None, or (kind, value) with kind one of
#   "int" (int), "float" (float), "decimal" (str at its scale, e.g. "12.30"),
#   "str" (str), "bool" (bool), "ts" (int nanoseconds since the epoch, UTC).
Cell = tuple | None
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
TS_TEXT = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def datetime_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:  # a naive timestamp is read as UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return ((value - EPOCH) // dt.timedelta(microseconds=1)) * 1000


def py_cell(value) -> Cell:
    """A Python value from DuckDB (fetchall) or chDB (Arrow to_pylist), normalized."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, np.integer)):
        return ("int", int(value))
    if isinstance(value, (float, np.floating)):
        return ("float", float(value))
    if isinstance(value, Decimal):
        return ("decimal", format(value, "f"))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, dt.datetime):
        return ("ts", datetime_ns(value))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(py_cell(v) for v in value))
    return ("other", repr(value))


def promodb_cell(text: str, arrow_type: str) -> Cell:
    """A promodb CSV field, read by its Arrow type as DESCRIBE prints it."""
    if text == "":
        return None  # `--format csv` prints NULL as an empty field (no query returns '')
    if re.match(r"^U?Int(8|16|32|64)$", arrow_type):
        return ("int", int(text))
    if re.match(r"^Float(16|32|64)$", arrow_type):
        return ("float", float(text))
    decimal = re.match(r"^Decimal(?:32|64|128|256)?\((\d+), (-?\d+)\)$", arrow_type)
    if decimal:
        scale = int(decimal.group(2))
        digits = text.split(".")[1] if "." in text else ""
        if len(digits) != max(scale, 0):
            raise ValueError(f"decimal {text!r} not at scale {scale}")
        return ("decimal", text)
    if arrow_type in ("Utf8", "Utf8View", "LargeUtf8"):
        return ("str", text)
    if arrow_type == "Boolean":
        return ("bool", text == "true")
    if arrow_type.startswith("Timestamp("):
        m = TS_TEXT.match(text)
        if not m:
            raise ValueError(f"timestamp {text!r} is not RFC 3339 UTC")
        seconds = dt.datetime(*map(int, m.groups()[:6]), tzinfo=dt.timezone.utc)
        frac = (m.group(7) or "").ljust(9, "0")
        return ("ts", datetime_ns(seconds) + int(frac))
    return ("other", text)


def sort_key(row: tuple) -> tuple:
    return tuple((0,) if c is None else (1, c[0], c[1]) for c in row)


def same_cell(a: Cell, b: Cell) -> bool:
    if a is None or b is None:
        return a is b
    if a[0] != b[0]:
        return False
    if a[0] == "float":
        if math.isnan(a[1]) or math.isnan(b[1]):
            return math.isnan(a[1]) and math.isnan(b[1])
        return math.isclose(a[1], b[1], rel_tol=FLOAT_REL_TOL, abs_tol=0.0)
    if a[0] == "list":
        return len(a[1]) == len(b[1]) and all(same_cell(x, y) for x, y in zip(a[1], b[1]))
    return a[1] == b[1]


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple]  # of Cell


def compare(reference: Result, other: Result, ordered: bool) -> str | None:
    """None when equal, else a short description of the first difference."""
    if [c.lower() for c in reference.columns] != [c.lower() for c in other.columns]:
        return f"columns differ: {reference.columns} vs {other.columns}"
    ref_rows, rows = reference.rows, other.rows
    if not ordered:
        ref_rows, rows = sorted(ref_rows, key=sort_key), sorted(rows, key=sort_key)
    if len(ref_rows) != len(rows):
        return f"{len(ref_rows)} rows vs {len(rows)} rows"
    for i, (a, b) in enumerate(zip(ref_rows, rows)):
        for column, x, y in zip(reference.columns, a, b):
            if not same_cell(x, y):
                return (f"row {i}, column {column}: {x} vs {y}\n"
                        f"      reference row: {a}\n      this row:      {b}")
    return None


# ---------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------


class PromodbCli:
    name = ENGINE_LABEL["promodb"]

    def __init__(self, binary: Path, promo: Path, workdir: Path, plan_each_run: bool = False):
        self.binary = binary
        self.promo = promo
        self.workdir = workdir
        # Each timed run plans the query again (`--no-plan-cache`), as DuckDB's and
        # chDB's do, instead of reusing the plan kept from the run before.
        self.plan_each_run = plan_each_run
        self.version = subprocess.run([str(binary), "--version"], capture_output=True,
                                      text=True, check=True).stdout.strip()

    def setup_sql(self, extra: list[str], mode: str = "memory") -> str:
        """Statements making the non-canonical tables: in memory (DataFusion MemTables) in
        memory mode; none over Parquet, where `command` registers them with --table."""
        if mode != "memory":
            return ""
        statements = []
        for table in extra:
            path = self.promo / EXTRA[table]
            statements.append(
                f"CREATE EXTERNAL TABLE suite_file_{table} STORED AS PARQUET LOCATION '{path}'")
            statements.append(f"CREATE TABLE {table} AS SELECT * FROM suite_file_{table}")
        return "".join(s + ";\n" for s in statements)

    def command(self, tables: list[str], script: str, tag: str, *extra_args: str,
                mode: str = "memory", extra: list[str] | None = None) -> list[str]:
        """The CLI call: canonical `tables` loaded into memory (--load) in memory mode,
        attached and read in place (--attach) over Parquet, where the `extra` tables are
        read in place too (--table)."""
        path = self.workdir / f"{mode}_{tag.replace('/', '_')}.sql"
        path.write_text(script)
        flag = "--load" if mode == "memory" else "--attach"
        sources = [arg for t in tables for arg in (flag, f"{t}={self.promo / TABLE_FILES[t]}")]
        if mode != "memory":
            sources += [arg for t in extra or [] for arg in ("--table", f"{t}={self.promo / EXTRA[t]}")]
        return [str(self.binary), "sql", *sources, "--format", "csv", *extra_args, "--file", str(path)]

    def run(self, command: list[str]) -> subprocess.CompletedProcess:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"promodb failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"  command: {shlex.join(command)}")
        return done

    def result(self, query: Query, mode: str = "memory") -> Result:
        setup = self.setup_sql(query.extra, mode)
        described = self.run(self.command(
            query.tables,
            f"{setup}CREATE VIEW suite_result AS\n{query.sql['promodb']}\n;\nDESCRIBE suite_result",
            f"{query.name}.describe", mode=mode, extra=query.extra))
        schema = list(csv.reader(io.StringIO(described.stdout)))[1:]
        columns = [name for name, _, _ in schema]
        types = [arrow_type for _, arrow_type, _ in schema]
        done = self.run(self.command(query.tables, f"{setup}{query.sql['promodb']}", query.name,
                                     mode=mode, extra=query.extra))
        records = list(csv.reader(io.StringIO(done.stdout)))
        if records and records[0] != columns:
            raise RuntimeError(f"promodb header {records[0]} differs from DESCRIBE {columns}")
        rows = [tuple(promodb_cell(text, t) for text, t in zip(record, types))
                for record in records[1:]]
        return Result(columns, rows)

    def paced(self, query: Query, mode: str) -> "PacedPromodb":
        """A CLI process that has loaded the tables and run the query once, and runs it
        again at each `run()`."""
        setup = self.setup_sql(query.extra, mode)
        flags = ["--timing", "--run-on-each-line"] + (["--no-plan-cache"] if self.plan_each_run else [])
        command = self.command(query.tables, f"{setup}{query.sql['promodb']}", query.name,
                               *flags, mode=mode, extra=query.extra)
        statements = (2 * len(query.extra) if mode == "memory" else 0) + 1
        return PacedPromodb(command, statements)


class PacedPromodb:
    """`promodb sql --timing --run-on-each-line`: each line written to its stdin runs the
    query once more, and it prints that run's `time: <ms> ms` on stderr."""

    def __init__(self, command: list[str], statements: int):
        self.command = command
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        try:
            for _ in range(statements):  # the first run of each statement, after loading
                self.time_line()
        except BaseException:
            self.kill()
            raise

    def failure(self, what: str) -> RuntimeError:
        return RuntimeError(f"promodb {what}\n  command: {shlex.join(self.command)}")

    def time_line(self) -> float:
        line = self.process.stderr.readline()
        if not line:
            self.process.wait()
            raise self.failure(f"ended ({self.process.returncode}) instead of printing a time")
        found = re.fullmatch(r"time: ([0-9.]+) ms\n", line)
        if not found:
            raise self.failure(f"printed {line!r} instead of a time")
        return float(found.group(1))

    def run(self) -> float:
        """Runs the query once more; its ms as promodb measured them."""
        try:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self.process.wait()
            raise self.failure(f"ended ({self.process.returncode}) before a run") from None
        return self.time_line()

    def close(self) -> None:
        """Ends the process once every run is read; fails if it printed more times than
        were read (a setup statement miscounted) or did not exit cleanly."""
        self.process.stdin.close()
        rest = self.process.stderr.read()
        self.process.wait(timeout=120)
        if self.process.returncode != 0 or "time:" in rest:
            raise self.failure(f"ended ({self.process.returncode}) with {rest!r} left on stderr")

    def kill(self) -> None:
        """Stops the process after a failure, without raising over it."""
        self.process.kill()
        self.process.wait()


class DuckDBEngine:
    name = ENGINE_LABEL["duckdb"]

    def __init__(self, promo: Path, mode: str):
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        for table, file in TABLE_FILES.items():
            source = f"read_parquet('{promo / file}')"
            kind = "TABLE" if mode == "memory" else "VIEW"
            self.con.execute(f"CREATE {kind} {table} AS SELECT * FROM {source}")

    def threads(self) -> str:
        return str(self.con.execute("SELECT current_setting('threads')").fetchone()[0])

    def result(self, sql: str) -> Result:
        cursor = self.con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return Result(columns, [tuple(py_cell(v) for v in row) for row in cursor.fetchall()])

    def run(self, sql: str) -> None:
        self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.con.close()


class ChdbEngine:
    """One chDB session (a process may hold only one) with a database per mode."""

    name = ENGINE_LABEL["clickhouse"]

    def __init__(self, session: Session, promo: Path, modes: list[str]):
        self.session = session
        session.query("SET session_timezone = 'UTC'")
        for mode in modes:
            session.query(f"CREATE DATABASE IF NOT EXISTS suite_{mode}")
            for table, file in TABLE_FILES.items():
                source = f"file('{promo / file}', Parquet)"
                if mode == "memory":
                    session.query(f"CREATE TABLE suite_{mode}.{table} ENGINE = Memory "
                                  f"AS SELECT * FROM {source}")
                else:
                    session.query(f"CREATE VIEW suite_{mode}.{table} AS SELECT * FROM {source}")

    def use(self, mode: str) -> None:
        self.session.query(f"USE suite_{mode}")

    def threads(self) -> str:
        return self.session.query("SELECT getSetting('max_threads')", "TSV").bytes().decode().strip()

    def result(self, sql: str) -> Result:
        table = self.session.query(sql, "ArrowTable")
        columns = [c.to_pylist() for c in table.columns]
        rows = [tuple(py_cell(v) for v in row) for row in zip(*columns)] if columns else []
        return Result(list(table.column_names), rows)

    def run(self, sql: str) -> None:
        self.session.query(sql, "ArrowTable")

    def close(self) -> None:
        for db in ("memory", "parquet"):
            self.session.query(f"DROP DATABASE IF EXISTS suite_{db}")


# ---------------------------------------------------------------------------------------
# Check and time
# ---------------------------------------------------------------------------------------


def check(queries: list[Query], promodb: PromodbCli, duck: dict[str, DuckDBEngine],
          ch: ChdbEngine, modes: list[str]) -> tuple[dict[str, int], list[str]]:
    """Rows per query, and the failures (empty when every engine agrees everywhere)."""
    counts: dict[str, int] = {}
    failures: list[str] = []
    for query in queries:
        try:
            reference = promodb.result(query)
        except RuntimeError as error:
            failures.append(f"{query.name}: promodb: {error}")
            continue
        counts[query.name] = len(reference.rows)
        for mode in modes:
            if mode != "memory":  # promodb over the files, against promodb in memory
                try:
                    diff = compare(reference, promodb.result(query, mode), query.ordered)
                    if diff:
                        failures.append(f"{query.name}: promodb vs promodb ({mode}): {diff}")
                except RuntimeError as error:
                    failures.append(f"{query.name}: promodb ({mode}): {error}")
            ch.use(mode)
            for engine, key in ((duck[mode], "duckdb"), (ch, "clickhouse")):
                label = f"{engine.name} ({mode})"
                try:
                    result = engine.result(query.sql[key])
                except Exception as error:  # noqa: BLE001 - report and go on
                    failures.append(f"{query.name}: {label} failed: {error}")
                    continue
                diff = compare(reference, result, query.ordered)
                if diff:
                    failures.append(f"{query.name}: promodb vs {label}: {diff}")
        status = "ok" if not any(f.startswith(query.name + ":") for f in failures) else "MISMATCH"
        log(f"check {query.name}: {len(reference.rows)} rows, "
            f"{'in order' if query.ordered else 'sorted'}: {status}")
    return counts, failures


def time_query(query: Query, mode: str, promodb: PromodbCli, duck: DuckDBEngine,
               ch: ChdbEngine) -> dict[str, float]:
    """Median ms per engine for one query in one mode, the engines' runs interleaved."""
    ch.use(mode)
    paced = promodb.paced(query, mode)

    def timed(run: Callable[[], None]) -> Callable[[], float]:
        def elapsed_ms() -> float:
            started = time.perf_counter()
            run()
            return (time.perf_counter() - started) * 1e3
        return elapsed_ms

    runners = {"promodb": paced.run,
               "duckdb": timed(lambda: duck.run(query.sql["duckdb"])),
               "clickhouse": timed(lambda: ch.run(query.sql["clickhouse"]))}
    times: dict[str, list[float]] = {key: [] for key in runners}
    try:
        for run in range(WARMUP_RUNS + TIMED_RUNS):
            for key, runner in runners.items():
                elapsed_ms = runner()
                if run >= WARMUP_RUNS:
                    times[key].append(elapsed_ms)
    except BaseException:
        paced.kill()
        raise
    paced.close()
    medians = {key: statistics.median(values) for key, values in times.items()}
    log(f"time {mode} {query.name}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in medians.items()))
    return medians


# ---------------------------------------------------------------------------------------
# Peak RSS, each engine in its own process
# ---------------------------------------------------------------------------------------


def vm_hwm_mib(pid: int | str = "self") -> float | None:
    """VmHWM (peak RSS of the process's current address space) in MiB, None if unreadable.

    Not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of this Python
    process (which holds DuckDB and chDB) would report at least the parent's size.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_child(engine: str, promo: Path, queries: list[Query]) -> None:
    """Runs in a child process: prints JSON {baseline, loaded, queried} peak RSS in MiB."""
    report = {"baseline": vm_hwm_mib()}
    if engine == "duckdb":
        db = DuckDBEngine(promo, "memory")
        report["loaded"] = vm_hwm_mib()
        for query in queries:
            db.run(query.sql["duckdb"])
    else:
        with Session(":memory:") as session:
            db = ChdbEngine(session, promo, ["memory"])
            db.use("memory")
            report["loaded"] = vm_hwm_mib()
            for query in queries:
                db.run(query.sql["clickhouse"])
    report["queried"] = vm_hwm_mib()
    print(json.dumps(report))


GNU_TIME = Path("/usr/bin/time")


def promodb_peak_mib(command: list[str]) -> float:
    """Peak RSS of one promodb process, in MiB.

    With GNU time (`/usr/bin/time -f %M`): promodb is forked from the small `time` process,
    so ru_maxrss is promodb's own. Without it, VmHWM is polled every 5 ms until the process
    ends (the peak of its last few milliseconds may be missed).
    """
    if GNU_TIME.exists():
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
            done = subprocess.run([str(GNU_TIME), "-f", "%M", "-o", out.name, *command],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"promodb failed ({done.returncode}): {done.stderr.strip()}")
            return int(out.read().strip().splitlines()[-1]) / 1024
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, vm_hwm_mib(child.pid) or 0.0)
        time.sleep(0.005)
    stderr = child.stderr.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"promodb failed ({child.returncode}): {stderr.strip()}")
    return peak


def measure_rss(promodb: PromodbCli, promo: Path, queries: list[Query], only: str | None
                ) -> dict[str, dict[str, float]]:
    """Peak RSS in MiB per engine: 'baseline' (no data: promodb running `SELECT 1`, Python
    with the engines imported), 'loaded' (every table in memory) and 'queried' (after running
    every suite query once as well)."""
    every_extra = list(EXTRA)
    setup = promodb.setup_sql(every_extra)
    out = {
        "promodb": {
            "baseline": promodb_peak_mib(promodb.command([], "SELECT 1", "rss_baseline")),
            "loaded": promodb_peak_mib(promodb.command(CANONICAL, f"{setup}SELECT 1", "rss_load")),
            "queried": promodb_peak_mib(promodb.command(
                CANONICAL, setup + "".join(q.sql["promodb"] + "\n;\n" for q in queries),
                "rss_queries")),
        }
    }
    for engine in ("duckdb", "clickhouse"):
        command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", engine,
                   "--promo", str(promo)]
        if only:
            command += ["--only", only]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"RSS child {engine} failed: {done.stderr.strip()}")
        out[engine] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def mode_table(queries: list[Query], counts: dict[str, int], medians: dict[str, dict[str, float]],
               mode: str) -> tuple[list[str], float]:
    promodb_label = "promodb ms"
    lines = [
        f"| query | rows | {promodb_label} | DuckDB ms | chDB ms | promodb / DuckDB "
        "| promodb / chDB | promodb / best other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for query in queries:
        m = medians[query.name]
        best = min(m["duckdb"], m["clickhouse"])
        ratios.append(m["promodb"] / best)
        lines.append(
            f"| {query.name} | {counts[query.name]:,} | {m['promodb']:.1f} | {m['duckdb']:.1f} "
            f"| {m['clickhouse']:.1f} | {m['promodb'] / m['duckdb']:.2f} "
            f"| {m['promodb'] / m['clickhouse']:.2f} | {m['promodb'] / best:.2f} |")
    g = geomean(ratios)
    lines.append(f"| **geometric mean** | | | | | "
                 f"{geomean([medians[q.name]['promodb'] / medians[q.name]['duckdb'] for q in queries]):.2f} "
                 f"| {geomean([medians[q.name]['promodb'] / medians[q.name]['clickhouse'] for q in queries]):.2f} "
                 f"| **{g:.2f}** |")
    return lines, g


def report(args: argparse.Namespace, command: str, promo: Path, gen_seconds: float | None,
           rows: dict[str, int], promodb: PromodbCli, threads: dict[str, str],
           queries: list[Query], checks: list[Query], counts: dict[str, int],
           timings: dict[str, dict[str, dict[str, float]]],
           rss: dict[str, dict[str, float]] | None) -> str:
    generated = f"generated in {gen_seconds:.1f} s" if gen_seconds is not None else "reused from data/"
    lines = [
        "# promodb vs DuckDB vs ClickHouse (chDB): the war-room query suite",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- promodb: {promodb.version} (`{promodb.binary}`)",
        f"- DuckDB {duckdb.__version__} (threads {threads['duckdb']})",
        f"- chDB {chdb.__version__}, ClickHouse {chdb.engine_version} (max_threads {threads['clickhouse']})",
        f"- Python {platform.python_version()}, pyarrow {pa.__version__}, numpy {np.__version__}",
        f"- data: `promodb gen --scale {args.scale} --seed {SEED}` ({generated}): "
        + ", ".join(f"{t} {n:,}" for t, n in rows.items()),
        "",
        f"{len(queries)} queries (`benches/compare/suite/`), each written once per engine with "
        "the same meaning. Before anything was timed, every query returned the same rows in "
        "promodb, DuckDB and chDB, in every mode (in order where the query has an ORDER BY, "
        "sorted otherwise; DECIMALs exactly at their scale, floats to a relative 1e-9, "
        "timestamps as UTC instants), and so did the untimed per-user checks of "
        "`suite/checks/` (" + ", ".join(
            f"{q.name.split('/')[-1]}: {counts[q.name]:,} rows" for q in checks) + ").",
        "",
        f"Timing: {WARMUP_RUNS} warm-up then {TIMED_RUNS} timed runs per engine, interleaved "
        "engine by engine (promodb, DuckDB, chDB, then again), median. DuckDB and chDB: each "
        "run the query plus fetching its result as an Arrow table (they ran it before, in "
        "the check). promodb: one `promodb sql --load ... --timing --run-on-each-line` "
        "process per query and mode (`--attach` over Parquet), which loads the tables and "
        "runs the query once, untimed, then runs it again for each line the harness writes "
        "to its stdin and prints the time of that run (loading excluded). " + (
            "Each timed run plans the query again (`--no-plan-cache`), as DuckDB's and chDB's do. "
            if args.plan_each_run else
            "A run reuses the plan kept from the run before when the query may be kept "
            "(docs/query-execution.md, \"Plan cache\"); DuckDB and chDB plan each run. ")
        + "Ratio > 1 means promodb is slower; \"best other\" is the faster of DuckDB and chDB.",
        "",
    ]
    for mode in args.modes:
        table, g = mode_table(queries, counts, timings[mode], mode)
        if mode == "memory":
            lines += [
                "## In memory",
                "",
                "DuckDB: tables made with `CREATE TABLE t AS SELECT * FROM read_parquet(...)`; "
                "chDB: `ENGINE = Memory` tables filled from `file(..., Parquet)`; promodb: "
                "canonical tables loaded with `--load` (last year's orders and the targets with "
                "`CREATE EXTERNAL TABLE` + `CREATE TABLE AS`, untimed).",
                "",
            ]
        else:
            lines += [
                "## Over the Parquet files",
                "",
                "Every engine reads the files at each run (caching what it may, such as "
                "footers). DuckDB: views over "
                "`read_parquet(...)`; chDB: views over `file(..., Parquet)`; promodb: canonical "
                "tables attached with `--attach` (read in place), last year's tables and the "
                "targets registered with `--table`.",
                "",
            ]
        lines += table
        lines += ["", f"Geometric mean of promodb / best other ({mode}): **{g:.2f}**.", ""]
    if rss:
        lines += [
            "## Peak RSS holding every table in memory",
            "",
            "Each engine in its own process, all suite tables in memory (promodb: every canonical "
            "table with `--load`, plus last year's tables and the targets with `CREATE TABLE "
            "AS`; DuckDB: `CREATE TABLE AS`; chDB: Memory tables). Peak RSS after "
            "loading, and after running every suite query once: promodb's by `/usr/bin/time -f "
            "%M` around the CLI, DuckDB's and chDB's as VmHWM of their own process. DuckDB and "
            "chDB run inside Python: their baseline is the Python process with both engines "
            "imported, before any data; promodb's is the CLI running `SELECT 1` without data. "
            "Parquet size on disk: " + f"{sum((promo / f).stat().st_size for f in TABLE_FILES.values()) / 2**20:.0f} MiB.",
            "",
            "| engine | baseline MiB | peak after load MiB | peak after queries MiB "
            "| load - baseline MiB | queries - baseline MiB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key in ENGINES:
            r = rss[key]
            lines.append(f"| {ENGINE_LABEL[key]} | {r['baseline']:.0f} | {r['loaded']:.0f} "
                         f"| {r['queried']:.0f} | {r['loaded'] - r['baseline']:.0f} "
                         f"| {r['queried'] - r['baseline']:.0f} |")
        lines.append("")
    lines += ["## Queries", "", "| query | what it answers |", "|---|---|"]
    lines += [f"| {q.name} | {q.description} |" for q in queries]
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=int(os.environ.get("SCALE", 10_000_000)),
                        help="`promodb gen --scale` (env SCALE, default 10,000,000)")
    parser.add_argument("--only", help="run only the queries whose name matches this regex")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated subset of memory,parquet")
    parser.add_argument("--check-only", action="store_true", help="check results, time nothing")
    parser.add_argument("--skip-rss", action="store_true", help="do not measure peak RSS")
    parser.add_argument("--plan-each-run", action="store_true",
                        help="promodb plans the query again at each timed run (--no-plan-cache) "
                             "instead of reusing its kept plan")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "suite.md")
    parser.add_argument("--rss-child", choices=["duckdb", "clickhouse"], help=argparse.SUPPRESS)
    parser.add_argument("--promo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or any(m not in MODES for m in args.modes):
        parser.error(f"--modes takes a comma-separated subset of {','.join(MODES)}")
    return args


def main() -> None:
    args = parse_args()
    queries = load_queries(SUITE_DIR, args.only)
    if not queries:
        sys.exit(f"no query in {SUITE_DIR} matches {args.only!r}")
    checks = [replace(q, name=f"checks/{q.name}") for q in load_queries(CHECKS_DIR, args.only)]
    if args.rss_child:
        rss_child(args.rss_child, args.promo, queries)
        return

    binary = promodb_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        sys.exit(f"PROMODB_BIN not found at {binary} (build: cargo build --release -p promodb-cli)")
    command = "SCALE={} {} suite{}".format(
        args.scale, "benches/compare/run.sh",
        "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]))
    promo, gen_seconds = promo_data(binary, args.data_dir.resolve(), args.scale)
    rows = table_rows(promo)

    with tempfile.TemporaryDirectory(prefix="promodb-suite-") as workdir, \
            Session(":memory:") as session:
        promodb = PromodbCli(binary, promo, Path(workdir), args.plan_each_run)
        log(f"promodb: {binary} ({promodb.version})")
        started = time.perf_counter()
        duck = {mode: DuckDBEngine(promo, mode) for mode in args.modes}
        ch = ChdbEngine(session, promo, args.modes)
        log(f"DuckDB and chDB set up ({', '.join(args.modes)}) in {time.perf_counter() - started:.1f} s")
        threads = {"duckdb": duck[args.modes[0]].threads(), "clickhouse": ch.threads()}
        try:
            counts, failures = check(queries + checks, promodb, duck, ch, args.modes)
            if failures:
                log(f"{len(failures)} result mismatch(es); nothing timed:")
                for failure in failures:
                    log(f"  {failure}")
                sys.exit(1)
            log(f"all {len(queries)} queries return the same rows in every engine and mode")
            if args.check_only:
                return
            timings = {mode: {q.name: time_query(q, mode, promodb, duck[mode], ch)
                              for q in queries} for mode in args.modes}
        finally:
            for engine in duck.values():
                engine.close()
            ch.close()

        rss = None
        if not args.skip_rss:
            log("measuring peak RSS")
            rss = measure_rss(promodb, promo, queries, args.only)

        markdown = report(args, command, promo, gen_seconds, rows, promodb, threads, queries,
                          checks, counts, timings, rss)
    print(markdown)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
