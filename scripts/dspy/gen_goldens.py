#!/usr/bin/env python3
"""Generate ChatAdapter golden files from the real DSPy (pinned: 3.4.1).

Reads   crates/promptsmith-core/tests/golden/chat_adapter/cases.json
Writes  crates/promptsmith-core/tests/golden/chat_adapter/<case>.messages.json
        crates/promptsmith-core/tests/golden/chat_adapter/parse_cases.json

Case spec (see cases.json):
  name, signature (informational), instruction (null = DSPy default instructions),
  fields: [{name, io: input|output, type, desc (null = none), labels (enum only)}],
  demos: [ {field: value, ...} ], inputs: {field: value}
  derived_from (optional): {"module": "ChainOfThought", "instruction", "fields"}: the case's
      `fields`/`instruction` are what DSPy's ChainOfThought(<base>).predict.signature produces.
      Run with --sync-derived to (re)write them from DSPy; otherwise they are verified.

Types: str, int, float, bool, list[str], enum (typing.Literal[labels...]), json (dict[str, Any]).

Usage: /tmp/dspy-venv/bin/python scripts/dspy/gen_goldens.py [--sync-derived]
"""

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import dspy

EXPECTED_DSPY_VERSION = "3.4.1"

REPO = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO / "crates" / "promptsmith-core" / "tests" / "golden" / "chat_adapter"
CASES_PATH = GOLDEN_DIR / "cases.json"
PARSE_PATH = GOLDEN_DIR / "parse_cases.json"

SIMPLE_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list[str], "json": dict[str, Any]}


def annotation_for(field: dict) -> Any:
    t = field["type"]
    if t == "enum":
        return Literal[tuple(field["labels"])]
    if t in SIMPLE_TYPES:
        return SIMPLE_TYPES[t]
    raise ValueError(f"unknown type {t!r} in field {field['name']!r}")


def spec_type_for(annotation: Any) -> dict:
    if typing.get_origin(annotation) is Literal:
        return {"type": "enum", "labels": list(typing.get_args(annotation))}
    for name, ann in SIMPLE_TYPES.items():
        if ann == annotation:
            return {"type": name}
    raise ValueError(f"no spec type for annotation {annotation!r}")


def build_signature(fields: list[dict], instruction: str | None) -> type[dspy.Signature]:
    sig_fields = {}
    for f in fields:
        kwargs = {} if f.get("desc") is None else {"desc": f["desc"]}
        field_cls = dspy.InputField if f["io"] == "input" else dspy.OutputField
        sig_fields[f["name"]] = (annotation_for(f), field_cls(**kwargs))
    return dspy.make_signature(sig_fields, instruction)


def signature_to_spec(sig: type[dspy.Signature], base_fields: list[dict]) -> tuple[str, list[dict]]:
    """Describe a DSPy signature in case-spec form (desc=null where DSPy kept its `${name}` default
    for a field that had no desc in the base spec)."""
    base_by_name = {f["name"]: f for f in base_fields}
    out = []
    for name, info in sig.fields.items():
        io = info.json_schema_extra["__dspy_field_type"]
        desc = info.json_schema_extra["desc"]
        base = base_by_name.get(name)
        if base is not None and base.get("desc") is None and desc == f"${{{name}}}":
            desc = None
        entry = {"name": name, "io": io, **spec_type_for(info.annotation), "desc": desc}
        out.append(entry)
    return sig.instructions, out


def derived_signature(case: dict) -> type[dspy.Signature]:
    d = case["derived_from"]
    base = build_signature(d["fields"], d["instruction"])
    if d["module"] == "ChainOfThought":
        return dspy.ChainOfThought(base).predict.signature
    raise ValueError(f"unknown derived module {d['module']!r}")


def same_signature(a: type[dspy.Signature], b: type[dspy.Signature]) -> bool:
    if a.instructions != b.instructions or list(a.fields) != list(b.fields):
        return False
    for name in a.fields:
        fa, fb = a.fields[name], b.fields[name]
        if fa.annotation != fb.annotation:
            return False
        for key in ("__dspy_field_type", "desc", "prefix"):
            if fa.json_schema_extra.get(key) != fb.json_schema_extra.get(key):
                return False
    return True


def case_signature(case: dict) -> type[dspy.Signature]:
    sig = build_signature(case["fields"], case["instruction"])
    if "derived_from" in case:
        real = derived_signature(case)
        if not same_signature(sig, real):
            instr, fields = signature_to_spec(real, case["derived_from"]["fields"])
            raise SystemExit(
                f"case {case['name']!r}: spec fields/instruction differ from DSPy's {case['derived_from']['module']}; "
                f"run with --sync-derived. DSPy gives instruction={instr!r} fields={json.dumps(fields)}"
            )
        return real
    return sig


