#!/usr/bin/python3
"""OpenAPI conformance: real `firstcome serve` processes are sent requests on
every path and method of docs/openapi.yaml, and each answer is checked
against the description: its status is one the operation documents, its
Content-Type one the response lists, its body valid against the response's
schema (JSON Schema 2020-12, Debian's python3-jsonschema), its required
headers present, and X-Request-Id on every answer. Every path is also sent
a method it does not have (405) and one unknown path is asked (404), against
the shared responses of those. The served GET /api/v1/openapi.json must be
docs/openapi.yaml itself.

Each case also names the status it expects, so a server that answers
something else fails even when that answer is documented.

EXPECTED_UNIMPLEMENTED lists the operations the binary does not serve yet
(the lifecycle calls of docs/api.md "Operators", built on another branch).
Their cases still run and are printed: while any case of such an operation
fails, its failures are reported as expected-unimplemented (an unknown path
can pass a 404 case by accident); once all of them pass, the test fails
until the operation is taken off the list. Nothing is skipped silently.

Starts: three firstcome processes (admin token; rate limit 1/s; user_auth
jwt behind a trusted proxy without admin token). Run by ctest (label
conformance): openapi_conformance.py --binary build/firstcome --spec docs/openapi.yaml
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from firstcome_server import FirstcomeServer  # noqa: E402

import jsonschema  # noqa: E402
import yaml  # noqa: E402

# Operations not served yet: (method, path). Empty it when they land.
EXPECTED_UNIMPLEMENTED: set = set()

ADMIN_TOKEN = "conformance-admin-token"
JWT_SECRET = "conformance-jwt-secret-of-at-least-32-bytes"
METHODS = ("get", "post", "put", "patch", "delete")


def load_yaml(path):
    class Loader(yaml.SafeLoader):
        pass

    # As cmake/embed_assets.py converts it: no implicit timestamps.
    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def jwt(sub, exp_in=300):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": sub, "exp": int(time.time()) + exp_in}).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


class Case:
    """One request and the status it must get; `op` is (method, path template)."""

    def __init__(self, op, target, status, server="main", body=None, headers=None, admin=True,
                 note="", group=None, repeat=1):
        self.op = op
        # Sent up to `repeat` times until the status is the expected one (a
        # rate limit is reached after a number of requests that depends on
        # timing; the answer that counts is the first 429).
        self.repeat = repeat
        # The operation whose outcome this case belongs to: its own, or the
        # one it depends on (an issue answered 403 because of a close).
        self.group = group or op
        self.target = target
        self.status = status
        self.server = server
        self.body = body
        self.headers = dict(headers or {})
        if admin and server == "main":
            self.headers.setdefault("Authorization", "Bearer " + ADMIN_TOKEN)
        self.note = note

    def __str__(self):
        return f"{self.op[0].upper()} {self.target} -> {self.status}" + (
            f" ({self.note})" if self.note else "")


def cases():
    """Every request of the run, in order (later ones depend on earlier ones)."""
    E = "/api/v1/events"
    big = json.dumps({"user_id": "u-1", "pad": "x" * (70 * 1024)})
    c = []
    add = lambda *a, **k: c.append(Case(*a, **k))  # noqa: E731
    add(("get", "/healthz"), "/healthz", 200, headers={"X-Request-Id": "conformance-1"},
        note="echoes X-Request-Id")
    add(("get", "/metrics"), "/metrics", 200)
    add(("get", "/dashboard"), "/dashboard", 200, admin=False, note="token configured: page served")
    add(("get", "/dashboard/dashboard.js"), "/dashboard/dashboard.js", 200, admin=False)
    add(("get", "/dashboard/dashboard.css"), "/dashboard/dashboard.css", 200, admin=False)
    add(("get", "/dashboard"), "/dashboard", 401, server="jwt",
        headers={"X-Forwarded-For": "203.0.113.9"}, note="no token: loopback clients only")
    add(("get", "/api/v1/openapi.json"), "/api/v1/openapi.json", 200)
    add(("get", "/api/v1/openapi.json"), "/api/v1/openapi.json", 401, admin=False)
    # Events.
    add(("post", E), E, 201, body={"id": "launch", "total": 2, "name": "Launch"})
    add(("post", E), E, 201, body={"id": "later", "total": 5, "starts_at": "2099-01-01T00:00:00Z"})
    add(("post", E), E, 201, body={"id": "spare", "total": 3})
    add(("post", E), E, 409, body={"id": "launch", "total": 2})
    add(("post", E), E, 400, body={"id": "bad", "total": "2"})
    add(("post", E), E, 401, admin=False, body={"id": "x", "total": 1})
    add(("post", E), E, 413, body={"id": "x", "total": 1, "name": "x" * (70 * 1024)})
    add(("get", E), E, 200, admin=False)
    add(("get", E + "/{id}"), E + "/launch", 200, admin=False)
    add(("get", E + "/{id}"), E + "/nope", 404, admin=False)
    add(("get", E + "/{id}"), E + "/bad!id", 400, admin=False)
    # Issue.
    issue = ("post", E + "/{id}/issue")
    add(issue, E + "/launch/issue", 201, body={"user_id": "u-1"}, admin=False)
    add(issue, E + "/launch/issue", 409, body={"user_id": "u-1"}, admin=False)
    add(issue, E + "/launch/issue", 201, body={"user_id": "u-2"}, admin=False)
    add(issue, E + "/launch/issue", 410, body={"user_id": "u-3"}, admin=False)
    add(issue, E + "/later/issue", 403, body={"user_id": "u-1"}, admin=False)
    add(issue, E + "/nope/issue", 404, body={"user_id": "u-1"}, admin=False)
    add(issue, E + "/launch/issue", 400, body={"user": "u-1"}, admin=False)
    add(issue, E + "/launch/issue", 413, body=big, admin=False)
    add(issue, E + "/launch/issue", 401, server="jwt", body={}, note="jwt mode, no token")
    add(issue, E + "/launch/issue", 403, server="jwt", body={"user_id": "u-2"},
        headers={"Authorization": "Bearer " + jwt("u-1")}, note="another user's id")
    add(issue, E + "/launch/issue", 201, server="jwt", body={},
        headers={"Authorization": "Bearer " + jwt("u-1")})
    # A user's coupons.
    users = ("get", E + "/{id}/users/{user_id}")
    add(users, E + "/launch/users/u-1", 200, admin=False)
    add(users, E + "/launch/users/nobody", 200, admin=False)
    add(users, E + "/nope/users/u-1", 404, admin=False)
    add(users, E + "/launch/users/bad!user", 400, admin=False)
    add(users, E + "/launch/users/u-1", 401, server="jwt",
        headers={"X-Forwarded-For": "203.0.113.9"}, note="jwt mode, no credentials")
    add(users, E + "/launch/users/u-2", 403, server="jwt",
        headers={"Authorization": "Bearer " + jwt("u-1")}, note="another user's coupons")
    # Rate limits (1 request/s, burst 2): a few requests at once reach 429.
    add(("get", "/healthz"), "/healthz", 429, server="limited", repeat=20)
    add(issue, E + "/launch/issue", 429, server="limited", body={"user_id": "u-1"}, repeat=20)
    # Operators (lifecycle).
    close, open_ = ("post", E + "/{id}/close"), ("post", E + "/{id}/open")
    add(close, E + "/spare/close", 200, body={})
    add(close, E + "/nope/close", 404, body={})
    add(close, E + "/spare/close", 401, admin=False, body={})
    add(issue, E + "/spare/issue", 403, body={"user_id": "u-1"}, admin=False, note="closed",
        group=close)
    add(open_, E + "/spare/open", 200)
    add(open_, E + "/nope/open", 404)
    patch = ("patch", E + "/{id}")
    add(patch, E + "/spare", 200, body={"total": 4, "name": "Spare"})
    add(patch, E + "/launch", 409, body={"total": 1}, note="below issued")
    add(patch, E + "/spare", 400, body={"total": "many"})
    add(patch, E + "/nope", 404, body={"total": 4})
    add(patch, E + "/spare", 401, admin=False, body={"total": 4})
    failed = ("get", E + "/{id}/failed")
    add(failed, E + "/launch/failed", 200)
    add(failed, E + "/nope/failed", 404)
    add(failed, E + "/launch/failed", 401, admin=False)
    retry = ("post", E + "/{id}/failed/{seq}/retry")
    add(retry, E + "/launch/failed/1/retry", 404, body={}, note="not a failed event")
    add(retry, E + "/launch/failed/1/retry", 401, admin=False, body={})
    revoke = ("delete", E + "/{id}/coupons/{seq}")
    add(revoke, E + "/launch/coupons/1", 200)
    add(revoke, E + "/launch/coupons/1", 404, note="revoked already")
    add(revoke, E + "/launch/coupons/1", 401, admin=False)
    delete = ("delete", E + "/{id}")
    add(delete, E + "/spare", 400, note="without confirm")
    add(delete, E + "/spare?confirm=spare", 401, admin=False)
    add(delete, E + "/spare?confirm=spare", 200)
    add(delete, E + "/spare?confirm=spare", 404)
    return c


class Checker:
    def __init__(self, spec):
        self.spec = spec
        self.failures = []

    def resolve(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            assert ref.startswith("#/"), ref
            node = self.spec
            for part in ref[2:].split("/"):
                node = node[part]
            obj = node
        return obj

    def schema_errors(self, schema, instance):
        # The response schema with the description's components beside it,
        # so "#/components/..." resolves inside one document.
        document = dict(schema)
        document["components"] = self.spec["components"]
        validator = jsonschema.Draft202012Validator(document)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in validator.iter_errors(instance)]

    def check_response(self, response, status, headers, body):
        """Problems of an answer against a response object of the description."""
        problems = []
        response = self.resolve(response)
        content = response.get("content", {})
        media = headers.get("content-type", "")
        if content:
            key = next((k for k in content if k.split(";")[0].strip() == media.split(";")[0].strip()),
                       None)
            if key is None:
                problems.append(f"Content-Type {media!r} not in {list(content)}")
            elif "json" in key:
                try:
                    instance = json.loads(body)
                except ValueError as e:
                    problems.append(f"body is not JSON ({e}): {body[:200]!r}")
                else:
                    schema = content[key].get("schema", {})
                    problems += self.schema_errors(schema, instance)
            elif not body:
                problems.append("empty body")
        for name, header in response.get("headers", {}).items():
            header = self.resolve(header)
            if header.get("required") and name.lower() not in headers:
                problems.append(f"required header {name} missing")
        if not headers.get("x-request-id"):
            problems.append("no X-Request-Id")
        return problems

    def check(self, case, status, headers, body):
        method, path = case.op
        operation = self.spec["paths"][path][method]
        problems = []
        if status != case.status:
            problems.append(f"status {status}, expected {case.status}")
        responses = operation["responses"]
        response = responses.get(str(status), responses.get("default"))
        if response is None:
            problems.append(f"status {status} is not documented (has {sorted(responses)})")
        else:
            problems += self.check_response(response, status, headers, body)
        if "x-request-id" in case.headers and headers.get("x-request-id") != case.headers["X-Request-Id"]:
            problems.append("X-Request-Id not echoed")
        return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()

    spec = load_yaml(args.spec)
    checker = Checker(spec)
    documented = {(m, p) for p, item in spec["paths"].items() for m in item if m in METHODS}
    all_cases = cases()
    covered = {c.op for c in all_cases}
    missing = documented - covered
    unknown = covered - documented
    stale = EXPECTED_UNIMPLEMENTED - documented
    fatal = []
    if missing:
        fatal.append(f"operations without a case: {sorted(missing)}")
    if unknown:
        fatal.append(f"cases of operations the description does not have: {sorted(unknown)}")
    if stale:
        fatal.append(f"EXPECTED_UNIMPLEMENTED names operations not in the description: {sorted(stale)}")

    servers = {
        "main": FirstcomeServer(args.binary, ["--admin-token", ADMIN_TOKEN, "--log-level", "warn"],
                                "conformance"),
        "limited": FirstcomeServer(args.binary, ["--rate-limit-ip", "1", "--log-level", "warn"],
                                   "conformance-limited"),
        "jwt": FirstcomeServer(args.binary, ["--user-auth", "jwt", "--jwt-secret", JWT_SECRET,
                                             "--trusted-proxies", "127.0.0.1/32",
                                             "--log-level", "warn"], "conformance-jwt"),
    }
    passed = 0
    results = {}  # op -> [ok, ...]
    failures = []
    try:
        for s in servers.values():
            s.start()
        for name in ("limited", "jwt"):  # their events
            servers[name].request("POST", "/api/v1/events",
                                  json.dumps({"id": "launch", "total": 10}))
        # The served description is docs/openapi.yaml.
        status, _, body = servers["main"].request(
            "GET", "/api/v1/openapi.json", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
        if status != 200 or json.loads(body) != spec:
            fatal.append("GET /api/v1/openapi.json is not docs/openapi.yaml (rebuild?)")
        for case in all_cases:
            body = case.body
            if body is not None and not isinstance(body, str):
                body = json.dumps(body)
            for _ in range(case.repeat):
                status, headers, raw = servers[case.server].request(
                    case.op[0].upper(), case.target, body, case.headers)
                if status == case.status:
                    break
            problems = checker.check(case, status, headers, raw)
            results.setdefault(case.group, []).append(not problems)
            if problems:
                failures.append((case, problems))
            else:
                passed += 1
        # A method the path does not have: 405 with Allow; an unknown path: 404.
        method_not_allowed = spec["components"]["responses"]["MethodNotAllowed"]
        no_such_path = spec["components"]["responses"]["NoSuchPath"]
        for path in spec["paths"]:
            target = (path.replace("{id}", "launch").replace("{user_id}", "u-1")
                      .replace("{seq}", "1"))
            status, headers, raw = servers["main"].request("PUT", target, "{}")
            problems = [] if status == 405 else [f"status {status}, expected 405"]
            problems += checker.check_response(method_not_allowed, status, headers, raw)
            if "allow" not in headers:
                problems.append("no Allow header")
            # A path none of whose operations exists yet cannot answer 405.
            ops = [(m, path) for m in spec["paths"][path] if m in METHODS]
            group = ops[0] if all(op in EXPECTED_UNIMPLEMENTED for op in ops) else ("put", path)
            case = Case(("put", path), target, 405, group=group)
            results.setdefault(group, []).append(not problems)
            if problems:
                failures.append((case, problems))
            else:
                passed += 1
        status, headers, raw = servers["main"].request("GET", "/api/v1/nowhere")
        problems = [] if status == 404 else [f"status {status}, expected 404"]
        problems += checker.check_response(no_such_path, status, headers, raw)
        if problems:
            failures.append((Case(("get", "/api/v1/nowhere"), "/api/v1/nowhere", 404), problems))
        else:
            passed += 1
    finally:
        for s in servers.values():
            s.stop(check=False)

    expected_failures = 0
    failed = 0
    for case, problems in failures:
        if case.group in EXPECTED_UNIMPLEMENTED and not all(results.get(case.group, [])):
            expected_failures += 1
            print(f"EXPECTED-UNIMPLEMENTED {case}: {'; '.join(problems)}")
        else:
            failed += 1
            print(f"FAIL {case}:\n    " + "\n    ".join(problems))
    for op in sorted(EXPECTED_UNIMPLEMENTED & documented):
        if results.get(op) and all(results[op]):
            failed += 1
            print(f"FAIL {op[0].upper()} {op[1]} conforms now: take it off EXPECTED_UNIMPLEMENTED")
    for message in fatal:
        failed += 1
        print("FAIL " + message)
    print(f"openapi conformance: {len(documented)} operations, "
          f"{len(EXPECTED_UNIMPLEMENTED & documented)} listed as expected-unimplemented "
          f"({expected_failures} checks failed as expected)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
