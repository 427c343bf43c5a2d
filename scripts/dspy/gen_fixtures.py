#!/usr/bin/env python3
"""Generate DSPy `program.save(...)` JSON fixtures with the real DSPy (pinned: 3.4.1).

Writes  crates/promptsmith-core/tests/fixtures/dspy/two_step_program.json
        crates/promptsmith-core/tests/fixtures/dspy/single_predict.json
and loads each back with `program.load(...)` to confirm DSPy accepts it.

Usage: /tmp/dspy-venv/bin/python scripts/dspy/gen_fixtures.py
"""

import json
import sys
from pathlib import Path

import dspy

EXPECTED_DSPY_VERSION = "3.4.1"

REPO = Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO / "crates" / "promptsmith-core" / "tests" / "fixtures" / "dspy"

DRAFT_INSTRUCTIONS = "Write a short first-draft answer to the question."


class TwoStep(dspy.Module):
    def __init__(self):
        super().__init__()
        self.draft = dspy.Predict(dspy.Signature("question -> answer").with_instructions(DRAFT_INSTRUCTIONS))
        self.refine = dspy.ChainOfThought("question, draft -> answer: int")

    def forward(self, question):
        draft = self.draft(question=question).answer
        return self.refine(question=question, draft=draft)


class Single(dspy.Module):
    def __init__(self):
        super().__init__()
        self.classify = dspy.Predict("text -> label")

    def forward(self, text):
        return self.classify(text=text)


def build_two_step() -> TwoStep:
    program = TwoStep()
    program.draft.demos = [
        dspy.Example(question="How many days are in a week?", answer="seven").with_inputs("question"),
        dspy.Example(question="What is 10 minus 3?", answer="7").with_inputs("question"),
    ]
    program.refine.predict.demos = [
        dspy.Example(
            question="What is 6 times 7?",
            draft="about forty",
            reasoning="6 * 7 = 42, so the draft 'about forty' is imprecise; the exact answer is 42.",
            answer=42,
        ).with_inputs("question", "draft"),
    ]
    return program


def save_and_check(program: dspy.Module, fresh: dspy.Module, name: str) -> None:
    path = FIXTURE_DIR / name
    program.save(str(path))
    fresh.load(str(path))  # raises if DSPy cannot load it
    assert json.dumps(fresh.dump_state(), sort_keys=True) == json.dumps(program.dump_state(), sort_keys=True), name
    for (n1, p1), (n2, p2) in zip(program.named_predictors(), fresh.named_predictors(), strict=True):
        assert n1 == n2 and p1.signature.equals(p2.signature), (n1, n2)
        assert [d.toDict() for d in p1.demos] == [dict(d) for d in p2.demos], n1
    print(f"wrote and reloaded {path.relative_to(REPO)}: predictors {[n for n, _ in fresh.named_predictors()]}")


def main() -> None:
    if dspy.__version__ != EXPECTED_DSPY_VERSION:
        sys.exit(f"expected dspy {EXPECTED_DSPY_VERSION}, found {dspy.__version__}")
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    save_and_check(build_two_step(), TwoStep(), "two_step_program.json")
    save_and_check(Single(), Single(), "single_predict.json")


if __name__ == "__main__":
    main()