# Parse goldens: (case, completion). Expected values / errors are computed by DSPy.
PARSE_INPUTS = [
    # well-formed, as DSPy asks for it
    ("simple_str", "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]\n"),
    # extra whitespace around headers and values; header indented; trailing text after completed
    ("simple_str", "  \n[[ ## answer ## ]]   \n\n   Paris is the capital.  \n\n\n  [[ ## completed ## ]]  \nignored trailer"),
    # value on the same line as the header, no completed marker, preamble text before first header
    ("simple_str", "Sure! Here you go.\n[[ ## answer ## ]] Paris"),
    # multi-line value kept verbatim (inner newlines/indentation preserved, outer whitespace stripped)
    ("multiline_values",
     "[[ ## summary ## ]]\nLine one.\n\n  Line two, indented.\n\n[[ ## tags ## ]]\n[\"fruit\", \"list\"]\n\n[[ ## completed ## ]]"),
    # int output: plain, and with surrounding whitespace; missing completed marker
    ("int_output", "[[ ## answer ## ]]\n  8  \n"),
    # int output given as 42.0 (pydantic lax int) -> 42
    ("with_demos", "[[ ## answer ## ]]\n320.0\n\n[[ ## completed ## ]]"),
    # int output that is not a number -> error
    ("int_output", "[[ ## answer ## ]]\neight\n\n[[ ## completed ## ]]"),
    # enum: exact, quoted, case mismatch (error)
    ("enum_output", "[[ ## label ## ]]\nnegative\n\n[[ ## completed ## ]]"),
    ("enum_output", "[[ ## label ## ]]\n'negative'\n\n[[ ## completed ## ]]"),
    ("enum_output", "[[ ## label ## ]]\nNegative\n\n[[ ## completed ## ]]"),
    # float + bool outputs, including lowercase JSON-style bool
    ("float_bool", "[[ ## confidence ## ]]\n0.85\n\n[[ ## is_true ## ]]\nTrue\n\n[[ ## completed ## ]]"),
    ("float_bool", "[[ ## confidence ## ]]\n1\n\n[[ ## is_true ## ]]\nfalse\n\n[[ ## completed ## ]]"),
    # list[str] output as a JSON array, and as a Python list literal (single quotes)
    ("multiline_values", "[[ ## summary ## ]]\nShort.\n\n[[ ## tags ## ]]\n[\"a\", \"b\", \"c\"]\n\n[[ ## completed ## ]]"),
    ("multiline_values", "[[ ## summary ## ]]\nShort.\n\n[[ ## tags ## ]]\n['a', 'b']\n\n[[ ## completed ## ]]"),
    # json output
    ("json_output",
     "[[ ## entities ## ]]\n{\"person\": [\"Ada Lovelace\", \"Charles Babbage\"], \"location\": [\"London\"]}\n\n[[ ## completed ## ]]"),
    # chain of thought: both outputs; fields in reverse order still parse
    ("chain_of_thought", "[[ ## reasoning ## ]]\n17 + 5 = 22.\n\n[[ ## answer ## ]]\n22\n\n[[ ## completed ## ]]"),
    ("chain_of_thought", "[[ ## answer ## ]]\n22\n\n[[ ## reasoning ## ]]\nAdded them.\n\n[[ ## completed ## ]]"),
    # duplicate header: first occurrence wins; echoed input header is ignored
    ("simple_str", "[[ ## question ## ]]\nWhat is the capital of France?\n\n[[ ## answer ## ]]\nParis\n\n[[ ## answer ## ]]\nLyon\n\n[[ ## completed ## ]]"),
    # missing output field -> error
    ("chain_of_thought", "[[ ## reasoning ## ]]\nI think it is 22.\n\n[[ ## completed ## ]]"),
    # no headers at all -> error
    ("simple_str", "Paris"),
    # header with different spacing is not a header -> error
    ("simple_str", "[[## answer ##]]\nParis\n\n[[ ## completed ## ]]"),
]


def gen_parse_goldens(cases_by_name: dict, signatures: dict) -> list[dict]:
    from dspy.utils.exceptions import AdapterParseError

    adapter = dspy.ChatAdapter()
    out = []
    for case_name, completion in PARSE_INPUTS:
        sig = signatures[case_name]
        entry = {"case": case_name, "completion": completion}
        try:
            parsed = adapter.parse(sig, completion)
            entry["expected"] = json.loads(json.dumps(parsed))  # must be plain JSON values
        except AdapterParseError as e:
            entry["error"] = str(e)
            entry["error_kind"] = "missing_fields" if e.parsed_result is not None else "value_parse"
            if e.parsed_result is not None:
                entry["parsed_fields"] = list(e.parsed_result.keys())
        out.append(entry)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sync-derived", action="store_true", help="rewrite derived cases' fields from DSPy")
    args = ap.parse_args()

    if dspy.__version__ != EXPECTED_DSPY_VERSION:
        sys.exit(f"expected dspy {EXPECTED_DSPY_VERSION}, found {dspy.__version__}")

    cases = json.loads(CASES_PATH.read_text(encoding="utf-8"))

    if args.sync_derived:
        for case in cases:
            if "derived_from" in case:
                instr, fields = signature_to_spec(derived_signature(case), case["derived_from"]["fields"])
                case["instruction"], case["fields"] = instr, fields
        CASES_PATH.write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    adapter = dspy.ChatAdapter()
    signatures = {}
    for case in cases:
        sig = case_signature(case)
        signatures[case["name"]] = sig
        messages = adapter.format(sig, case["demos"], case["inputs"])
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages)
        path = GOLDEN_DIR / f"{case['name']}.messages.json"
        path.write_text(json.dumps(messages, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)} ({len(messages)} messages)")

    parse = gen_parse_goldens({c["name"]: c for c in cases}, signatures)
    PARSE_PATH.write_text(json.dumps(parse, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PARSE_PATH.relative_to(REPO)} ({len(parse)} cases)")


if __name__ == "__main__":
    main()
