#!/usr/bin/env python3
"""Writes the HotpotQA sample shipped in data/ from the 100 distractor-setting questions.

    python3 examples/hotpotqa/make_sample.py [--source ../shared/data/hotpotqa/distractor_sample100.jsonl]

Reads distractor_sample100.jsonl (100 HotpotQA dev questions, each with 10 Wikipedia paragraphs,
two of them holding the supporting facts; CC BY-SA 4.0) and writes data/train.jsonl (30 rows)
and data/test.jsonl (40 rows), each row {"question", "context", "answer"}. The 99 questions
with a clean answer (one answer, 'Jonny" Craig', is garbled in the source and left out) are
shuffled with SEED; the first 30 are train, the next 40 test, the other 29 are not shipped
(`--unused PATH` writes them, trimmed alike).

The context is trimmed so that a prompt with two demos fits a 4,096-token server slot (a
llama-server with -c 8192 and 2 slots): it keeps the two supporting paragraphs and
N_DISTRACTORS of the eight others (drawn with SEED and the question id), in the order the
source gives them. A supporting paragraph keeps its first MAX_SENTENCES sentences, or more
when a supporting fact comes later; a distractor keeps its first DISTRACTOR_SENTENCES. Each
paragraph is written as "Title: sentences" and paragraphs are separated by a blank line, as
the `titled_paragraphs` transform of the built-in `hotpotqa` dataset writes the full ten.
Running it again writes the same bytes.
"""
import argparse
import json
import os
import random
import re

SEED = 2018
N_TRAIN, N_TEST = 30, 40
N_DISTRACTORS = 3
MAX_SENTENCES = 5
DISTRACTOR_SENTENCES = 3
GARBLED = {'Jonny" Craig'}

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--source", default=os.path.join(here, "..", "..", "..", "shared", "data", "hotpotqa",
                                                  "distractor_sample100.jsonl"))
ap.add_argument("--out", default=os.path.join(here, "data"))
ap.add_argument("--unused", help="also write the 29 questions the sample leaves out here (bench/optimize_bench.py "
                                 "uses them as its HotpotQA validation split)")
args = ap.parse_args()


def clean(text):
    return re.sub(r"\s+", " ", text).strip()


def trimmed_context(row):
    titles, sentences = row["context"]["title"], row["context"]["sentences"]
    supporting = {}
    for t, i in zip(row["supporting_facts"]["title"], row["supporting_facts"]["sent_id"]):
        supporting[t] = max(supporting.get(t, 0), i)
    others = [t for t in titles if t not in supporting]
    distractors = set(random.Random(f"{SEED}-{row['id']}").sample(others, N_DISTRACTORS))
    paragraphs = []
    for t, ss in zip(titles, sentences):
        if t in supporting:
            keep = max(MAX_SENTENCES, supporting[t] + 1)
        elif t in distractors:
            keep = DISTRACTOR_SENTENCES
        else:
            continue
        text = " ".join(clean(s) for s in ss[:keep] if clean(s))
        paragraphs.append(f"{clean(t)}: {text}")
    return "\n\n".join(paragraphs)


with open(args.source, encoding="utf-8") as f:
    rows = [json.loads(line) for line in f if line.strip()]
rows = [r for r in rows if r["answer"] not in GARBLED]
random.Random(SEED).shuffle(rows)
out = [{"question": clean(r["question"]), "context": trimmed_context(r), "answer": clean(r["answer"])} for r in rows]
os.makedirs(args.out, exist_ok=True)
parts = [(os.path.join(args.out, "train.jsonl"), out[:N_TRAIN]),
         (os.path.join(args.out, "test.jsonl"), out[N_TRAIN:N_TRAIN + N_TEST])]
if args.unused:
    parts.append((args.unused, out[N_TRAIN + N_TEST:]))
for path, part in parts:
    with open(path, "w", encoding="utf-8") as f:
        for r in part:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    longest = max(len(r["context"]) for r in part)
    print(f"wrote {len(part)} rows to {path} (longest context {longest} characters)")
