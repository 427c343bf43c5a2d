#!/usr/bin/env python3
"""Optimizers, promptsmith vs DSPy 3.4.1, against one local model server, calls counted at
the proxy. Resumable: each finished run writes
bench/results/optimize/<dataset>-<system>-<optimizer>-seed<k>.json and is skipped when present.

    llama-server (-np 2 -t 2)  <-  lm-proxy (one per run; records every exchange, answers
    byte-identical repeats from the run's own cache file so a killed run resumes)
                               <-  promptsmith optimize  |  bench/optimize_dspy.py (dspy.MIPROv2)

Both systems read the same JSONL splits (bench/results/optimize/data/<dataset>/, written once
with a fixed seed; the optimizer seed varies per run), the same program (one predictor, chat
adapter) and run at concurrency = the server's slots. promptsmith's report also scores the
baseline on the test split; its test calls are told apart from the optimization calls by the
test inputs in the recorded requests, and its optimization wall time ends when the first test
call starts (seen by tailing the proxy's recording). DSPy's compile and test evaluation are
timed in-process and their calls read from the proxy's /_stats between the two.

    python3 bench/optimize_bench.py --datasets banking77 --seeds 0 \
        --runs promptsmith:mipro,dspy:mipro,promptsmith:bootstrap [--upstream http://127.0.0.1:8096]

promptsmith:mipro-adapter is MIPROv2-light with --search-adapter (beyond DSPy: chat, json or
plain per predictor), reported apart from the DSPy comparison. promptsmith:mipro-budget is
MIPROv2 sized to a GEPA run's budget (3 candidates, 4 trials, at most --max-metric-calls + 20
calls besides the test passes, proposals by the reflection model), to compare the two
algorithms at equal calls.

GEPA runs (`promptsmith:gepa`, `dspy:gepa`) reflect with a second, larger model behind its own
counting proxy (`--reflection-upstream`, e.g. qwen1.5b on port 8097) and share one budget in
metric calls (`--max-metric-calls`); both reflect at temperature 1.0 with at most 1,512 tokens
(promptsmith's default for a 3,000-character instruction), and both metrics give the same
feedback text (bench/optimize_dspy.py mirrors promptsmith's label_match / numeric_match).

    promptsmith --local-port 8096 lm serve --slots 2 --threads 2
    promptsmith --local-port 8097 lm serve --model qwen1.5b --slots 1 --threads 2
    python3 bench/optimize_bench.py --datasets banking77,gsm8k --seeds 0,1,2 \
        --runs promptsmith:gepa,dspy:gepa,promptsmith:mipro --max-metric-calls 300
"""

import argparse
import csv
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run_overhead import Server, http_json  # noqa: E402

CACHE = os.environ.get("PROMPTSMITH_CACHE_DIR", os.path.expanduser("~/.cache/promptsmith"))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
SPLIT_SEED = 2026

DATASETS = {
    # sizes: train, val, test
    "banking77": {"program": "banking77_predict_chat.json", "metric": "label_match", "field": "label", "input": "query", "sizes": (100, 100, 100)},
    # two steps (find_facts, answer) over the example's trimmed paragraphs: its 30 training and
    # 40 test questions, and the 29 it does not ship as validation (examples/hotpotqa/make_sample.py)
    "hotpotqa": {"program": "../../examples/hotpotqa/program.json", "metric": "f1", "field": "answer", "input": "question",
                 "sizes": (30, 29, 40)},
    "gsm8k": {"program": "gsm8k_cot_chat.json", "metric": "numeric_match", "field": "answer", "input": "question", "sizes": (200, 100, 200)},
    # beyond DSPy: the shipped example as written (plain adapter, the hand-written prompt's
    # layout), searched from there; same splits as gsm8k
    "gsm8k-plain": {"program": "../../examples/gsm8k/program.json", "splits_of": "gsm8k", "metric": "numeric_match",
                    "field": "answer", "input": "question", "sizes": (200, 100, 200)},
}


