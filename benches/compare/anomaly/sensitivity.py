#!/usr/bin/env python3
"""How large an incident each rule catches, and how fast: synthetic incidents of several
sizes injected into clean promos (binomial thinning of this year's series inside a window),
scored by detect.py's rules unchanged.

  traffic drop f:         user_events of the window kept with probability 1 - f (15 min)
  payment outage f:       wechat successes turned into failures with probability f (20 min)
  conversion collapse f:  ads carting sessions kept with probability 1 - f (45 min)

Only the rule's own series is altered (no knock-on effects), so this measures each rule's
power. Reported: detected / tries and median delay (minutes) per size and start time.

Usage: python sensitivity.py [--clean-seeds 101 102 103 104 105]
"""
import argparse
from pathlib import Path

import numpy as np

import calibrate
import detect as d

CASES = {
    "traffic": ("events", "", 15, [0.3, 0.4, 0.5, 0.7]),
    "payment_success": ("successes", "wechat", 20, [0.2, 0.3, 0.5, 0.85]),
    "ad_conversion": ("carts", "ads", 45, [0.5, 0.7, 0.9, 0.98]),
}
STARTS = {"night 04:00": 240, "morning 09:36": 576, "afternoon 13:12": 792, "evening 21:00": 1260}


def thin(arr, lo, hi, keep, rng):
    """Binomially thins minutes [lo, hi) of a visible-cumulative [lag, minute] array."""
    out = arr.copy()
    inc = np.diff(np.vstack([np.zeros((1, arr.shape[1])), arr]), axis=0)   # per-lag increments
    inc[:, lo:hi] = rng.binomial(inc[:, lo:hi].astype(np.int64), keep)
    out = np.cumsum(inc, axis=0)
    return out


def run(p, rule, key, start, length, f, rng):
    series = CASES[rule][0]
    orig = p.cur[series][key]
    p.cur[series][key] = thin(orig, start, start + length, 1 - f, rng)
    try:
        inst = [i for i in d.instances(p, {rule: d.RULES[rule]}) if i.key == key][0]
        for T in range(max(start - 150, 1), start + length + d.GRACE + 1):
            tr, _ = inst.step(T, False)
            if tr == "firing" and inst.episode["start"] >= start:
                return T - start
            if tr == "firing":       # a false alarm before the incident: not a detection
                pass
        return None
    finally:
        p.cur[series][key] = orig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clean-seeds", type=int, nargs="*", default=[101, 102, 103, 104, 105])
    ap.add_argument("--data", type=Path, default=Path("/tmp/anomaly"))
    args = ap.parse_args()
    promos = [calibrate.cached(args.data, f"clean{s}") for s in args.clean_seeds]
    rng = np.random.default_rng(7)
    for rule, (series, key, length, sizes) in CASES.items():
        print(f"\n{rule}[{key}] ({length} min): detected/tries, median delay")
        print("| size | " + " | ".join(STARTS) + " |")
        print("|---" * (len(STARTS) + 1) + "|")
        for f in sizes:
            cells = []
            for start in STARTS.values():
                delays = [run(p, rule, key, start, length, f, rng) for p in promos]
                hit = [x for x in delays if x is not None]
                cells.append(f"{len(hit)}/{len(delays)}" + (f", {np.median(hit):.0f} min" if hit else ""))
            print(f"| {f:.0%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
