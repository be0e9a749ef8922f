#!/usr/bin/env python3
"""Promo-aware anomaly and efficiency alerts for promodb (issue 6), prototyped and scored.

The algorithm is specified in SPEC.md next to this file; this script is its reference
implementation and its evaluation. It replays generated promos the way the Rust alert
engine will: an evaluation tick every minute of event time, each tick seeing only the rows
that have *arrived* by then (user_events arrive up to 3 minutes late, ad_spend when its
minute closes), per-minute series per key as SQL would return them, the scoring in code.

For each promo (`promodb gen --scale 300000 --seed S`, generated on demand):
  - which (rule, key) instances fire at which tick, grouped into alert episodes
    (firing -> resolved);
  - episodes matched to the labelled incidents (incidents.csv; stock_out is left to the
    stock-out forecast rule): an episode matches an incident of a kind its rule is
    exposed to (and of its key, for keyed incidents) if it overlaps [start, end + 15 min];
  - recall, precision, detection delay, alerts in the opening hour, alerts on clean promos.

Usage (with the venv of benches/compare):
    python detect.py --seeds 1 2 3 4 5                  # + clean seeds 101 102 (--incidents none)
    python detect.py --seeds 1 2 3 --clean-seeds 101 --verbose
    python detect.py --seeds 1 2 3 4 5 --out results.md # the results table as Markdown
Env / options: --data DIR (default /tmp/anomaly), --scale N (300000), --bin PATH (promodb
binary; default $PROMODB_BIN, else /root/.cache/promodb/target/release/promodb, else
<repo>/target/release/promodb). Existing data directories are reused, never regenerated.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np

# ---------------------------------------------------------------------------------------
# Parameters (SPEC.md section 3 explains each value)
# ---------------------------------------------------------------------------------------

MINUTES = 1440                      # a 24-hour promo, evaluated at ticks 1..1440
MAX_LAG = 5                         # a minute's rows are all visible 5 ticks after it starts
GRACE = 15                          # minutes after an incident's end an episode may start
PROMO_START = datetime(2026, 11, 11, tzinfo=timezone.utc)
LAST_YEAR_START = datetime(2025, 11, 11, tzinfo=timezone.utc)   # promo start - 365 days
CHANNELS = ["live_stream", "short_video", "search", "ads", "organic"]
AD_CHANNELS = ["live_stream", "short_video", "search", "ads"]   # channels with ad_spend
METHODS = ["alipay", "wechat", "card"]


@dataclass(frozen=True)
class Params:
    """One rule's parameters. Defaults are the common ones (SPEC.md 3.1)."""
    kind: str = "curve"       # "curve": count vs last year's curve; "rate": successes of
                              # trials (binomial); "benchmark": rate vs own trailing rate
    interval: int = 1         # B: minutes per interval (a sliding sum ending at the newest minute)
    longer: tuple = ()        # longer intervals tried in turn while the expected count < vmin
    window: int = 120         # W: trailing intervals for the level and the robust sigma
    min_window: int = 20      # warm-up: trailing intervals needed before any decision
    smooth: int = 2           # last year's interval sums: running median over +-smooth minutes
    a: float = 1.0            # pseudo-count in ratios
    k: float = 4.5            # |robust z| threshold
    sigma_floor: float = 1.0  # lower bound of the robust sigma (deviance units = Poisson sd)
    consec: int = 2           # consecutive breaching intervals (ticks T, T-B, ...) to fire
    resolve: int = 5          # consecutive ticks below k_resolve to resolve
    k_resolve: float = 2.0    # while firing, a tick with |z| > k_resolve (same sign) holds it
    vmin: float = 10.0        # minimum expected count in the interval (else no decision)
    settle: int = 0           # minutes a bucket waits after it closes before it is scored
    direction: str = "both"   # "both" (spike and drop) or "drop"
    min_effect: float = 0.2   # |log ratio| needed as well as |z| > k
    ref: int = 120            # benchmark rules: reference minutes before the test interval
    prior: float = 100.0      # rate rules: weight (in trials) of last year's rate in the baseline rate
    share_window: int = 30    # keyed curve rules: +-minutes over which a key's share of last
                              # year's total is measured (0: the key's own last-year series)
    guard: float = 0.5        # benchmark rules: spend in the interval >= guard x reference pace
    lag: int = 0              # benchmark rules: the trials (clicks) are taken `lag` minutes
                              # earlier than the successes (carts), the funnel step's latency
    tests: tuple = ()         # benchmark rules: (interval, k) pairs tested at every tick; the
                              # most significant, as z x k / k_test, is the score


