#!/usr/bin/env python3
"""Writes the SciPy reference values that promptsmith-eval's statistics tests check against.

Usage: python3 scripts/stats/scipy_fixture.py [OUT]
(default OUT: crates/promptsmith-eval/src/stats/scipy_fixture.json)

Needs SciPy (1.17 was used). Every input is rounded to a few decimals so that JSON parsers
read back exactly the same doubles; the Rust tests then recompute every statistic and compare
to 1e-6 (p-values relative to their size, so the small-p cases are checked as closely as the
others). For each Wilcoxon and Mann-Whitney case the script also records which method SciPy's
`method="auto"` picked, and checks that asking SciPy for that method explicitly gives the same
p-value, so the label is SciPy's choice and not a guess.
"""

import json
import math
import os
import sys

import numpy as np
import scipy
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "crates", "promptsmith-eval", "src", "stats", "scipy_fixture.json")

rng = np.random.default_rng(20261122)
# The small-p cases draw from their own stream, so adding them left every earlier case as it was.
tail_rng = np.random.default_rng(20261123)


def r(xs, decimals=3):
    return [round(float(x), decimals) for x in xs]


def floats(x):
    return None if x is None else float(x)


# ---------------------------------------------------------------- Wilcoxon signed-rank
def wilcoxon_method(d):
    """The method SciPy 1.17's method='auto' uses (see scipy/stats/_wilcoxon.py)."""
    d = np.asarray(d)
    nz = np.abs(d[d != 0])
    has_ties = len(np.unique(nz)) < len(nz)
    if len(d) > 50:
        return "normal"
    if not has_ties and not np.any(d == 0):
        return "exact"
    if len(d) <= 13:
        return "sign_flip"
    return "normal"


def distinct_diffs(n, positive=0.5):
    """n differences with distinct magnitudes (multiples of 0.001), each positive with probability `positive`."""
    return distinct_diffs_from(rng, n, positive)


def distinct_diffs_from(gen, n, positive=0.5):
    mags = gen.choice(np.arange(1, 400), size=n, replace=False) / 1000
    return mags * np.where(gen.uniform(0, 1, n) < positive, 1.0, -1.0)


def wilcoxon_case(name, a, b):
    a, b = r(a), r(b)
    d = np.asarray(a) - np.asarray(b)
    res = stats.wilcoxon(a, b)
    method = wilcoxon_method(d)
    assert name.startswith(method), (name, method)
    explicit = {
        "exact": lambda: stats.wilcoxon(a, b, method="exact"),
        "normal": lambda: stats.wilcoxon(a, b, method="asymptotic"),
        "sign_flip": lambda: stats.wilcoxon(a, b, method=stats.PermutationMethod()),
    }[method]()
    assert math.isclose(explicit.pvalue, res.pvalue, rel_tol=1e-12, abs_tol=1e-15), (name, method)
    z = None
    if method == "normal":
        z = stats.wilcoxon(a, b, method="asymptotic").zstatistic
    return {
        "name": name,
        "a": a,
        "b": b,
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "n_nonzero": int(np.count_nonzero(d)),
        "method": method,
        "z": floats(z),
    }


