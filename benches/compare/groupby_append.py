#!/usr/bin/env python3
"""promodb vs DuckDB vs ClickHouse (chDB), side by side on one machine.

1. GROUP BY: `SELECT channel, count(*), sum(amount) FROM orders GROUP BY channel` over an
   in-memory `orders` table loaded from one generated Parquet file (loading not timed).
   DuckDB and chDB: 1 warm-up, then 5 timed runs interleaved engine by engine, median.
   promodb: its CLI with `--timing --repeat 6` (median of 6, loading excluded).
   All engines must return the same rows before any time is reported.
2. Append: 10k-row Arrow batches of `user_events` into an in-memory table of DuckDB and of
   chDB, one INSERT per batch, in rows/s. promodb's append figure comes from its criterion
   bench (`cargo bench -p promodb-benches --bench ingest`), not from this script.

Usage: run.sh (creates the venv), or directly with the venv's python:
    ROWS=1000000 python groupby_append.py --out /tmp/result.md
Env: ROWS (orders rows, default 10,000,000), APPEND_ROWS (user_events rows, default ROWS),
PROMODB_BIN (default <repo>/target/release/promodb; the promodb part is skipped if missing).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import chdb
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from chdb.session import Session

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

QUERY = "SELECT channel, count(*), sum(amount) FROM orders GROUP BY channel"
WARMUP_RUNS = 1
TIMED_RUNS = 5
PROMODB_REPEAT = 6
APPEND_BATCH_ROWS = 10_000
SEED = 42

DAY_START_US = 1_794_355_200_000_000  # 2026-11-11T00:00:00Z
DAY_US = 86_400_000_000
CHANNELS = ["live_stream", "short_video", "search", "ads", "organic"]
EVENT_TYPES = ["view", "click", "add_to_cart", "checkout", "pay"]
REGIONS = ["east", "north", "south", "west"]

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
ORDERS_SCHEMA = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("order_id", pa.int64(), nullable=False),
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("sku_id", pa.int64(), nullable=False),
        pa.field("qty", pa.int64(), nullable=False),
        pa.field("unit_price", MONEY),
        pa.field("amount", MONEY, nullable=False),
        pa.field("channel", pa.string()),
        pa.field("campaign_id", pa.int64()),
        pa.field("region", pa.string()),
    ]
)
USER_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("session_id", pa.int64()),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("sku_id", pa.int64()),
        pa.field("channel", pa.string()),
    ]
)


def log(message: str) -> None:
    """Progress goes to stderr; the report goes to stdout and --out."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Deterministic data
# ---------------------------------------------------------------------------------------


