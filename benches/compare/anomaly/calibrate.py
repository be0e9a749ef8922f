#!/usr/bin/env python3
"""Null-tail calibration of the rules in detect.py (the evidence behind SPEC.md's thresholds).

For each rule, over many promos, the *firing statistic* of every (key, tick): the weakest
|z| of the `consec` breaching intervals that would fire together (0 if their signs differ
or the effect is below min_effect), i.e. the largest threshold k at which that tick would
have fired (Instance.firing_stat in detect.py). Split into
  - null: ticks away from any incident the rule is exposed to (kind in EXPOSURE, from 2
    minutes before its start to 30 minutes after its end), opening hour included;
  - opening: the null ticks of 00:00-01:00 only;
  - signal: for each incident the rule is built for, its strongest statistic during it.
A threshold k is sound when the null maximum is well below k and the weakest signal well
above it. Neighbouring null ticks of one series (same 30 minutes) count as one event.

Usage: python calibrate.py --seeds 1 ... 20 --clean-seeds 101 ... 110 [--rules traffic orders]
       [--set traffic.k=3.5 --set orders.interval=2 ...]   (try other parameters)
"""

from __future__ import annotations

import argparse
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

import detect as d


def cached(data: Path, name: str) -> d.Promo:
    f = data / f"cache_{name}.pkl"
    src = data / name / "incidents.csv"
    if f.exists() and f.stat().st_mtime > src.stat().st_mtime:
        with open(f, "rb") as fh:
            return pickle.load(fh)
    p = d.load_promo(data / name)
    with open(f, "wb") as fh:
        pickle.dump(p, fh)
    return p


def statistics(p: d.Promo, rule: str, prm: d.Params):
    primary, symptom = d.EXPOSURE[rule]
    exposed = [i for i in p.incidents if i.kind in primary | symptom]
    null, opening, signal = [], [], {}
    for inst in d.instances(p, {rule: prm}):
        stats = {}
        for T in range(1, d.MINUTES + 1):
            inst.step(T, False)
            stats[T] = inst.firing_stat(T)   # same statistic and intervals as detect.py
        for T, stat in stats.items():
            near = [i for i in exposed if i.start - 2 <= T <= i.end + 30]
            if not near:
                null.append((abs(stat), inst.key, T))
                if T <= 60:
                    opening.append((abs(stat), inst.key, T))
            for i in near:
                if i.kind in primary and (not i.key or i.key == inst.key) and T <= i.end + d.GRACE:
                    signal[i.kind] = max(signal.get(i.kind, 0.0), abs(stat))
    return null, opening, signal


def events(rows):
    """Strongest per (promo, key, half hour), strongest first."""
    best = {}
    for v, name, key, T in rows:
        k = (name, key, T // 30)
        if v > best.get(k, (0,))[0]:
            best[k] = (v, name, key, T)
    return sorted(best.values(), reverse=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 21)))
    ap.add_argument("--clean-seeds", type=int, nargs="*", default=list(range(101, 111)))
    ap.add_argument("--data", type=Path, default=Path("/tmp/anomaly"))
    ap.add_argument("--rules", nargs="*", default=list(d.RULES))
    ap.add_argument("--set", action="append", default=[], help="rule.param=value")
    args = ap.parse_args()
    rules = dict(d.RULES)
    for s in args.set:
        lhs, v = s.split("=")
        r, prm = lhs.split(".")
        cur = getattr(rules[r], prm)
        rules[r] = replace(rules[r], **{prm: type(cur)(v) if not isinstance(cur, str) else v})
    names = [f"seed{s}" for s in args.seeds] + [f"clean{s}" for s in args.clean_seeds]
    promos = []
    for n in names:
        if not (args.data / n / "incidents.csv").exists():
            d.ensure_promo(args.data, n, int(n.lstrip("seedclean")), n.startswith("clean"),
                           300_000, d.default_binary())
        promos.append(cached(args.data, n))
    print(f"{len(promos)} promos: {names[0]} .. {names[-1]}")
    for rule in args.rules:
        prm = rules[rule]
        null, opening, signal = [], [], {}
        for p in promos:
            n_, o_, s_ = statistics(p, rule, prm)
            null += [(v, p.name, k, T) for v, k, T in n_]
            opening += [(v, p.name, k, T) for v, k, T in o_]
            for kind, v in s_.items():
                signal.setdefault(kind, []).append(v)
        ev, op = events(null), events(opening)
        print(f"\n{rule} (k = {prm.k}): {prm}")
        print("  null, top 5:   " + ", ".join(f"{v:.2f} {n}[{k}]@{d.hhmm(T)}" for v, n, k, T in ev[:5]))
        for k in (3.0, 3.5, 4.0, 4.5):
            print(f"  null events over {k}: {sum(1 for e in ev if e[0] > k)}", end=";")
        print()
        print("  opening hour, top 3: " + ", ".join(f"{v:.2f} {n}[{k}]@{d.hhmm(T)}" for v, n, k, T in op[:3]))
        for kind, vs in signal.items():
            vs = sorted(vs)
            print(f"  signal {kind}: weakest {', '.join(f'{v:.1f}' for v in vs[:3])}; "
                  f"detected at k: {sum(1 for v in vs if v > prm.k)}/{len(vs)}")


if __name__ == "__main__":
    main()
