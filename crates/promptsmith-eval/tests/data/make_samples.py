#!/usr/bin/env python3
"""Writes the small samples in this folder from the full benchmark data (../shared/data beside
the project, or the folder given as the first argument). Deterministic: the same rows every time.
The tests read only these samples; the full data is for benchmarks."""
import csv, io, json, re, sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[5] / "shared/data")
out = Path(__file__).resolve().parent


def lines(path, n):
    with open(path, encoding="utf-8") as f:
        return [next(f) for _ in range(n)]


def write(rel, text):
    p = out / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


# GSM8K (MIT): the first rows of each split.
write("gsm8k/train.jsonl", "".join(lines(src / "gsm8k/train.jsonl", 8)))
write("gsm8k/test.jsonl", "".join(lines(src / "gsm8k/test.jsonl", 6)))

# BANKING77 (CC BY 4.0): every category name; every 100th test row (the file is sorted by
# category, so these span many), every 500th train row, and one test row again with extra spaces
# (a duplicate input once whitespace is collapsed).
write("banking77/categories.json", (src / "banking77/categories.json").read_text(encoding="utf-8"))
for split, step in [("test", 100), ("train", 500)]:
    rows = list(csv.DictReader(open(src / f"banking77/{split}.csv", encoding="utf-8", newline="")))
    picked = rows[::step]
    if split == "test":
        picked.append({"text": "  " + picked[3]["text"].replace(" ", "  "), "category": picked[3]["category"]})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["text", "category"], lineterminator="\n")
    w.writeheader()
    w.writerows(picked)
    write(f"banking77/{split}.csv", buf.getvalue())

# BIG-Bench Hard (MIT): the first 10 examples of three tasks, canary string kept.
for task in ["boolean_expressions", "snarks", "web_of_lies"]:
    data = json.load(open(src / f"bbh/{task}.json", encoding="utf-8"))
    data["examples"] = data["examples"][:10]
    write(f"bbh/{task}.json", json.dumps(data, ensure_ascii=False, indent=1) + "\n")

# HotpotQA (CC BY-SA 4.0): the first 5 questions with their paragraphs, the first 10 without.
write("hotpotqa/distractor_sample100.jsonl", "".join(lines(src / "hotpotqa/distractor_sample100.jsonl", 5)))
questions = json.load(open(src / "hotpotqa/dev_simplified.json", encoding="utf-8"))[:10]
write("hotpotqa/dev_simplified.json", json.dumps(questions, ensure_ascii=False, indent=1) + "\n")

# IFEval (Apache-2.0): in file order, each row that brings an instruction id not seen yet, so
# that every one of the 25 ids appears, and the rows with these keys: for each id, the first
# row whose prompt (standing in for a response) the loose check judges otherwise than the strict
# one, or, for ids no row above follows, the first row that follows it (found with the checks
# of src/metric/ifeval.rs on the full data).
EXTRA = {1546, 1746, 1691, 3188, 1582, 1375, 332, 1300, 3198, 3294,
         279, 2164, 2637, 1287, 2107, 1377, 1092, 1107}
seen, picked = set(), []
for line in open(src / "ifeval/input_data.jsonl", encoding="utf-8"):
    row = json.loads(line)
    ids = set(row["instruction_id_list"])
    if ids - seen or row["key"] in EXTRA:
        seen |= ids
        picked.append(line)
write("ifeval/input_data.jsonl", "".join(picked))

# MATH-500 (MIT): the first 10 problems.
write("math500/test.jsonl", "".join(lines(src / "math500/test.jsonl", 10)))