def log(msg):
    print(f"[optimize-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def make_splits(dataset, out_dir):
    """The seeded splits, written once (existing files are kept as they are)."""
    dataset = DATASETS[dataset].get("splits_of", dataset)
    d = os.path.join(out_dir, "data", dataset)
    paths = {s: os.path.join(d, f"{s}.jsonl") for s in ("train", "val", "test")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    os.makedirs(d, exist_ok=True)
    if dataset == "hotpotqa":
        subprocess.run([sys.executable, os.path.join(ROOT, "examples", "hotpotqa", "make_sample.py"), "--out", d,
                        "--unused", paths["val"]], check=True, stdout=subprocess.DEVNULL)
        return paths
    n_train, n_val, n_test = DATASETS[dataset]["sizes"]
    rng = random.Random(SPLIT_SEED)
    if dataset == "banking77":
        def read(name):
            with open(os.path.join(SHARED, "banking77", name)) as f:
                return [{"query": r["text"].strip(), "label": r["category"].strip()} for r in csv.DictReader(f)]
        pool, test_pool = read("train.csv"), read("test.csv")
    else:
        def read(name):
            rows = []
            with open(os.path.join(SHARED, "gsm8k", name)) as f:
                for line in f:
                    if line.strip():
                        r = json.loads(line)
                        a = r["answer"].split("####")[-1].strip().replace(",", "")
                        rows.append({"question": r["question"], "answer": float(a) if "." in a else int(a)})
            return rows
        pool, test_pool = read("train.jsonl"), read("test.jsonl")
    key = DATASETS[dataset]["input"]
    # unique inputs, so a recorded request belongs to one split
    seen, uniq = set(), []
    for r in pool:
        if r[key] not in seen:
            seen.add(r[key])
            uniq.append(r)
    picked = rng.sample(uniq, n_train + n_val)
    test = rng.sample([r for r in test_pool if r[key] not in seen], n_test)
    write_jsonl(paths["train"], picked[:n_train])
    write_jsonl(paths["val"], picked[n_train:])
    write_jsonl(paths["test"], test)
    return paths


def limit_splits(splits, args, work):
    """The splits with validation and test cut to their first `--val-limit` / `--test-limit`
    rows (copies in the run's work directory); unchanged without those options."""
    out = dict(splits)
    for split, limit in (("val", args.val_limit), ("test", args.test_limit)):
        if limit:
            with open(splits[split]) as f:
                rows = [l for l in f if l.strip()][:limit]
            out[split] = os.path.join(work, f"{split}-first{limit}.jsonl")
            with open(out[split], "w") as f:
                f.writelines(rows)
    return out


class RecordTail(threading.Thread):
    """Follows the proxy's recording; notes when the first test call started."""

    def __init__(self, path, test_inputs, t0):
        super().__init__(daemon=True)
        self.path, self.test_inputs, self.t0 = path, test_inputs, t0
        self.first_test_start = None
        self.stop = threading.Event()

    def run(self):
        while not os.path.exists(self.path) and not self.stop.is_set():
            time.sleep(0.1)
        with open(self.path) as f:
            buf = ""
            while self.first_test_start is None:
                chunk = f.readline()
                if not chunk:
                    if self.stop.is_set():
                        return
                    time.sleep(0.1)
                    continue
                buf += chunk
                if not buf.endswith("\n"):
                    continue
                line, buf = buf, ""
                now = time.perf_counter()
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if is_test_call(rec, self.test_inputs):
                    self.first_test_start = now - rec.get("ms", 0.0) / 1e3 - self.t0


def last_user(rec):
    msgs = (rec.get("request") or {}).get("messages") or []
    for m in reversed(msgs):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else json.dumps(c)
    return ""


def is_test_call(rec, test_inputs):
    """Whether the request's last user turn asks about a test input, in any adapter's layout:
    chat and JSON put the value on the line after `[[ ## field ## ]]`; plain writes `Field: value`."""
    text = last_user(rec) + "\n"
    return any(f"## ]]\n{t}\n" in text or f": {t}\n" in text for t in test_inputs)


def classify(record_path, test_inputs):
    counts = {"calls": 0, "test_calls": 0, "cached": 0, "test_cached": 0}
    with open(record_path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            test = is_test_call(rec, test_inputs)
            counts["calls"] += 1
            counts["test_calls"] += test
            counts["cached"] += bool(rec.get("cached"))
            counts["test_cached"] += test and bool(rec.get("cached"))
    counts["optimize_calls"] = counts["calls"] - counts["test_calls"]
    return counts


def uptime():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


class Contention(threading.Thread):
    """Notes any other llama-server seen while a run goes (2 cores: they would share them)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.seen, self.stop = port, set(), threading.Event()

    def run(self):
        while not self.stop.wait(5):
            out = subprocess.run(["pgrep", "-af", "llama-server"], capture_output=True, text=True).stdout
            for line in out.splitlines():
                if "llama-server" in line and f"--port {self.port}" not in line:
                    self.seen.add(line.split()[0])


def start_proxy(args, upstream, record, cache, label):
    """A counting lm-proxy in front of `upstream`, recording to `record` (started afresh: cached
    answers are recorded again, so the file is always complete), answering repeats from `cache`
    when given."""
    if os.path.exists(record):
        os.remove(record)
    argv = [os.path.join(args.bin_dir, "lm-proxy"), "--port", "0", "--upstream", upstream, "--record", record]
    if cache:
        argv += ["--cache", cache]
    return Server(argv, label)


def reflection_timing(record_path):
    """The recorded reflection-model calls' seconds and completion tokens, in call order (where a
    GEPA run's wall time goes: on 2 CPU cores a 1.5B model's answer takes seconds)."""
    secs, tokens = [], []
    with open(record_path) as f:
        for line in f:
            rec = json.loads(line)
            secs.append(round(rec["ms"] / 1000, 2))
            tokens.append(((rec.get("response") or {}).get("usage") or {}).get("completion_tokens"))
    return {"total_s": round(sum(secs), 1), "seconds": secs, "completion_tokens": tokens}


def backfill_reflection_timing(args):
    """Adds `reflection_calls` to finished GEPA results whose run directory still holds its record."""
    for path in sorted(glob.glob(os.path.join(args.out, "*-gepa-seed*.json")) + sorted(glob.glob(os.path.join(args.out, "*-mipro-budget-seed*.json")))):
        with open(path) as f:
            result = json.load(f)
        record = os.path.join(args.cache_dir, os.path.basename(path)[: -len(".json")], "reflection-calls.jsonl")
        if "reflection_calls" in result or not os.path.exists(record):
            continue
        result["reflection_calls"] = reflection_timing(record)
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        log(f"{os.path.basename(path)}: reflection calls {result['reflection_calls']['total_s']} s")


def run_one(args, dataset, system, optimizer, seed, splits, out_path):
    cfg = DATASETS[dataset]
    name = os.path.basename(out_path)[: -len(".json")]
    work = os.path.join(args.cache_dir, name)
    os.makedirs(work, exist_ok=True)
    record = os.path.join(work, "calls.jsonl")
    cache = os.path.join(work, "proxy-cache.jsonl")
    # DSPy with its caches off repeats byte-identical requests within a run (e.g. a full
    # evaluation re-asks a minibatch's examples); a proxy cache would answer those for free
    # and flatter its wall time, so DSPy runs get no proxy cache unless asked (--dspy-proxy-cache,
    # for resuming a killed run; such a run's wall time is not comparable). promptsmith dedups
    # in-process (its rollout cache), so its cache only ever answers a killed attempt's calls.
    use_cache = system != "dspy" or args.dspy_proxy_cache
    resumed = use_cache and os.path.exists(cache) and os.path.getsize(cache) > 0
    for src in args.seed_cache_from.get((system, optimizer), []):
        # untimed runs may reuse another run's answers (byte-identical requests only)
        src_cache = os.path.join(args.cache_dir, src.format(dataset=dataset, seed=seed), "proxy-cache.jsonl")
        if os.path.exists(src_cache) and not resumed:
            shutil.copyfile(src_cache, cache)
            log(f"{name}: proxy cache seeded from {src_cache}")
    splits = limit_splits(splits, args, work)
    with open(splits["test"]) as f:
        test_inputs = [json.loads(l)[cfg["input"]] for l in f if l.strip()]
    program = os.path.normpath(os.path.join(HERE, "programs", cfg["program"]))
    proxy = start_proxy(args, args.upstream, record, cache if use_cache else None, "lm-proxy")
    base = f"http://{proxy.addr}"
    reflection = None
    if optimizer in ("gepa", "mipro-budget"):
        reflection_cache = os.path.join(work, "reflection-proxy-cache.jsonl") if use_cache else None
        reflection = start_proxy(args, args.reflection_upstream, os.path.join(work, "reflection-calls.jsonl"),
                                 reflection_cache, "lm-proxy (reflection)")
    load_before = uptime()
    result = {"dataset": dataset, "system": system, "optimizer": optimizer, "seed": seed, "slots": args.slots,
              "splits": {k: os.path.relpath(v, ROOT) for k, v in splits.items()}, "sizes": cfg["sizes"],
              "val_limit": args.val_limit, "test_limit": args.test_limit,
              "program": os.path.relpath(program, ROOT), "metric": cfg["metric"], "upstream": args.upstream,
              "model": os.path.basename(args.model_file), "proxy_cache": use_cache, "resumed_from_proxy_cache": resumed,
              "reflection_upstream": args.reflection_upstream if reflection else None,
              "max_metric_calls": args.max_metric_calls if reflection else None,
              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_before": load_before}
    try:
        http_json(f"{base}/_reset", method="POST")
        if reflection:
            http_json(f"http://{reflection.addr}/_reset", method="POST")
        contention = Contention(args.upstream.rsplit(":", 1)[-1])
        contention.start()
        t0 = time.perf_counter()
        if system == "promptsmith":
            run_dir = os.path.join(work, "run")
            shutil.rmtree(run_dir, ignore_errors=True)
            tail = RecordTail(record, test_inputs, t0)
            tail.start()
            lm_flags = ["--lm-base-url", f"{base}/v1", "--model", "local"]
            if reflection:
                # the task model and the reflection model ([proposer]) from one config file
                config = os.path.join(work, "promptsmith.toml")
                with open(config, "w") as f:
                    f.write(f'[lm]\nbase_url = "{base}/v1"\nmodel = "local"\n\n'
                            f'[proposer]\nbase_url = "http://{reflection.addr}/v1"\nmodel = "local"\n')
                lm_flags = ["--config", config]
            argv = [os.path.join(args.bin_dir, "promptsmith"), *lm_flags, "--no-cache",
                    "--concurrency", str(args.slots), "optimize", "--program", program, "--data", splits["train"],
                    "--val-data", splits["val"], "--test-data", splits["test"], "--optimizer", optimizer.split("-")[0],
                    "--seed", str(seed), "--metric", cfg["metric"], "--field", cfg["field"], "--no-store", "--quiet", "--run-dir", run_dir,
                    # measure the optimizer's own result, as DSPy returns it (MIPROv2 is unaffected:
                    # the program as written is one of its candidates)
                    "--keep-regression"]
            if optimizer in ("mipro", "mipro-adapter"):
                argv += ["--auto", args.auto]
            if optimizer == "mipro-budget":
                # GEPA's budget for MIPROv2: sized by --dry-run to about max_metric_calls task-model
                # calls (bootstrapping included), proposals by the reflection model, and a hard cap
                # of max_metric_calls + 20 calls (GEPA reflected 14-31 times) plus the two test
                # passes (program as written and result: a call per predictor per row, a retry
                # each at most): --max-calls counts every call of the command, and a cap of
                # max_metric_calls + 20 alone left banking77 seed 0's test split unscored
                with open(program) as f:
                    calls_per_row = 2 * len(json.load(f)["predictors"])
                cap = args.max_metric_calls + 20 + 2 * calls_per_row * len(test_inputs)
                argv += ["--num-candidates", "3", "--num-trials", "4", "--max-calls", str(cap)]
            if optimizer == "gepa":
                argv += ["--max-metric-calls", str(args.max_metric_calls)]
            if optimizer == "mipro-adapter":
                argv += ["--search-adapter"]  # beyond DSPy: the prompt layout is one more dimension
            result["command"] = " ".join(argv)
            env = dict(os.environ, PROMPTSMITH_CACHE_DIR=os.path.join(work, "ps-cache"))
            with open(os.path.join(work, "stderr.log"), "w") as err:
                subprocess.run(argv, check=True, env=env, cwd=ROOT, stdout=err, stderr=subprocess.STDOUT)
            wall = time.perf_counter() - t0
            tail.stop.set()
            tail.join(timeout=5)
            with open(os.path.join(run_dir, "report.json")) as f:
                report = json.load(f)
            counts = classify(record, test_inputs)
            sc = lambda k: (report.get(k) or {}).get("score")
            result.update({
                "baseline_val": sc("baseline_val"), "final_val": sc("final_val"),
                "baseline_test": sc("baseline_test"), "test_score": sc("final_test"),
                "test_scores": (report.get("final_test") or {}).get("scores"),
                "baseline_test_scores": (report.get("baseline_test") or {}).get("scores"),
                "wall_s": wall, "optimize_wall_s": tail.first_test_start,
                "report_wall_s": report.get("wall_seconds"), "report_spent": report.get("spent"),
                "report_live_calls": report.get("live_calls"), "stopped": report.get("stopped"),
                "trials": len(report.get("trials") or []), "params": report.get("params"),
                "record_counts": counts, "warnings": report.get("warnings"),
            })
            with open(os.path.join(run_dir, "state.json")) as f:
                result["state"] = json.load(f)
        else:
            summary_path = os.path.join(work, "dspy-summary.json")
            argv = [args.dspy_python, os.path.join(HERE, "optimize_dspy.py"), "--program", program, "--train", splits["train"],
                    "--val", splits["val"], "--test", splits["test"], "--proxy", base, "--optimizer", optimizer, "--auto", args.auto,
                    "--seed", str(seed), "--threads", str(args.slots), "--metric", cfg["metric"], "--field", cfg["field"],
                    "--out", summary_path, "--save", os.path.join(work, "dspy-program.json")]
            if reflection:
                argv += ["--reflection-proxy", f"http://{reflection.addr}", "--max-metric-calls", str(args.max_metric_calls)]
            result["command"] = " ".join(argv)
            env = dict(os.environ, DSPY_CACHEDIR=os.path.join(work, "dspy-cache"))
            with open(os.path.join(work, "stderr.log"), "w") as err:
                subprocess.run(argv, check=True, env=env, cwd=ROOT, stdout=err, stderr=subprocess.STDOUT)
            wall = time.perf_counter() - t0
            with open(summary_path) as f:
                s = json.load(f)
            counts = classify(record, test_inputs)
            result.update({
                "test_score": s["test_score"], "test_scores": s["test_scores"], "wall_s": wall,
                "optimize_wall_s": s["compile_wall_s"], "test_wall_s": s["test_wall_s"], "dspy_import_s": s["import_s"],
                "calls_compile": s["calls_compile"], "calls_test": s["calls_test"], "record_counts": counts,
                "dspy_version": s["dspy_version"], "demos": s["demos"], "instructions": s["instructions"],
            })
            try:
                with open(os.path.join(work, "dspy-program.json")) as f:
                    result["dspy_program"] = json.load(f)
            except (OSError, ValueError):
                pass
        stats = http_json(f"{base}/_stats")
        if reflection:
            r = http_json(f"http://{reflection.addr}/_stats")
            result["reflection_proxy"] = {k: r[k] for k in ("chat_completions", "upstream_chat_calls", "cache_hits",
                                                            "prompt_tokens", "completion_tokens")}
            result["reflection_calls"] = reflection_timing(os.path.join(work, "reflection-calls.jsonl"))
        contention.stop.set()
        result["other_llama_servers_seen"] = sorted(contention.seen)
    finally:
        proxy.stop()
        if reflection:
            reflection.stop()
    result["proxy"] = {k: stats[k] for k in ("chat_completions", "upstream_chat_calls", "cache_hits", "other_requests", "prompt_tokens", "completion_tokens")}
    result["loadavg_after"] = uptime()
    result["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    rc = result["record_counts"]
    log(f"{name}: test {result['test_score']:.3f}, {stats['chat_completions']} calls ({rc['optimize_calls']} optimizing, "
        f"{rc['test_calls']} test; {stats['cache_hits']} from the proxy cache), wall {result['wall_s']:.0f}s, "
        f"optimize {result['optimize_wall_s'] or float('nan'):.0f}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="banking77")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--runs", default="promptsmith:mipro,dspy:mipro,promptsmith:bootstrap",
                    help="system:optimizer list, run in this order for each dataset and seed")
    ap.add_argument("--auto", default="light")
    ap.add_argument("--upstream", default="http://127.0.0.1:8096")
    ap.add_argument("--reflection-upstream", default="http://127.0.0.1:8097",
                    help="the reflection model's server (GEPA runs), e.g. qwen1.5b")
    ap.add_argument("--max-metric-calls", type=int, default=300, help="GEPA runs' budget (both systems)")
    ap.add_argument("--val-limit", type=int, help="use only the first N validation rows (both systems)")
    ap.add_argument("--test-limit", type=int, help="use only the first N test rows (both systems)")
    ap.add_argument("--slots", type=int, default=2, help="the server's slots (-np); both systems' concurrency")
    ap.add_argument("--model-file", default=os.path.join(CACHE, "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--dspy-python", default=os.environ.get("DSPY_PYTHON", os.path.join(CACHE, "dspy-venv", "bin", "python")))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "optimize"))
    ap.add_argument("--cache-dir", default=os.path.join(CACHE, "bench-optimize"))
    ap.add_argument("--dspy-proxy-cache", action="store_true", help="give DSPy runs a proxy cache too (resume; untimed)")
    ap.add_argument("--stop-at", help="UTC HH:MM: start no run after this time")
    ap.add_argument("--backfill-reflection-timing", action="store_true",
                    help="only add the reflection calls' timing to finished GEPA results, from their recordings")
    args = ap.parse_args()
    if args.backfill_reflection_timing:
        return backfill_reflection_timing(args)
    # promptsmith bootstrap's wall time is not compared, so it may reuse the same seed's
    # promptsmith MIPROv2 answers (baseline on val and test, teacher traces).
    # The adapter-search variant is reported apart from the DSPy comparison, so it may reuse them too.
    args.seed_cache_from = {("promptsmith", "bootstrap"): ["{dataset}-promptsmith-mipro-seed{seed}"],
                            ("promptsmith", "mipro-adapter"): ["{dataset}-promptsmith-mipro-seed{seed}"]}
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.cache_dir, exist_ok=True)
    for dataset in args.datasets.split(","):
        splits = make_splits(dataset, args.out)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for run in args.runs.split(","):
                system, optimizer = run.split(":")
                out_path = os.path.join(args.out, f"{dataset}-{system}-{optimizer}-seed{seed}.json")
                if os.path.exists(out_path):
                    log(f"{os.path.basename(out_path)} exists, skipped")
                    continue
                if args.stop_at and time.strftime("%H:%M", time.gmtime()) >= args.stop_at:
                    log(f"past {args.stop_at} UTC: {os.path.basename(out_path)} not started")
                    continue
                log(f"starting {os.path.basename(out_path)} (load {' '.join(uptime())})")
                run_one(args, dataset, system, optimizer, seed, splits, out_path)


if __name__ == "__main__":
    main()