CURVE = Params()
RULES: dict[str, Params] = {
    # total user_events per minute vs last year's
    "traffic": replace(CURVE, interval=1, longer=(2, 5), settle=1, vmin=20),
    # distinct orders per 5 minutes vs last year's
    "orders": replace(CURVE, interval=5, longer=(10, 15), vmin=10),
    # GMV per 5 minutes vs last year's, in order-equivalents (GMV / average order value)
    "gmv": replace(CURVE, interval=5, longer=(10, 15), vmin=10, direction="drop"),
    # distinct orders per channel per 5 minutes vs last year's for the channel
    "channel_orders": replace(CURVE, interval=5, longer=(10, 15), vmin=10),
    # successful payment attempts of a method vs its attempts x its trailing success rate
    "payment_success": replace(CURVE, kind="rate", interval=2, longer=(5, 10, 20), vmin=5,
                               direction="drop"),
    # efficiency: sessions adding to cart per paid click of an ad channel over the last 20
    # (strict) and 40 minutes vs the channel's own rate over the 4 hours before, while its
    # spend goes on
    "ad_conversion": replace(CURVE, kind="benchmark", tests=((20, 5.0), (40, 4.5)), lag=3,
                             ref=240, min_window=60, vmin=5, settle=1, direction="drop",
                             min_effect=float(np.log(2))),
}

# Which incident kinds move each rule's series. The first set is what the rule is built to
# catch ("primary"); the second what it sees as a consequence ("symptom"). An episode is a
# true positive if it matches an incident of either set; strict precision counts only the
# first.
EXPOSURE: dict[str, tuple[set, set]] = {
    "traffic": ({"traffic_drop"}, set()),
    "orders": (set(), {"traffic_drop", "payment_outage"}),
    "gmv": (set(), {"traffic_drop", "payment_outage"}),
    "channel_orders": ({"conversion_collapse"}, {"traffic_drop", "payment_outage"}),
    "payment_success": ({"payment_outage"}, set()),
    "ad_conversion": ({"conversion_collapse"}, set()),
}

# Inhibition (SPEC.md 3.5): a drop alert of a symptom rule does not fire while a cause
# rule's drop alert is firing or resolved less than INHIBIT_HOLD minutes ago.
CAUSE_RULES = {"traffic", "payment_success"}
SYMPTOM_RULES = {"orders", "gmv", "channel_orders"}
INHIBIT_HOLD = 30


# ---------------------------------------------------------------------------------------
# Data: per-minute series as the engine sees them at each tick
# ---------------------------------------------------------------------------------------

@dataclass
class Incident:
    kind: str
    key: str
    start: float  # minutes after promo start
    end: float


@dataclass
class Promo:
    name: str
    # series -> key -> [MAX_LAG + 1, MINUTES]: row j = what of minute m is visible at tick m + j
    cur: dict = field(default_factory=dict)
    # series -> key -> [MINUTES]: last year's promo, complete, by offset from its start
    last: dict = field(default_factory=dict)
    incidents: list = field(default_factory=list)


# Arrival time of a row: the files hold rows in arrival order but not the arrival time, so it
# is estimated as the latest ts of the rows up to it (a tight lower bound).
ARRIVAL_CUMMAX = "max(ts) OVER (ORDER BY file_row_number ROWS UNBOUNDED PRECEDING)"
ARRIVAL_AD_SPEND = "ts + INTERVAL 1 MINUTE"   # ad_spend rows arrive when their minute closes


