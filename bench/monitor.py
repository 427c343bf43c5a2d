#!/usr/bin/env python3
"""Samples what else uses the machine while optimizer benchmarks run, every 10 s, appending
lines to bench/results/optimize/monitor.log (read by optimize_table.py's "machine busy" column):

    YYYY-MM-DDTHH:MM:SS load=<1-min load> rustc=<n> cargo=<n> other_llama=[<pids>] other_clients_8096=[<procs>]

(UTC; lines written before 2026-11-24 have the time only, and are from 2026-11-23.)
other_llama: llama-servers on neither --port nor --reflection-port (GEPA runs' reflection
model); other_clients_8096: processes other than lm-proxy with a TCP connection to --port.

    python3 bench/monitor.py [--port 8096] [--reflection-port 8097] [--every 10] &
"""

import argparse
import os
import re
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def count(name):
    out = subprocess.run(["pgrep", "-c", "-x", name], capture_output=True, text=True).stdout.strip()
    return int(out or 0)


def other_llama(ports):
    out = subprocess.run(["pgrep", "-a", "-x", "llama-server"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if not any(f"--port {p} " in line + " " for p in ports)]


def other_clients(port):
    out = subprocess.run(["ss", "-tnpH", "state", "established", "dport", f"= :{port}"], capture_output=True, text=True).stdout
    procs = set(re.findall(r'users:\(\("([^"]+)",pid=(\d+)', out))
    return sorted(f"{name}:{pid}" for name, pid in procs if name != "lm-proxy")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8096)
    ap.add_argument("--reflection-port", type=int, default=8097)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "optimize", "monitor.log"))
    args = ap.parse_args()
    while True:
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())} load={load} rustc={count('rustc')} cargo={count('cargo')} "
                f"other_llama=[{' '.join(other_llama((args.port, args.reflection_port)))}] other_clients_{args.port}=[{' '.join(other_clients(args.port))}]")
        with open(args.out, "a") as f:
            f.write(line + "\n")
        time.sleep(args.every)


if __name__ == "__main__":
    main()
