#!/usr/bin/env python3
"""Overhead and throughput, promptsmith vs DSPy, in one run on one machine.

For each latency L of the fake model and each concurrency C, both systems evaluate the same
program (bench/programs/gsm8k_cot_chat.json: chain of thought, chat adapter) on the same
synthetic examples through one counting proxy, caches off:

    fake-lm --latency-ms L   and   lm-proxy        pinned to --server-cpu (taskset)
    promptsmith eval ... / python dspy_eval.py ... pinned to --client-cpu

LM calls are the proxy's count of chat-completion requests. The client's CPU time is the
whole process's (os.wait4 rusage: startup, dataset loading and result writing included);
DSPy's script also reports the evaluation phase alone (imports excluded), which is the
number compared. Eval wall time: promptsmith's report.json `wall_ms`, DSPy's in-process
timer around dspy.Evaluate; the proxy's busy time (first request to last response) is kept
as a framework-independent cross-check.

Writes bench/results/overhead/<system>-lat<L>-c<C>.json per run and
bench/results/overhead/summary.json, and prints a table.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(msg):
    print(f"[overhead] {msg}", file=sys.stderr, flush=True)


class Server:
    """A child process that prints `listening on HOST:PORT` when ready."""

    def __init__(self, argv, name):
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"{name} did not start: {line!r}")
        self.addr = line.split()[2]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def process_cpu_s(pid):
    """User + system CPU seconds of a running process (all threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def http_json(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def run_client(argv, env, cwd):
    """Runs argv to completion; returns (exit code, wall s, rusage, stdout, stderr)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, wall, rusage, out.read(), err.read()


def busy_cores(seconds=1.0):
    """Cores busy over the next `seconds` (from /proc/stat), and the compilers / model servers
    running: the usual noise on a shared machine."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v) - idle, sum(v)
    b0, t0 = sample()
    time.sleep(seconds)
    b1, t1 = sample()
    busy = (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)
    try:
        names = subprocess.run(["ps", "-eo", "comm"], capture_output=True, text=True).stdout.split()
    except OSError:
        names = []
    noisy = sorted({n for n in names if n in ("rustc", "cargo", "cc1plus", "rust-lld", "llama-server", "ld")})
    return busy, noisy


def git_describe():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--latencies", default="0,100", help="fake model latencies in ms, comma-separated")
    ap.add_argument("--concurrency", default="16,256", help="comma-separated")
    ap.add_argument("--systems", default="promptsmith,dspy")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the table shows the median by wall time")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--program", default=os.path.join(HERE, "programs", "gsm8k_cot_chat.json"))
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--dspy-python", default=os.environ.get("DSPY_PYTHON", os.path.expanduser("~/.cache/promptsmith/dspy-venv/bin/python")))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "overhead"))
    args = ap.parse_args()

    latencies = [int(x) for x in args.latencies.split(",")]
    concurrencies = [int(x) for x in args.concurrency.split(",")]
    systems = args.systems.split(",")
    promptsmith = os.path.join(args.bin_dir, "promptsmith")
    for b in [promptsmith, os.path.join(args.bin_dir, "fake-lm"), os.path.join(args.bin_dir, "lm-proxy")]:
        if not os.access(b, os.X_OK):
            sys.exit(f"missing {b}: cargo build --release -p promptsmith -p promptsmith-bench")
    if "dspy" in systems and not os.access(args.dspy_python, os.X_OK):
        sys.exit(f"missing {args.dspy_python}: run bench/setup-dspy.sh")
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="promptsmith-overhead-")
    data = os.path.join(work, "synthetic.jsonl")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_data.py"), "synthetic", "--n", str(args.examples), "--seed", str(args.seed), "--out", data], check=True)
    env = dict(os.environ)
    # promptsmith appends every call to <cache dir>/history.jsonl: keep that in the scratch dir.
    env["PROMPTSMITH_CACHE_DIR"] = os.path.join(work, "promptsmith-cache")
    env.pop("PROMPTSMITH_LM_BASE_URL", None)
    pin_server = ["taskset", "-c", args.server_cpu]
    pin_client = ["taskset", "-c", args.client_cpu]
    machine = {
        "cpus": os.cpu_count(),
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    runs = []
    try:
        for latency in latencies:
            fake = Server(pin_server + [os.path.join(args.bin_dir, "fake-lm"), "--port", "0", "--latency-ms", str(latency)], "fake-lm")
            proxy = Server(pin_server + [os.path.join(args.bin_dir, "lm-proxy"), "--port", "0", "--upstream", f"http://{fake.addr}"], "lm-proxy")
            base = f"http://{proxy.addr}"
            try:
                for conc in concurrencies:
                    for rep in range(args.repeat):
                        for system in systems:
                            servers = {"fake-lm": fake.proc.pid, "lm-proxy": proxy.proc.pid}
                            runs.append(one_run(system, latency, conc, rep, args, base, data, work, env, pin_client, promptsmith, servers))
            finally:
                proxy.stop()
                fake.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_describe(),
        "machine": machine,
        "examples": args.examples,
        "program": os.path.relpath(args.program, ROOT),
        "runs": runs,
        "cells": cells(runs),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print_table(summary["cells"])


def one_run(system, latency, conc, rep, args, base, data, work, env, pin_client, promptsmith, servers):
    http_json(f"{base}/_reset", "POST")
    server_cpu_before = {name: process_cpu_s(pid) for name, pid in servers.items()}
    load_before = os.getloadavg()
    busy, noisy = busy_cores()
    tag = f"{system}-lat{latency}-c{conc}" + (f"-r{rep}" if args.repeat > 1 else "")
    log(f"{tag}: load {load_before[0]:.2f}, {busy:.2f} cores busy before{'; running: ' + ', '.join(noisy) if noisy else ''}")
    if system == "promptsmith":
        run_dir = os.path.join(work, tag)
        argv = pin_client + [
            promptsmith, "eval", "--program", args.program, "--data", data, "--metric", "numeric_match",
            "--lm-base-url", f"{base}/v1", "--model", "fake-lm", "--no-cache", "--concurrency", str(conc),
            "--quiet", "--out", run_dir,
        ]
    else:
        summary_path = os.path.join(work, tag + ".json")
        argv = pin_client + [
            args.dspy_python, os.path.join(HERE, "dspy_eval.py"), "--program", args.program, "--data", data,
            "--base-url", f"{base}/v1", "--model", "fake-lm", "--concurrency", str(conc), "--out", summary_path,
        ]
    code, wall, ru, out, err = run_client(argv, env, ROOT)
    stats = http_json(f"{base}/_stats")
    server_cpu = {name: process_cpu_s(pid) for name, pid in servers.items()}
    server_cpu = {k: (v - server_cpu_before[k]) if v is not None and server_cpu_before[k] is not None else None for k, v in server_cpu.items()}
    load_after = os.getloadavg()
    if code != 0:
        raise RuntimeError(f"{tag} failed ({code}):\n{out[-2000:]}\n{err[-2000:]}")
    if system == "promptsmith":
        with open(os.path.join(run_dir, "report.json")) as f:
            report = json.load(f)
        eval_wall = report["wall_ms"] / 1000.0
        eval_cpu = None
        score = report["mean"]
        failed = report.get("parse_failures", 0) + report.get("lm_errors", 0) + report.get("other_errors", 0)
        framework_calls = report.get("lm_calls")
    else:
        with open(summary_path) as f:
            s = json.load(f)
        eval_wall = s["eval_wall_s"]
        eval_cpu = s["eval_cpu_s"]
        score = s["score"]
        failed = s["failed_examples"]
        framework_calls = None
    calls = stats["chat_completions"]
    process_cpu = ru.ru_utime + ru.ru_stime
    # The CPU time compared: DSPy's evaluation phase (imports excluded), promptsmith's whole process.
    cpu = eval_cpu if eval_cpu is not None else process_cpu
    ideal = calls * latency / 1000.0 / conc
    result = {
        "system": system,
        "latency_ms": latency,
        "concurrency": conc,
        "repeat": rep,
        "examples": args.examples,
        "lm_calls": calls,
        "framework_reported_lm_calls": framework_calls,
        "score": score,
        "failed_examples": failed,
        "eval_wall_s": eval_wall,
        "process_wall_s": wall,
        "proxy_busy_s": stats["busy_seconds"],
        "process_cpu_user_s": ru.ru_utime,
        "process_cpu_sys_s": ru.ru_stime,
        "process_cpu_s": process_cpu,
        "eval_cpu_s": eval_cpu,
        "cpu_compared_s": cpu,
        "cpu_us_per_call": cpu / calls * 1e6 if calls else None,
        "calls_per_s": calls / eval_wall if eval_wall > 0 else None,
        "ideal_wall_s": ideal,
        "wall_over_ideal": eval_wall / ideal if ideal > 0 else None,
        "max_rss_kib": ru.ru_maxrss,
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_call": {k: (v / calls * 1e6 if v is not None and calls else None) for k, v in server_cpu.items()},
        "proxy": stats,
        "load_before": load_before,
        "load_after": load_after,
        "cores_busy_before": busy,
        "noisy_processes_before": noisy,
    }
    with open(os.path.join(args.out, tag + ".json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    log(
        f"{tag}: {calls} calls, eval {eval_wall:.2f}s ({result['calls_per_s']:.0f} calls/s), "
        f"cpu {result['cpu_us_per_call']:.0f} us/call, score {score:.4f}, failed {failed}"
    )
    return result


def median_run(runs):
    ordered = sorted(runs, key=lambda r: r["eval_wall_s"])
    return ordered[len(ordered) // 2]


def cells(runs):
    """One row per (latency, concurrency): the median run of each system and the ratios."""
    keys = sorted({(r["latency_ms"], r["concurrency"]) for r in runs})
    out = []
    for lat, conc in keys:
        row = {"latency_ms": lat, "concurrency": conc}
        for system in ("promptsmith", "dspy"):
            rs = [r for r in runs if r["system"] == system and r["latency_ms"] == lat and r["concurrency"] == conc]
            if rs:
                m = median_run(rs)
                row[system] = {k: m[k] for k in ("lm_calls", "eval_wall_s", "process_wall_s", "proxy_busy_s", "calls_per_s", "cpu_us_per_call", "process_cpu_s", "eval_cpu_s", "wall_over_ideal", "ideal_wall_s", "score", "failed_examples")}
        if "promptsmith" in row and "dspy" in row:
            row["calls_per_s_ratio"] = row["promptsmith"]["calls_per_s"] / row["dspy"]["calls_per_s"]
            row["cpu_per_call_ratio"] = row["dspy"]["cpu_us_per_call"] / row["promptsmith"]["cpu_us_per_call"]
        out.append(row)
    return out


def print_table(rows):
    print("| latency | conc | system | LM calls | eval wall s | calls/s | CPU µs/call | wall / ideal | score |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for system in ("promptsmith", "dspy"):
            if system not in row:
                continue
            r = row[system]
            ratio = f"{r['wall_over_ideal']:.3f}" if r["wall_over_ideal"] else "—"
            print(
                f"| {row['latency_ms']} ms | {row['concurrency']} | {system} | {r['lm_calls']} | {r['eval_wall_s']:.2f} | "
                f"{r['calls_per_s']:.0f} | {r['cpu_us_per_call']:.0f} | {ratio} | {r['score']:.4f} |"
            )
        if "calls_per_s_ratio" in row:
            print(f"| | | **ratio** | | | **{row['calls_per_s_ratio']:.1f}x** | **{row['cpu_per_call_ratio']:.1f}x** | | |")


if __name__ == "__main__":
    main()