def _load_series(con, into: dict, path: Path, start: datetime, key: str,
                 values: dict[str, str], where: str = "true", arrival: str | None = None):
    """Per (key, minute[, lag]) aggregates of one table into `into[value][key]`."""
    t0 = f"TIMESTAMPTZ '{start.isoformat()}'"
    minute = f"floor(epoch(ts - {t0}) / 60)::INT"
    vals = ", ".join(f"{expr} AS {name}" for name, expr in values.items())
    if arrival is None:   # history: complete
        sql = (f"SELECT {key} AS k, {minute} AS m, 0 AS lag, {vals} FROM read_parquet('{path}') "
               f"WHERE ({where}) AND ts >= {t0} AND ts < {t0} + INTERVAL 1 DAY GROUP BY ALL")
    else:
        lag = (f"least(greatest(ceil(epoch(arrival - {t0}) / 60)::INT - {minute}, 1), {MAX_LAG})")
        sql = (f"WITH r AS (SELECT *, {arrival} AS arrival FROM read_parquet('{path}', "
               f"file_row_number = true)) SELECT {key} AS k, {minute} AS m, {lag} AS lag, {vals} "
               f"FROM r WHERE ({where}) AND ts >= {t0} AND ts < {t0} + INTERVAL 1 DAY GROUP BY ALL")
    rows = con.sql(sql).fetchnumpy()
    for name in values:
        into.setdefault(name, {})
    for i in range(len(rows["m"])):
        k = rows["k"][i]
        k = "" if k is None or (isinstance(k, float) and np.isnan(k)) else str(k)
        m, lag = int(rows["m"][i]), int(rows["lag"][i])
        for name in values:
            v = rows[name][i]
            v = 0.0 if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)
            if arrival is None:
                into[name].setdefault(k, np.zeros(MINUTES))[m] += v
            else:
                into[name].setdefault(k, np.zeros((MAX_LAG + 1, MINUTES)))[lag:, m] += v


def load_promo(directory: Path) -> Promo:
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    d = Path(directory)
    p = Promo(d.name)
    for arrival, base, start, into in ((ARRIVAL_CUMMAX, d, PROMO_START, p.cur),
                                       (None, d / "last_year", LAST_YEAR_START, p.last)):
        ue, od, pay = base / "user_events.parquet", base / "orders.parquet", base / "payments.parquet"
        _load_series(con, into, ue, start, "''", {"events": "count(*)"}, arrival=arrival)
        _load_series(con, into, ue, start, "channel",
                     {"carts": "count(DISTINCT session_id) FILTER (WHERE event_type = 'add_to_cart')"},
                     where="channel IS NOT NULL", arrival=arrival)
        _load_series(con, into, od, start, "''",
                     {"orders": "count(DISTINCT order_id)", "gmv": "sum(amount)::DOUBLE"},
                     arrival=arrival)
        _load_series(con, into, od, start, "channel",
                     {"ch_orders": "count(DISTINCT order_id)", "ch_gmv": "sum(amount)::DOUBLE"},
                     where="channel IS NOT NULL", arrival=arrival)
        _load_series(con, into, pay, start, "method",
                     {"attempts": "count(*)",
                      "successes": "count(*) FILTER (WHERE status = 'success')"},
                     where="method IS NOT NULL", arrival=arrival)
    _load_series(con, p.cur, d / "ad_spend.parquet", PROMO_START, "channel",
                 {"ad_clicks": "sum(clicks)::DOUBLE", "ad_cost": "sum(cost)::DOUBLE"},
                 arrival=ARRIVAL_AD_SPEND)
    with open(d / "incidents.csv") as f:
        for row in csv.DictReader(f):
            s = datetime.fromisoformat(row["start"].replace("Z", "+00:00"))
            e = datetime.fromisoformat(row["end"].replace("Z", "+00:00"))
            p.incidents.append(Incident(row["kind"], row["key"],
                                        (s - PROMO_START).total_seconds() / 60,
                                        (e - PROMO_START).total_seconds() / 60))
    return p


