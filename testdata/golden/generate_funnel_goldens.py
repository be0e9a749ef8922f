#!/usr/bin/env python3
"""Generate golden results for promodb's funnel functions from ClickHouse itself.

ClickHouse runs in-process through the `chdb` PyPI package (pinned in README.md).
The script is deterministic (fixed seed) and writes:

  testdata/fixtures/funnel/events.csv     seq,ts,mask   (window_funnel + retention input)
  testdata/fixtures/funnel/sequences.csv  seq,ts,mask   (sequence_match/count input)
  testdata/golden/window_funnel.csv       seq,steps,window,mode,level
  testdata/golden/retention.csv           seq,conds,result
  testdata/golden/sequence_match.csv      seq,pattern,match,count

Encoding of a fixture row: `mask` bit k-1 set means the row satisfies condition k,
0 is a noise row, an empty field is NULL (every condition is NULL on that row).
Condition k is evaluated in ClickHouse as `bitTest(mask, k-1)`, which is
Nullable(UInt8) because `mask` is Nullable.

A NULL result (every row of the group was NULL) is written as an empty field.

Before anything is written, the worked examples of shared/METRICS.md and the funnel
research note are asserted against the ClickHouse results, together with a few
probes of NULL handling.  Any disagreement aborts the run.

Run:  /tmp/chdb-venv/bin/python testdata/golden/generate_funnel_goldens.py
"""

from __future__ import annotations

import csv
import io
import itertools
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import chdb

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIR = ROOT / "testdata" / "fixtures" / "funnel"
GOLDEN_DIR = ROOT / "testdata" / "golden"
EVENTS_CSV = FIXTURE_DIR / "events.csv"
SEQUENCES_CSV = FIXTURE_DIR / "sequences.csv"

SEED = 20260311
EXPECTED_CHDB = "4.4.0"
EXPECTED_CLICKHOUSE = "26.9.2.1"

STEPS = (1, 2, 3, 4)
WINDOWS = (0, 1, 5, 10, 100)
RETENTION_CONDS = (2, 3, 4)  # retention() with 1 argument is an error in ClickHouse
WIDE_STEPS = 32  # evaluated only on the WIDE_SEQS sequences
SEQUENCE_CONDS = 3

# Fixed order of mode names inside a mode string.
MODE_ORDER = (
    "strict_deduplication",
    "strict_order",
    "allow_reentry",
    "strict_increase",
    "strict_once",
)

PATTERNS = (
    "(?1)",
    "(?3)",
    "(?1)(?2)",
    "(?2)(?1)",
    "(?1)(?2)(?3)",
    ".(?2)",
    "(?1).(?3)",
    "(?1)(?1)",
    "(?1).*(?2)",
    "(?3).*(?3)",
    "(?1).*(?2).*(?3)",
    "(?1).*(?1).*(?2)",
    "(?1)(?t<5)(?2)",
    "(?1)(?t<=5)(?2)",
    "(?1)(?t>5)(?2)",
    "(?1)(?t>=5)(?2)",
    "(?1)(?t==5)(?2)",
    "(?1)(?t<=1)(?2)",
    "(?1)(?t<=2)(?2)",
    "(?2)(?t>=0)(?3)",
    "(?1)(?t>=1)(?2)(?t<=10)(?3)",
    "(?1)(?t>2).*(?3)",
    "(?1).*(?t<=3)(?2)",
    "(?1)(?t<3)(?2).*(?3)",
)

# Step letters used by the hand-written cases: A, B, C, D are conditions 1..4.
A, B, C, D = 1, 2, 4, 8
NOISE = 0
NULL = None


# --------------------------------------------------------------------------- modes


def mode_combinations() -> list[tuple[str, ...]]:
    """Every valid windowFunnel mode set, each in MODE_ORDER.

    All 16 subsets of {strict_deduplication, strict_order, strict_increase,
    strict_once}, plus every subset containing strict_order with allow_reentry
    added (allow_reentry without strict_order is a ClickHouse error).
    """
    base = ("strict_deduplication", "strict_order", "strict_increase", "strict_once")
    combos = []
    for r in range(len(base) + 1):
        for subset in itertools.combinations(base, r):
            combos.append(subset)
            if "strict_order" in subset:
                combos.append(subset + ("allow_reentry",))
    ordered = [tuple(m for m in MODE_ORDER if m in c) for c in combos]
    return sorted(set(ordered), key=lambda c: (len(c), [MODE_ORDER.index(m) for m in c]))


def mode_string(modes: tuple[str, ...]) -> str:
    """The golden file's mode column: '' or comma-separated names in MODE_ORDER."""
    return ",".join(modes)


# --------------------------------------------------------------------------- fixtures


