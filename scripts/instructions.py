#!/usr/bin/env python3
"""Instructions the server executes per award and per trivial request, counted by callgrind.

Usage: scripts/instructions.py [SERVER_BINARY] [REQUESTS]

On this shared virtual machine the time an award takes moves by a third from hour to hour, so
a change of a few per cent cannot be seen in the HTTP benchmark's figures, and the machine
offers no hardware counters. An instruction count under valgrind repeats to about 1 %: this
starts the server binary (default `target/bench/release/classpoints`, which `make bench`
builds; `target/release/classpoints` works too) under `valgrind --tool=callgrind` with a fresh
database in a temporary directory and one request thread, signs in, makes a class of 40
students and sends 100 awards to warm up; then it zeroes the counters, sends REQUESTS (1 000)
awards one at a time, and reads the count; then the same for `GET /healthz`. Awards go one at
a time, so each is its own commit (under load ~17 share one). It prints the figures and keeps
the dumps: `callgrind_annotate --inclusive=yes <dump>` shows where the instructions went.
Needs valgrind (Debian's `valgrind` package) and Python 3, no packages. Counts exclude the
kernel's work (system calls, TCP), which `perf` sees.
"""

import http.client
import itertools
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
ADMIN = ("root", "root-password")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.token = ""

    def call(self, method: str, path: str, body=None, key: str | None = None):
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if key:
            headers["idempotency-key"] = key
        payload = None if body is None else json.dumps(body)
        self.conn.request(method, path, payload, headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data.startswith(b"{") else data

    def award(self, student: str, reason: str) -> None:
        body = {"student_id": student, "points_change": 1, "reason": reason}
        self.call("POST", "/api/points", body, key=str(uuid.uuid4()))


def counted(pid: int, dumps: pathlib.Path, what: str, requests: int, send) -> float:
    """Instructions per request of `send()` called `requests` times, counters zeroed first."""
    before = set(dumps.iterdir())
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    for _ in range(requests):
        send()
    subprocess.run(["callgrind_control", "-d", what, str(pid)], check=True, capture_output=True)
    for _ in range(100):
        new = set(dumps.iterdir()) - before
        if new:
            dump = new.pop()
            time.sleep(0.2)  # the dump is written in one go, but give it a moment to close
            for line in dump.read_text().splitlines():
                if line.startswith("summary:"):
                    print(f"  dump: {dump}")
                    return int(line.split()[1]) / requests
        time.sleep(0.1)
    sys.exit(f"no callgrind dump appeared in {dumps}")


def main() -> None:
    binary = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/bench/release/classpoints"
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    if not binary.exists():
        sys.exit(f"{binary} does not exist: run `make bench` first, or name a server binary")
    work = pathlib.Path(tempfile.mkdtemp(prefix="classpoints-instructions-"))
    dumps = work / "dumps"
    dumps.mkdir()
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite://{work}/classpoints.db",
        LEPTOS_SITE_ADDR=f"127.0.0.1:{port}",
        LEPTOS_SITE_ROOT=str(work),
        CLASSPOINTS_DEMO="false",
        CLASSPOINTS_ADMIN_USERNAME=ADMIN[0],
        CLASSPOINTS_ADMIN_PASSWORD=ADMIN[1],
        CLASSPOINTS_MONITOR_INTERVAL_SECONDS="0",
        CLASSPOINTS_WORKER_THREADS="1",
        RUST_LOG="warn",
    )
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dumps}/callgrind.%p", str(binary), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "server.log", "w"),
    )
    try:
        client = Client(port)
        for _ in range(600):
            try:
                client.call("GET", "/healthz")
                break
            except (ConnectionError, OSError):
                client = Client(port)
                time.sleep(0.5)
        else:
            sys.exit(f"the server did not answer; see {work / 'server.log'}")
        client.token = client.call("POST", "/api/auth/login", {"username": ADMIN[0], "password": ADMIN[1]})["token"]
        class_id = client.call("POST", "/api/classes", {"name": "Benchmark"})["id"]
        students = [
            client.call("POST", "/api/students", {"class_id": class_id, "name": f"S{i}"})["id"] for i in range(40)
        ]
        for i in range(100):
            client.award(students[i % 40], "warm-up")
        print(f"{binary}, {requests} requests one at a time, one request thread:")
        turn = itertools.count()
        per_award = counted(
            server.pid, dumps, "awards", requests, lambda: client.award(students[next(turn) % 40], "积极发言")
        )
        print(f"  POST /api/points: {per_award:,.0f} instructions per award")
        per_healthz = counted(server.pid, dumps, "healthz", requests, lambda: client.call("GET", "/healthz"))
        print(f"  GET /healthz: {per_healthz:,.0f} instructions per request")
    finally:
        server.terminate()
        server.wait(timeout=120)


if __name__ == "__main__":
    main()