# ---------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------

def visible(arr: np.ndarray, T: int, lo: int, hi: int) -> np.ndarray:
    """Values of minutes lo..hi (inclusive) as a query at tick T sees them."""
    if arr.ndim == 1:
        return arr[lo:hi + 1]
    m = np.arange(lo, hi + 1)
    return arr[np.clip(T - m, 0, MAX_LAG), m]


def sliding(x: np.ndarray, b: int) -> np.ndarray:
    """Sums of b consecutive values: out[i] = x[i] + ... + x[i + b - 1]."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    return c[b:] - c[:-b]


def running_median(x: np.ndarray, h: int) -> np.ndarray:
    """Centered running median over +-h, the window shrinking symmetrically at the ends."""
    n = len(x)
    out = np.empty(n)
    for i in range(n):
        r = min(h, i, n - 1 - i)
        out[i] = np.median(x[i - r:i + r + 1])
    return out


def baseline_sums(e: np.ndarray, b: int, h: int) -> np.ndarray:
    """Last year's expected interval sums, computed once per rule: out[m] = running median
    (+-h minutes) of the sums of e over [m - b + 1, m]."""
    c = np.concatenate([[0.0], np.cumsum(e)])
    m = np.arange(len(e))
    sums = c[m + 1] - c[np.maximum(m + 1 - b, 0)]
    return running_median(sums, h) if h > 0 else sums


def share(part: np.ndarray, total: np.ndarray, h: int) -> np.ndarray:
    """The part's share of the total over +-h minutes around each minute."""
    cp = np.concatenate([[0.0], np.cumsum(part)])
    ct = np.concatenate([[0.0], np.cumsum(total)])
    m = np.arange(len(part))
    lo, hi = np.maximum(m - h, 0), np.minimum(m + h + 1, len(part))
    return (cp[hi] - cp[lo]) / np.maximum(ct[hi] - ct[lo], 1e-9)


def _xlogy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / y), 0.0)


def poisson_dev(y, mu):
    """Signed root of the Poisson deviance of counts y against means mu."""
    mu = np.maximum(mu, 1e-9)
    d = 2 * (_xlogy(y, mu) - (y - mu))
    return np.sign(y - mu) * np.sqrt(np.maximum(d, 0))


def binomial_dev(y, n, pi):
    """Signed root of the binomial deviance of y successes of n trials against rate pi."""
    pi = np.clip(pi, 1e-6, 1 - 1e-6)
    d = 2 * (_xlogy(y, n * pi) + _xlogy(n - y, n * (1 - pi)))
    return np.sign(y - n * pi) * np.sqrt(np.maximum(d, 0))


@dataclass
class Score:
    z: float          # robust z (curve, rate) or signed deviance (benchmark)
    log_ratio: float  # log((actual + a) / (expected + a))
    expected: float
    actual: float
    interval: int = 1  # the interval (minutes) it was scored over


