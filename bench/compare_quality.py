#!/usr/bin/env python3
"""Compares the promptsmith and DSPy quality runs in bench/results/quality/ example by example:
request bodies captured at the proxy (messages byte-identical? other parameters), the raw
completions, and the parsed predictions. Writes comparison.json and prints a summary.
"""

import argparse
import json
import os
import sys

COMPLETED = "[[ ## completed ## ]]"
QUESTION = "[[ ## question ## ]]\n"
RESPOND = "\n\nRespond with "


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def question_of(request):
    """The question in the last user message of a recorded request."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    if not users:
        return None
    text = users[-1].get("content") or ""
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text)
    start = text.find(QUESTION)
    if start < 0:
        return None
    text = text[start + len(QUESTION):]
    end = text.find(RESPOND)
    return text if end < 0 else text[:end]


def completion_of(record):
    try:
        return record["response"]["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None


def calls_by_question(records):
    out = {}
    for r in records:
        q = question_of(r["request"])
        out.setdefault(q, []).append(r)
    return out


def dspy_chat_parser(program_path):
    """DSPy's own ChatAdapter.parse for the program's signature, or None without DSPy."""
    try:
        import dspy  # noqa: F401
        from dspy_eval import build_program
    except ImportError:
        return None
    import dspy

    with open(program_path) as f:
        program, _ = build_program(json.load(f))
    signature = program.named_predictors()[0][1].signature
    adapter = dspy.ChatAdapter()

    def parse(text):
        try:
            return {"fields": adapter.parse(signature, text)}
        except Exception as e:  # AdapterParseError and friends: keep the first line
            return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}

    return parse


def same_number(a, b):
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def category(entry, ps_calls, ds_calls, preds_same):
    """Why an example's predictions agree or differ."""
    if "missing_calls" in entry:
        return "missing calls"
    if "completions_differ" in entry:
        return "different first completion (model output differs)"
    if preds_same:
        return "same completion, same prediction" + (" (both after a JSON retry)" if len(ps_calls) > 1 else "")
    if len(ps_calls) == 1 and len(ds_calls) > 1:
        return "same completion; promptsmith parsed it, DSPy's ChatAdapter rejected it and retried with JSONAdapter"
    if len(ps_calls) > 1 and len(ds_calls) == 1:
        return "same completion; DSPy parsed it, promptsmith rejected it and retried in JSON mode"
    if len(ps_calls) > 1 and len(ds_calls) > 1:
        return "same completion; both rejected it and retried in JSON mode (different retry prompts)"
    return "same completion, different parse"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--dir", default=os.path.join(here, "results", "quality"))
    ap.add_argument("--program", default=os.path.join(here, "programs", "gsm8k_cot_dspy.json"))
    args = ap.parse_args()
    sys.path.insert(0, here)
    dspy_parse = dspy_chat_parser(args.program)
    d = args.dir
    data = read_jsonl(os.path.join(d, "data.jsonl"))
    preds = {s: {p["index"]: p for p in read_jsonl(os.path.join(d, f"{s}.predictions.jsonl"))} for s in ("promptsmith", "dspy")}
    calls = {s: calls_by_question(read_jsonl(os.path.join(d, f"{s}.calls.jsonl"))) for s in ("promptsmith", "dspy")}

    counts = {
        "examples": len(data),
        "messages_identical": 0,
        "completions_identical": 0,
        "completions_identical_up_to_completed_marker": 0,
        "predictions_identical": 0,
        "answers_identical": 0,
        "scores_identical": 0,
        "calls_promptsmith": sum(len(v) for v in calls["promptsmith"].values()),
        "calls_dspy": sum(len(v) for v in calls["dspy"].values()),
        "followup_pairs": 0,
        "followup_messages_identical": 0,
    }
    body_differences = {}
    differences = []
    categories = {}
    for i, row in enumerate(data):
        q = row["question"]
        ps_calls, ds_calls = calls["promptsmith"].get(q, []), calls["dspy"].get(q, [])
        ps_pred, ds_pred = preds["promptsmith"].get(i, {}), preds["dspy"].get(i, {})
        entry = {"index": i, "id": row.get("id"), "gold": row["answer"]}
        if ps_calls and ds_calls:
            ps_req, ds_req = ps_calls[0]["request"], ds_calls[0]["request"]
            strip = lambda msgs: [{"role": m.get("role"), "content": m.get("content")} for m in msgs]  # noqa: E731
            if strip(ps_req.get("messages", [])) == strip(ds_req.get("messages", [])):
                counts["messages_identical"] += 1
            else:
                entry["messages_differ"] = True
            for key in sorted(set(ps_req) | set(ds_req)):
                if key == "messages":
                    continue
                a, b = ps_req.get(key), ds_req.get(key)
                if a != b:
                    body_differences.setdefault(key, {"promptsmith": a, "dspy": b, "examples": 0})["examples"] += 1
            ps_text, ds_text = completion_of(ps_calls[0]), completion_of(ds_calls[0])
            if ps_text == ds_text:
                counts["completions_identical"] += 1
                counts["completions_identical_up_to_completed_marker"] += 1
            elif ps_text is not None and ds_text is not None and ds_text.split(COMPLETED)[0] == ps_text.split(COMPLETED)[0]:
                counts["completions_identical_up_to_completed_marker"] += 1
                entry["completion_tail_after_marker_dspy"] = ds_text[len(ds_text.split(COMPLETED)[0]):]
            else:
                entry["completions_differ"] = {"promptsmith": ps_text, "dspy": ds_text}
            if len(ps_calls) > 1 or len(ds_calls) > 1:
                entry["calls"] = {"promptsmith": len(ps_calls), "dspy": len(ds_calls)}
                # Follow-up calls (the JSON-mode retry after a parse failure), pair by pair.
                for k, (pc, dc) in enumerate(zip(ps_calls[1:], ds_calls[1:]), start=1):
                    counts["followup_pairs"] += 1
                    same = strip(pc["request"].get("messages", [])) == strip(dc["request"].get("messages", []))
                    counts["followup_messages_identical"] += same
                    entry.setdefault("followups", []).append({
                        "call": k + 1,
                        "messages_identical": same,
                        "response_format": {"promptsmith": pc["request"].get("response_format"), "dspy": dc["request"].get("response_format")},
                        "completions_identical": completion_of(pc) == completion_of(dc),
                    })
        else:
            entry["missing_calls"] = {"promptsmith": len(ps_calls), "dspy": len(ds_calls)}
        a, b = ps_pred.get("prediction") or {}, ds_pred.get("prediction") or {}
        answers_same = same_number(a.get("answer"), b.get("answer")) if (a or b) else True
        preds_same = answers_same and a.get("reasoning") == b.get("reasoning") and bool(a) == bool(b)
        counts["answers_identical"] += answers_same
        counts["predictions_identical"] += preds_same
        counts["scores_identical"] += ps_pred.get("score") == ds_pred.get("score")
        if not preds_same:
            entry["prediction"] = {"promptsmith": a, "dspy": b}
            if ps_pred.get("error"):
                entry["promptsmith_error"] = ps_pred["error"]
        entry["score"] = {"promptsmith": ps_pred.get("score"), "dspy": ds_pred.get("score")}
        entry["category"] = category(entry, ps_calls, ds_calls, preds_same)
        categories[entry["category"]] = categories.get(entry["category"], 0) + 1
        if dspy_parse is not None and ps_calls and not preds_same:
            # What DSPy's ChatAdapter makes of promptsmith's first completion: shows whether a
            # difference is parsing (same text, different reading) or a different text.
            entry["dspy_parse_of_promptsmith_completion"] = dspy_parse(completion_of(ps_calls[0]) or "")
        if any(k in entry for k in ("messages_differ", "completions_differ", "prediction", "missing_calls", "calls")):
            differences.append(entry)
    n = len(data)
    scores = {s: sum(p.get("score") or 0 for p in preds[s].values()) / max(n, 1) for s in preds}
    result = {
        "counts": counts,
        "share_predictions_identical": counts["predictions_identical"] / max(n, 1),
        "share_answers_identical": counts["answers_identical"] / max(n, 1),
        "scores": scores,
        "categories": categories,
        "dspy_parse_checked": dspy_parse is not None,
        "request_body_differences_besides_messages": body_differences,
        "differences": differences,
    }
    with open(os.path.join(d, "comparison.json"), "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(json.dumps({k: v for k, v in result.items() if k != "differences"}, indent=2))
    for e in differences:
        print(json.dumps(e, ensure_ascii=False)[:600])


if __name__ == "__main__":
    main()