def wilcoxon_cases():
    out = []
    # Exact distribution: no ties, no zeros, n <= 50.
    a = r(rng.uniform(0.4, 0.6, 10))
    out.append(wilcoxon_case("exact_n10", a, np.asarray(a) - distinct_diffs(10)))
    a = rng.uniform(0, 1, 7)
    out.append(wilcoxon_case("exact_n7_all_positive", a + np.arange(1, 8) * 0.01, a))
    a = rng.uniform(0, 1, 20)
    out.append(wilcoxon_case("exact_n20_all_negative", a, a + np.arange(1, 21) * 0.013))
    a = r(rng.uniform(0.4, 0.6, 50))
    out.append(wilcoxon_case("exact_n50_boundary", a, np.asarray(a) - distinct_diffs(50, 0.7) - 0.0005))
    out.append(wilcoxon_case("exact_n1", [0.7], [0.2]))
    # Normal approximation: more than 50 pairs, even without ties.
    a = r(rng.uniform(0.4, 0.6, 51))
    out.append(wilcoxon_case("normal_n51_no_ties", a, np.asarray(a) - distinct_diffs(51, 0.6) - 0.0005))
    # Ties and/or zeros with at most 13 pairs: SciPy runs an exact sign-flip permutation test.
    out.append(wilcoxon_case("sign_flip_ties_n8", [1, 1, 0, 1, 1, 0.5, 1, 0], [0, 0.5, 0, 0, 1, 0, 0.5, 1]))
    out.append(wilcoxon_case("sign_flip_zeros_n13",
                             [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0], [0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1]))
    out.append(wilcoxon_case("sign_flip_one_zero_n6", [0.9, 0.4, 0.75, 0.3, 0.62, 0.5], [0.2, 0.4, 0.1, 0.6, 0.3, 0.1]))
    # Ties or zeros with 14..50 pairs, and large n: normal approximation with tie correction.
    out.append(wilcoxon_case("normal_zeros_n14",
                             [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1], [0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0]))
    a = rng.integers(0, 5, 30) / 4
    b = rng.integers(0, 5, 30) / 4
    out.append(wilcoxon_case("normal_ties_zeros_n30", a, b))
    a = (rng.uniform(0, 1, 200) < 0.62).astype(float)
    b = (rng.uniform(0, 1, 200) < 0.5).astype(float)
    out.append(wilcoxon_case("normal_binary_n200", a, b))
    a = rng.integers(0, 11, 500) / 10
    b = np.clip(a - rng.integers(-2, 4, 500) / 10, 0, 1)
    out.append(wilcoxon_case("normal_graded_n500", a, b))
    a = rng.beta(2, 2, 120)
    b = np.clip(a + rng.normal(0.0, 0.15, 120), 0, 1)
    out.append(wilcoxon_case("normal_f1_like_n120", a, b))
    # Small p-values (the Rust tests compare them relatively, so 1e-9 is checked like 0.3).
    a = tail_rng.uniform(0, 1, 30)
    out.append(wilcoxon_case("exact_n30_all_positive", a + np.arange(1, 31) * 0.011, a))
    a = r(tail_rng.uniform(0.4, 0.6, 50))
    out.append(wilcoxon_case("exact_n50_mostly_positive", a, np.asarray(a) - distinct_diffs_from(tail_rng, 50, 0.9)))
    a = tail_rng.integers(0, 11, 300) / 10
    b = np.clip(a - tail_rng.integers(-1, 4, 300) / 10, 0, 1)
    out.append(wilcoxon_case("normal_graded_n300_tiny_p", a, b))
    a = tail_rng.integers(0, 11, 100) / 10
    b = np.clip(a - tail_rng.integers(-2, 4, 100) / 10, 0, 1)
    out.append(wilcoxon_case("normal_graded_n100_small_p", a, b))
    return out


# ---------------------------------------------------------------- Mann-Whitney U
def mwu_method(a, b):
    """The method SciPy 1.17's method='auto' uses (see scipy/stats/_mannwhitneyu.py)."""
    ties = len(np.unique(np.concatenate([a, b]))) < len(a) + len(b)
    if (len(a) > 8 and len(b) > 8) or ties:
        return "normal"
    return "exact"


def mwu_case(name, a, b):
    a, b = r(a, 4), r(b, 4)
    res = stats.mannwhitneyu(a, b)
    method = mwu_method(np.asarray(a), np.asarray(b))
    assert name.startswith(method) or name == "all_identical", (name, method)
    explicit = stats.mannwhitneyu(a, b, method={"exact": "exact", "normal": "asymptotic"}[method])
    assert math.isclose(explicit.pvalue, res.pvalue, rel_tol=1e-12, abs_tol=1e-15), (name, method)
    return {"name": name, "a": a, "b": b, "statistic": float(res.statistic), "p_value": float(res.pvalue),
            "method": method}


