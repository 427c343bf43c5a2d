#!/usr/bin/env python3
"""DSPy 3.4.1 side of bench/optimize_bench.py: optimize a single-predictor promptsmith spec
with DSPy's MIPROv2, GEPA (or BootstrapFewShot), then score the result on the test split.

The spec becomes one `dspy.Predict` / `dspy.ChainOfThought` over the same signature,
instruction and field descriptions (an `enum(a, b)` output becomes `Literal['a', 'b']`),
with the ChatAdapter. The task model has the spec's temperature and max_tokens; the prompt
(proposer) model is the same endpoint with max_tokens 512, as promptsmith's proposer. DSPy's
caches are off. GEPA reflects with the model behind `--reflection-proxy` at temperature 1.0 and
at most 1,512 tokens (as promptsmith's GEPA), within `--max-metric-calls`; its metric returns
the same feedback text as promptsmith's metric. Calls are counted by the proxy (`--proxy`, its `/_stats` is read after
the compile and after the test evaluation); wall times are measured in-process.

    python bench/optimize_dspy.py --program P --train T --val V --test X --proxy http://127.0.0.1:PORT \
        --optimizer mipro --auto light --seed 0 --threads 2 --metric label_match --field label --out run.json
"""

import argparse
import collections
import json
import math
import os
import re
import string
import sys
import time
import urllib.request
from typing import Literal

T_START = time.perf_counter()
import dspy  # noqa: E402

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    found = NUMBER.findall(str(value))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def norm_label(value):
    """promptsmith's label_match normalization: case, surrounding quotes, `_`/`-`/space."""
    s = str(value).strip().strip("'\"`").strip().lower()
    return re.sub(r"[\s_\-]+", " ", s).strip()


def format_number(x):
    """promptsmith's number display: integers without a fractional part."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def excerpt(text, limit=200):
    """promptsmith's excerpt: trimmed, cut after `limit` characters with an ellipsis."""
    text = str(text).strip()
    return text if len(text) <= limit else text[:limit] + "\u2026"