def timestamps_over_day(n: int) -> pa.Array:
    """n increasing timestamps spread evenly over 2026-11-11 UTC."""
    return pa.array(DAY_START_US + np.arange(n, dtype=np.int64) * DAY_US // n, TS)


def money(cents: np.ndarray, nulls: np.ndarray | None = None) -> pa.Array:
    """Exact Decimal128(18,2) from integer cents (16-byte little-endian two's complement)."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension into the high word
    validity = None
    null_count = 0
    if nulls is not None:
        validity = pa.py_buffer(np.packbits(~nulls, bitorder="little"))
        null_count = int(nulls.sum())
    return pa.Array.from_buffers(
        MONEY, len(cents), [validity, pa.py_buffer(words)], null_count=null_count
    )


def pick(values: list[str], index: np.ndarray, nulls: np.ndarray | None = None) -> pa.Array:
    """Strings values[index], NULL where nulls is set."""
    return pa.array(values, pa.string()).take(pa.array(index, mask=nulls))


def generate_orders(n: int) -> pa.Table:
    rng = np.random.default_rng(SEED)
    qty = rng.integers(1, 4, n)
    price_cents = rng.integers(990, 50_990, n)
    columns = [
        timestamps_over_day(n),
        pa.array(np.arange(n, dtype=np.int64)),
        pa.array(rng.integers(0, 500_000, n)),
        pa.array(rng.integers(0, 10_000, n)),
        pa.array(qty),
        money(price_cents, nulls=rng.random(n) < 0.01),
        money(qty * price_cents),
        pick(CHANNELS, rng.integers(0, len(CHANNELS), n), nulls=rng.random(n) < 0.02),
        pa.array(rng.integers(0, 100, n), mask=rng.random(n) < 0.2),
        pick(REGIONS, rng.integers(0, len(REGIONS), n), nulls=rng.random(n) < 0.01),
    ]
    return pa.Table.from_arrays(columns, schema=ORDERS_SCHEMA)


def generate_user_events(n: int) -> pa.Table:
    rng = np.random.default_rng(SEED + 1)
    users = rng.integers(0, 500_000, n)
    columns = [
        timestamps_over_day(n),
        pa.array(users),
        pa.array(users * 4 + rng.integers(0, 4, n), mask=rng.random(n) < 0.05),
        pick(EVENT_TYPES, rng.integers(0, len(EVENT_TYPES), n)),
        pa.array(rng.integers(0, 10_000, n), mask=rng.random(n) < 0.3),
        pick(CHANNELS, rng.integers(0, len(CHANNELS), n), nulls=rng.random(n) < 0.02),
    ]
    return pa.Table.from_arrays(columns, schema=USER_EVENTS_SCHEMA)


def orders_parquet(data_dir: Path, rows: int) -> Path:
    """The orders Parquet file for `rows` rows, generated once and reused afterwards.

    The name carries rows and seed only: delete data/ after changing generate_orders.
    """
    path = data_dir / f"orders_{rows}_seed{SEED}.parquet"
    if path.exists():
        log(f"reusing {path}")
        return path
    log(f"generating {rows:,} orders rows into {path}")
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(generate_orders(rows), partial)
    partial.rename(path)
    return path


# ---------------------------------------------------------------------------------------
# Schemas as DDL
# ---------------------------------------------------------------------------------------


def duckdb_type(field: pa.Field) -> str:
    base = {TS: "TIMESTAMPTZ", pa.int64(): "BIGINT", MONEY: "DECIMAL(18,2)", pa.string(): "VARCHAR"}
    return base[field.type] + ("" if field.nullable else " NOT NULL")


def clickhouse_type(field: pa.Field) -> str:
    base = {TS: "DateTime64(6, 'UTC')", pa.int64(): "Int64", MONEY: "Decimal(18, 2)", pa.string(): "String"}
    return f"Nullable({base[field.type]})" if field.nullable else base[field.type]


def create_table(name: str, schema: pa.Schema, column_type, suffix: str = "") -> str:
    columns = ", ".join(f"{f.name} {column_type(f)}" for f in schema)
    return f"CREATE TABLE {name} ({columns}){suffix}"


# ---------------------------------------------------------------------------------------
# GROUP BY
# ---------------------------------------------------------------------------------------

# One result row, engine-independent: (channel or None, count, sum as a 2-decimal string).
Row = tuple[str | None, int, str]


def normalize(rows) -> list[Row]:
    """Rows sorted by channel (NULL first), sums as plain decimal strings like 12.30.

    DuckDB and chDB give sums as Decimal (which keeps its scale), promodb as CSV text.
    """
    def as_text(value) -> str:
        return format(value, "f") if isinstance(value, Decimal) else value

    out = [(channel, int(count), as_text(total)) for channel, count, total in rows]
    return sorted(out, key=lambda r: (r[0] is not None, r[0] or ""))


class DuckDBOrders:
    name = "DuckDB"

    def __init__(self, parquet: Path):
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"CREATE TABLE orders AS SELECT * FROM read_parquet('{parquet}')")

    def threads(self) -> str:
        return str(self.con.execute("SELECT current_setting('threads')").fetchone()[0])

    def query(self) -> list[tuple]:
        return self.con.execute(QUERY).fetchall()

    def close(self) -> None:
        self.con.close()


class ChdbOrders:
    name = "ClickHouse (chDB)"

    def __init__(self, session: Session, parquet: Path):
        # Explicit DDL keeps Decimal(18, 2), String and DateTime64(6, 'UTC') whatever
        # schema inference would pick for the Parquet columns.
        self.session = session
        session.query(create_table("orders", ORDERS_SCHEMA, clickhouse_type, " ENGINE = Memory"))
        session.query(f"INSERT INTO orders SELECT * FROM file('{parquet}', Parquet)")

    def threads(self) -> str:
        return self.session.query("SELECT getSetting('max_threads')", "TSV").bytes().decode().strip()

    def query(self) -> list[tuple]:
        result = self.session.query(QUERY, "ArrowTable")
        return list(zip(*(column.to_pylist() for column in result.columns)))

    def close(self) -> None:
        self.session.query("DROP TABLE orders")


@dataclass
class PromodbRun:
    version: str
    median_ms: float
    rows: list[Row]


def promodb_binary() -> Path:
    return Path(os.environ.get("PROMODB_BIN", REPO / "target" / "release" / "promodb"))


def run_promodb(binary: Path, parquet: Path) -> PromodbRun:
    """One CLI run: loads the Parquet, runs QUERY PROMODB_REPEAT times, prints the median."""
    command = [
        str(binary), "sql", "--load", f"orders={parquet}", "--timing",
        "--repeat", str(PROMODB_REPEAT), "--format", "csv", QUERY,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"promodb failed ({done.returncode}): {done.stderr.strip()}")
    times = re.findall(r"^time: ([0-9.]+) ms$", done.stderr, flags=re.MULTILINE)
    if len(times) != 1:
        sys.exit(f"expected one 'time: <ms> ms' line from promodb, got stderr:\n{done.stderr}")
    records = list(csv.reader(io.StringIO(done.stdout)))[1:]  # skip the header
    rows = normalize((c or None, n, s) for c, n, s in records)  # empty field = NULL
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout
    return PromodbRun(version.strip(), float(times[0]), rows)


def check_same_rows(results: dict[str, list[Row]]) -> None:
    """Exits with a diff unless every engine returned exactly the same rows."""
    (ref_name, ref_rows), *others = results.items()
    for name, rows in others:
        if rows != ref_rows:
            sys.exit(f"result mismatch:\n  {ref_name}: {ref_rows}\n  {name}: {rows}")
    log(f"results match across {', '.join(results)}: {ref_rows}")


def median_ms_interleaved(engines) -> dict[str, float]:
    """WARMUP_RUNS untimed then TIMED_RUNS timed runs per engine, one engine after another."""
    times: dict[str, list[float]] = {engine.name: [] for engine in engines}
    for run in range(WARMUP_RUNS + TIMED_RUNS):
        for engine in engines:
            started = time.perf_counter()
            engine.query()
            elapsed_ms = (time.perf_counter() - started) * 1e3
            if run >= WARMUP_RUNS:
                times[engine.name].append(elapsed_ms)
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass
class GroupByResult:
    medians_ms: dict[str, float]  # engine name -> median ms, promodb first when it ran
    threads: dict[str, str]
    promodb_version: str | None
    promodb_note: str | None  # why promodb was skipped


def bench_group_by(session: Session, parquet: Path) -> GroupByResult:
    binary = promodb_binary()
    promodb = None
    note = None
    if binary.is_file() and os.access(binary, os.X_OK):
        log(f"promodb: {binary}")
        promodb = run_promodb(binary, parquet)
    else:
        note = f"PROMODB_BIN not found at {binary}: promodb skipped (build: cargo build --release -p promodb-cli)"
        log(note)

    log("loading orders into DuckDB and chDB")
    engines = [DuckDBOrders(parquet), ChdbOrders(session, parquet)]
    try:
        results = {"promodb": promodb.rows} if promodb else {}
        results.update({engine.name: normalize(engine.query()) for engine in engines})
        check_same_rows(results)
        medians = {"promodb": promodb.median_ms} if promodb else {}
        medians.update(median_ms_interleaved(engines))
        threads = {engine.name: engine.threads() for engine in engines}
    finally:
        for engine in engines:
            engine.close()
    return GroupByResult(medians, threads, promodb.version if promodb else None, note)


# ---------------------------------------------------------------------------------------
# Append
# ---------------------------------------------------------------------------------------


def append_duckdb(batches: list[pa.RecordBatch]) -> float:
    """Seconds to insert every batch: register it, then INSERT INTO ... SELECT."""
    con = duckdb.connect(":memory:")
    con.execute(create_table("user_events", USER_EVENTS_SCHEMA, duckdb_type))
    started = time.perf_counter()
    for batch in batches:
        con.register("batch", batch)
        con.execute("INSERT INTO user_events SELECT * FROM batch")
    elapsed = time.perf_counter() - started
    expect_count(con.execute("SELECT count(*) FROM user_events").fetchone()[0], batches)
    con.close()
    return elapsed


def arrow_stream_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def append_chdb(session: Session, batches: list[pa.RecordBatch]) -> float:
    """Seconds to insert every batch as its own `INSERT ... FORMAT ArrowStream`.

    The fastest Arrow path measured here (`INSERT ... SELECT * FROM Python(batch)` reached
    roughly half to three quarters of its rows/s). The IPC encoding is timed too. Each
    payload is a complete IPC stream: several streams appended to one INSERT abort chDB.
    """
    session.query(create_table("user_events", USER_EVENTS_SCHEMA, clickhouse_type, " ENGINE = Memory"))
    started = time.perf_counter()
    for batch in batches:
        with session.send_insert("INSERT INTO user_events", "ArrowStream") as insert:
            insert.append(arrow_stream_bytes(batch))
            insert.finish()
    elapsed = time.perf_counter() - started
    count = session.query("SELECT count() FROM user_events", "TSV").bytes().decode()
    expect_count(int(count), batches)
    session.query("DROP TABLE user_events")
    return elapsed


def expect_count(count: int, batches: list[pa.RecordBatch]) -> None:
    expected = sum(batch.num_rows for batch in batches)
    if count != expected:
        sys.exit(f"append stored {count} rows, expected {expected}")


def bench_append(session: Session, rows: int, runs: int) -> dict[str, float]:
    """Median rows/s per engine over `runs` runs, engines interleaved run by run."""
    log(f"generating {rows:,} user_events rows in {APPEND_BATCH_ROWS:,}-row batches")
    batches = generate_user_events(rows).to_batches(max_chunksize=APPEND_BATCH_ROWS)
    appenders = {
        "DuckDB": lambda: append_duckdb(batches),
        "ClickHouse (chDB)": lambda: append_chdb(session, batches),
    }
    seconds: dict[str, list[float]] = {name: [] for name in appenders}
    for run in range(runs):
        for name, append in appenders.items():
            seconds[name].append(append())
            log(f"append run {run + 1}/{runs} {name}: {rows / seconds[name][-1]:,.0f} rows/s")
    return {name: rows / statistics.median(values) for name, values in seconds.items()}


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def proc_field(path: str, key: str) -> str:
    """The first `key: value` of a /proc file, or 'unknown'."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> str:
    # Virtual machines may show a bare "AMD EPYC": family and model tell the generation.
    cpu = "{} (family {}, model {})".format(
        *(proc_field("/proc/cpuinfo", key) for key in ("model name", "cpu family", "model"))
    )
    mem_kib = proc_field("/proc/meminfo", "MemTotal").split()[0]
    mem = f"{int(mem_kib) / 2**20:.0f} GiB" if mem_kib.isdigit() else "unknown"
    nproc = len(os.sched_getaffinity(0))
    return f"{cpu}, nproc {nproc}, {mem} RAM, {platform.system()} {platform.release()}"


def ratio(promodb_ms: float | None, other_ms: float) -> str:
    return f"{promodb_ms / other_ms:.2f}" if promodb_ms is not None else "n/a"


def report(rows: int, append_rows: int, append_runs: int, group_by: GroupByResult,
           append: dict[str, float]) -> str:
    promodb_ms = group_by.medians_ms.get("promodb")
    lines = [
        "# promodb vs DuckDB vs ClickHouse (chDB): GROUP BY and append",
        "",
        f"- machine: {machine()}",
        f"- promodb: {group_by.promodb_version or 'not run'}",
        f"- DuckDB {duckdb.__version__} (threads {group_by.threads['DuckDB']})",
        f"- chDB {chdb.__version__}, ClickHouse {chdb.engine_version} "
        f"(max_threads {group_by.threads['ClickHouse (chDB)']})",
        f"- Python {platform.python_version()}, pyarrow {pa.__version__}, numpy {np.__version__}",
        "",
        "## GROUP BY",
        "",
        f"`{QUERY}` over {rows:,} in-memory `orders` rows loaded from one Parquet file "
        "(loading not timed). DuckDB and chDB: median of "
        f"{TIMED_RUNS} runs after {WARMUP_RUNS} warm-up, interleaved; promodb: median of "
        f"`--repeat {PROMODB_REPEAT}`. All engines returned the same rows (counts and "
        "sums compared exactly). Ratio > 1 means promodb is slower.",
        "",
        "| engine | median ms | promodb / engine |",
        "|---|---:|---:|",
    ]
    for name, ms in group_by.medians_ms.items():
        lines.append(f"| {name} | {ms:.1f} | {ratio(promodb_ms, ms)} |")
    if group_by.promodb_note:
        lines += ["", f"promodb: {group_by.promodb_note}."]
    lines += [
        "",
        "## Append",
        "",
        f"{append_rows:,} `user_events` rows as {APPEND_BATCH_ROWS:,}-row Arrow batches into "
        f"an in-memory table, one INSERT per batch; median of {append_runs} runs.",
        "",
        "| engine | rows/s | path |",
        "|---|---:|---|",
        f"| DuckDB | {append['DuckDB']:,.0f} | register batch, `INSERT INTO ... SELECT * FROM batch` |",
        f"| ClickHouse (chDB) | {append['ClickHouse (chDB)']:,.0f} "
        "| Memory engine, `INSERT ... FORMAT ArrowStream` per batch (IPC encoding timed) |",
        "| promodb | see criterion | `cargo bench -p promodb-benches --bench ingest` |",
        "",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    rows = int(os.environ.get("ROWS", 10_000_000))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=rows, help="orders rows (env ROWS)")
    parser.add_argument("--append-rows", type=int, default=int(os.environ.get("APPEND_ROWS", rows)),
                        help="user_events rows to append (env APPEND_ROWS, default ROWS)")
    parser.add_argument("--append-runs", type=int, default=3, help="append runs per engine (median)")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "groupby_append.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    parquet = orders_parquet(args.data_dir.resolve(), args.rows)
    with Session(":memory:") as session:
        group_by = bench_group_by(session, parquet)
        append = bench_append(session, args.append_rows, args.append_runs)
    markdown = report(args.rows, args.append_rows, args.append_runs, group_by, append)
    print(markdown)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