@dataclass
class Instance:
    """One (rule, key): its series and its lifecycle state."""
    rule: str
    key: str
    p: Params
    y: np.ndarray                    # numerator, [MAX_LAG + 1, MINUTES]
    e: np.ndarray                    # curve: last year's [MINUTES]; rate/benchmark: current trials
    units: tuple | None = None       # gmv: (orders this year, orders last year) for order-equivalents
    spend: np.ndarray | None = None  # benchmark: ad cost, [MAX_LAG + 1, MINUTES]
    total: np.ndarray | None = None  # keyed curve rules: last year's total over all keys
    prior_rate: float = 1.0          # rate rules: last year's rate for the key
    base: dict = field(default_factory=dict)   # curve: interval -> smoothed baseline sums
    # lifecycle
    breach: dict = field(default_factory=dict)
    zhist: dict = field(default_factory=dict)
    bhist: dict = field(default_factory=dict)
    firing: bool = False
    quiet: int = 0
    episode: dict | None = None
    last_resolved: int | None = None

    def __post_init__(self):
        if self.p.kind == "curve":
            e = self.e
            if self.total is not None and self.p.share_window > 0:   # a key: last year's total x its local share
                e = self.total * share(self.e, self.total, self.p.share_window)
            for B in (self.p.interval,) + tuple(self.p.longer):
                self.base[B] = baseline_sums(e, B, self.p.smooth)

    # -- one evaluation ------------------------------------------------------------------
    def score(self, T: int) -> Score | None:
        """The newest interval's score at tick T, with the shortest interval (of `interval`,
        then `longer`) whose expected count reaches vmin; None if none does or in warm-up.
        Benchmark rules: the most significant of their tests, z rescaled to the rule's k."""
        if self.p.kind == "benchmark":
            best = None
            for B, k_test in self.p.tests:
                s = self._score_benchmark(T, B)
                if s is None or s == "low":
                    continue
                s.z *= self.p.k / k_test
                if best is None or s.z < best.z:
                    best = s
            return best
        for B in (self.p.interval,) + tuple(self.p.longer):
            s = self._score(T, B)
            if s != "low":
                return s
        return None

    def _score(self, T: int, B: int):
        p = self.p
        b = T - 1 - p.settle                      # newest minute scored
        first = max(b - p.window - B + 1, 0)      # oldest minute needed
        have = b - first + 1 - B                  # trailing intervals available
        if b < B - 1 or (p.kind != "rate" and have < p.min_window):   # warm-up
            return None
        y = sliding(visible(self.y, T, first, b), B)          # intervals ending first+B-1 .. b
        hist = slice(0, len(y) - 1)                           # the trailing W intervals
        a = p.a
        if p.kind == "rate":
            n = sliding(visible(self.e, T, first, b), B)
            yr, nr = visible(self.y, T, first, b - B), visible(self.e, T, first, b - B)
            # pooled trailing success rate, shrunk towards last year's rate for the key
            rate = (yr.sum() + p.prior * self.prior_rate) / (nr.sum() + p.prior)
            mu = rate * n
            r = binomial_dev(y, n, rate)
        else:
            e = self.base[B][first + B - 1:b + 1].copy()
            if self.units is not None:                        # gmv -> order-equivalents
                oc, ol = self.units
                aov_c = visible(self.y, T, first, b).sum() / max(visible(oc, T, first, b).sum(), 1)
                aov_l = self.e[first:b + 1].sum() / max(ol[first:b + 1].sum(), 1)
                y, e = y / max(aov_c, 1e-9), e / max(aov_l, 1e-9)
            level = np.median((y[hist] + a) / (e[hist] + a))  # current level vs last year
            mu = level * e
            r = poisson_dev(y, mu)
        if mu[-1] < p.vmin:                                   # too little volume to judge
            return "low"
        if have >= p.min_window:
            med = np.median(r[hist])
            sigma = max(1.4826 * np.median(np.abs(r[hist] - med)), p.sigma_floor)
        else:                                                 # rate rules in warm-up
            med, sigma = 0.0, p.sigma_floor
        z = (r[-1] - med) / sigma
        return Score(float(z), float(np.log((y[-1] + a) / (mu[-1] + a))), float(mu[-1]),
                     float(y[-1]), B)

    def _score_benchmark(self, T: int, B: int):
        p = self.p
        b = T - 1 - p.settle
        first = max(b - B - p.ref + 1, 0)
        if b - B + 1 - first < p.min_window:                  # warm-up: reference too short
            return None
        y = visible(self.y, T, first, b)
        n = visible(self.e, T, first - p.lag, b - p.lag) if first >= p.lag else \
            np.concatenate([np.zeros(p.lag - first), visible(self.e, T, 0, b - p.lag)])
        yt, nt, yr, nr = y[-B:].sum(), n[-B:].sum(), y[:-B].sum(), n[:-B].sum()
        mu = nt * (yr + p.a) / (nr + p.a)
        if mu < p.vmin:
            return "low"
        if self.spend is not None:                            # spend must go on
            s = visible(self.spend, T, first, b)
            if s[-B:].sum() < p.guard * s[:-B].sum() * B / (len(s) - B):
                return None
        # two-Poisson-rate comparison: given yt + yr events, yt ~ Binomial(yt + yr, nt / (nt + nr))
        z = float(binomial_dev(np.array([yt]), np.array([yt + yr]), np.array([nt / (nt + nr)]))[0])
        return Score(z, float(np.log((yt + p.a) / (mu + p.a))), float(mu), float(yt), B)

    # -- lifecycle -----------------------------------------------------------------------
    def breach_of(self, s: Score | None) -> int:
        p = self.p
        if s is None:
            return 0
        if s.z > p.k and s.log_ratio > p.min_effect and p.direction == "both":
            return 1
        if s.z < -p.k and s.log_ratio < -p.min_effect:
            return -1
        return 0

    def firing_stat(self, T: int) -> float:
        """The largest k at which tick T would fire: the weakest |z| of the `consec`
        intervals ending at T, T - B, ... when all breach the same way past min_effect."""
        B = self.bhist.get(T, self.p.interval) if self.p.kind != "benchmark" else 1
        zs = [self.zhist.get(T - i * B, 0.0) for i in range(self.p.consec)]
        if not all(np.sign(v) == np.sign(zs[0]) != 0 for v in zs):
            return 0.0
        if self.p.direction == "drop" and zs[0] > 0:
            return 0.0
        return min(abs(v) for v in zs)

    def step(self, T: int, inhibited: bool) -> tuple[str | None, Score | None]:
        """Evaluates tick T; returns the transition ('firing', 'resolved' or None)."""
        s = self.score(T)
        sign = self.breach_of(s)
        self.breach[T] = sign
        self.zhist[T] = s.z if s is not None and abs(s.log_ratio) > self.p.min_effect else 0.0
        self.bhist[T] = s.interval if s is not None else self.p.interval
        B = self.bhist[T] if self.p.kind != "benchmark" else 1
        holds = sign != 0 and all(self.breach.get(T - i * B, 0) == sign
                                  for i in range(self.p.consec))
        if not self.firing:
            if holds and not (inhibited and sign < 0):
                self.firing, self.quiet = True, 0
                self.episode = {"rule": self.rule, "key": self.key, "start": T, "end": None,
                                "dir": "spike" if sign > 0 else "drop", "z": s.z,
                                "log_ratio": s.log_ratio, "expected": s.expected,
                                "actual": s.actual}
                return "firing", s
            return None, s
        want = -1 if self.episode["dir"] == "drop" else 1
        if s is not None and s.z * want > self.p.k_resolve:
            self.quiet = 0
            return None, s
        self.quiet += 1
        if self.quiet >= self.p.resolve:
            self.firing = False
            self.episode["end"] = T
            self.last_resolved = T
            return "resolved", s
        return None, s


