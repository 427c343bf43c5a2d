#!/usr/bin/env python3
"""Prints the markdown table and goal check of bench/results/optimize/*.json (no LM calls).

    python3 bench/optimize_table.py [--dir bench/results/optimize]
"""

import argparse
import glob
import json
import os
from math import comb

HERE = os.path.dirname(os.path.abspath(__file__))


def contention(monitor, start, end):
    """Share of the monitor's 10 s samples in [start, end] (YYYY-MM-DDTHH:MM:SS, UTC) that saw
    a compiler, another llama-server or another client of the model server; mean load."""
    if not monitor:
        return None
    rows = [m for m in monitor if start <= m["t"] <= end]
    if not rows:
        return None
    busy = [m for m in rows if m["rustc"] > 0 or m["other_llama"] or m["other_clients"]]
    return len(busy) / len(rows), sum(m["load"] for m in rows) / len(rows)


def read_monitor(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or "=" not in parts[1]:
                continue
            kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            clients = line.split("other_clients_", 1)[1].split("=[", 1)[1].rstrip().rstrip("]") if "other_clients_" in line else ""
            # lines before 2026-11-24 carry the time only; they were all written on 2026-11-23
            t = parts[0] if "T" in parts[0] else f"2026-11-23T{parts[0]}"
            out.append({"t": t, "load": float(kv["load"]), "rustc": int(kv["rustc"]),
                        "other_llama": line.split("other_llama=[", 1)[1].split("]", 1)[0].strip(), "other_clients": clients.strip()})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(HERE, "results", "optimize"))
    args = ap.parse_args()
    runs = {}
    monitor = read_monitor(os.path.join(args.dir, "monitor.log"))
    for path in sorted(glob.glob(os.path.join(args.dir, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        runs[(r["dataset"], r["seed"], r["system"], r["optimizer"])] = r

    print("| dataset | seed | system | optimizer | test score | LM calls: non-test + test = all (proxy) | from proxy cache | optimizing wall s | whole run wall s | machine busy (share of samples) / mean load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (ds, seed, system, opt), r in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "promptsmith", kv[0][3] != "mipro")):
        rc = r["record_counts"]
        if system == "promptsmith" and opt == "mipro":
            print(f"| {ds} | {seed} | promptsmith | baseline (program as written; the MIPROv2 report's baseline_test) | {r['baseline_test']:.3f} | (in the MIPROv2 run's test calls) | — | — | — | — |")
        wall_opt = r.get("optimize_wall_s")
        c = contention(monitor, r["started_utc"][:19], r["finished_utc"][:19])
        busy = f"{c[0]:.0%} / {c[1]:.1f}" if c else "—"
        label = {"mipro": "mipro light", "gepa": f"gepa ({r.get('max_metric_calls')} metric calls)",
                 "mipro-budget": f"mipro sized to {r.get('max_metric_calls')} metric calls"}.get(opt, opt)
        print(f"| {ds} | {seed} | {system} | {label} | {r['test_score']:.3f} | "
              f"{rc['optimize_calls']} + {rc['test_calls']} = {r['proxy']['chat_completions']} | {r['proxy']['cache_hits']} | "
              f"{wall_opt:.0f} | {r['wall_s']:.0f} | {busy} |")

    print()
    for (ds, seed, system, opt), r in sorted(runs.items()):
        if system != "promptsmith" or opt not in ("mipro", "gepa"):
            continue
        d = runs.get((ds, seed, "dspy", opt))
        name = {"mipro": "MIPROv2", "gepa": "GEPA"}[opt]
        if not d:
            print(f"- {ds} seed {seed}: DSPy {name} did not run")
            continue
        ps_calls, d_calls = r["record_counts"]["optimize_calls"], d["record_counts"]["optimize_calls"]
        ratio = r["optimize_wall_s"] / d["optimize_wall_s"]
        ok_score = r["test_score"] >= d["test_score"]
        ok_calls = ps_calls <= d_calls
        ok_wall = ratio <= 0.8
        reflection = ""
        if opt == "gepa":
            rp, dp = r.get("reflection_proxy") or {}, d.get("reflection_proxy") or {}
            secs = lambda x: f" ({x['reflection_calls']['total_s']:.0f} s)" if x.get("reflection_calls") else ""
            reflection = f"; reflection calls {rp.get('chat_completions')}{secs(r)} vs {dp.get('chat_completions')}{secs(d)}"
        print(f"- {ds} seed {seed} {name}: test {r['test_score']:.3f} vs {d['test_score']:.3f} ({'met' if ok_score else 'NOT met'}); "
              f"optimizing calls {ps_calls} vs {d_calls} ({'met' if ok_calls else 'NOT met'}){reflection}; "
              f"optimizing wall {r['optimize_wall_s']:.0f} s vs {d['optimize_wall_s']:.0f} s = {ratio:.2f}x ({'met' if ok_wall else 'NOT met'})")
    for (ds, seed, system, opt), r in sorted(runs.items()):
        if system != "promptsmith" or opt != "gepa":
            continue
        for other, name in (("mipro", "MIPROv2-light"), ("mipro-budget", "MIPROv2 at GEPA's budget")):
            m = runs.get((ds, seed, "promptsmith", other))
            if m:
                print(f"- {ds} seed {seed}: promptsmith GEPA {r['test_score']:.3f} on {ntest(r)} test rows ({calls(r)}) "
                      f"vs promptsmith {name} {m['test_score']:.3f} on {ntest(m)} ({calls(m)})")
    print()
    pooled(runs, ("promptsmith", "gepa"), ("dspy", "gepa"))
    pooled(runs, ("promptsmith", "gepa"), ("promptsmith", "mipro-budget"))


def ntest(r):
    """How many test rows a run was scored on."""
    return len(r.get("test_scores") or []) or "?"


def calls(r):
    """A run's optimizing calls of the task model, and of the reflection model where it had one."""
    rp = r.get("reflection_proxy")
    extra = f" + {rp['chat_completions']} reflection-model" if rp else ""
    return f"{r['record_counts']['optimize_calls']} task-model{extra} calls"


def pooled(runs, a, b):
    """Per dataset, the seeds both runs finished, pooled: mean test score of each and the exact
    McNemar test on the examples only one of them got right (0/1 scores, same test order)."""
    for ds in sorted({k[0] for k in runs}):
        pairs = [(runs[(ds, s, *a)], runs[(ds, s, *b)]) for s in sorted({k[1] for k in runs})
                 if (ds, s, *a) in runs and (ds, s, *b) in runs]
        xs = [(x, y) for ra, rb in pairs for x, y in zip(ra.get("test_scores") or [], rb.get("test_scores") or [])]
        if not xs:
            continue
        only_a = sum(1 for x, y in xs if x >= 1 and y < 1)
        only_b = sum(1 for x, y in xs if y >= 1 and x < 1)
        n = only_a + only_b
        k = min(only_a, only_b)
        p = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
        mean = lambda i: sum(p_[i] for p_ in xs) / len(xs)
        print(f"- {ds}, {len(pairs)} seed(s) pooled, {len(xs)} test predictions: {' '.join(a)} {mean(0):.3f} vs "
              f"{' '.join(b)} {mean(1):.3f}; right only for the first {only_a}, only for the second {only_b}, "
              f"exact McNemar p = {p:.2f}")


if __name__ == "__main__":
    main()
