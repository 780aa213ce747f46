#!/usr/bin/python3
"""The deploy/ files against a REAL `firstcome serve`:

- the process runs from deploy/firstcome.toml.example (flags only move it to
  a free loopback port and a temporary folder), and after some traffic its
  GET /metrics keeps the Prometheus conventions: HELP and TYPE for every
  family, `_total` on counters and only on counters, histograms with
  cumulative `_bucket` series ending at le="+Inf" equal to `_count`, and `_sum`;
- every metric named by deploy/prometheus/alerts.yml (rules and their unit
  tests) and deploy/grafana/firstcome-dashboard.json is exported by it;
- the alert rules the operators rely on exist: consumer lag growing, dead
  events > 0, gate/store mismatch, 5xx rate;
- the systemd units carry their hardening options and run as an unprivileged
  user, and every flag they pass, every key of both config examples and
  every FIRSTCOME_ variable of compose.yaml is a setting the binary knows.

Nothing here reaches the addresses in the example files: only the embedded
example is started. (promtool is not used: Debian's prometheus package
brings a whole server; the files are parsed instead.)

Run by ctest (label deploy): deploy_test.py --binary build/firstcome --deploy deploy
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from firstcome_server import FirstcomeServer  # noqa: E402

import yaml  # noqa: E402

NAME = re.compile(r"\bfirstcome_[a-z0-9_]+\b")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
    "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
    "SystemCallFilter": "@system-service", "SystemCallArchitectures": "native",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
}


class Result:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""))
        return ok


def parse_exposition(text):
    """{family: {type, help, samples: [(name, labels dict, value)]}} and problems."""
    families, problems, current = {}, [], None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in families:
                problems.append(f"{name}: HELP twice (family split)")
            families[name] = {"type": None, "help": line.split(" ", 3)[3] if line.count(" ") >= 3 else "",
                              "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name != current:
                problems.append(f"TYPE of {name} not right after its HELP")
                families.setdefault(name, {"help": "", "samples": []})
            families[name]["type"] = kind
            current = name
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE.match(line)
            if not m:
                problems.append(f"unparsable sample: {line}")
                continue
            name, labels = m.group(1), dict(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            family = current
            if family is None or not (name == family or (
                    families[family]["type"] == "histogram" and name in
                    (family + "_bucket", family + "_sum", family + "_count"))):
                problems.append(f"sample {name} outside its family ({family})")
                continue
            families[family]["samples"].append((name, labels, float(m.group(4))))
    return families, problems


def convention_problems(families):
    problems = []
    for name, f in families.items():
        kind = f.get("type")
        if not f.get("help"):
            problems.append(f"{name}: no HELP text")
        if kind not in ("counter", "gauge", "histogram"):
            problems.append(f"{name}: TYPE {kind}")
        if (kind == "counter") != name.endswith("_total"):
            problems.append(f"{name}: a {kind}; counters and only counters end in _total")
        if kind == "histogram":
            series = {}
            for sample, labels, value in f["samples"]:
                key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
                if sample.endswith("_bucket"):
                    s["buckets"].append((float(labels["le"]), value))
                elif sample.endswith("_sum"):
                    s["sum"] = value
                else:
                    s["count"] = value
            for key, s in series.items():
                values = [v for _, v in s["buckets"]]
                bounds = [b for b, _ in s["buckets"]]
                if not s["buckets"] or bounds[-1] != float("inf"):
                    problems.append(f"{name}{dict(key)}: no le=\"+Inf\" bucket")
                elif values != sorted(values) or bounds != sorted(bounds):
                    problems.append(f"{name}{dict(key)}: buckets not cumulative")
                elif s["count"] != values[-1] or s["sum"] is None:
                    problems.append(f"{name}{dict(key)}: _count/_sum missing or not the +Inf bucket")
    return problems


def exported_names(families):
    names = set()
    for name, f in families.items():
        names.add(name)
        if f.get("type") == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def grafana_exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str):
                yield value
            else:
                yield from grafana_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from grafana_exprs(item)


def settings_of(binary):
    """Setting names (file keys) from `firstcome serve --help`."""
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    return {flag.replace("-", "_") for flag in re.findall(r"^\s+--([a-z0-9-]+)", out, re.M)} - {"help"}


def unit_options(path):
    options = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                key, _, value = line.partition("=")
                options.setdefault(key.strip(), []).append(value.strip())
    return options


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--deploy", required=True)
    args = parser.parse_args()
    deploy = os.path.abspath(args.deploy)
    r = Result()

    # A real process from the embedded example, with some traffic.
    with FirstcomeServer(args.binary, ["--config", os.path.join(deploy, "firstcome.toml.example")],
                         "deploy") as server:
        r.check(True, "firstcome serve runs from deploy/firstcome.toml.example")
        server.request("POST", "/api/v1/events", json.dumps({"id": "launch", "total": 3}))
        for user in ("u-1", "u-2", "u-3", "u-4", "u-1"):
            server.request("POST", "/api/v1/events/launch/issue", json.dumps({"user_id": user}))
        server.request("GET", "/nowhere")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, _, body = server.request("GET", "/api/v1/events/launch")
            if json.loads(body).get("persisted") == 3:
                break
            time.sleep(0.1)
        status, headers, body = server.request("GET", "/metrics")
    r.check(status == 200 and headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
            "GET /metrics answers Prometheus text")
    families, problems = parse_exposition(body.decode())
    problems += convention_problems(families)
    r.check(not problems, f"/metrics keeps the Prometheus conventions ({len(families)} families)",
            "\n     ".join(problems))
    exported = exported_names(families)
    for needed in ("firstcome_http_requests_total", "firstcome_http_request_duration_seconds",
                   "firstcome_rate_limited_total", "firstcome_issue_overloaded_total",
                   "firstcome_log_lag", "firstcome_consumer_lag", "firstcome_event_issued",
                   "firstcome_event_persisted", "firstcome_event_failed", "firstcome_event_dead",
                   "firstcome_event_remaining", "firstcome_event_state"):
        r.check(needed in exported, f"exports {needed}")
    issued = [v for n, labels, v in families.get("firstcome_event_issued", {}).get("samples", [])
              if labels.get("event") == "launch"]
    r.check(issued == [3.0], "per-event gauges carry the event's figures", f"issued: {issued}")

    # Every metric the rules and the dashboard name is exported.
    with open(os.path.join(deploy, "prometheus", "alerts.yml")) as f:
        alerts = yaml.safe_load(f)
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    with open(os.path.join(deploy, "prometheus", "alerts_test.yml")) as f:
        alert_tests = yaml.safe_load(f)
    with open(os.path.join(deploy, "grafana", "firstcome-dashboard.json")) as f:
        dashboard = json.load(f)
    referenced = {}
    for rule in rules:
        for name in NAME.findall(rule["expr"]):
            referenced.setdefault(name, set()).add(f"alerts.yml {rule.get('alert')}")
    for test in alert_tests.get("tests", []):
        for series in test.get("input_series", []):
            for name in NAME.findall(series["series"]):
                referenced.setdefault(name, set()).add("alerts_test.yml")
    for expr in grafana_exprs(dashboard):
        for name in NAME.findall(expr):
            referenced.setdefault(name, set()).add("firstcome-dashboard.json")
    r.check(len(referenced) >= 20, f"the files name {len(referenced)} metrics")
    for name in sorted(referenced):
        r.check(name in exported, f"{name} is exported", f"named by {sorted(referenced[name])}")

    # The alert rules operators rely on.
    def rule_with(*patterns):
        return [rule["alert"] for rule in rules
                if all(re.search(p, rule["expr"]) for p in patterns)]

    required = {
        "consumer lag growing": (r"firstcome_consumer_lag", r"\b(delta|deriv|increase)\("),
        "dead events > 0": (r"firstcome_event_dead", r">\s*0\b"),
        "gate/store mismatch": (r"firstcome_event_issued", r"firstcome_event_persisted"),
        "5xx rate": (r"firstcome_http_requests_total", r'status=~"5', r"\brate\("),
    }
    for what, patterns in required.items():
        found = rule_with(*patterns)
        r.check(bool(found), f"an alert rule for {what} ({', '.join(found) or 'none'})")
    for rule in rules:
        r.check(rule.get("labels", {}).get("severity") in ("warning", "critical") and
                rule.get("annotations", {}).get("summary"),
                f"alert {rule['alert']} has a severity and a summary")

    # systemd units: hardened, unprivileged, flags the binary knows.
    settings = settings_of(args.binary)
    r.check({"log_format", "admin_token", "role"} <= settings, "the binary lists its settings")
    systemd = os.path.join(deploy, "systemd")
    for unit in sorted(os.listdir(systemd)):
        options = unit_options(os.path.join(systemd, unit))
        missing = [f"{k}={v}" for k, v in HARDENING.items() if options.get(k, [None])[-1] != v]
        r.check(not missing, f"{unit} is hardened", f"missing or different: {missing}")
        r.check(options.get("User", ["root"])[-1] not in ("root", "0"), f"{unit} runs unprivileged")
        exec_start = options.get("ExecStart", [""])[-1]
        flags = {f.replace("-", "_") for f in re.findall(r"--([a-z0-9-]+)", exec_start)}
        r.check(exec_start and flags <= settings, f"{unit} passes known flags only",
                f"unknown: {sorted(flags - settings)}")

    # Config examples: every key, set or commented, is a setting.
    for example in ("firstcome.toml.example", "firstcome-distributed.toml.example"):
        path = os.path.join(deploy, example)
        with open(path, "rb") as f:
            active = set(tomllib.load(f))
        with open(path) as f:
            commented = set(re.findall(r"^#\s*([a-z_]+)\s*=", f.read(), re.M))
        unknown = (active | commented) - settings
        r.check(not unknown, f"{example}: every key is a setting ({len(active)} set, "
                f"{len(commented)} commented)", f"unknown: {sorted(unknown)}")

    # compose.yaml: every FIRSTCOME_ variable of a firstcome service is a setting.
    with open(os.path.join(deploy, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    for name, service in compose.get("services", {}).items():
        env = service.get("environment") or {}
        keys = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        ours = {k[len("FIRSTCOME_"):].lower() for k in keys
                if k.startswith("FIRSTCOME_") and k != "FIRSTCOME_DB_PASSWORD"}
        if ours:
            r.check(ours <= settings, f"compose.yaml {name}: FIRSTCOME_ variables are settings",
                    f"unknown: {sorted(ours - settings)}")

    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