def instances(p: Promo, rules: dict[str, Params]) -> list[Instance]:
    C, L = p.cur, p.last
    out = []

    def add(rule, key, **kw):
        if rule in rules:
            out.append(Instance(rule, key, rules[rule], **kw))

    add("traffic", "", y=C["events"][""], e=L["events"][""])
    add("orders", "", y=C["orders"][""], e=L["orders"][""])
    add("gmv", "", y=C["gmv"][""], e=L["gmv"][""], units=(C["orders"][""], L["orders"][""]))
    for c in CHANNELS:
        if c in C["ch_orders"] and c in L["ch_orders"]:
            add("channel_orders", c, y=C["ch_orders"][c], e=L["ch_orders"][c],
                total=L["orders"][""])
    for m in METHODS:
        if m in C["attempts"]:
            ly_rate = (L["successes"][m].sum() + 1) / (L["attempts"][m].sum() + 1) \
                if m in L["attempts"] else 1.0
            add("payment_success", m, y=C["successes"][m], e=C["attempts"][m],
                prior_rate=ly_rate)
    for c in AD_CHANNELS:
        if c in C["ad_clicks"] and c in C["carts"]:
            add("ad_conversion", c, y=C["carts"][c], e=C["ad_clicks"][c], spend=C["ad_cost"][c])
    return out


