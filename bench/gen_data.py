#!/usr/bin/env python3
"""Deterministic benchmark data, the same file for promptsmith and DSPy.

    gen_data.py synthetic --n 10000 --seed 7 --out synthetic.jsonl
        word problems "NAME has A ITEMS and gets/gives B ...": the fake model adds the
        numbers, so it is right on the "gets" half and wrong on the "gives" half, and both
        frameworks must report the same score.
    gen_data.py gsm8k --n 50 --seed 2026 --out gsm8k_test50.jsonl [--source ../shared/data/gsm8k/test.jsonl]
        a seeded sample of GSM8K test questions; `answer` is the number after ####, `id`
        the line number in the source file.
"""

import argparse
import json
import os
import random

NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena"]
ITEMS = ["apples", "marbles", "stickers", "books", "coins", "pencils", "shells", "cards"]


def synthetic(n, seed):
    rng = random.Random(seed)
    for i in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b = rng.randint(10, 999), rng.randint(1, 9)
        if rng.random() < 0.5:
            q = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
            answer = a + b
        else:
            q = f"{name} has {a} {item} and gives {b} away. How many {item} does {name} have left?"
            answer = a - b
        yield {"id": i, "question": q, "answer": answer}


def gsm8k(n, seed, source):
    with open(source) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    picked = sorted(random.Random(seed).sample(range(len(rows)), n))
    for i in picked:
        answer = rows[i]["answer"].split("####")[-1].strip().replace(",", "")
        yield {"id": i, "question": rows[i]["question"], "answer": float(answer) if "." in answer else int(answer)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["synthetic", "gsm8k"])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", default=os.path.join(here, "..", "..", "shared", "data", "gsm8k", "test.jsonl"))
    args = ap.parse_args()
    rows = synthetic(args.n, args.seed) if args.kind == "synthetic" else gsm8k(args.n, args.seed, args.source)
    with open(args.out, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
