#!/usr/bin/env python3
"""Writes the banking77 sample shipped in data/ from the full BANKING77 set.

    python3 examples/banking77/make_sample.py [--source ../shared/data/banking77]

Reads train.csv and test.csv (columns text, category) and writes data/train.jsonl (200 rows
of train.csv) and data/test.jsonl (100 rows of test.csv), each row {"query", "label"}. The rows
are drawn as bench/optimize_bench.py draws its banking77 splits (seed 2026, unique queries,
no test query that also occurs in train.csv), so train.jsonl is that benchmark's train split
followed by its val split and test.jsonl is its test split. Running it again writes the same
bytes.
"""
import argparse
import csv
import json
import os
import random

SEED = 2026
N_TRAIN, N_TEST = 200, 100

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--source", default=os.path.join(here, "..", "..", "..", "shared", "data", "banking77"),
                help="folder holding BANKING77's train.csv and test.csv")
ap.add_argument("--out", default=os.path.join(here, "data"))
args = ap.parse_args()


def read(name):
    with open(os.path.join(args.source, name), newline="") as f:
        return [{"query": r["text"].strip(), "label": r["category"].strip()} for r in csv.DictReader(f)]


pool, test_pool = read("train.csv"), read("test.csv")
seen, uniq = set(), []
for r in pool:
    if r["query"] not in seen:
        seen.add(r["query"])
        uniq.append(r)
rng = random.Random(SEED)
train = rng.sample(uniq, N_TRAIN)
test = rng.sample([r for r in test_pool if r["query"] not in seen], N_TEST)
os.makedirs(args.out, exist_ok=True)
for name, rows in (("train.jsonl", train), ("test.jsonl", test)):
    with open(os.path.join(args.out, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"wrote {len(rows)} rows to {os.path.join(args.out, name)}")