def run_promo(p: Promo, rules: dict[str, Params] = RULES, inhibit: bool = True):
    """Replays the ticks; returns (episodes, the largest firing statistic per rule in the
    opening hour, 00:00-01:00: how close each rule came to firing there)."""
    insts = instances(p, rules)
    insts.sort(key=lambda i: i.rule not in CAUSE_RULES)   # causes first at each tick
    episodes, opening = [], {}
    for T in range(1, MINUTES + 1):
        cause_active = False
        for inst in insts:
            inhibited = inhibit and inst.rule in SYMPTOM_RULES and cause_active
            transition, s = inst.step(T, inhibited)
            if transition == "resolved":
                episodes.append(inst.episode)
            if inst.rule in CAUSE_RULES and (
                    (inst.firing and inst.episode["dir"] == "drop")
                    or (inst.last_resolved is not None and T - inst.last_resolved < INHIBIT_HOLD)):
                cause_active = True
            if T <= 60:
                opening[inst.rule] = max(opening.get(inst.rule, 0.0), inst.firing_stat(T))
    for inst in insts:
        if inst.firing:
            episodes.append(inst.episode)
    return sorted(episodes, key=lambda e: e["start"]), opening


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------

def matches(ep: dict, inc: Incident, strict: bool) -> bool:
    primary, symptom = EXPOSURE[ep["rule"]]
    kinds = primary if strict else primary | symptom
    if inc.kind not in kinds:
        return False
    if inc.key and inc.kind in primary and ep["key"] != inc.key:
        return False
    end = ep["end"] if ep["end"] is not None else MINUTES
    return ep["start"] <= inc.end + GRACE and end >= inc.start


def evaluate(p: Promo, inhibit: bool = True) -> dict:
    eps, opening = run_promo(p, inhibit=inhibit)
    incs = [i for i in p.incidents if i.kind != "stock_out"]
    detected = {}
    for inc in incs:
        hits = [e for e in eps if matches(e, inc, strict=True)]
        if hits:
            first = min(hits, key=lambda e: e["start"])
            detected[inc.kind] = (first["start"] - inc.start, first["rule"])
        else:
            detected[inc.kind] = None
    ok = [e for e in eps if any(matches(e, i, strict=False) for i in incs)]
    ok_strict = [e for e in eps if any(matches(e, i, strict=True) for i in incs)]
    return {"name": p.name, "incidents": incs, "episodes": eps, "detected": detected,
            "true": ok, "true_strict": ok_strict,
            "false": [e for e in eps if e not in ok],
            "opening": [e for e in eps if e["start"] <= 60], "opening_z": opening}


def hhmm(minute: float) -> str:
    m = int(round(minute))
    return f"{m // 60:02d}:{m % 60:02d}"


def describe(e: dict) -> str:
    end = hhmm(e["end"]) if e["end"] is not None else "end"
    return (f'{e["rule"]}[{e["key"]}] {e["dir"]} {hhmm(e["start"])}-{end} '
            f'(z {e["z"]:.1f}, {e["actual"]:.0f} vs {e["expected"]:.0f})')