@dataclass
class Case:
    """A hand-written sequence and the results it must produce."""

    seq: int
    rows: list[tuple[int, int | None]]  # (ts, mask) in file order
    meaning: str
    wf: list[tuple[int, int, str, int | None]] = field(default_factory=list)  # steps, window, mode, level
    ret: list[tuple[int, str]] = field(default_factory=list)  # conds, result
    sm: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # pattern, match, count


def at(*events: tuple[int, int | None]) -> list[tuple[int, int | None]]:
    """Rows from (mask, ts) pairs, kept in the given (file) order."""
    return [(ts, mask) for mask, ts in events]


def seq_1_to_n(*masks: int | None) -> list[tuple[int, int | None]]:
    """Rows with the given masks at ts 1, 2, 3, ... (used where the example has no times)."""
    return [(i + 1, m) for i, m in enumerate(masks)]


def hand_funnel_cases() -> list[Case]:
    """Worked examples of METRICS.md and research section 1/2, as events.csv sequences."""
    S, SD, SO, SI, ON = "", "strict_deduplication", "strict_order", "strict_increase", "strict_once"
    RE = "strict_order,allow_reentry"
    return [
        Case(1, at((A, 0), (B, 10)), "default A@0 B@10 w10 -> 2 (bound inclusive)", wf=[(2, 10, S, 2), (3, 10, S, 2)]),
        Case(2, at((A, 0), (B, 11)), "default A@0 B@11 w10 -> 1", wf=[(2, 10, S, 1)]),
        Case(3, at((A, 0), (B, 6), (C, 12)), "default A@0 B@6 C@12 w10 -> 2 (window from A)", wf=[(3, 10, S, 2)]),
        Case(4, at((A, 0), (B, 6), (A, 8), (B, 12), (C, 15)), "default later A starts a new chain -> 3", wf=[(3, 10, S, 3)]),
        Case(5, at((A, 0), (B, 5), (A, 7), (C, 9)), "default new A keeps level 2 -> 3", wf=[(3, 10, S, 3)]),
        Case(6, at((A | B | C, 0)), "one row matching A,B,C: default 3, strict_once 1",
             wf=[(3, 10, S, 3), (3, 10, ON, 1)]),
        Case(7, at((A, 1), (NOISE, 2), (B, 3), (C, 4)), "default A D B C (D noise) w100 -> 3", wf=[(3, 100, S, 3)]),
        Case(8, at((A, 1), (C, 2), (B, 3)), "A C B: default 2, strict_order 1, strict_order+allow_reentry 2",
             wf=[(3, 100, S, 2), (3, 100, SO, 1), (3, 100, RE, 2)]),
        Case(9, at((C, 1), (B, 2), (A, 3)), "default C B A -> 1", wf=[(3, 100, S, 1)]),
        Case(10, at((B, 5), (A, 5)), "B@5 A@5 (B first in file), steps A,B -> 2 (ties by step)", wf=[(2, 10, S, 2)]),
        Case(11, at((A, 5), (B, 5)), "A@5 B@5: window 0 -> 2; strict_increase w10 -> 1",
             wf=[(2, 0, S, 2), (2, 10, SI, 1)]),
        Case(12, at((A, 5), (B, 6)), "A@5 B@6 window 0 -> 1", wf=[(2, 0, S, 1)]),
        Case(13, seq_1_to_n(A, B, C, B, D), "strict_deduplication A B C B D, steps A..D -> 3",
             wf=[(4, 100, SD, 3)]),
        Case(14, seq_1_to_n(A, B, B, C), "A B B C: strict_deduplication 2", wf=[(3, 100, SD, 2)]),
        Case(15, seq_1_to_n(A, A, B, C), "A A B C: strict_deduplication 3 (repeated step 1 restarts)",
             wf=[(3, 100, SD, 3)]),
        Case(16, seq_1_to_n(A, B, D, B), "strict_deduplication A B D B, steps A..D -> 2", wf=[(4, 100, SD, 2)]),
        Case(17, at((A, 0), (B, 1), (B, 50), (C, 51)), "strict_deduplication A@0 B@1 B@50 C@51 w10 -> 2",
             wf=[(3, 10, SD, 2)]),
        Case(18, seq_1_to_n(A, NOISE, B, C), "A D B C (D noise): strict_order 1, +allow_reentry 1",
             wf=[(3, 100, SO, 1), (3, 100, RE, 1)]),
        Case(19, seq_1_to_n(A, B, NOISE, C), "A B D C (D noise): strict_order 2", wf=[(3, 100, SO, 2)]),
        Case(20, seq_1_to_n(A, A, B, B, C, C), "A A B B C C: strict_order 3", wf=[(3, 100, SO, 3)]),
        Case(21, seq_1_to_n(A, B, A, C), "A B A C: strict_order 3", wf=[(3, 100, SO, 3)]),
        Case(22, seq_1_to_n(NOISE, A, B, C), "D A B C (D noise): strict_order 3", wf=[(3, 100, SO, 3)]),
        Case(23, at((A, 1), (B, 2), (NOISE, 2), (C, 3)), "strict_order A@1 B@2 D@2 C@3 (B before D in file) -> 1",
             wf=[(3, 100, SO, 1)]),
        Case(24, at((A, 1), (A, 2), (B, 2)), "A@1 A@2 B@2: strict_increase 1, strict_increase+strict_once 2",
             wf=[(2, 10, SI, 1), (2, 10, "strict_increase,strict_once", 2), (3, 10, SI, 1)]),
        Case(25, at((A, 1), (B, 2), (B, 3), (C, 3)), "A@1 B@2 B@3 C@3 w100: strict_increase 2, +strict_once 3",
             wf=[(3, 100, SI, 2), (3, 100, "strict_increase,strict_once", 3)]),
        Case(26, at((A | B, 100), (A | B, 200)), "X@100 X@200, steps X,X, w10 (research: w50): strict_once 1, default 2",
             wf=[(2, 10, ON, 1), (2, 10, S, 2)]),
        Case(27, at((A, 1), (B | C, 10), (B | C, 10), (B | C, 11)), "O@1 P@10 P@10 P@11, steps O,P,P: strict_once 3, strict_increase 2",
             wf=[(3, 100, ON, 3), (3, 100, SI, 2)]),
        Case(28, seq_1_to_n(A | C, B, A | C, D), "bc view bc pay, steps bc,view,bc,pay: strict_order 1, +allow_reentry 4",
             wf=[(4, 100, SO, 1), (4, 100, RE, 4)]),
        Case(29, seq_1_to_n(A, NULL, B), "A, NULL row, B: strict_order 2 (a NULL row is skipped, not noise)",
             wf=[(2, 100, SO, 2)]),
        Case(30, seq_1_to_n(A, NOISE, B), "A, noise, B: strict_order 1", wf=[(2, 100, SO, 1)]),
        Case(31, seq_1_to_n(A, B, A, C, D), "Doris dedup doc example login visit login order payment: strict_deduplication 4",
             wf=[(4, 100, SD, 4)]),
        Case(32, seq_1_to_n(NULL, NULL), "only NULL rows: every window_funnel level is NULL, retention all 0",
             wf=[(1, 10, S, None), (3, 100, SO, None)], ret=[(2, "[0,0]"), (4, "[0,0,0,0]")]),
        Case(33, seq_1_to_n(NOISE, NOISE), "only noise rows: level 0", wf=[(1, 10, S, 0), (3, 100, SO, 0)]),
        Case(34, seq_1_to_n(C, A), "retention d in {3,1} -> [1,0,1]", ret=[(3, "[1,0,1]")]),
        Case(35, seq_1_to_n(C, B), "retention d in {3,2} -> [0,0,0]", ret=[(3, "[0,0,0]")]),
    ]


