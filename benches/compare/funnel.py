#!/usr/bin/env python3
"""promodb `window_funnel` vs ClickHouse (chDB) `windowFunnel`, side by side on one machine.

A 4-step funnel (view -> add_to_cart -> checkout -> pay, 30-minute window) per user over
the in-memory `user_events` table loaded from one generated Parquet file (loading not
timed), users counted per level:

    SELECT level, count(*) AS users FROM (SELECT user_id, window_funnel(INTERVAL
    '30 minutes', ts, event_type = 'view', ...) AS level FROM user_events GROUP BY user_id)
    GROUP BY level ORDER BY level

chDB rejects DateTime64 in windowFunnel, so its Memory table has a `ts_us UInt64` column of
microseconds, MATERIALIZED at load (not timed), and a window of 1800 * 10^6. A Memory table
measured faster than a MergeTree `ORDER BY (user_id, ts)` one here. chDB: 1 warm-up, then 5
timed runs, median; promodb: its CLI with `--timing --repeat 6` (median of 6, loading
excluded). Both engines must return the same (level, users) rows before any time is shown.

Data: ROWS events of USERS users (uniform); each user has one start time on 2026-11-11 UTC
and all of its events fall within the hour after it, so a 30-minute window often catches
several steps. Event types: view 55%, click 20%, add_to_cart 12%, checkout 7%, pay 6%.
Rows are written in time order, as an event log; seeded, cached under data/.

Usage: run.sh funnel (creates the venv), or directly with the venv's python:
    ROWS=1000000 USERS=50000 python funnel.py --out /tmp/funnel.md
Env: ROWS (default 10,000,000), USERS (default 500,000), PROMODB_BIN (default
<repo>/target/release/promodb; required here, unlike groupby_append.py).
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
from pathlib import Path

import chdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from chdb.session import Session

from groupby_append import (
    CHANNELS,
    DAY_START_US,
    DAY_US,
    EVENT_TYPES,
    HERE,
    PROMODB_REPEAT,
    SEED,
    TIMED_RUNS,
    TS,
    USER_EVENTS_SCHEMA,
    WARMUP_RUNS,
    check_same_rows,
    clickhouse_type,
    log,
    machine,
    median_ms_interleaved,
    pick,
    promodb_binary,
    ratio,
)

STEPS = ["view", "add_to_cart", "checkout", "pay"]
WINDOW_S = 30 * 60
CONDITIONS = ", ".join(f"event_type = '{step}'" for step in STEPS)
PROMODB_QUERY = (
    "SELECT level, count(*) AS users FROM (SELECT user_id, window_funnel(INTERVAL "
    f"'30 minutes', ts, {CONDITIONS}) AS level FROM user_events GROUP BY user_id) "
    "GROUP BY level ORDER BY level"
)
CHDB_QUERY = (
    "SELECT level, count() AS users FROM (SELECT user_id, windowFunnel("
    f"{WINDOW_S * 1_000_000})(ts_us, {CONDITIONS}) AS level FROM user_events GROUP BY user_id) "
    "GROUP BY level ORDER BY level"
)

EVENT_WEIGHTS = [0.55, 0.20, 0.12, 0.07, 0.06]  # in EVENT_TYPES order
ACTIVE_US = 3_600_000_000  # a user's events fall within one hour of its start

Row = tuple[int, int]  # (level, users)


# ---------------------------------------------------------------------------------------
# Deterministic data
# ---------------------------------------------------------------------------------------


def generate_funnel_events(n: int, users: int) -> pa.Table:
    """n `user_events` rows of `users` users, in time order, each user active for an hour."""
    assert EVENT_TYPES == ["view", "click", "add_to_cart", "checkout", "pay"]
    rng = np.random.default_rng(SEED + 2)
    user = rng.integers(0, users, n)
    start = rng.integers(DAY_START_US, DAY_START_US + DAY_US - ACTIVE_US, users)
    ts = start[user] + rng.integers(0, ACTIVE_US, n)
    order = np.argsort(ts, kind="stable")
    user, ts = user[order], ts[order]
    columns = [
        pa.array(ts, TS),
        pa.array(user),
        pa.array(user * 4 + rng.integers(0, 4, n), mask=rng.random(n) < 0.05),
        pick(EVENT_TYPES, rng.choice(len(EVENT_TYPES), n, p=EVENT_WEIGHTS)),
        pa.array(rng.integers(0, 10_000, n), mask=rng.random(n) < 0.3),
        pick(CHANNELS, rng.integers(0, len(CHANNELS), n), nulls=rng.random(n) < 0.02),
    ]
    return pa.Table.from_arrays(columns, schema=USER_EVENTS_SCHEMA)


def events_parquet(data_dir: Path, rows: int, users: int) -> tuple[Path, float | None]:
    """The Parquet file and the seconds spent generating it (None when reused).

    The name carries rows, users and seed only: delete data/ after changing the generator.
    """
    path = data_dir / f"funnel_events_{rows}_users{users}_seed{SEED}.parquet"
    if path.exists():
        log(f"reusing {path}")
        return path, None
    log(f"generating {rows:,} user_events rows of {users:,} users into {path}")
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(generate_funnel_events(rows, users), partial)
    partial.rename(path)
    seconds = time.perf_counter() - started
    log(f"generated in {seconds:.1f} s")
    return path, seconds


# ---------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------


class ChdbEvents:
    name = "ClickHouse (chDB)"

    def __init__(self, session: Session, parquet: Path):
        # Explicit DDL as in groupby_append.py, plus the microseconds windowFunnel needs,
        # computed once at INSERT.
        self.session = session
        columns = ", ".join(f"{f.name} {clickhouse_type(f)}" for f in USER_EVENTS_SCHEMA)
        session.query(
            f"CREATE TABLE user_events ({columns}, "
            "ts_us UInt64 MATERIALIZED toUInt64(toUnixTimestamp64Micro(ts))) ENGINE = Memory"
        )
        session.query(f"INSERT INTO user_events SELECT * FROM file('{parquet}', Parquet)")

    def threads(self) -> str:
        return self.session.query("SELECT getSetting('max_threads')", "TSV").bytes().decode().strip()

    def query(self) -> list[Row]:
        result = self.session.query(CHDB_QUERY, "ArrowTable")
        return [(int(level), int(users)) for level, users in zip(*(c.to_pylist() for c in result.columns))]

    def close(self) -> None:
        self.session.query("DROP TABLE user_events")


def run_promodb(binary: Path, parquet: Path) -> tuple[float, list[Row], float]:
    """Median ms of PROMODB_REPEAT runs, the rows, and the wall seconds of the whole CLI run."""
    command = [
        str(binary), "sql", "--load", f"user_events={parquet}", "--timing",
        "--repeat", str(PROMODB_REPEAT), "--format", "csv", PROMODB_QUERY,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"promodb failed ({done.returncode}): {done.stderr.strip()}")
    times = re.findall(r"^time: ([0-9.]+) ms$", done.stderr, flags=re.MULTILINE)
    if len(times) != 1:
        sys.exit(f"expected one 'time: <ms> ms' line from promodb, got stderr:\n{done.stderr}")
    records = list(csv.reader(io.StringIO(done.stdout)))[1:]  # skip the header
    return float(times[0]), [(int(level), int(users)) for level, users in records], wall


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def report(args: argparse.Namespace, gen_seconds: float | None, promodb_version: str,
           threads: str, medians: dict[str, float], rows: list[Row]) -> str:
    promodb_ms = medians["promodb"]
    generated = f"generated in {gen_seconds:.1f} s" if gen_seconds is not None else "reused from data/"
    lines = [
        "# promodb vs ClickHouse (chDB): window_funnel",
        "",
        f"- machine: {machine()}",
        f"- promodb: {promodb_version}",
        f"- chDB {chdb.__version__}, ClickHouse {chdb.engine_version} (max_threads {threads})",
        f"- Python {platform.python_version()}, pyarrow {pa.__version__}, numpy {np.__version__}",
        f"- data: {args.rows:,} `user_events` rows of {args.users:,} users, seed {SEED} ({generated})",
        "",
        f"A {len(STEPS)}-step funnel ({' -> '.join(STEPS)}, {WINDOW_S // 60}-minute window) per "
        "user, users counted per level, over the in-memory table loaded from one Parquet file "
        f"(loading not timed). chDB (Memory table, `ts_us UInt64` materialized at load): median "
        f"of {TIMED_RUNS} runs after {WARMUP_RUNS} warm-up; promodb: median of "
        f"`--repeat {PROMODB_REPEAT}`. Both returned the same rows. Ratio > 1 means promodb "
        "is slower.",
        "",
        f"promodb: `{PROMODB_QUERY}`",
        "",
        f"ClickHouse: `{CHDB_QUERY}`",
        "",
        "| engine | median ms | promodb / engine |",
        "|---|---:|---:|",
    ]
    for name, ms in medians.items():
        lines.append(f"| {name} | {ms:.1f} | {ratio(promodb_ms, ms)} |")
    lines += ["", "| level | users |", "|---:|---:|"]
    lines += [f"| {level} | {users:,} |" for level, users in rows]
    lines.append("")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 10_000_000)),
                        help="user_events rows (env ROWS)")
    parser.add_argument("--users", type=int, default=int(os.environ.get("USERS", 500_000)),
                        help="distinct users (env USERS)")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    binary = promodb_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        sys.exit(f"PROMODB_BIN not found at {binary} (build: cargo build --release -p promodb-cli)")
    parquet, gen_seconds = events_parquet(args.data_dir.resolve(), args.rows, args.users)

    log(f"promodb: {binary}")
    promodb_ms, promodb_rows, wall = run_promodb(binary, parquet)
    log(f"promodb: median {promodb_ms:.1f} ms; whole CLI run (load + {PROMODB_REPEAT} queries) {wall:.1f} s")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()

    log("loading user_events into chDB")
    with Session(":memory:") as session:
        started = time.perf_counter()
        engine = ChdbEvents(session, parquet)
        log(f"chDB load {time.perf_counter() - started:.1f} s")
        try:
            check_same_rows({"promodb": promodb_rows, engine.name: engine.query()})
            medians = {"promodb": promodb_ms, **median_ms_interleaved([engine])}
            threads = engine.threads()
        finally:
            engine.close()

    markdown = report(args, gen_seconds, version, threads, medians, promodb_rows)
    print(markdown)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
