"""A real `firstcome serve` for the Python tests (conformance, deploy): a
free loopback port, a temporary data folder, the server's output in a log
file, and a graceful stop (SIGTERM, exit code 0 expected).

    with FirstcomeServer(binary, ["--admin-token", "t"]) as server:
        status, headers, body = server.request("GET", "/healthz")
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FirstcomeServer:
    def __init__(self, binary, flags=(), name="firstcome"):
        self.binary = binary
        self.flags = list(flags)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"fc-{name}-")
        self.log_path = os.path.join(self.dir, "server.log")
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop(check=exc[0] is None)
        return False

    def start(self, timeout=30):
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--bind", "127.0.0.1", "--port", str(self.port),
             "--data-dir", os.path.join(self.dir, "data")] + self.flags,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"firstcome exited with {self.process.returncode}:\n{self.log()}")
            try:
                status, _, _ = self.request("GET", "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"firstcome not healthy in {timeout}s:\n{self.log()}")

    def stop(self, check=True):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                code = -9
            if check and code != 0:
                raise RuntimeError(f"firstcome exited with {code}:\n{self.log()}")
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def request(self, method, target, body=None, headers=None, timeout=10):
        """One request on a new connection: (status, headers (lower-case), body bytes)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body.encode() if isinstance(body, str) else body
            all_headers = dict(headers or {})
            if data is not None:
                all_headers.setdefault("Content-Type", "application/json")
            connection.request(method, target, body=data, headers=all_headers)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            connection.close()