def hand_sequence_cases() -> list[Case]:
    """Worked examples of research section 2, as sequences.csv sequences."""
    return [
        Case(1, seq_1_to_n(A, C, B), "1@1 3@2 2@3: (?1)(?2) 0 (3 is stored), (?1).*(?2) 1",
             sm=[("(?1)(?2)", 0, 0), ("(?1).*(?2)", 1, 1)]),
        Case(2, seq_1_to_n(A, NOISE, B), "1@1 noise@2 2@3: (?1)(?2) 1 (noise is not stored)",
             sm=[("(?1)(?2)", 1, 1)]),
        Case(3, at((A, 1), (B, 3)), "1@1 2@3: (?1)(?t<=1)(?2) 0, (?1)(?t<=2)(?2) 1",
             sm=[("(?1)(?t<=1)(?2)", 0, 0), ("(?1)(?t<=2)(?2)", 1, 1)]),
        Case(4, seq_1_to_n(A, C, B, A, C, B), "1,3,2,1,3,2: sequenceCount (?1).*(?2) = 2",
             sm=[("(?1).*(?2)", 1, 2)]),
        Case(5, seq_1_to_n(A, A, B, B), "1,1,2,2: sequenceCount (?1).*(?2) = 1", sm=[("(?1).*(?2)", 1, 1)]),
        Case(6, seq_1_to_n(A, NULL, B), "1, NULL row, 2: (?1)(?2) 1 (NULL row skipped)", sm=[("(?1)(?2)", 1, 1)]),
        Case(7, seq_1_to_n(NULL, NULL), "only NULL rows: match and count NULL", sm=[("(?1)", None, None)]),
        # Time atoms, as ClickHouse's backtracking matcher applies them: `(?a)(?t op V)(?b)`
        # is "a, then any stored events, then b with ts_b - ts_a op V"; the time atom
        # lets the match skip events, unlike `(?a)(?b)`.
        Case(8, at((A, 0), (C, 1), (B, 10)), "1@0 3@1 2@10: (?t>5) skips the 3; (?t<=5) fails on time",
             sm=[("(?1)(?t>5)(?2)", 1, 1), ("(?1)(?t>=5)(?2)", 1, 1), ("(?1)(?2)", 0, 0),
                 ("(?1)(?t<=5)(?2)", 0, 0)]),
        Case(9, at((A, 0), (C, 2), (B, 5)), "1@0 3@2 2@5: every time atom skips the 3",
             sm=[("(?1)(?t==5)(?2)", 1, 1), ("(?1)(?t<=5)(?2)", 1, 1), ("(?1)(?t<5)(?2)", 0, 0),
                 ("(?1)(?2)", 0, 0)]),
        Case(10, at((A, 0), (B, 10)), "1@0 2@10: a time atom right after .* is always true",
             sm=[("(?1).*(?t<=3)(?2)", 1, 1), ("(?1)(?t<=5)(?2)", 0, 0), ("(?1)(?t>5)(?2)", 1, 1)]),
        Case(11, at((A, 0), (B, 1), (A, 2), (B, 3), (B, 4)), "1@0 2@1 1@2 2@3 2@4: count is non-overlapping",
             sm=[("(?1)(?2)", 1, 2), ("(?1).*(?2)", 1, 2), ("(?1)(?t>=1)(?2)(?t<=10)(?3)", 0, 0)]),
    ]