def ensure_promo(data: Path, name: str, seed: int, clean: bool, scale: int, binary: str):
    d = data / name
    if (d / "incidents.csv").exists() or seed is None:
        return d
    cmd = [binary, "gen", "--scale", str(scale), "--seed", str(seed), "--out", str(d)]
    if clean:
        cmd += ["--incidents", "none"]
    print("generating:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return d


def default_binary() -> str:
    for c in (os.environ.get("PROMODB_BIN"), "/root/.cache/promodb/target/release/promodb",
              str(Path(__file__).resolve().parents[3] / "target" / "release" / "promodb")):
        if c and Path(c).exists():
            return c
    return "promodb"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    ap.add_argument("--clean-seeds", type=int, nargs="*", default=[101, 102])
    ap.add_argument("--names", nargs="*", default=[],
                    help="extra existing promo directories under --data (e.g. big_seed1)")
    ap.add_argument("--data", type=Path, default=Path("/tmp/anomaly"))
    ap.add_argument("--scale", type=int, default=300_000)
    ap.add_argument("--bin", default=default_binary())
    ap.add_argument("--no-inhibit", action="store_true", help="evaluate without inhibition")
    ap.add_argument("--verbose", action="store_true", help="list every episode")
    ap.add_argument("--out", type=Path, help="write the results table (Markdown) here")
    args = ap.parse_args(argv)

    runs = [(f"seed{s}", s, False) for s in args.seeds] + \
           [(f"clean{s}", s, True) for s in args.clean_seeds] + \
           [(n, None, None) for n in args.names]
    rows, lines, began = [], [], time.time()
    for name, seed, clean in runs:
        d = ensure_promo(args.data, name, seed, clean, args.scale, args.bin)
        r = evaluate(load_promo(d), inhibit=not args.no_inhibit)
        rows.append(r)
        if args.verbose:
            print(f"{name}:")
            for i in r["incidents"]:
                print(f"   incident {i.kind}[{i.key}] {hhmm(i.start)}-{hhmm(i.end)}")
            for e in r["episodes"]:
                tag = "ok " if e in r["true_strict"] else ("sym" if e in r["true"] else "FP ")
                print(f"   {tag} {describe(e)}")

    def fmt_delay(v):
        return "missed" if v is None else f"{v[0]:.0f} ({v[1]})"

    kinds = ["payment_outage", "traffic_drop", "conversion_collapse"]
    head = ("| promo | recall | precision | strict precision | episodes | opening-hour alerts | "
            "false alarms | delay payment_outage | delay traffic_drop | delay conversion_collapse |")
    lines += [head, "|---" * (head.count("|") - 1) + "|"]
    all_ok = True
    for r in rows:
        n_inc = len(r["incidents"])
        n_det = sum(1 for v in r["detected"].values() if v is not None)
        n_eps = len(r["episodes"])
        recall = n_det / n_inc if n_inc else float("nan")
        prec = len(r["true"]) / n_eps if n_eps else 1.0
        prec_s = len(r["true_strict"]) / n_eps if n_eps else 1.0
        delays = [fmt_delay(r["detected"][k]) if k in r["detected"] else "-" for k in kinds]
        lines.append(f"| {r['name']} | {'-' if not n_inc else f'{recall:.2f}'} | {prec:.2f} | "
                     f"{prec_s:.2f} | {n_eps} | {len(r['opening'])} | {len(r['false'])} | "
                     + " | ".join(delays) + " |")
        clean = not n_inc
        ok = (len(r["opening"]) == 0 and prec >= 0.90 and
              (n_eps == 0 if clean else recall >= 0.95))
        all_ok &= ok
    # totals
    inc_rows = [r for r in rows if r["incidents"]]
    det_delays = {k: [r["detected"][k][0] for r in inc_rows if r["detected"].get(k)] for k in kinds}
    lines.append("")
    for k in kinds:
        d = det_delays[k]
        n = sum(1 for r in inc_rows if k in r["detected"])
        if d:
            lines.append(f"- {k}: detected {len(d)}/{n}, delay min {min(d):.0f} / median "
                         f"{np.median(d):.0f} / max {max(d):.0f} minutes")
    oz = {}
    for r in rows:
        for rule, z in r["opening_z"].items():
            oz[rule] = max(oz.get(rule, 0.0), z)
    lines.append("- closest to firing in the opening hour (00:00-01:00), largest firing statistic "
                 "(weakest |z| of the consecutive breaching intervals) by rule: " +
                 ", ".join(f"{k} {v:.2f}" for k, v in sorted(oz.items())))
    fps = [(r["name"], describe(e)) for r in rows for e in r["false"]]
    lines.append("- unexplained episodes: " + ("none" if not fps else
                                               "; ".join(f"{n}: {d}" for n, d in fps)))
    lines.append(f"- all targets met: {'yes' if all_ok else 'NO'} "
                 f"({len(rows)} promos, {time.time() - began:.0f} s)")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