def mwu_cases():
    out = []
    out.append(mwu_case("exact_scipy_docs", [19, 22, 16, 29, 24], [20, 11, 17, 12]))
    out.append(mwu_case("exact_n5_n4", rng.uniform(0, 1, 5), rng.uniform(0, 1, 4)))
    out.append(mwu_case("exact_n8_n30", rng.uniform(0.2, 1, 8), rng.uniform(0, 0.8, 30)))
    grid = rng.permutation(np.arange(1, 2000))[:103] / 2000
    out.append(mwu_case("exact_n3_n100", grid[:3], grid[3:]))
    out.append(mwu_case("exact_separated", [5, 6, 7], [1, 2, 3, 4]))
    out.append(mwu_case("exact_n1_n1", [1], [2]))
    out.append(mwu_case("normal_n9_n9", rng.uniform(0, 1, 9) + 0.0002, rng.uniform(0, 1, 9)))
    out.append(mwu_case("normal_small_ties", [1, 2, 2, 3, 5], [2, 3, 3, 4, 6, 7]))
    out.append(mwu_case("normal_binary", (rng.uniform(0, 1, 80) < 0.6).astype(float),
                        (rng.uniform(0, 1, 70) < 0.45).astype(float)))
    out.append(mwu_case("normal_equal_u_clipped", [1, 2, 3, 4], [1, 2, 3, 4]))
    out.append(mwu_case("normal_large", rng.normal(0.5, 0.2, 300), rng.normal(0.55, 0.2, 250)))
    out.append(mwu_case("all_identical", [0.5, 0.5, 0.5], [0.5, 0.5]))
    # Small p-values.
    grid = tail_rng.permutation(np.arange(1, 2000))[:38] / 2000
    out.append(mwu_case("exact_n8_n30_separated", np.sort(grid)[30:], np.sort(grid)[:30]))
    out.append(mwu_case("normal_large_tiny_p", tail_rng.normal(0.6, 0.2, 300), tail_rng.normal(0.45, 0.2, 250)))
    out.append(mwu_case("normal_n40_small_p", tail_rng.normal(0.62, 0.2, 40), tail_rng.normal(0.4, 0.2, 40)))
    return out


# ---------------------------------------------------------------- McNemar
def mcnemar_case(name, a, b):
    a, b = [int(x) for x in a], [int(x) for x in b]
    a_only = sum(1 for x, y in zip(a, b) if x == 1 and y == 0)
    b_only = sum(1 for x, y in zip(a, b) if x == 0 and y == 1)
    n = a_only + b_only
    exact = stats.binomtest(min(a_only, b_only), n, 0.5, alternative="two-sided").pvalue
    # Edwards' continuity correction, never past zero.
    chi2 = max(0.0, abs(a_only - b_only) - 1.0) ** 2 / n
    return {"name": name, "a": a, "b": b, "a_only": a_only, "b_only": b_only, "exact_p_value": float(exact),
            "chi2": float(chi2), "chi2_p_value": float(stats.chi2.sf(chi2, 1))}


def pairs(both, a_only, b_only, neither):
    a = [1] * both + [1] * a_only + [0] * b_only + [0] * neither
    b = [1] * both + [0] * a_only + [1] * b_only + [0] * neither
    return a, b