def normalize_squad(text):
    text = "".join(c for c in str(text).lower() if not (c.isascii() and c in string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(pred, gold):
    """SQuAD token F1 as promptsmith's f1 metric: (f1, precision, recall)."""
    p, g = normalize_squad(pred).split(), normalize_squad(gold).split()
    if not p or not g:
        same = 1.0 if p == g else 0.0
        return same, same, same
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall), precision, recall


def make_scorer(kind, field):
    """`score(example, prediction) -> (score, feedback)` with promptsmith's scores and feedback
    text (crates/promptsmith-eval/src/metric.rs) for `kind` on `field`."""
    def get(prediction):
        try:
            return prediction.get(field) if hasattr(prediction, "get") else getattr(prediction, field, None)
        except Exception:
            return None

    def score(example, prediction):
        pred, gold = get(prediction), example.get(field)
        if kind == "f1":
            if pred is None:
                return 0.0, f"the prediction has no field '{field}'"
            f1, precision, recall = token_f1(pred, gold)
            if f1 >= 1.0:
                return 1.0, f"correct: '{excerpt(pred)}'"
            return f1, (f"token F1 {f1:.2f} (precision {precision:.2f}, recall {recall:.2f}): "
                        f"expected '{excerpt(gold)}', got '{excerpt(pred)}'")
        if kind == "label_match":
            if pred is None:
                return 0.0, f"the prediction has no field '{field}'"
            got = norm_label(pred)
            if norm_label(gold) == got:
                return 1.0, f"correct label '{got}'"
            return 0.0, f"expected label '{excerpt(gold)}', got '{excerpt(pred)}'"
        expected, got = last_number(gold), last_number(pred)
        if expected is None:
            return 0.0, f"expected value '{excerpt(gold)}' holds no number"
        if got is None:
            return 0.0, f"expected {format_number(expected)}, got no number in '{excerpt(pred if pred is not None else '')}'"
        if expected == got or math.isclose(expected, got, rel_tol=1e-6, abs_tol=0.0):
            return 1.0, f"correct: {format_number(got)}"
        return 0.0, f"expected {format_number(expected)}, got {format_number(got)}"

    if kind not in ("f1", "label_match", "numeric_match"):
        raise KeyError(kind)
    return score


def make_feedback_metric(kind, field):
    """The metric in DSPy GEPA's shape: (gold, pred, trace, pred_name, pred_trace) ->
    Prediction(score, feedback)."""
    score = make_scorer(kind, field)

    def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
        s, feedback = score(gold, pred)
        return dspy.Prediction(score=s, feedback=feedback)

    return metric


def make_metric(kind, field):
    """The metric as DSPy's other optimizers and Evaluate call it: the score alone."""
    score = make_scorer(kind, field)

    def metric(example, prediction, trace=None, *args, **kwargs):
        return score(example, prediction)[0]

    return metric


def parse_signature(sig):
    """`a, b -> c: type, d` into ([(name, type)], [(name, type)]) with enum(...) as Literal."""
    left, right = sig.split("->")

    def fields(text):
        out = []
        # split on commas outside parentheses
        depth, cur = 0, ""
        for ch in text:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch == "," and depth == 0:
                out.append(cur)
                cur = ""
            else:
                cur += ch
        if cur.strip():
            out.append(cur)
        result = []
        for f in out:
            name, _, typ = f.partition(":")
            name, typ = name.strip(), typ.strip() or "str"
            if typ.startswith("enum(") and typ.endswith(")"):
                labels = tuple(x.strip() for x in typ[5:-1].split(","))
                t = Literal[labels]
            else:
                t = {"str": str, "float": float, "int": int, "bool": bool}[typ]
            result.append((name, t))
        return result

    return fields(left), fields(right)


def build_predictor(p, spec):
    """One promptsmith predictor as a dspy.Predict / dspy.ChainOfThought, and its input names."""
    if p.get("adapter", spec.get("adapter", "chat")) != "chat":
        sys.exit("chat adapter only")
    ins, outs = parse_signature(p["signature"])
    desc = p.get("descriptions") or {}
    fields = {}
    for name, t in ins:
        fields[name] = (t, dspy.InputField(desc=desc[name]) if name in desc else dspy.InputField())
    for name, t in outs:
        fields[name] = (t, dspy.OutputField(desc=desc[name]) if name in desc else dspy.OutputField())
    signature = dspy.Signature(fields, p.get("instruction") or None)
    module = p.get("module", "predict")
    predictor = dspy.ChainOfThought(signature) if module == "chain_of_thought" else dspy.Predict(signature)
    return predictor, [n for n, _ in ins]


def step_sources(step, predictor):
    """Where each input of a step comes from: (input, "example" or a step name, field); an input
    the step does not map comes from the example's field of the same name."""
    mapping = step.get("inputs") or {}
    for k in predictor.signature.input_fields:
        where, _, field = mapping.get(k, f"example.{k}").partition(".")
        yield k, where, field


class Steps(dspy.Module):
    """A promptsmith multi-step program: each step calls a predictor with inputs taken from the
    example (`example.x`, or the same name by default) or an earlier step (`step.field`); the
    program's outputs map names to `step.field`."""

    def __init__(self, spec):
        super().__init__()
        self.steps, self.outputs = spec["steps"], spec["outputs"]
        for p in spec["predictors"]:
            predictor, _ = build_predictor(p, spec)
            setattr(self, p["name"], predictor)

    def forward(self, **example):
        done = {}
        for step in self.steps:
            predictor = getattr(self, step["predictor"])
            kwargs = {k: example[field] if where == "example" else done[where][field]
                      for k, where, field in step_sources(step, predictor)}
            done[step["predictor"]] = predictor(**kwargs)
        values = {}
        for out, source in self.outputs.items():
            where, _, field = source.partition(".")
            values[out] = done[where][field]
        return dspy.Prediction(**values)


def build_program(spec):
    """The spec as a DSPy program and the example's input names (one predictor, or steps)."""
    if len(spec["predictors"]) == 1 and not spec.get("steps"):
        return build_predictor(spec["predictors"][0], spec)
    program = Steps(spec)
    inputs = []
    for step in spec["steps"]:
        for _, where, field in step_sources(step, getattr(program, step["predictor"])):
            if where == "example" and field not in inputs:
                inputs.append(field)
    return program, inputs


def read_jsonl(path, inputs):
    with open(path) as f:
        return [dspy.Example(**json.loads(line)).with_inputs(*inputs) for line in f if line.strip()]


def stats(proxy):
    with urllib.request.urlopen(f"{proxy}/_stats", timeout=10) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--proxy", required=True, help="the counting proxy, e.g. http://127.0.0.1:8123 (no /v1)")
    ap.add_argument("--model", default="local")
    ap.add_argument("--optimizer", default="mipro", choices=["mipro", "gepa", "bootstrap"])
    ap.add_argument("--reflection-proxy", help="GEPA: the reflection model's counting proxy (no /v1)")
    ap.add_argument("--max-metric-calls", type=int, help="GEPA: the budget in metric calls")
    ap.add_argument("--auto", default="light")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--metric", required=True, choices=["numeric_match", "label_match", "f1"])
    ap.add_argument("--field", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--save", help="write the optimized program (DSPy save format) here")
    args = ap.parse_args()

    with open(args.program) as f:
        spec = json.load(f)
    program, inputs = build_program(spec)
    # per-predictor options (max_tokens) of a multi-step program are set on each predictor below
    options = {**(spec.get("options") or {}), **(spec["predictors"][0].get("options") or {} if len(spec["predictors"]) == 1 else {})}
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    base = f"{args.proxy}/v1"
    key = os.environ.get("OPENAI_API_KEY", "bench")
    task_lm = dspy.LM(f"openai/{args.model}", api_base=base, api_key=key, temperature=options.get("temperature", 0.0),
                      max_tokens=options.get("max_tokens", 1024), cache=False)
    prompt_lm = dspy.LM(f"openai/{args.model}", api_base=base, api_key=key, temperature=1.0, max_tokens=512, cache=False)
    dspy.configure(lm=task_lm, adapter=dspy.ChatAdapter())
    if isinstance(program, Steps):
        for p in spec["predictors"]:
            own = {**(spec.get("options") or {}), **(p.get("options") or {})}
            getattr(program, p["name"]).set_lm(task_lm.copy(temperature=own.get("temperature", 0.0),
                                                            max_tokens=own.get("max_tokens", 1024)))
    trainset, valset, testset = (read_jsonl(p, inputs) for p in (args.train, args.val, args.test))
    metric = make_metric(args.metric, args.field)

    s0 = stats(args.proxy)
    t0 = time.perf_counter()
    if args.optimizer == "mipro":
        opt = dspy.MIPROv2(metric=metric, prompt_model=prompt_lm, task_model=task_lm, auto=args.auto, seed=args.seed,
                           num_threads=args.threads, max_errors=1_000_000)
        compiled = opt.compile(program, trainset=trainset, valset=valset, requires_permission_to_run=False)
    elif args.optimizer == "gepa":
        if not args.reflection_proxy or not args.max_metric_calls:
            sys.exit("gepa needs --reflection-proxy and --max-metric-calls")
        reflection_lm = dspy.LM(f"openai/{args.model}", api_base=f"{args.reflection_proxy}/v1", api_key=key,
                                temperature=1.0, max_tokens=1512, cache=False)
        opt = dspy.GEPA(metric=make_feedback_metric(args.metric, args.field), max_metric_calls=args.max_metric_calls,
                        reflection_lm=reflection_lm, seed=args.seed, num_threads=args.threads)
        compiled = opt.compile(program, trainset=trainset, valset=valset)
    else:
        opt = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=4, max_labeled_demos=16, max_rounds=1)
        compiled = opt.compile(program, trainset=trainset)
    compile_wall = time.perf_counter() - t0
    s1 = stats(args.proxy)

    evaluate = dspy.Evaluate(devset=testset, metric=metric, num_threads=args.threads, display_progress=False,
                             display_table=False, max_errors=1_000_000, provide_traceback=False)
    t1 = time.perf_counter()
    result = evaluate(compiled)
    test_wall = time.perf_counter() - t1
    s2 = stats(args.proxy)
    if args.save:
        compiled.save(args.save)

    def delta(a, b):
        return {k: b[k] - a[k] for k in ("chat_completions", "upstream_chat_calls", "cache_hits", "prompt_tokens", "completion_tokens")}

    demos = [len(p.demos) for p in compiled.predictors()]
    instructions = [p.signature.instructions for p in compiled.predictors()]
    summary = {
        "dspy_version": dspy.__version__,
        "optimizer": args.optimizer,
        "auto": args.auto if args.optimizer == "mipro" else None,
        "max_metric_calls": args.max_metric_calls if args.optimizer == "gepa" else None,
        "seed": args.seed,
        "threads": args.threads,
        "test_score": float(result.score) / 100.0,
        "test_n": len(testset),
        "test_scores": [float(s) for _, _, s in result.results],
        "compile_wall_s": compile_wall,
        "test_wall_s": test_wall,
        "import_s": t0 - T_START,
        "calls_compile": delta(s0, s1),
        "calls_test": delta(s1, s2),
        "demos": demos,
        "instructions": instructions,
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "test_scores"}, indent=2))


if __name__ == "__main__":
    main()
