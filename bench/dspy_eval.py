#!/usr/bin/env python3
"""Evaluate a promptsmith program spec with DSPy 3.4.1, for side-by-side benchmarks.

The spec (e.g. bench/programs/gsm8k_cot_chat.json) is turned into the equivalent DSPy
program: one `dspy.Predict` or `dspy.ChainOfThought` over `dspy.Signature(<signature string>,
<instruction>)` with the field descriptions, the ChatAdapter, and the spec's temperature and
max_tokens. It is evaluated with `dspy.Evaluate(num_threads=<concurrency>)`, DSPy's caches
off, against `--base-url` (the counting proxy). Prints and writes a JSON summary; the wall
and CPU time of the evaluation phase are measured in-process (imports and setup excluded).

    python bench/dspy_eval.py --program P --data D.jsonl --base-url http://127.0.0.1:8091/v1 \
        --concurrency 16 --out summary.json [--predictions preds.jsonl]
"""

import argparse
import json
import math
import os
import re
import resource
import sys
import time

T_START = time.perf_counter()

import dspy  # noqa: E402  (imported after the start time on purpose: import cost is reported)

T_IMPORTED = time.perf_counter()

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_number(value):
    """The last number in a value (numbers as is, text searched), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return None
    found = NUMBER.findall(str(value))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def numeric_match(example, prediction, trace=None, field="answer", rel_tol=1e-6):
    """1.0 when the predicted and gold numbers agree within rel_tol (as promptsmith's numeric_match)."""
    gold = last_number(example.get(field))
    pred = last_number(prediction.get(field) if hasattr(prediction, "get") else None)
    if gold is None or pred is None:
        return 0.0
    return 1.0 if gold == pred or math.isclose(gold, pred, rel_tol=rel_tol, abs_tol=0.0) else 0.0


def exact_match(example, prediction, trace=None, field="answer"):
    gold = example.get(field)
    pred = prediction.get(field) if hasattr(prediction, "get") else None
    return 1.0 if str(gold).strip().lower() == str(pred).strip().lower() else 0.0


METRICS = {"numeric_match": numeric_match, "exact_match": exact_match}


def build_program(spec):
    """The DSPy module equivalent to a single-predictor promptsmith spec."""
    predictors = spec["predictors"]
    if len(predictors) != 1 or spec.get("steps"):
        sys.exit("dspy_eval.py handles single-predictor specs only")
    p = predictors[0]
    adapter = p.get("adapter", spec.get("adapter", "chat"))
    if adapter not in ("chat", "dspy"):
        sys.exit(f"dspy_eval.py compares the chat and dspy adapters only (spec uses {adapter!r})")
    signature = dspy.Signature(p["signature"], p.get("instruction") or None)
    for name, desc in (p.get("descriptions") or {}).items():
        signature = signature.with_updated_fields(name, desc=desc)
    module = p.get("module", "predict")
    if module == "chain_of_thought":
        return dspy.ChainOfThought(signature), signature
    if module == "predict":
        return dspy.Predict(signature), signature
    sys.exit(f"unsupported module {module!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", required=True, help="promptsmith program spec (JSON)")
    ap.add_argument("--data", required=True, help="JSONL examples with the input fields and the label")
    ap.add_argument("--base-url", required=True, help="OpenAI-compatible base URL ending in /v1")
    ap.add_argument("--model", default="fake-lm", help="model name sent to the server")
    ap.add_argument("--concurrency", type=int, default=16, help="dspy.Evaluate num_threads")
    ap.add_argument("--metric", default="numeric_match", choices=sorted(METRICS))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", help="write the JSON summary here")
    ap.add_argument("--predictions", help="write one JSON line per example (fields, score) here")
    args = ap.parse_args()

    with open(args.program) as f:
        spec = json.load(f)
    program, signature = build_program(spec)
    options = spec.get("options") or {}
    pred_options = spec["predictors"][0].get("options") or {}
    options = {**options, **pred_options}
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    lm = dspy.LM(
        f"openai/{args.model}",
        api_base=args.base_url,
        api_key=os.environ.get("OPENAI_API_KEY", "bench"),
        temperature=options.get("temperature", 0.0),
        max_tokens=options.get("max_tokens", 1024),
        cache=False,
    )
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())

    inputs = list(signature.input_fields)
    rows = []
    with open(args.data) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    if args.limit is not None:
        rows = rows[: args.limit]
    devset = [dspy.Example(**row).with_inputs(*inputs) for row in rows]
    metric = METRICS[args.metric]

    evaluate = dspy.Evaluate(
        devset=devset,
        metric=metric,
        num_threads=args.concurrency,
        display_progress=False,
        display_table=False,
        max_errors=len(devset) + 1,
        provide_traceback=False,
    )
    t_setup = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.perf_counter()
    result = evaluate(program)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_SELF)

    errors = 0
    if args.predictions:
        with open(args.predictions, "w") as out:
            for i, (example, prediction, score) in enumerate(result.results):
                fields = {}
                try:
                    fields = {k: prediction[k] for k in prediction.keys()}
                except Exception:  # an empty failure prediction
                    fields = {}
                if not fields:
                    errors += 1
                out.write(json.dumps({"index": i, "prediction": fields, "score": score}, default=str) + "\n")
    else:
        for _, prediction, _ in result.results:
            try:
                if not list(prediction.keys()):
                    errors += 1
            except Exception:
                errors += 1

    summary = {
        "system": "dspy",
        "dspy_version": dspy.__version__,
        "python": sys.version.split()[0],
        "n": len(devset),
        "concurrency": args.concurrency,
        "metric": args.metric,
        "score": float(result.score) / 100.0,
        "failed_examples": errors,
        "eval_wall_s": wall,
        "eval_cpu_user_s": r1.ru_utime - r0.ru_utime,
        "eval_cpu_sys_s": r1.ru_stime - r0.ru_stime,
        "eval_cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "import_s": T_IMPORTED - T_START,
        "setup_s": t_setup - T_IMPORTED,
        "max_rss_kib": r1.ru_maxrss,
    }
    text = json.dumps(summary, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
