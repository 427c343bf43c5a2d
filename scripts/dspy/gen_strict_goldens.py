#!/usr/bin/env python3
"""Generate the golden files for promptsmith's DSPy-strict adapter (`adapter: dspy`) from the
real DSPy (pinned: 3.4.1).

Reads   crates/promptsmith-core/tests/golden/chat_adapter/cases.json (the same signatures)
        bench/results/quality-chat/dspy.calls.jsonl (real completions of the local model, if present)
Writes  crates/promptsmith-core/tests/golden/dspy_strict/
          <case>.json_messages.json  JSONAdapter().format(signature, demos, inputs)
          values.json                parse_value(text, annotation) over a table of texts x types
          chat_parse.json            ChatAdapter().parse on hand-written and real completions
          json_parse.json            JSONAdapter().parse on hand-written and real completions

Usage: ~/.cache/promptsmith/dspy-venv/bin/python scripts/dspy/gen_strict_goldens.py
"""

import json
import sys
from pathlib import Path
from typing import Literal

import dspy
from dspy.adapters.utils import parse_value
from dspy.utils.exceptions import AdapterParseError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_goldens import EXPECTED_DSPY_VERSION, PARSE_INPUTS, case_signature  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "crates" / "promptsmith-core" / "tests" / "golden" / "chat_adapter" / "cases.json"
OUT = REPO / "crates" / "promptsmith-core" / "tests" / "golden" / "dspy_strict"
QUALITY_CALLS = REPO / "bench" / "results" / "quality-chat" / "dspy.calls.jsonl"

TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list[str],
         "enum": Literal["positive", "negative"]}
TEXTS = [
    "32.0", "10", "-1.25", "9.00", "1200.00000000000002", "42.", ".5", "1e3", "1_000", "0x10", "+5", "- 3",
    "'42'", '"42"', "1,234", "$112.00", "240 dozens of eggs", "1. 4.0", "3.5 * 8 = 28 miles", "12%", "4/5",
    "two", "", "42\n\nmore", "True", "true", "yes", "no", "off", "2", "1.0", "0",
    "['a', 'b']", '["a", "b"]', "[1, 2]", "a, b", '{"a": 1}', "positive", "'negative'", "Literal['positive']",
    "Negative", "positive.", "None", "null",
]

CHAT_COMPLETIONS = [
    ("chain_of_thought", "[[ ## reasoning ## ]]\nSo 240.\n\n[[ ## answer ## ]]\n240 dozens of eggs\n\n[[ ## completed ## ]]"),
    ("chain_of_thought", "[[ ## reasoning ## ]]\nx\n\n[[ ## answer ## ]]\n$112.00\n\n[[ ## completed ## ]]"),
    ("chain_of_thought", "  [[ ## reasoning ## ]] inline start\nmore\r\n[[ ## answer ## ]]\r\n22\r\n"),
    ("chain_of_thought", "[[ ## reasoning ## ]]\nx\n\n[[ ## answer ## ]]\n22\n\n[[ ## completed ## ]]\n\n[[ ## answer ## ]]\n23"),
    ("enum_output", "[[ ## label ## ]]\nLiteral['positive']\n\n[[ ## completed ## ]]"),
    ("float_bool", "[[ ## confidence ## ]]\n.5\n\n[[ ## is_true ## ]]\nyes\n\n[[ ## completed ## ]]"),
    ("float_bool", "[[ ## confidence ## ]]\nhigh\n\n[[ ## is_true ## ]]\nyes\n\n[[ ## completed ## ]]"),
]

JSON_COMPLETIONS = [
    ("chain_of_thought", '{"reasoning": "add", "answer": 22}'),
    ("chain_of_thought", '```json\n{\n  "reasoning": "add",\n  "answer": "22"\n}\n```'),
    ("chain_of_thought", 'Sure: {"reasoning": "a\nb", "answer": 22.0} hope it helps'),
    ("chain_of_thought", '{"reasoning": "add", "answer": 22,}'),
    ("chain_of_thought", '{"reasoning": "add"}'),
    ("chain_of_thought", "no json at all"),
    ("chain_of_thought", '{"reasoning": "add", "answer": "twenty-two"}'),
    ("chain_of_thought", '{"reasoning": ["step 1", "step 2"], "answer": 22}'),
    ("float_bool", '{"confidence": 1, "is_true": "yes"}'),
    ("enum_output", '{"label": "negative"}'),
    ("enum_output", '{"label": "Negative"}'),
]


def outcome(fn):
    try:
        return {"expected": json.loads(json.dumps(fn()))}
    except (AdapterParseError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}


def gsm8k_signature():
    base = dspy.Signature(
        {"question": (str, dspy.InputField()),
         "answer": (float, dspy.OutputField(desc="the final number only, without units"))},
        "Solve the math word problem. Work it out step by step, then give the final numeric answer.",
    )
    return dspy.ChainOfThought(base).predict.signature


def real_completions():
    """First calls (ChatAdapter) and JSON retries (JSONAdapter) recorded in the quality run."""
    chat, js = [], []
    if not QUALITY_CALLS.exists():
        return chat, js
    for line in QUALITY_CALLS.read_text().splitlines():
        r = json.loads(line)
        system = r["request"]["messages"][0]["content"]
        text = r["response"]["choices"][0]["message"]["content"]
        (js if "Outputs will be a JSON object" in system else chat).append(("gsm8k_cot", text))
    return chat, js


def main():
    if dspy.__version__ != EXPECTED_DSPY_VERSION:
        sys.exit(f"expected dspy {EXPECTED_DSPY_VERSION}, found {dspy.__version__}")
    OUT.mkdir(parents=True, exist_ok=True)
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    sigs = {c["name"]: case_signature(c) for c in cases}
    sigs["gsm8k_cot"] = gsm8k_signature()
    json_adapter, chat_adapter = dspy.JSONAdapter(), dspy.ChatAdapter()
    for case in cases:
        messages = json_adapter.format(sigs[case["name"]], case["demos"], case["inputs"])
        (OUT / f"{case['name']}.json_messages.json").write_text(
            json.dumps(messages, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    values = [{"text": t, "type": name, **outcome(lambda t=t, a=ann: parse_value(t, a))}
              for t in TEXTS for name, ann in TYPES.items()]
    (OUT / "values.json").write_text(json.dumps(values, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    real_chat, real_json = real_completions()
    chat_inputs = [(c, t) for c, t in PARSE_INPUTS] + CHAT_COMPLETIONS + real_chat
    chat = [{"case": c, "completion": t, **outcome(lambda c=c, t=t: chat_adapter.parse(sigs[c], t))}
            for c, t in chat_inputs]
    (OUT / "chat_parse.json").write_text(json.dumps(chat, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    js = [{"case": c, "completion": t, **outcome(lambda c=c, t=t: json_adapter.parse(sigs[c], t))}
          for c, t in JSON_COMPLETIONS + real_json]
    (OUT / "json_parse.json").write_text(json.dumps(js, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(cases)} formats, {len(values)} values, {len(chat)} chat parses, {len(js)} JSON parses -> {OUT}")


if __name__ == "__main__":
    main()