def wide_cases() -> list[Case]:
    """Sequences with 32 conditions (mask bits 0..31), evaluated with steps=32."""
    rng = random.Random(SEED + 32)
    chain = [1 << k for k in range(32)]
    all_bits = (1 << 32) - 1
    shuffled = [(3 * k, m) for k, m in enumerate(chain)]
    rng.shuffle(shuffled)
    # Only the first 12 steps are doubled: ClickHouse's strict_once keeps every
    # candidate path inside the window, so k doubled steps cost ~2^k (all 32 doubled
    # did not finish in 10 minutes; 24 take 6 s).
    repeated = []
    for k, m in enumerate(chain):
        repeated += [(2 * k, m), (2 * k + 1, m)] if k < 12 else [(2 * k, m)]
        if k % 7 == 3:
            repeated.append((2 * k + 1, NOISE))
    sparse = [(rng.randint(0, 40), rng.getrandbits(32) & rng.getrandbits(32) & rng.getrandbits(32)) for _ in range(20)]
    mixed = []
    ts = 0
    for k, m in enumerate(chain):
        ts += rng.choice((0, 0, 1, 1, 2))
        mixed.append((ts, m))
        if rng.random() < 0.3:
            mixed.append((ts, rng.choice((NULL, NOISE, m | (m >> 1)))))
    return [
        Case(101, [(k, m) for k, m in enumerate(chain)], "32-step chain at ts 0..31"),
        Case(102, shuffled, "32-step chain at ts 0,3,..,93, file order shuffled"),
        Case(103, [(5, all_bits)], "one row matching all 32 conditions", wf=[(32, 10, "", 32), (32, 10, "strict_once", 1)]),
        Case(104, [(k, m) for k, m in enumerate(chain) if k != 16], "32-step chain without step 17"),
        Case(105, repeated, "32-step chain, steps 1-12 twice, some noise"),
        Case(106, sparse, "20 random rows with random 32-bit masks"),
        Case(107, [(7, m) for m in chain], "32-step chain, every row at the same ts"),
        Case(108, mixed, "32-step chain with ties, NULL, noise and two-bit rows"),
    ]


def random_ts_pattern(rng: random.Random, n: int) -> list[int]:
    """n timestamps following one of several profiles (dense ties, window boundaries, walks)."""
    profile = rng.choice(("dense", "boundary", "walk", "walk", "epoch"))
    if profile == "dense":
        base = rng.randint(0, 50)
        return [base + rng.randint(0, 6) for _ in range(n)]
    if profile == "boundary":
        base = rng.randint(0, 1000)
        offsets = (0, 0, 1, 2, 4, 5, 6, 9, 10, 11, 15, 20, 50, 99, 100, 101, 105, 110, 200)
        return [base + rng.choice(offsets) for _ in range(n)]
    base = 1_700_000_000 if profile == "epoch" else rng.randint(0, 100)
    steps = (0, 0, 0, 1, 1, 2, 3, 4, 5, 5, 6, 9, 10, 10, 11, 50, 100, 101, 1000, 1_000_000)
    out, ts = [], base
    for _ in range(n):
        ts += rng.choice(steps)
        out.append(ts)
    return out


