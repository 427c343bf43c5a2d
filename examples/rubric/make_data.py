#!/usr/bin/env python3
"""Writes the rubric scorer's data: GSM8K worked solutions, some corrupted, with reference scores.

    python3 examples/rubric/make_data.py [--shared ../shared/data]

Source (read-only, from the benchmark data folder, `../shared/data` beside the checkout):
  gsm8k/train.jsonl, gsm8k/test.jsonl  GSM8K word problems with worked solutions (MIT)

Writes data/train.jsonl (from GSM8K's train file) and data/test.jsonl (from its test file),
64 rows each, every row {"artifact", "criteria", "score"}. The artifact is a problem with a
solution: GSM8K's own (calculator annotations `<<...>>` removed, `#### N` written as
`Final answer: N`) or that solution with some of three corruptions applied:

  wrong answer   the final number is changed (and so is the result of the last step, whose
                 arithmetic becomes wrong): criterion 1 is not met
  steps removed  every working line is removed, only `Final answer: N` is left: criterion 2
                 is not met
  rambling       three filler sentences are added (before, among and after the working,
                 sometimes a restatement of the problem): criterion 3 is not met

Each of the 8 combinations of corruptions is applied to 8 solutions per file (64 rows), in a
seeded random order. The reference score is computed from which corruptions were applied:

  score = 0.5 * [answer correct] + 0.3 * [steps shown] + 0.2 * [concise]

so 1.0, 0.8, 0.7, 0.5 (twice), 0.3, 0.2 or 0.0. The criteria text is the same in every row
(CRITERIA) and states these points. Only solutions with 2 to 5 working lines whose final
answer is a whole number that also ends the last working line are used. Running it again
writes the same bytes.
"""
import argparse
import itertools
import json
import os
import random
import re

SEED = 18
PER_COMBINATION = 8  # solutions per combination of corruptions and file: 8 x 8 = 64 rows

CRITERIA = ("1. Correct (0.5 points): the final answer to the problem is right. "
            "2. Steps (0.3 points): the solution shows the calculations that lead to the answer. "
            "3. Concise (0.2 points): no filler, chatter or repetition. "
            "The score is the sum of the points earned, from 0 to 1.")

FILLER = [
    "Let me read the problem carefully before I begin.",
    "Word problems like this come up a lot in school, and they are good practice.",
    "I like to take my time with these so that I do not make a mistake.",
    "Numbers can be tricky, so it helps to go slowly and think.",
    "This reminds me of a similar problem I solved last week.",
    "I checked everything twice to be completely sure.",
    "That was a fun one to work through.",
    "Math is always easier when you write everything down.",
    "Some people find these hard, but it is not so bad once you get going.",
    "I could have done this in my head, but writing it out is nicer.",
]

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared", "data"),
                help="the benchmark data folder holding gsm8k/")
ap.add_argument("--out", default=os.path.join(here, "data"))
args = ap.parse_args()


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def solution(row):
    """(working lines, final number) of a GSM8K answer, or None when it is not usable here."""
    lines = [re.sub(r"<<[^>]*>>", "", line).strip() for line in row["answer"].split("\n")]
    final = lines[-1].replace("####", "").strip()
    steps = [re.sub(r"\s+", " ", line) for line in lines[:-1] if line.strip()]
    if not re.fullmatch(r"\d+", final) or not 2 <= len(steps) <= 5:
        return None
    if not re.search(r"(?<![\d.,])" + final + r"(?![\d,]|\.\d)", steps[-1]):
        return None
    return steps, final


def wrong_number(final, rng):
    n = int(final)
    choices = [n + rng.randint(1, 9), n * 2 if n > 0 else n + 10, n + 10 * rng.randint(1, 5)]
    if n > 10:
        choices.append(n - rng.randint(1, 9))
    return str(rng.choice([c for c in choices if c != n and c >= 0]))


def corrupt(question, steps, final, wrong, removed, rambling, rng):
    steps = list(steps)
    if wrong:
        new = wrong_number(final, rng)
        # The last occurrence of the answer in the last step becomes the wrong number.
        last = steps[-1]
        matches = list(re.finditer(r"(?<![\d.,])" + final + r"(?![\d,]|\.\d)", last))
        m = matches[-1]
        steps[-1] = last[:m.start()] + new + last[m.end():]
        final = new
    if removed:
        steps = []
    body = steps + [f"Final answer: {final}"]
    if rambling:
        filler = rng.sample(FILLER, 3)
        if rng.random() < 0.3:
            filler[0] = f"So the problem says: {question}"
        body.insert(0, filler[0])
        body.insert(rng.randint(2, len(body) - 1) if len(body) > 2 else 1, filler[1])
        body.append(filler[2])
    return f"Problem: {question}\n\nSolution:\n" + "\n".join(body)


def make(rows, rng):
    usable = [(r["question"].strip(), *s) for r in rows if (s := solution(r))]
    combos = list(itertools.product([False, True], repeat=3))  # wrong, removed, rambling
    picked = rng.sample(usable, PER_COMBINATION * len(combos))
    out = []
    for i, (question, steps, final) in enumerate(picked):
        wrong, removed, rambling = combos[i % len(combos)]
        score = 0.5 * (not wrong) + 0.3 * (not removed) + 0.2 * (not rambling)
        out.append({"artifact": corrupt(question, steps, final, wrong, removed, rambling, rng),
                    "criteria": CRITERIA, "score": round(score, 1)})
    rng.shuffle(out)
    return out


def main():
    os.makedirs(args.out, exist_ok=True)
    for split in ("train", "test"):
        rng = random.Random(f"{SEED}-rubric-{split}")
        rows = make(read_jsonl(os.path.join(args.shared, "gsm8k", f"{split}.jsonl")), rng)
        path = os.path.join(args.out, f"{split}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        scores = sorted({r["score"] for r in rows})
        counts = ", ".join(f"{s}: {sum(r['score'] == s for r in rows)}" for s in scores)
        print(f"wrote {len(rows)} rows to {os.path.relpath(path)} (scores {counts})")


main()
