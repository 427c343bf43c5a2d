#!/usr/bin/env python3
"""Peak memory of `promptsmith eval` as the dataset grows (BENCHMARKS.md, "Eval memory").

    cargo build --release -p promptsmith -p promptsmith-bench
    python3 bench/eval_memory.py                              # 1,000 / 10,000 / 100,000 examples
    python3 bench/eval_memory.py --sizes 5000 --store off     # one size, --no-store
    python3 bench/eval_memory.py --bin /tmp/old/promptsmith   # another build (e.g. before a change)
    python3 bench/eval_memory.py --sizes 100000 -- --no-cache # more eval arguments after --

For each size it writes N seeded synthetic word problems (`gen_data.py synthetic`, seed 7) to
a fresh temporary directory and runs the real release binary there against `fake-lm`
(latency 0): `promptsmith eval --program bench/programs/gsm8k_cot_chat.json --data data.jsonl
--metric numeric_match --concurrency C --quiet --out run`, with the defaults a user has: the
response cache on (`PROMPTSMITH_CACHE_DIR` in the temporary directory, so it starts empty) and
the store on (the default `./promptsmith.db`, also in the temporary directory) unless
`--store off` adds `--no-store`. Peak RSS is the kernel's `ru_maxrss` of the finished process
(`wait4`), the same number `/usr/bin/time -v` prints as "Maximum resident set size". Also
reported: wall time, the sizes of report.json, results.jsonl and promptsmith.db, and the
"stored: N evaluations" line. Prints a Markdown table; `--out FILE` keeps the JSON.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from gen_data import synthetic  # noqa: E402


def start_fake_lm(binary):
    proc = subprocess.Popen([binary, "--port", "0", "--latency-ms", "0"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"fake-lm did not start: {line!r}")
    return proc, m.group(1)


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else None


def one_run(args, n, store, addr):
    work = tempfile.mkdtemp(prefix=f"eval-memory-{n}-")
    try:
        data = os.path.join(work, "data.jsonl")
        with open(data, "w") as f:
            for row in synthetic(n, 7):
                f.write(json.dumps(row) + "\n")
        env = dict(os.environ)
        env["PROMPTSMITH_CACHE_DIR"] = os.path.join(work, "cache")
        for k in ("PROMPTSMITH_LM_BASE_URL", "PROMPTSMITH_DATABASE_URL"):
            env.pop(k, None)
        argv = [
            args.bin, "eval", "--program", os.path.join(ROOT, "bench/programs/gsm8k_cot_chat.json"),
            "--data", data, "--metric", "numeric_match", "--lm-base-url", f"http://{addr}/v1",
            "--model", "fake-lm", "--concurrency", str(args.concurrency), "--quiet", "--out", "run",
        ]
        if not store:
            argv.append("--no-store")
        argv += args.extra
        t0 = time.perf_counter()
        with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=work)
            _, status, rusage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"eval of {n} examples failed ({code}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
        with open(os.path.join(work, "run", "report.json")) as f:
            report = json.load(f)
        stored = re.search(r"stored: (\d+) evaluations", stdout)
        return {
            "examples": n,
            "store": store,
            "concurrency": args.concurrency,
            "extra_args": args.extra,
            "peak_rss_mb": round(rusage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
            "wall_s": round(wall, 2),
            "eval_wall_s": report["wall_ms"] / 1000.0,
            "score": report["mean"],
            "report_json_bytes": size(os.path.join(work, "run", "report.json")),
            "results_jsonl_bytes": size(os.path.join(work, "run", "results.jsonl")),
            "store_db_bytes": size(os.path.join(work, "promptsmith.db")),
            "stored": int(stored.group(1)) if stored else None,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def mb(b):
    return "—" if b is None else (f"{b / 1e6:.1f} MB" if b >= 1e5 else f"{b / 1e3:.1f} kB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--store", choices=["on", "off", "both"], default="on")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/promptsmith"))
    ap.add_argument("--fake-lm", default=os.path.join(ROOT, "target/release/fake-lm"))
    ap.add_argument("--label", default=None, help="a name for this build in the JSON (e.g. before, after)")
    ap.add_argument("--out", default=None, help="write the runs as JSON here")
    ap.add_argument("extra", nargs="*", help="more eval arguments after --, e.g. -- --no-cache")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    stores = {"on": [True], "off": [False], "both": [True, False]}[args.store]
    fake, addr = start_fake_lm(args.fake_lm)
    runs = []
    try:
        for n in sizes:
            for store in stores:
                r = one_run(args, n, store, addr)
                print(f"{n} examples, store {'on' if store else 'off'}: {r['peak_rss_mb']} MB peak RSS, "
                      f"report.json {mb(r['report_json_bytes'])}, {r['wall_s']} s", file=sys.stderr)
                runs.append(r)
    finally:
        fake.kill()
        fake.wait()
    print("| examples | store | peak RSS | report.json | results.jsonl | promptsmith.db | wall |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['examples']:,} | {'on' if r['store'] else 'off'} | {r['peak_rss_mb']} MB | {mb(r['report_json_bytes'])} "
              f"| {mb(r['results_jsonl_bytes'])} | {mb(r['store_db_bytes'])} | {r['wall_s']} s |")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "label": args.label,
                "binary": args.bin,
                "cpus": os.cpu_count(),
                "runs": runs,
            }, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
