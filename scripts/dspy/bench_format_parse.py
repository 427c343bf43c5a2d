#!/usr/bin/env python3
"""DSPy's side of the call-overhead comparison in BENCHMARKS.md: ChatAdapter.format + parse
for the same signature, demos, inputs and completion as the Rust benchmark
`call_overhead/chat_format_and_parse` (crates/promptsmith-lm/benches/call_overhead.rs).

Usage: /tmp/dspy-venv/bin/python scripts/dspy/bench_format_parse.py
"""

import time
from typing import Literal

import dspy

COMPLETION = (
    "[[ ## reasoning ## ]]\nThe text praises the battery and the screen, so it is positive.\n\n"
    "[[ ## label ## ]]\npositive\n\n[[ ## confidence ## ]]\n0.92\n\n[[ ## completed ## ]]\n"
)


class Classify(dspy.Signature):
    """Given the fields `text`, produce the fields `reasoning`, `label`, `confidence`."""

    text: str = dspy.InputField()
    reasoning: str = dspy.OutputField()
    label: Literal["positive", "negative", "neutral"] = dspy.OutputField()
    confidence: float = dspy.OutputField()


def main() -> None:
    demos = [
        dspy.Example(
            text=f"Demo review number {i}: the product works as described and arrived on time.",
            reasoning="It is satisfied with the product.",
            label="positive",
            confidence=0.8,
        )
        for i in range(4)
    ]
    inputs = {"text": "Great phone: the battery lasts two days and the screen is sharp."}
    adapter = dspy.ChatAdapter()
    out = adapter.parse(Classify, COMPLETION)
    assert out["label"] == "positive", out

    def once() -> None:
        adapter.format(Classify, demos, inputs)
        adapter.parse(Classify, COMPLETION)

    for _ in range(200):
        once()
    best = float("inf")
    for _ in range(5):
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            once()
        best = min(best, (time.perf_counter() - t0) / n)
    print(f"dspy {dspy.__version__} ChatAdapter format+parse: {best * 1e6:.1f} us per call (best of 5 x 2000)")


if __name__ == "__main__":
    main()
