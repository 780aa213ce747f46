#!/usr/bin/env python3
"""Turns the raw results of bench/run into docs/benchmarks.md and a gnuplot
chart (throughput and p99 per scenario). Only reads what bench/run wrote;
a missing scenario is shown as "not run" with the reason from notes.txt.

    bench/report.py RESULTS_DIR OUT.md OUT.png
"""
import csv
import json
import os
import re
import subprocess
import sys

SCENARIOS = [
    ("reference", "nginx `return 200`, 1 worker (the ceiling)"),
    ("emb-admitting", "embedded: admitting (every request an admission)"),
    ("emb-soldout", "embedded: sold out (every request a rejection)"),
    ("emb-flash", "embedded: flash drop, 10,000 coupons, 200,000 users"),
    ("emb-half", "embedded: admitting paced at half its maximum"),
    ("emb-half-ref", "nginx `return 200` paced at the same rate (the row above's reference)"),
    ("dist-admitting", "distributed: admitting"),
    ("dist-soldout", "distributed: sold out"),
    ("dist-flash", "distributed: flash drop, 10,000 coupons, 200,000 users"),
]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    except OSError:
        pass
    return out


def wrk_result(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        return None
    res = {"rps": float(m.group(1))}
    for q in ("50", "90", "99"):
        mq = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if mq:
            v = float(mq.group(1))
            res["p" + q] = v / 1000 if mq.group(2) == "us" else v * 1000 if mq.group(2) == "s" else v
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", text)
    res["requests"] = int(m.group(1)) if m else 0
    return res


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def main():
    d, md_path, png_path = sys.argv[1], sys.argv[2], sys.argv[3]
    machine = read_kv(os.path.join(d, "machine.txt"))
    notes = [l.strip() for l in open(os.path.join(d, "notes.txt"))] if os.path.exists(
        os.path.join(d, "notes.txt")) else []
    runs = {name: load(os.path.join(d, name + ".json")) for name, _ in SCENARIOS}
    def paired_ref(name):
        """The reference measured just before `name` (bench/run pairs every
        throughput scenario with one), else the one at the start."""
        return load(os.path.join(d, name + "-ref.json")) or runs.get("reference")

    def pairs(name):
        """Every repetition of `name` (bench/pick_median.py), or None."""
        return load(os.path.join(d, name + "-pairs.json"))

    def spread(name):
        """The figure the median was picked by, for every repetition."""
        p = pairs(name)
        if not p or len(p["pairs"]) < 2:
            return "—"
        digits = 2 if p["key"] == "ratio" else 1
        values = " / ".join(fmt(x[p["key"]], digits) for x in p["pairs"])
        return ("× " if p["key"] == "ratio" else "p99 ms ") + values

    def ratio(r, name):
        if not r:
            return None
        if name == "reference":
            return 1.0
        ref = paired_ref(name)
        return r["requests_per_second"] / ref["requests_per_second"] if ref else None

    L = []
    L.append("# Firstcome benchmarks")
    L.append("")
    L.append("Every figure on this page comes from one run of `bench/run` (written by "
             "`bench/report.py`); run it again to reproduce them. The load tool is "
             "`firstcome bench` (closed loop, keep-alive, "
             f"{machine.get('connections', '?')} connections on "
             f"{machine.get('load_threads', '?')} load thread) on the same machine as the "
             "server, traffic to 127.0.0.1 only. The reference is a private nginx with one "
             "worker answering `return 200 \"ok\"`, measured in the same run with the same "
             "tool: the cheapest HTTP answer this machine gives. It is measured again just "
             "before every throughput scenario (column 'nginx just before'), and each "
             "ratio is to that paired measurement. "
             f"Every throughput scenario runs as {machine.get('repeat', '1')} such pairs "
             "and the table shows the pair with the median ratio (column 'each pair' lists "
             "all of them); the paced half-load run is repeated as often and its median "
             "p99 is shown. "
             f"firstcome runs with {machine.get('http_threads', '?')} HTTP thread(s) "
             "(`--http-threads`), as nginx runs one worker: on 2 cores the load tool needs "
             "the other one. Everything else (log writer, consumer, Redis, Kafka, MariaDB) "
             "shares the same 2 cores.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    for k in ("cpu", "cores", "memory", "kernel", "os", "compiler", "nginx", "commit", "date",
              "load"):
        if k in machine:
            label = "load average at start" if k == "load" else k
            L.append(f"| {label} | {machine[k]} |")
    L.append("")
    L.append("The machine is shared (a virtual machine on a busy host), so absolute "
             "numbers move between runs and even within one: the same nginx has measured "
             "anywhere from about 50,000 to 140,000 req/s here on one day. Ratios to a reference "
             "measured minutes apart move much less. Before its first measured scenario the "
             "embedded server gets 3 s of unreported warm-up load, the distributed one "
             f"{machine.get('dist_warm_up', '?')} s: a fresh Kafka broker's JVM needs about a "
             "minute of traffic to compile its hot paths (see bench/run). Each scenario "
             "starts only once the consumer has persisted the previous one, so none is "
             "measured while the consumer drains another's backlog.")
    L.append("")
    L.append("## Server CPU per request")
    L.append("")
    L.append("User+sys CPU of the whole server process (every thread: HTTP, log writer, "
             "consumer, metrics; for nginx master and worker) over the run, from "
             "`/proc/PID/stat`, divided by the answers. This is the figure to steer by: "
             "req/s on this shared machine swings by ±30% between runs a minute apart, "
             "CPU per request barely moves. The distributed rows count the firstcome "
             "process alone (Redis, Kafka and MariaDB are other processes). "
             "`bench/instructions` gives instructions per request (valgrind), which "
             "do not move at all.")
    L.append("")
    L.append("| scenario | server CPU µs/request | nginx CPU µs/request (same pair) | × nginx | "
             "each pair (× nginx) |")
    L.append("|---|---:|---:|---:|---|")
    for name, title in SCENARIOS:
        r = runs.get(name)
        if not r or name == "reference" or name.endswith("-ref"):
            continue
        cpu = r.get("server_cpu_us_per_request")
        ref = paired_ref(name)
        ref_cpu = ref.get("server_cpu_us_per_request") if ref else None
        p = pairs(name)
        each = "—"
        if p and len(p["pairs"]) > 1:
            each = " / ".join(fmt(x.get("cpu_ratio"), 2) for x in p["pairs"])
        L.append(f"| {title} | {fmt(cpu, 2)} | {fmt(ref_cpu, 2)} | "
                 f"{fmt(cpu / ref_cpu if cpu and ref_cpu else None, 2)} | {each} |")
    ref = runs.get("reference")
    if ref:
        L.append(f"| {dict(SCENARIOS)['reference']} | "
                 f"{fmt(ref.get('server_cpu_us_per_request'), 2)} | | 1.00 | |")
    L.append("")
    instr = os.path.join(d, "instructions.txt")
    if os.path.exists(instr):
        L.append("Instructions per request (`bench/instructions`: the server under valgrind's "
                 "callgrind, one HTTP thread, 16 connections; every thread, user space only, so "
                 "the kernel's TCP work is not in it; nginx `return 200` counted the same way):")
        L.append("")
        L.append("```")
        L.extend(l.rstrip("\n") for l in open(instr))
        L.append("```")
        L.append("")
    scaling = os.path.join(d, "scaling.md")
    if os.path.exists(scaling) and os.path.getsize(scaling) > 0:
        L.append("## Multi-core scaling (`bench/scaling`)")
        L.append("")
        L.append("Embedded server with `--http-threads` 1, 2, ... against nginx with as many "
                 "workers; the load tool runs as many threads on the same machine. CPU per "
                 "request is the whole server process; 'machine busy' is all cores from "
                 "/proc/stat during the sold-out run: at 100% the load tool and the server "
                 "share the cores, and req/s stops scaling for that reason.")
        L.append("")
        L.extend(l.rstrip("\n") for l in open(scaling))
        L.append("")
    fsync = os.path.join(d, "fsync.txt")
    if os.path.exists(fsync) and os.path.getsize(fsync) > 0:
        L.append("The floor under a durable admission's latency (`bench/fsync_latency.py`; every "
                 "admission waits for its batch's fsync): " + open(fsync).read().strip())
        L.append("")
    L.append("## HTTP scenarios (firstcome bench)")
    L.append("")
    L.append("| scenario | req/s | nginx just before | × nginx | each pair | p50 ms | p90 ms | "
             "p99 ms | p99.9 ms | max ms | answers | sold out after | all persisted | oracle |")
    L.append("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
    def before(name):
        ref = load(os.path.join(d, name + "-ref.json"))
        return fmt(ref["requests_per_second"]) if ref else "—"

    chart = []
    for name, title in SCENARIOS:
        r = runs.get(name)
        if not r:
            L.append(f"| {title} | not run | | | | | | | | | | | | |")
            continue
        lat = r["latency_ms"]
        answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(r["by_status"].items()))
        if r.get("transport_errors"):
            answers += f", transport errors: {r['transport_errors']:,}"
        so = r.get("seconds_until_sold_out")
        persisted = r.get("persisted_after_load_s")
        oracle = r.get("oracle")
        oracle_s = "—" if not oracle else ("PASS" if oracle["pass"] else "FAIL")
        extra = f" (rate {fmt(r['rate'])}/s)" if r.get("rate") else ""
        L.append(
            f"| {title}{extra} | {fmt(r['requests_per_second'])} | {before(name)} | "
            f"{fmt(ratio(r, name), 2)} | {spread(name)} | "
            f"{fmt(lat['p50'], 3)} | {fmt(lat['p90'], 3)} | {fmt(lat['p99'], 3)} | "
            f"{fmt(lat['p999'], 3)} | {fmt(lat['max'], 3)} | {answers} | "
            f"{'—' if so is None else fmt(so, 3) + ' s'} | "
            f"{'—' if persisted is None else fmt(persisted, 3) + ' s after the load'} | "
            f"{oracle_s} |")
        chart.append((name, r["requests_per_second"], lat["p99"]))
    L.append("")
    for name in ("emb-flash", "dist-flash"):
        r = runs.get(name)
        if r and r.get("oracle"):
            L.append(f"Oracle of `{name}`:")
            L.append("")
            for c in r["oracle"]["checks"]:
                L.append(f"- {'PASS' if c['pass'] else 'FAIL'} {c['name']}: {c['detail']}")
            L.append("")

    L.append("![throughput and p99 per scenario](benchmarks.png)")
    L.append("")

    # wrk
    wrks = []
    for name, label in (("reference", "nginx reference"), ("emb-admitting", "embedded admitting"),
                        ("emb-soldout", "embedded sold out"),
                        ("dist-admitting", "distributed admitting"),
                        ("dist-soldout", "distributed sold out")):
        w = wrk_result(os.path.join(d, f"wrk-{name}.txt"))
        if w:
            wrks.append((name, label, w))
    if wrks:
        L.append("## Second opinion: wrk (5 s, 1 thread, same connections)")
        L.append("")
        L.append("| endpoint | wrk req/s | × wrk on nginx | p50 ms | p99 ms | non-2xx | "
                 "firstcome bench req/s |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        wref = next((w for n, _, w in wrks if n == "reference"), None)
        for name, label, w in wrks:
            mine = runs.get(name)
            L.append(f"| {label} | {fmt(w['rps'])} | "
                     f"{fmt(w['rps'] / wref['rps'], 2) if wref else '—'} | "
                     f"{fmt(w.get('p50'), 3)} | {fmt(w.get('p99'), 3)} | {w['non2xx']:,} | "
                     f"{fmt(mine['requests_per_second']) if mine else '—'} |")
        L.append("")
        L.append("wrk is leaner per request than `firstcome bench` (no per-request "
                 "deadline timers, a hand-rolled parser), so against nginx it finds a higher "
                 "ceiling; the ratios within each tool are what compare.")
        L.append("")

    # drain
    def phase_times(r):
        c = r.get("consumer_seconds") or {}
        if not c:
            return "—"
        return " / ".join(fmt(c.get(k, 0.0), 2) for k in ("poll", "insert", "commit"))

    def cpu_per_row(r):
        c = r.get("cpu_seconds") or {}
        if not c or not r.get("rows"):
            return "—"
        return " / ".join(fmt(1e6 * c[k] / r["rows"], 1) if k in c else "—"
                          for k in ("firstcome", "mariadbd", "kafka"))

    L.append("## Consumer drain (log → store)")
    L.append("")
    L.append("A backlog is made with the consumer throttled to 1 row/s, the server is "
             "restarted on the same data with `--consumer-max-rows-per-second 0` (the default "
             "throttle is 50,000 rows/s), and `bench/drain.py` times the consumer's own "
             "counter (`firstcome_consumer_rows_total`, sampled every 20 ms) until the "
             "backlog is gone; `persisted == issued` is checked at the end. The timed server "
             "runs with `--metrics-max-events 0`: every scrape would otherwise count the "
             "event's rows in the store, and at one scrape per 20 ms that took 45% of "
             "MariaDB's CPU. The private MariaDB has a 256 MB buffer pool and a 256 MB redo "
             "log (`innodb_flush_log_at_trx_commit` stays 1: every store commit is fsynced). "
             "CPU per row is user+sys of each whole process over the drain (kafka: the "
             "broker), divided by the rows. `BENCH_ONLY=dist-drain bench/run` runs this "
             "drain alone (`BENCH_DRAIN_PERF=1` adds a perf profile).")
    L.append("")
    L.append("| store | rows | seconds | rows/s | caught up | consumer thread: poll / insert / commit s "
             "| CPU µs/row: firstcome / mariadbd / kafka |")
    L.append("|---|---:|---:|---:|---|---|---|")
    drains = {}
    for name, label in (("emb-drain", "SQLite log → SQLite store"),
                        ("dist-drain", "Kafka → MariaDB")):
        r = load(os.path.join(d, name + ".json"))
        drains[name] = r
        if r:
            L.append(f"| {label} | {r['rows']:,} | {fmt(r['seconds'], 2)} | "
                     f"{fmt(r['rows_per_second'])} | {'yes' if r['caught_up'] else 'no'} | "
                     f"{phase_times(r)} | {cpu_per_row(r)} |")
        else:
            L.append(f"| {label} | not run | | | | | |")
    L.append("")

    # micro
    micro = {}
    for name in ("memory_gate", "redis_gate"):
        m = load(os.path.join(d, f"micro-{name}.json"))
        if m and m.get("benchmarks"):
            micro[name] = m["benchmarks"]
            L.append(f"## Google Benchmark: {name}_bench")
            L.append("")
            L.append("| benchmark | real ns/op | items/s | counters |")
            L.append("|---|---:|---:|---|")
            for b in m["benchmarks"]:
                if b.get("run_type") == "aggregate":
                    continue
                skip = {"name", "run_name", "run_type", "repetitions", "repetition_index",
                        "threads", "iterations", "real_time", "cpu_time", "time_unit",
                        "family_index", "per_family_instance_index", "items_per_second",
                        "error_occurred", "error_message", "aggregate_name", "aggregate_unit",
                        "label"}
                counters = ", ".join(f"{k}={v:,.1f}" for k, v in b.items()
                                     if k not in skip and isinstance(v, (int, float)))
                unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}.get(b.get("time_unit", "ns"), 1)
                L.append(f"| {b['name']} | {fmt(b.get('real_time', 0) * unit, 1)} | "
                         f"{fmt(b.get('items_per_second'))} | {counters} |")
            L.append("")
    rb = os.path.join(d, "redis-benchmark.csv")
    redis_benchmark_rps = None
    if os.path.exists(rb):
        for row in csv.reader(open(rb)):
            if row and row[0].upper().startswith("EVALSHA"):
                try:
                    redis_benchmark_rps = float(row[1])
                except ValueError:
                    pass
        L.append("## redis-benchmark: EVALSHA of the admit script")
        L.append("")
        L.append("`redis-benchmark -n 200000 -c 50 -P 16 -r 100000000 EVALSHA <admit sha> 4 "
                 "<keys> u-__rand_int__ 1000000000 1` on the same private Redis "
                 "(appendfsync always): "
                 f"**{fmt(redis_benchmark_rps)} scripts/s**.")
        L.append("")

    # targets
    def rr(name):
        return ratio(runs.get(name), name)

    def bytes_per_user():
        for b in micro.get("memory_gate", []):
            for k, v in b.items():
                if "bytes_per_user" in k and isinstance(v, (int, float)):
                    return v
        return None

    half = runs.get("emb-half")
    half_ref = runs.get("emb-half-ref")
    tgt = [
        ("sold out, embedded ≥ 0.8 × nginx", rr("emb-soldout"), lambda v: v >= 0.8, 2, "×"),
        ("sold out, distributed ≥ 0.6 × nginx", rr("dist-soldout"), lambda v: v >= 0.6, 2, "×"),
        ("admitting, embedded ≥ 0.5 × nginx", rr("emb-admitting"), lambda v: v >= 0.5, 2, "×"),
        ("admitting, distributed ≥ 0.3 × nginx", rr("dist-admitting"), lambda v: v >= 0.3, 2,
         "×"),
        ("p99 ≤ 5 ms at half of max throughput, embedded"
         + (f" (nginx paced at the same rate: p99 {half_ref['latency_ms']['p99']:.3f} ms)"
            if half_ref else ""),
         half["latency_ms"]["p99"] if half else None, lambda v: v <= 5, 3, "ms"),
        ("consumer into MariaDB ≥ 50,000 rows/s",
         drains["dist-drain"]["rows_per_second"] if drains.get("dist-drain") else None,
         lambda v: v >= 50000, 0, "rows/s"),
        ("consumer into SQLite ≥ 100,000 rows/s",
         drains["emb-drain"]["rows_per_second"] if drains.get("emb-drain") else None,
         lambda v: v >= 100000, 0, "rows/s"),
        ("memory gate ≤ 64 bytes per admitted user (1,000,000 users)", bytes_per_user(),
         lambda v: v <= 64, 1, "bytes"),
    ]
    L.append("## Targets of issue 4")
    L.append("")
    if machine.get("repeat", "1") != "1":
        L.append(f"Throughput ratios and the half-load p99 are the medians of "
                 f"{machine.get('repeat')} runs (see 'each pair' above).")
        L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---:|---|")
    for label, v, ok, digits, unit in tgt:
        if v is None:
            L.append(f"| {label} | not measured | — |")
        else:
            L.append(f"| {label} | {fmt(v, digits)} {unit} | {'yes' if ok(v) else 'NO'} |")
    L.append("")
    if notes:
        L.append("## Notes from this run")
        L.append("")
        for n in notes:
            if n:
                L.append(f"- {n}")
        L.append("")
    L.append("## Commands")
    L.append("")
    L.append("```")
    L.append("bench/run        # builds (scripts/build), then everything above; "
             "BENCH_DURATION=5 for shorter runs")
    L.append("bench/reference-nginx.sh start DIR   # the reference alone; stop DIR to stop it")
    L.append("build/firstcome bench --target http://127.0.0.1:8080 --event E --create-event 10000 \\")
    L.append("    --requests 200000 --connections 256 --oracle --audit-args \"--data-dir ./data\"")
    L.append("```")
    L.append("")
    L.append(f"Each timed scenario runs {machine.get('duration', '?')} s; the flash drop runs "
             "until 200,000 answers. Raw JSON of every run is kept in the folder bench/run "
             "prints at the end.")
    L.append("")
    with open(md_path, "w") as f:
        f.write("\n".join(L))

    # chart
    if chart:
        data = os.path.join(d, "chart.dat")
        with open(data, "w") as f:
            for name, rps, p99 in chart:
                f.write(f"\"{name}\" {rps:.1f} {p99:.4f}\n")
        script = f"""
set terminal pngcairo size 1100,520 font "DejaVu Sans,10"
set output "{png_path}"
set multiplot layout 1,2 title "Firstcome bench ({machine.get('cores', '?')} cores, {machine.get('date', '')})"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -35 scale 0
set grid ytics
set key off
set yrange [0:*]
set title "throughput (requests/s)"
plot "{data}" using 2:xtic(1) lc rgb "#3a7bd5"
set title "p99 latency (ms)"
plot "{data}" using 3:xtic(1) lc rgb "#d5533a"
unset multiplot
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=False, timeout=60)


if __name__ == "__main__":
    main()
