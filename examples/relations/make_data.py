#!/usr/bin/env python3
"""Writes the relation-extraction data in data/ from the hand annotations in annotations.jsonl.

    python3 examples/relations/make_data.py [--source ../shared/data/hotpotqa/distractor_sample100.jsonl]
    python3 examples/relations/make_data.py --candidates 9    # the sentences the rows were picked from

Each line of annotations.jsonl is one annotated sentence: {"split", "qid", "title", "text",
"relations"}. "text" is the first sentence of the Wikipedia paragraph "title" among the ten
paragraphs of HotpotQA question "qid" (distractor_sample100.jsonl, CC BY-SA 4.0), with HTML
entities unescaped and whitespace collapsed; "relations" are the {"head", "relation", "tail"}
triples it states, annotated by hand under the guideline in README.md, with "relation" one of
RELATIONS. The script checks every annotation (when the source file is there, that the text is
that paragraph's first sentence; always, that every head and tail occurs in the text verbatim,
that every relation is in the set and no triple is listed twice) and writes data/train.jsonl
and data/test.jsonl, one row {"text", "relations"} per annotation, in the file's order.
"relations" is written as JSON text (a string holding the JSON array), because the program's
output field is a plain string: that is what demos show the model, and the set_f1 metric parses
a string holding a JSON array as the array. Running it again writes the same bytes.

How the sentences were picked (--candidates prints the list): the 100 questions are shuffled
with SEED and split into a pool of 50 for train and 50 for test, so no test sentence comes from
a question whose paragraphs gave a training sentence. For each question the paragraphs are
shuffled with the question id as seed and their first sentences kept when 12 to 40 words long
and free of markup left over from the conversion (`{'`, `] `, empty brackets) and of non-Latin
script. The annotator took, in pool order, one candidate per question that states at least one
relation of the set (the first three candidates were read, and up to nine where the first
three state none), until 40 rows per split; a question with no such candidate was passed over.
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
RELATIONS = ["born_in", "located_in", "founded_by", "member_of", "part_of", "directed_by", "written_by",
             "performed_by", "starring"]

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
    for t in a["relations"]:
        if sorted(t) != ["head", "relation", "tail"] or t["relation"] not in RELATIONS:
            problems.append(f"{where}: {t} is not a triple of the relation set")
        for end in ("head", "tail"):
            if t.get(end, "") not in a["text"]:
                problems.append(f"{where}: {end} {t.get(end)!r} does not occur in the text")
    keys = {(t["head"].lower(), t["relation"], t["tail"].lower()) for t in a["relations"]}
    if len(keys) != len(a["relations"]) or not keys:
        problems.append(f"{where}: a triple is listed twice, or there is none")
    rows[a["split"]].append({"text": a["text"], "relations": json.dumps(a["relations"], ensure_ascii=False)})
if problems:
    sys.exit("\n".join(problems))

os.makedirs(args.out, exist_ok=True)
for split, items in rows.items():
    path = os.path.join(args.out, f"{split}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in items:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n = sum(len(json.loads(r["relations"])) for r in items)
    print(f"wrote {len(items)} rows ({n} triples) to {path}")
