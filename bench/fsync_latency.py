#!/usr/bin/env python3
"""The floor under a durable answer's latency: how long this machine's disk
takes to make one small write durable (fdatasync), as the log writer's group
commit does before any admission of its batch is answered.

    bench/fsync_latency.py DIR [N]

Writes and fdatasyncs 4 KiB N times (default 200) in a temporary file in DIR
(the server's data folder's file system) and prints p50/p90/p99/max in ms.
A p99 latency target for admissions below this disk's fsync p99 cannot be met
by the server: the answer waits for the fsync by design.
"""
import os
import sys
import tempfile
import time


def main():
    where = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    fd, path = tempfile.mkstemp(prefix="fsync-probe.", dir=where)
    try:
        block = b"x" * 4096
        took = []
        for _ in range(n):
            os.write(fd, block)
            start = time.perf_counter()
            os.fdatasync(fd)
            took.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    took.sort()

    def at(q):
        return took[min(len(took) - 1, int(q * len(took)))]

    print(f"fdatasync of 4 KiB in {where} ({n} times): p50 {at(0.5):.2f} ms, p90 {at(0.9):.2f} ms, "
          f"p99 {at(0.99):.2f} ms, max {took[-1]:.2f} ms")


if __name__ == "__main__":
    main()
