#!/usr/bin/env python3
"""Writes the entity-extraction data in data/ from the hand annotations in annotations.jsonl.

    python3 examples/entities/make_data.py [--source ../shared/data/hotpotqa/distractor_sample100.jsonl]
    python3 examples/entities/make_data.py --candidates 3     # the sentences the rows were picked from

Each line of annotations.jsonl is one annotated sentence: {"split", "qid", "title", "text",
"entities"}. "text" is the first sentence of the Wikipedia paragraph "title" among the ten
paragraphs of HotpotQA question "qid" (distractor_sample100.jsonl, CC BY-SA 4.0), with HTML
entities unescaped and whitespace collapsed; "entities" are the named entities in it, annotated
by hand under the guideline in README.md. The script checks every annotation (when the source
file is there, that the text is that paragraph's first sentence; always, that every entity
occurs in the text verbatim and none twice) and writes data/train.jsonl and data/test.jsonl,
one row {"text", "entities"} per annotation, in the file's order. Running it again writes the
same bytes.

How the sentences were picked (--candidates prints the list): the 100 questions are shuffled
with SEED and split into a pool of 50 for train and 50 for test, so no test sentence comes from
a question whose paragraphs gave a training sentence. For each question the paragraphs are
shuffled with the question id as seed and their first sentences kept when 12 to 40 words long
and free of markup left over from the conversion (`{'`, `] `, empty brackets) and of non-Latin
script. The annotator took one of a question's first three candidates (preferring one with
several names and clear boundaries), in pool order, until 40 rows per split; a question whose
three candidates hold fewer than two names, or only species names, was passed over.
"""
import argparse
import html
import json
import os
import random
import re
import sys

SEED = 7
POOL = 50  # questions per split pool

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--source", default=os.path.join(here, "..", "..", "..", "shared", "data", "hotpotqa",
                                                  "distractor_sample100.jsonl"),
                help="HotpotQA distractor_sample100.jsonl (optional for writing: the texts are in annotations.jsonl)")
ap.add_argument("--annotations", default=os.path.join(here, "annotations.jsonl"))
ap.add_argument("--out", default=os.path.join(here, "data"))
ap.add_argument("--candidates", type=int, metavar="N", help="print each question's first N candidate sentences and stop")
args = ap.parse_args()


def clean(s):
    return re.sub(r"\s+", " ", html.unescape(s)).strip()


def usable(sentence):
    if not 12 <= len(sentence.split()) <= 40:
        return False
    if "{'" in sentence or "] " in sentence or "()" in sentence or "( " in sentence:
        return False
    return not re.search(r"[^\x00-\u024f\u2010-\u2019\u201c\u201d]", sentence)


def pools(rows):
    ids = [r["id"] for r in rows]
    random.Random(SEED).shuffle(ids)
    return {"train": ids[:POOL], "test": ids[POOL:]}


def candidates(row):
    paras = list(zip(row["context"]["title"], row["context"]["sentences"]))
    order = list(range(len(paras)))
    random.Random(row["id"]).shuffle(order)
    out = []
    for i in order:
        title, sentences = paras[i]
        if sentences and usable(clean(sentences[0])):
            out.append((title, clean(sentences[0])))
    return out


source = None
if os.path.exists(args.source):
    with open(args.source, encoding="utf-8") as f:
        source = {r["id"]: r for r in (json.loads(line) for line in f if line.strip())}

if args.candidates:
    if source is None:
        sys.exit(f"--candidates needs the source file, not found: {args.source}")
    for split, ids in pools(list(source.values())).items():
        for n, qid in enumerate(ids):
            print(f"{split} {n} {qid}")
            for k, (title, text) in enumerate(candidates(source[qid])[: args.candidates]):
                print(f"    {k} {title} || {text}")
    sys.exit(0)

with open(args.annotations, encoding="utf-8") as f:
    annotations = [json.loads(line) for line in f if line.strip()]
if source is None:
    print(f"note: {args.source} not found; writing from annotations.jsonl without checking the texts against it")
else:
    pool_of = {qid: split for split, ids in pools(list(source.values())).items() for qid in ids}

rows = {"train": [], "test": []}
problems = []
for i, a in enumerate(annotations, 1):
    where = f"annotations.jsonl line {i} ({a['title']})"
    if source is not None:
        row = source.get(a["qid"])
        paras = dict(zip(row["context"]["title"], row["context"]["sentences"])) if row else {}
        if a["title"] not in paras or clean(paras[a["title"]][0]) != a["text"]:
            problems.append(f"{where}: text is not the first sentence of that paragraph")
        if pool_of.get(a["qid"]) != a["split"]:
            problems.append(f"{where}: question {a['qid']} is not in the {a['split']} pool")
    for e in a["entities"]:
        if e not in a["text"]:
            problems.append(f"{where}: entity {e!r} does not occur in the text")
    if len({e.lower() for e in a["entities"]}) != len(a["entities"]):
        problems.append(f"{where}: an entity is listed twice")
    rows[a["split"]].append({"text": a["text"], "entities": a["entities"]})
if problems:
    sys.exit("\n".join(problems))

os.makedirs(args.out, exist_ok=True)
for split, items in rows.items():
    path = os.path.join(args.out, f"{split}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in items:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n = sum(len(r["entities"]) for r in items)
    print(f"wrote {len(items)} rows ({n} entities) to {path}")
