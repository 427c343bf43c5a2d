#!/usr/bin/env python3
"""Prints the markdown table and goal check of bench/results/optimize/*.json (no LM calls).

    python3 bench/optimize_table.py [--dir bench/results/optimize]
"""

import argparse
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(HERE, "results", "optimize"))
    args = ap.parse_args()
    runs = {}
    for path in sorted(glob.glob(os.path.join(args.dir, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        runs[(r["dataset"], r["seed"], r["system"], r["optimizer"])] = r

    print("| dataset | seed | system | optimizer | test score | LM calls: optimizing + test = all (proxy) | from proxy cache | optimizing wall s | whole run wall s | load avg before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (ds, seed, system, opt), r in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "promptsmith", kv[0][3])):
        rc = r["record_counts"]
        if system == "promptsmith" and opt == "mipro":
            n = len(r.get("baseline_test_scores") or []) or "?"
            print(f"| {ds} | {seed} | promptsmith | baseline (no optimizer; report's baseline_test) | {r['baseline_test']:.3f} | 0 + {n} | — | — | — | — |")
        wall_opt = r.get("optimize_wall_s")
        print(f"| {ds} | {seed} | {system} | {opt}{' light' if opt == 'mipro' else ''} | {r['test_score']:.3f} | "
              f"{rc['optimize_calls']} + {rc['test_calls']} = {r['proxy']['chat_completions']} | {r['proxy']['cache_hits']} | "
              f"{wall_opt:.0f} | {r['wall_s']:.0f} | {' '.join(r['loadavg_before'][:1])} / {' '.join(r['loadavg_after'][:1])} |")

    print()
    for (ds, seed, system, opt), r in sorted(runs.items()):
        if system != "promptsmith" or opt != "mipro":
            continue
        d = runs.get((ds, seed, "dspy", "mipro"))
        if not d:
            print(f"- {ds} seed {seed}: DSPy MIPROv2 did not run")
            continue
        ps_calls, d_calls = r["record_counts"]["optimize_calls"], d["record_counts"]["optimize_calls"]
        ratio = r["optimize_wall_s"] / d["optimize_wall_s"]
        ok_score = r["test_score"] >= d["test_score"]
        ok_calls = ps_calls <= d_calls
        ok_wall = ratio <= 0.8
        print(f"- {ds} seed {seed}: test {r['test_score']:.3f} vs {d['test_score']:.3f} ({'met' if ok_score else 'NOT met'}); "
              f"optimizing calls {ps_calls} vs {d_calls} ({'met' if ok_calls else 'NOT met'}); "
              f"optimizing wall {r['optimize_wall_s']:.0f} s vs {d['optimize_wall_s']:.0f} s = {ratio:.2f}x ({'met' if ok_wall else 'NOT met'})")


if __name__ == "__main__":
    main()
