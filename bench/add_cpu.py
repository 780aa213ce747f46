#!/usr/bin/env python3
"""Adds the server's CPU over one load run to that run's JSON (bench/run).

    bench/add_cpu.py RUN.json TICKS CLK_TCK

TICKS: user+sys clock ticks of the server's whole process (all threads) over
the run, from /proc/PID/stat. Adds server_cpu_seconds and
server_cpu_us_per_request (CPU divided by the answers the load tool counted).
"""
import json
import sys


def main():
    path, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    try:
        with open(path) as f:
            run = json.load(f)
    except (OSError, ValueError):
        return 0  # the run wrote nothing; report.py shows it as not run
    seconds = ticks / hz
    run["server_cpu_seconds"] = seconds
    n = run.get("requests", 0)
    run["server_cpu_us_per_request"] = seconds * 1e6 / n if n > 0 and ticks > 0 else None
    with open(path, "w") as f:
        json.dump(run, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
