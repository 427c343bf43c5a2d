"""Writes crates/promptsmith-eval/src/stats/statsmodels_fixture.json: p-value lists and their
Bonferroni and Holm adjustments by statsmodels' multipletests (the reference the Rust
implementation in stats/multiple.rs is checked against). Run with statsmodels installed:
python3 scripts/stats/statsmodels_fixture.py"""
import json
import pathlib
import random

from statsmodels.stats.multitest import multipletests

random.seed(16)
cases = [
    [0.01, 0.04, 0.03, 0.005],
    [0.2, 0.2, 0.2],
    [0.001],
    [0.5, 0.01, 0.04, 0.049, 0.6, 0.0001],
    [1.0, 0.0, 0.3],
]
cases += [[random.random() ** 3 for _ in range(random.randint(2, 12))] for _ in range(10)]
out = []
for p in cases:
    out.append({
        "p": p,
        "bonferroni": list(multipletests(p, method="bonferroni")[1]),
        "holm": list(multipletests(p, method="holm")[1]),
    })
path = pathlib.Path(__file__).resolve().parents[2] / "crates/promptsmith-eval/src/stats/statsmodels_fixture.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {len(out)} cases to {path}")