def random_mask(rng: random.Random, p_noise: float, p_null: float, p_multi: float, weights: list[int]) -> int | None:
    """One 4-condition mask: NULL, noise, a single step (weighted) or several steps."""
    u = rng.random()
    if u < p_null:
        return NULL
    if u < p_null + p_noise:
        return NOISE
    if rng.random() < p_multi:
        mask = 0
        while bin(mask).count("1") < 2:
            mask = rng.randint(1, 15)
        return mask
    return 1 << rng.choices(range(4), weights=weights)[0]


def file_order(rng: random.Random, rows: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    """Put rows in file order: sorted by ts, shuffled, reversed, or sorted with a few swaps."""
    rows = sorted(rows, key=lambda r: r[0])
    how = rng.choice(("sorted", "shuffled", "shuffled", "reversed", "swaps"))
    if how == "shuffled":
        rng.shuffle(rows)
    elif how == "reversed":
        rows.reverse()
    elif how == "swaps" and len(rows) > 1:
        for _ in range(max(1, len(rows) // 4)):
            i, j = rng.randrange(len(rows)), rng.randrange(len(rows))
            rows[i], rows[j] = rows[j], rows[i]
    return rows


def random_funnel_sequence(rng: random.Random) -> list[tuple[int, int | None]]:
    """A random events.csv sequence of 0..20 rows over 4 conditions."""
    n = rng.choice((0, 1, 2, 3)) if rng.random() < 0.15 else rng.randint(2, 20)
    p_noise = rng.choice((0.0, 0.1, 0.3))
    p_null = rng.choice((0.0, 0.0, 0.05, 0.2))
    p_multi = rng.choice((0.0, 0.15, 0.4))
    weights = rng.choice(([1, 1, 1, 1], [4, 3, 2, 1], [2, 2, 2, 1]))
    ts = random_ts_pattern(rng, n)
    if rng.random() < 0.3:  # a funnel-like progression: masks mostly follow the time order
        ts.sort()
        level, masks = 0, []
        for _ in range(n):
            level = max(0, min(3, level + rng.choice((-1, 0, 1, 1))))
            masks.append(random_mask(rng, p_noise, p_null, p_multi, [1 if k != level else 12 for k in range(4)]))
    else:
        masks = [random_mask(rng, p_noise, p_null, p_multi, weights) for _ in range(n)]
    return file_order(rng, list(zip(ts, masks)))


def random_sequence_sequence(rng: random.Random) -> list[tuple[int, int | None]]:
    """A random sequences.csv sequence: matching rows (mask != 0, not NULL) have distinct ts.

    Noise and NULL rows are invisible to sequenceMatch, so they may share any ts.
    """
    n = rng.choice((0, 1, 2)) if rng.random() < 0.1 else rng.randint(2, 16)
    increments = rng.choice(((1, 1, 2, 2, 3, 4, 5, 5, 6, 10, 11), (1, 4, 5, 6), (1, 2, 3, 100)))
    p_multi = rng.choice((0.0, 0.15, 0.3))
    ts = rng.randint(0, 100)
    rows = []
    for _ in range(n):
        ts += rng.choice(increments)
        if rng.random() < p_multi:
            mask = rng.choice((3, 5, 6, 7))
        else:
            mask = 1 << rng.choices(range(3), weights=(3, 3, 2))[0]
        rows.append((ts, mask))
    extra = rng.choice((0, 0, 1, 2, 4))
    lo = rows[0][0] if rows else 0
    for _ in range(extra):
        rows.append((rng.randint(lo, ts + 1), rng.choice((NOISE, NOISE, NULL))))
    return file_order(rng, rows)


def build_fixtures(rng: random.Random) -> tuple[dict[int, list], dict[int, list]]:
    """All sequences of both fixtures, keyed by seq id, hand-written first."""
    events: dict[int, list] = {}
    for case in hand_funnel_cases() + wide_cases():
        events[case.seq] = case.rows
    for i in range(420):
        events[1001 + i] = random_funnel_sequence(rng)
    sequences: dict[int, list] = {}
    for case in hand_sequence_cases():
        sequences[case.seq] = case.rows
    for i in range(420):
        sequences[1001 + i] = random_sequence_sequence(rng)
    check_no_matching_ties(sequences)
    return events, sequences


def check_no_matching_ties(sequences: dict[int, list]) -> None:
    """Assert that no two rows matching some condition share a ts (sequenceMatch sorts unstably)."""
    for seq, rows in sequences.items():
        stamps = [ts for ts, mask in rows if mask]
        assert len(stamps) == len(set(stamps)), f"sequences.csv seq {seq} has tied matching rows"


def write_fixture(path: Path, seqs: dict[int, list]) -> int:
    """Write seq,ts,mask rows (NULL mask as an empty field); return the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("seq", "ts", "mask"))
        for seq, rows in seqs.items():
            for ts, mask in rows:
                w.writerow((seq, ts, "" if mask is None else mask))
                n += 1
    return n


# --------------------------------------------------------------------------- ClickHouse


def ch(sql: str) -> list[list[str | None]]:
    """Run one query in chdb (single thread, so rows are aggregated in file order)."""
    res = chdb.query(sql + " SETTINGS max_threads = 1", "CSV")
    text = res.bytes().decode()
    return [[None if v == "\\N" else v for v in row] for row in csv.reader(io.StringIO(text))]


def source(path: Path) -> str:
    """A ClickHouse table expression reading a fixture file."""
    return f"file('{path}', 'CSVWithNames', 'seq Int64, ts UInt64, mask Nullable(UInt64)')"


def conds(n: int, nullable: bool = True) -> str:
    """Condition arguments bitTest(mask, 0) .. bitTest(mask, n-1).

    ClickHouse accepts at most 8 arguments in an aggregate function with Nullable
    arguments, so wide calls use non-Nullable conditions (`nullable=False`) and must
    drop the NULL rows themselves (see NOT_NULL), which is what ClickHouse does with them.
    """
    m = "mask" if nullable else "assumeNotNull(mask)"
    return ", ".join(f"bitTest({m}, {k})" for k in range(n))


NOT_NULL = "mask IS NOT NULL"


def window_funnel_expr(window: int, modes: tuple[str, ...], steps: int, nullable: bool = True) -> str:
    """windowFunnel(window, 'mode', ...)(ts, cond1..condN); each mode is its own parameter."""
    params = "".join(f", '{m}'" for m in modes)
    return f"windowFunnel({window}{params})(ts, {conds(steps, nullable)})"


def int_or_none(v: str | None) -> int | None:
    return None if v is None else int(v)


def compute_window_funnel(path: Path, steps_list, where: str = "1", nullable: bool = True) -> dict[tuple, int | None]:
    """{(seq, steps, window, mode_string): level} for every mode combination and window."""
    out = {}
    modes = mode_combinations()
    for steps in steps_list:
        for window in WINDOWS:
            cols = ", ".join(window_funnel_expr(window, m, steps, nullable) for m in modes)
            sql = f"SELECT seq, {cols} FROM {source(path)} WHERE {where} GROUP BY seq ORDER BY seq"
            for row in ch(sql):
                seq = int(row[0])
                for m, v in zip(modes, row[1:]):
                    out[(seq, steps, window, mode_string(m))] = int_or_none(v)
    return out


def compute_retention(path: Path, conds_list, where: str = "1", nullable: bool = True) -> dict[tuple, str]:
    """{(seq, conds): '[r1,...,rN]'}."""
    out = {}
    for n in conds_list:
        sql = f"SELECT seq, toString(retention({conds(n, nullable)})) FROM {source(path)} WHERE {where} GROUP BY seq ORDER BY seq"
        for seq, result in ch(sql):
            out[(int(seq), n)] = result
    return out


def compute_sequence(path: Path) -> dict[tuple, tuple[int | None, int | None]]:
    """{(seq, pattern): (sequenceMatch, sequenceCount)} over SEQUENCE_CONDS conditions."""
    out = {}
    c = conds(SEQUENCE_CONDS)
    for pattern in PATTERNS:
        sql = (f"SELECT seq, sequenceMatch('{pattern}')(ts, {c}), sequenceCount('{pattern}')(ts, {c}) "
               f"FROM {source(path)} GROUP BY seq ORDER BY seq")
        for seq, match, count in ch(sql):
            out[(int(seq), pattern)] = (int_or_none(match), int_or_none(count))
    return out


def reversed_copy(seqs: dict[int, list], tmpdir: Path) -> Path:
    """The same fixture with every sequence's rows in reverse file order."""
    path = tmpdir / "reversed.csv"
    write_fixture(path, {s: list(reversed(r)) for s, r in seqs.items()})
    return path


def order_dependent(a: dict, b: dict) -> list:
    """Keys whose result changed when the file order of rows was reversed."""
    return sorted(k for k in a if a[k] != b.get(k))


# --------------------------------------------------------------------------- checks


def probe(sql: str) -> str:
    """One inline query's single value (or the error text)."""
    try:
        return chdb.query(sql, "CSV").bytes().decode().strip()
    except Exception as e:  # noqa: BLE001 - the error text is what we record
        return "ERROR: " + str(e).split("(", 1)[0].strip()


def check_versions() -> tuple[str, str]:
    """Return (chdb version, ClickHouse version) and insist on the pinned ones."""
    ch_version = probe("SELECT version()").strip('"')
    assert chdb.__version__ == EXPECTED_CHDB, f"chdb {chdb.__version__}, expected {EXPECTED_CHDB}"
    assert ch_version == EXPECTED_CLICKHOUSE, f"ClickHouse {ch_version}, expected {EXPECTED_CLICKHOUSE}"
    return chdb.__version__, ch_version


def check_null_semantics() -> None:
    """Assert the NULL behaviour that the goldens rely on and README.md documents."""
    nn = "values('ts UInt64, a UInt8, b Nullable(UInt8)', "
    checks = {
        # a row with a NULL in any argument is skipped whole, even its true conditions
        f"SELECT windowFunnel(10)(ts, a, b) FROM {nn}(0,1,NULL),(1,0,1))": "0",
        f"SELECT windowFunnel(10, 'strict_order')(ts, a, b) FROM {nn}(0,1,0),(1,0,NULL),(2,0,1))": "2",
        f"SELECT windowFunnel(10, 'strict_order')(ts, a, b) FROM {nn}(0,1,0),(1,0,0),(2,0,1))": "1",
        f"SELECT retention(a, b) FROM {nn}(0,1,NULL),(1,0,1))": '"[0,0]"',
        f"SELECT retention(b, a) FROM {nn}(0,1,NULL),(1,0,1))": '"[1,0]"',
        # all rows NULL: the Nullable result is NULL; retention's Array result is all zeros
        f"SELECT windowFunnel(10)(ts, b) FROM {nn}(0,1,NULL))": "\\N",
        f"SELECT sequenceCount('(?1)')(ts, b, b) FROM {nn}(0,1,NULL))": "\\N",
        f"SELECT retention(b, b) FROM {nn}(0,1,NULL))": '"[0,0]"',
        # no rows at all (no GROUP BY): NULL when an argument is Nullable, 0 otherwise
        f"SELECT windowFunnel(10)(ts, b) FROM {nn}(0,1,1)) WHERE 0": "\\N",
        f"SELECT windowFunnel(10)(ts, a) FROM {nn}(0,1,1)) WHERE 0": "0",
        # a NULL timestamp skips the row too
        "SELECT windowFunnel(10)(ts, a, b) FROM values('ts Nullable(UInt64), a UInt8, b UInt8', (0,1,0),(NULL,0,1))": "1",
        # arity and mode errors
        f"SELECT retention(a) FROM {nn}(0,1,1))": "ERROR: Code: 42. DB::Exception: Not enough event arguments for aggregate function retention.",
        f"SELECT sequenceMatch('(?1)')(ts, a) FROM {nn}(0,1,1))": "ERROR: Code: 35. DB::Exception: Aggregate function sequenceMatch requires at least 3 arguments.",
        f"SELECT windowFunnel(10, 'allow_reentry')(ts, a) FROM {nn}(0,1,1))": "ERROR: Code: 36. DB::Exception: allow_reentry option requires strict_order to be enabled in Aggregate function windowFunnel.",
        f"SELECT windowFunnel(10, 'strict')(ts, a) FROM {nn}(0,1,1))": "ERROR: Code: 36. DB::Exception: strict is replaced with strict_deduplication in Aggregate function windowFunnel.",
    }
    for sql, expected in checks.items():
        got = probe(sql)
        assert got == expected, f"{sql}\n  expected {expected!r}, ClickHouse gave {got!r}"


def check_null_filter_equivalence(nullable: dict, filtered: dict) -> None:
    """Assert that Nullable conditions give the same levels as dropping NULL rows first.

    Only groups with at least one non-NULL row can be compared: a group of NULL rows
    alone gives NULL with Nullable arguments and disappears once its rows are dropped.
    """
    for key, level in filtered.items():
        assert nullable[key] == level, f"{key}: Nullable {nullable[key]}, NULL rows dropped {level}"
    for key in set(nullable) - set(filtered):
        assert nullable[key] is None, f"{key}: group of NULL rows gave {nullable[key]}, not NULL"


def check_examples(wf: dict, ret: dict, sm: dict, cases_f: list[Case], cases_s: list[Case]) -> int:
    """Assert every expectation of the hand-written cases; return how many were checked."""
    failures, n = [], 0
    for case in cases_f:
        for steps, window, mode, level in case.wf:
            n += 1
            got = wf.get((case.seq, steps, window, mode))
            if got != level:
                failures.append(f"events seq {case.seq} ({case.meaning}) steps={steps} window={window} "
                                f"mode='{mode}': expected {level}, ClickHouse {got}")
        for n_conds, result in case.ret:
            n += 1
            got = ret.get((case.seq, n_conds))
            if got != result:
                failures.append(f"events seq {case.seq} ({case.meaning}) retention/{n_conds}: expected {result}, ClickHouse {got}")
    for case in cases_s:
        for pattern, match, count in case.sm:
            n += 1
            got = sm.get((case.seq, pattern))
            if got != (match, count):
                failures.append(f"sequences seq {case.seq} ({case.meaning}) {pattern}: expected "
                                f"({match}, {count}), ClickHouse {got}")
    assert not failures, "worked examples disagree with ClickHouse:\n" + "\n".join(failures)
    return n


# --------------------------------------------------------------------------- output


def fmt(v) -> str:
    return "" if v is None else str(v)


def write_csv(path: Path, header: tuple[str, ...], rows) -> int:
    """Write a golden CSV; return the data row count."""
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([fmt(v) for v in row])
            n += 1
    return n


def window_funnel_rows(wf: dict):
    """Rows in (seq, steps, window, mode-combination order) order."""
    order = {mode_string(m): i for i, m in enumerate(mode_combinations())}
    for key in sorted(wf, key=lambda k: (k[0], k[1], k[2], order[k[3]])):
        yield (*key, wf[key])


def main() -> int:
    chdb_version, ch_version = check_versions()
    check_null_semantics()
    rng = random.Random(SEED)
    events, sequences = build_fixtures(rng)
    n_events = write_fixture(EVENTS_CSV, events)
    n_sequences = write_fixture(SEQUENCES_CSV, sequences)

    wide = f"seq BETWEEN {min(c.seq for c in wide_cases())} AND {max(c.seq for c in wide_cases())} AND {NOT_NULL}"
    wf = compute_window_funnel(EVENTS_CSV, STEPS)
    check_null_filter_equivalence(wf, compute_window_funnel(EVENTS_CSV, STEPS, where=NOT_NULL, nullable=False))
    wf.update(compute_window_funnel(EVENTS_CSV, (WIDE_STEPS,), where=wide, nullable=False))
    ret = compute_retention(EVENTS_CSV, RETENTION_CONDS)
    ret.update(compute_retention(EVENTS_CSV, (WIDE_STEPS,), where=wide, nullable=False))
    sm = compute_sequence(SEQUENCES_CSV)

    n_checked = check_examples(wf, ret, sm, hand_funnel_cases() + wide_cases(), hand_sequence_cases())

    with tempfile.TemporaryDirectory() as tmp:
        rev = reversed_copy(events, Path(tmp))
        wf_rev = compute_window_funnel(rev, STEPS)
        wf_rev.update(compute_window_funnel(rev, (WIDE_STEPS,), where=wide, nullable=False))
        rev_s = reversed_copy(sequences, Path(tmp))
        sm_rev = compute_sequence(rev_s)
    wf_dep, sm_dep = order_dependent(wf, wf_rev), order_dependent(sm, sm_rev)

    n_wf = write_csv(GOLDEN_DIR / "window_funnel.csv", ("seq", "steps", "window", "mode", "level"),
                     window_funnel_rows(wf))
    n_ret = write_csv(GOLDEN_DIR / "retention.csv", ("seq", "conds", "result"),
                      ((s, c, ret[(s, c)]) for s, c in sorted(ret)))
    n_sm = write_csv(GOLDEN_DIR / "sequence_match.csv", ("seq", "pattern", "match", "count"),
                     ((s, p, *sm[(s, p)]) for s, p in sorted(sm, key=lambda k: (k[0], PATTERNS.index(k[1])))))

    print(f"chdb {chdb_version}, ClickHouse {ch_version}")
    print(f"events.csv: {n_events} rows, {len(events)} sequences ({sum(1 for r in events.values() if r)} non-empty)")
    print(f"sequences.csv: {n_sequences} rows, {len(sequences)} sequences ({sum(1 for r in sequences.values() if r)} non-empty)")
    print(f"window_funnel.csv: {n_wf} rows; retention.csv: {n_ret} rows; sequence_match.csv: {n_sm} rows")
    print(f"mode combinations: {len(mode_combinations())}; worked-example assertions passed: {n_checked}")
    print(f"window_funnel results that change when row file order is reversed: {len(wf_dep)}")
    for k in wf_dep[:20]:
        print("   ", k, wf[k], "->", wf_rev[k])
    print(f"sequence_match results that change when row file order is reversed: {len(sm_dep)}")
    for k in sm_dep[:20]:
        print("   ", k, sm[k], "->", sm_rev[k])
    return 0


if __name__ == "__main__":
    sys.exit(main())