def mcnemar_cases():
    out = []
    for name, counts in [("small", (5, 3, 0, 2)), ("balanced", (10, 4, 4, 2)), ("one_discordant", (3, 0, 1, 0)),
                         ("medium", (40, 15, 5, 40)), ("large", (300, 62, 41, 97)), ("lopsided", (10, 0, 25, 5)),
                         # Small p-values, and one below 1e-300 where only an absolute check is made.
                         ("very_lopsided", (10, 2, 60, 5)), ("one_sided_300", (5, 300, 0, 5)),
                         ("one_sided_1000", (0, 0, 1000, 0))]:
        out.append(mcnemar_case(name, *pairs(*counts)))
    a = (rng.uniform(0, 1, 150) < 0.55).astype(int)
    b = (rng.uniform(0, 1, 150) < 0.45).astype(int)
    out.append(mcnemar_case("random_order", a, b))
    return out


# ---------------------------------------------------------------- Welch (also covered elsewhere)
def welch_cases():
    out = []
    cases = [("small", rng.uniform(0, 1, 6), rng.uniform(0.2, 1, 9)),
             ("binary", (rng.uniform(0, 1, 60) < 0.6).astype(float), (rng.uniform(0, 1, 50) < 0.4).astype(float))]
    # Small p-values.
    cases += [("apart_small_p", tail_rng.uniform(0.3, 1, 30), tail_rng.uniform(0, 0.6, 25)),
              ("apart_tiny_p", tail_rng.uniform(0.55, 1, 60), tail_rng.uniform(0, 0.45, 50))]
    for name, a, b in cases:
        a, b = r(a), r(b)
        res = stats.ttest_ind(a, b, equal_var=False)
        out.append({"name": name, "a": a, "b": b, "t": float(res.statistic), "df": float(res.df),
                    "p_value": float(res.pvalue)})
    return out


# ---------------------------------------------------------------- sample sizes
def z(alpha, power):
    return stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)


def sample_size_cases():
    paired, proportions, mcnemar = [], [], []
    for effect, sd, alpha, power in [(0.05, 0.3, 0.05, 0.8), (0.1, 0.5, 0.05, 0.9), (-0.02, 0.4, 0.01, 0.8),
                                     (0.5, 1.0, 0.05, 0.8), (0.003, 0.2, 0.1, 0.95)]:
        za, zb = z(alpha, power)
        n = ((za + zb) * sd / effect) ** 2
        paired.append({"effect": effect, "sd_of_diff": sd, "alpha": alpha, "power": power, "n_raw": float(n),
                       "n": math.ceil(n)})
    for p1, p2, alpha, power in [(0.5, 0.6, 0.05, 0.8), (0.2, 0.25, 0.05, 0.9), (0.9, 0.7, 0.01, 0.8),
                                 (0.31, 0.3, 0.05, 0.8)]:
        za, zb = z(alpha, power)
        pbar = (p1 + p2) / 2
        n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p1 - p2) ** 2
        proportions.append({"p1": p1, "p2": p2, "alpha": alpha, "power": power, "n_raw": float(n),
                            "n": math.ceil(n)})
    for discordant, diff, alpha, power in [(0.2, 0.05, 0.05, 0.8), (0.3, -0.1, 0.05, 0.9), (0.05, 0.01, 0.01, 0.8),
                                           (0.5, 0.2, 0.05, 0.8)]:
        za, zb = z(alpha, power)
        n = (za * math.sqrt(discordant) + zb * math.sqrt(discordant - diff ** 2)) ** 2 / diff ** 2
        mcnemar.append({"discordant": discordant, "diff": diff, "alpha": alpha, "power": power, "n_raw": float(n),
                        "n": math.ceil(n)})
    return paired, proportions, mcnemar


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    paired, proportions, mcnemar = sample_size_cases()
    fixture = {
        "generator": "scripts/stats/scipy_fixture.py",
        "scipy_version": scipy.__version__,
        "wilcoxon": wilcoxon_cases(),
        "mann_whitney": mwu_cases(),
        "mcnemar": mcnemar_cases(),
        "welch": welch_cases(),
        "paired_sample_size": paired,
        "two_proportion_sample_size": proportions,
        "mcnemar_sample_size": mcnemar,
    }
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
