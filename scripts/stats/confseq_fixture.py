"""Writes crates/promptsmith-eval/src/stats/confseq_fixture.json: two-arm asymptotic confidence
sequences whose boundary comes from confseq 0.0.11 (Howard, Ramdas et al.'s reference library,
https://github.com/gostevehoward/confseq), `normal_mixture_bound(v, alpha, v_opt, alpha_opt,
is_one_sided=False)`: the two-sided normal-mixture boundary at intrinsic time v, tuned for v_opt.
stats/sequential.rs is checked against it. The arms' variance estimate (sample variance, floored
at that of a 1% proportion) is promptsmith's and is computed here the same way; the boundary and
its tuning are confseq's. Run with confseq and numpy installed (confseq builds from its sdist
with Boost headers): python3 scripts/stats/confseq_fixture.py"""
import json
import math
import pathlib
import random

from confseq.boundaries import normal_mixture_bound

MIN_VARIANCE = 0.01 * 0.99
random.seed(2024)


def arm(values):
    return {"n": len(values), "sum": sum(values), "sum_sq": sum(v * v for v in values)}


def variance(a):
    n = a["n"]
    return max((a["sum_sq"] - a["sum"] ** 2 / n) / (n - 1), 0.0)


cases = []
for k in range(40):
    na, nb = random.randint(2, 3000), random.randint(2, 3000)
    if k % 2 == 0:  # 0/1 scores
        pa, pb = random.random(), random.random()
        a = arm([float(random.random() < pa) for _ in range(na)])
        b = arm([float(random.random() < pb) for _ in range(nb)])
    else:  # scores in [0, 1]
        a = arm([random.random() ** 2 for _ in range(na)])
        b = arm([random.random() for _ in range(nb)])
    alpha = random.choice([0.01, 0.05, 0.1, 0.2])
    planned = random.choice([10.0, 100.0, 1000.0, 5000.0, 40000.0])
    v = 1.0 / (max(variance(a), MIN_VARIANCE) / a["n"] + max(variance(b), MIN_VARIANCE) / b["n"])
    radius = float(normal_mixture_bound(v, alpha, planned, alpha, False)) / v
    diff = b["sum"] / b["n"] - a["sum"] / a["n"]
    cases.append({"a": a, "b": b, "alpha": alpha, "planned_information": planned,
                  "information": v, "lower": diff - radius, "upper": diff + radius})
path = pathlib.Path(__file__).resolve().parents[2] / "crates/promptsmith-eval/src/stats/confseq_fixture.json"
path.write_text(json.dumps(cases, indent=1) + "\n")
print(f"wrote {len(cases)} cases to {path}")
