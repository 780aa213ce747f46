#!/usr/bin/env python3
"""Times a consumer draining a backlog: polls GET /api/v1/events/{id} every
100 ms until persisted == issued (at most 240 s) and prints JSON with the
rows persisted while watching and the rate. Used by bench/run.

    bench/drain.py BASE_URL EVENT_ID
"""
import json
import sys
import time
import urllib.request


def figures(base, event):
    with urllib.request.urlopen(f"{base}/api/v1/events/{event}", timeout=5) as r:
        return json.load(r)


def main():
    base, event = sys.argv[1], sys.argv[2]
    first = figures(base, event)
    t0 = time.monotonic()
    p0 = first["persisted"]
    last = first
    deadline = t0 + 240
    while last["persisted"] < last["issued"] and time.monotonic() < deadline:
        time.sleep(0.1)
        last = figures(base, event)
    seconds = time.monotonic() - t0
    rows = last["persisted"] - p0
    print(json.dumps({
        "label": sys.argv[3] if len(sys.argv) > 3 else "",
        "event_id": event,
        "issued": last["issued"],
        "persisted_at_start": p0,
        "persisted": last["persisted"],
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds if seconds > 0 else 0,
        "caught_up": last["persisted"] >= last["issued"],
    }))


if __name__ == "__main__":
    main()
