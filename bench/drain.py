#!/usr/bin/env python3
"""Times a consumer draining a backlog. Used by bench/run.

    bench/drain.py BASE_URL EVENT_ID [LABEL]

BASE_URL is a process that serves both the API and the consumer's /metrics
(role all), started with --metrics-max-events 0 (bench/run does): otherwise
each 20 ms scrape also counts the event's rows in the store, and the drain
measures the benchmark's own queries as much as the consumer. The rate is measured on the consumer's own counter
(firstcome_consumer_rows_total + duplicates + failed, sampled every 20 ms):
from the first sample to the last sample at which it moved, once the event's
`persisted` has reached `issued` and the counter stands still. So neither the
consumer-group join after a restart nor the cost of counting rows through
GET /api/v1/events is charged to the drain; rows of other events still in
the log are real work and count. Bounded: 240 s.
"""
import json
import re
import sys
import time
import urllib.request

COUNTERS = ("firstcome_consumer_rows_total", "firstcome_consumer_duplicates_total",
            "firstcome_consumer_failed_total")


def event(base, event_id):
    with urllib.request.urlopen(f"{base}/api/v1/events/{event_id}", timeout=5) as r:
        return json.load(r)


def metrics(base):
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
        return r.read().decode()


def sample(base):
    """From one /metrics read: the records the consumer has handled since its
    process started, and the seconds it spent per phase (poll/insert/commit)."""
    text = metrics(base)
    total = 0
    for name in COUNTERS:
        m = re.search(rf"^{name} (\d+)", text, re.M)
        if m:
            total += int(m.group(1))
    phases = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^firstcome_consumer_seconds_total\{phase="(\w+)"\} ([0-9.]+)', text, re.M)}
    return total, phases


def main():
    base, event_id = sys.argv[1], sys.argv[2]
    t_start = time.monotonic()
    first = event(base, event_id)
    h0, p0 = sample(base)
    t0 = time.monotonic()
    deadline = t0 + 240
    moved_h, moved_t = h0, t0  # the counter's last change
    last = first
    checked_at = t0
    while time.monotonic() < deadline:
        time.sleep(0.02)
        (h, p), t = sample(base), time.monotonic()
        if h == h0:
            t0 = t  # not started yet (joining its group): the clock waits too
            p0 = p
        if h != moved_h:
            moved_h, moved_t = h, t
            continue
        # Standing still for 200 ms: done if the event is fully persisted.
        if t - moved_t >= 0.2 and t - checked_at >= 0.2:
            checked_at = t
            last = event(base, event_id)
            if last["persisted"] >= last["issued"]:
                break
    last = event(base, event_id)
    _, p1 = sample(base)
    busy = {k: p1[k] - p0.get(k, 0.0) for k in p1}
    rows, seconds = moved_h - h0, moved_t - t0
    print(json.dumps({
        "label": sys.argv[3] if len(sys.argv) > 3 else "",
        "event_id": event_id,
        "issued": last["issued"],
        "persisted_at_start": first["persisted"],
        "persisted": last["persisted"],
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds if seconds > 0 else 0,
        "seconds_until_caught_up": time.monotonic() - t_start,
        "caught_up": last["persisted"] >= last["issued"],
        # Where the consumer thread spent the drain, roughly: poll also holds
        # the wait for the first batch and up to 200 ms of idle polling at
        # the end; insert is the store's own time.
        "consumer_seconds": busy,
    }))


if __name__ == "__main__":
    main()
