#!/usr/bin/env python3
"""Quality, promptsmith vs DSPy: the gsm8k chain-of-thought program with the chat adapter
against the local model, on a fixed seeded test split, scored by each system.

    llama-server (one slot, -t 2, -c 4096)  <-  lm-proxy (records every exchange; answers
    repeats from a cache file, so an interrupted run resumes)  <-  promptsmith eval / dspy_eval.py

Both run at concurrency 1, temperature 0, max_tokens 400 (from the program spec). The server
runs with --no-cache-prompt: with prompt caching on, a request's numerics depend on how much
of the previous request's prefix it reuses, and the two systems' previous requests differ
where one of them made a JSON-mode retry (greedy decoding then diverges on near ties). The
comparison (bench/compare_quality.py) checks the request bodies captured at the proxy
(are the messages byte-identical?), the completions and the parsed predictions.

Outputs in bench/results/quality/: data.jsonl (the split), <system>.calls.jsonl (the
proxy's recording: request and response per call), <system>.predictions.jsonl,
<system>.summary.json and comparison.json. The proxy caches live in
~/.cache/promptsmith/bench-quality/ (delete them to re-ask the model).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run_overhead import Server, http_json  # noqa: E402

CACHE = os.environ.get("PROMPTSMITH_CACHE_DIR", os.path.expanduser("~/.cache/promptsmith"))


def log(msg):
    print(f"[quality] {msg}", file=sys.stderr, flush=True)


def wait_healthy(url, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not become healthy in {timeout}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--systems", default="promptsmith,dspy")
    ap.add_argument("--upstream", help="use this running OpenAI-compatible server instead of starting llama-server")
    ap.add_argument("--port", type=int, default=8097, help="port for the llama-server this script starts")
    ap.add_argument("--model-file", default=os.path.join(CACHE, "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))
    ap.add_argument("--server-bin", default=os.path.join(CACHE, "llama.cpp", "build", "bin", "llama-server"))
    ap.add_argument("--program", default=os.path.join(HERE, "programs", "gsm8k_cot_dspy.json"))
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--dspy-python", default=os.environ.get("DSPY_PYTHON", os.path.join(CACHE, "dspy-venv", "bin", "python")))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "quality"))
    ap.add_argument("--cache-dir", default=os.path.join(CACHE, "bench-quality"))
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.cache_dir, exist_ok=True)
    data = os.path.join(args.out, "data.jsonl")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_data.py"), "gsm8k", "--n", str(args.n), "--seed", str(args.seed), "--out", data], check=True)

    server = None
    upstream = args.upstream
    if not upstream:
        log(f"starting llama-server on 127.0.0.1:{args.port} (-np 1 -t 2 --jinja -c 4096 --no-cache-prompt)")
        server = subprocess.Popen(
            [args.server_bin, "-m", args.model_file, "--host", "127.0.0.1", "--port", str(args.port), "-np", "1", "-t", "2", "--jinja", "-c", "4096", "--no-cache-prompt"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.cache_dir, "llama-server.log"), "w"),
        )
        upstream = f"http://127.0.0.1:{args.port}"
    try:
        wait_healthy(upstream, 120)
        for system in args.systems.split(","):
            run_system(system, args, data, upstream)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    # DSPy's python, so the comparison can also run DSPy's ChatAdapter.parse on promptsmith's completions.
    compare_python = args.dspy_python if os.access(args.dspy_python, os.X_OK) else sys.executable
    subprocess.run([compare_python, os.path.join(HERE, "compare_quality.py"), "--dir", args.out, "--program", args.program], check=True)


def run_system(system, args, data, upstream):
    record = os.path.join(args.out, f"{system}.calls.jsonl")
    if os.path.exists(record):
        os.remove(record)  # cached answers are recorded again, so the file is always complete
    cache = os.path.join(args.cache_dir, f"{system}.cache.jsonl")
    proxy = Server([os.path.join(args.bin_dir, "lm-proxy"), "--port", "0", "--upstream", upstream, "--record", record, "--cache", cache], "lm-proxy")
    base = f"http://{proxy.addr}"
    t0 = time.time()
    try:
        if system == "promptsmith":
            run_dir = os.path.join(args.cache_dir, "promptsmith-run")
            env = dict(os.environ)
            env["PROMPTSMITH_CACHE_DIR"] = os.path.join(args.cache_dir, "promptsmith-cache")
            argv = [os.path.join(args.bin_dir, "promptsmith"), "eval", "--program", args.program, "--data", data, "--metric", "numeric_match",
                    "--lm-base-url", f"{base}/v1", "--model", "local", "--no-cache", "--concurrency", "1", "--quiet", "--out", run_dir]
            subprocess.run(argv, check=True, env=env, cwd=ROOT)
            with open(os.path.join(run_dir, "results.jsonl")) as f, open(os.path.join(args.out, "promptsmith.predictions.jsonl"), "w") as out:
                for line in f:
                    r = json.loads(line)
                    row = {"index": r["index"], "prediction": r.get("prediction") or {}, "score": r["score"]}
                    if r.get("error"):
                        row["error"] = r["error"]
                    out.write(json.dumps(row) + "\n")
            with open(os.path.join(run_dir, "report.json")) as f:
                report = json.load(f)
            summary = {"system": "promptsmith", "n": report["n"], "score": report["mean"], "parse_failures": report["parse_failures"], "lm_errors": report["lm_errors"]}
        else:
            argv = [args.dspy_python, os.path.join(HERE, "dspy_eval.py"), "--program", args.program, "--data", data, "--base-url", f"{base}/v1",
                    "--model", "local", "--concurrency", "1", "--out", os.path.join(args.cache_dir, "dspy-summary.json"),
                    "--predictions", os.path.join(args.out, "dspy.predictions.jsonl")]
            subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            with open(os.path.join(args.cache_dir, "dspy-summary.json")) as f:
                s = json.load(f)
            summary = {"system": "dspy", "dspy_version": s["dspy_version"], "n": s["n"], "score": s["score"], "failed_examples": s["failed_examples"]}
        stats = http_json(f"{base}/_stats")
    finally:
        proxy.stop()
    summary["proxy"] = {k: stats[k] for k in ("chat_completions", "upstream_chat_calls", "cache_hits", "other_requests", "prompt_tokens", "completion_tokens")}
    summary["seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(args.out, f"{system}.summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    log(f"{system}: score {summary['score']:.3f}, {stats['chat_completions']} LM calls ({stats['cache_hits']} from the proxy cache), {summary['seconds']}s")


if __name__ == "__main__":
    main()
