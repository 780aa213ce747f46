#!/usr/bin/env python3
"""Of the repeated runs of one scenario, keeps the median one.

bench/run measures each throughput scenario BENCH_REPEAT times, each time
paired with a reference measured just before (NAME-rI.json, NAME-rI-ref.json).
On a shared machine one pair can land on a quiet or a busy minute; the median
pair is the honest single figure. This copies the median pair to NAME.json and
NAME-ref.json (what bench/report.py reads) and writes every pair's figures to
NAME-pairs.json so the report can show the spread.

    bench/pick_median.py RESULTS_DIR NAME COUNT ratio   # median ratio to the reference
    bench/pick_median.py RESULTS_DIR NAME COUNT p99     # median p99 (paced runs)
"""
import json
import os
import shutil
import sys

from report import load  # bench/report.py: a result file, or None


def main():
    d, name, count, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    pairs = []
    for i in range(1, count + 1):
        run = load(os.path.join(d, f"{name}-r{i}.json"))
        if not run:
            continue
        ref = load(os.path.join(d, f"{name}-r{i}-ref.json"))
        rps = run["requests_per_second"]
        cpu = run.get("server_cpu_us_per_request")
        ref_cpu = ref.get("server_cpu_us_per_request") if ref else None
        pairs.append({
            "run": i,
            "rps": rps,
            "ref_rps": ref["requests_per_second"] if ref else None,
            "ratio": rps / ref["requests_per_second"] if ref else None,
            "p99_ms": run["latency_ms"]["p99"],
            "cpu_us": cpu,
            "ref_cpu_us": ref_cpu,
            "cpu_ratio": cpu / ref_cpu if cpu and ref_cpu else None,
        })
    if not pairs:
        print(f"pick_median: no runs of {name}", file=sys.stderr)
        return 1
    field = "ratio" if key == "ratio" else "p99_ms"
    ranked = sorted(pairs, key=lambda p: (p[field] is None, p[field] or 0))
    median = ranked[(len(ranked) - 1) // 2]
    i = median["run"]
    for suffix in (".json", ".txt"):
        src = os.path.join(d, f"{name}-r{i}{suffix}")
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(d, name + suffix))
        ref = os.path.join(d, f"{name}-r{i}-ref{suffix}")
        if os.path.exists(ref):
            shutil.copyfile(ref, os.path.join(d, f"{name}-ref{suffix}"))
    with open(os.path.join(d, f"{name}-pairs.json"), "w") as f:
        json.dump({"key": field, "median_run": i, "pairs": pairs}, f, indent=1)
    print(f"pick_median: {name}: {field} of each run " +
          ", ".join(f"{p[field]:.3f}" if p[field] is not None else "?" for p in pairs) +
          f"; median is run {i}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
