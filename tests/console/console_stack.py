"""The console under test: building it (clients/js with tsc, console/ with `next build`) when its
sources changed, and running it with `next start` on a free loopback port next to the end-to-end
stack (tests/e2e/e2e_stack.py). Used by the tests in this folder and by scripts/run.py.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Self

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from e2e_stack import _Process
from pgharness import free_port, wait_until

CONSOLE_DIR = os.path.join(REPO, "console")
CLIENT_DIR = os.path.join(REPO, "clients", "js")
NEXT_BIN = os.path.join(CONSOLE_DIR, "node_modules", "next", "dist", "bin", "next")
STAMP = os.path.join(CONSOLE_DIR, ".next", "mcp-jobs-source-hash")

# What the built console depends on: a change of any of these files means building again.
_SOURCES = [
    (CLIENT_DIR, ("src",), ("package.json", "package-lock.json", "tsconfig.json")),
    (CONSOLE_DIR, ("app", "components", "lib", "public"),
     ("package.json", "package-lock.json", "tsconfig.json", "next.config.ts", "proxy.ts", "instrumentation.ts")),
]


def _source_files() -> Iterator[str]:
    for base, dirs, files in _SOURCES:
        for f in files:
            p = os.path.join(base, f)
            if os.path.isfile(p):
                yield p
        for d in dirs:
            root = os.path.join(base, d)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for f in sorted(filenames):
                    yield os.path.join(dirpath, f)


def source_hash() -> str:
    h = hashlib.sha256()
    for p in _source_files():
        h.update(os.path.relpath(p, REPO).encode() + b"\0")
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def is_built() -> bool:
    try:
        with open(STAMP) as f:
            stamp = f.read().strip()
    except OSError:
        return False
    return (stamp == source_hash() and os.path.isfile(os.path.join(CONSOLE_DIR, ".next", "BUILD_ID"))
            and os.path.isfile(os.path.join(CLIENT_DIR, "dist", "index.js")))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["NEXT_TELEMETRY_DISABLED"] = "1"
    return env


def ensure_built(log: bool = True) -> float | None:
    """Builds the client and the console unless the last build was of the same sources; returns the
    build's wall time in seconds, or None when it was up to date. One build at a time (a lock)."""
    for d in (CLIENT_DIR, CONSOLE_DIR):
        if not os.path.isdir(os.path.join(d, "node_modules")):
            raise RuntimeError(f"{d}/node_modules is missing: run scripts/setup.sh (npm ci there)")
    os.makedirs(os.path.join(CONSOLE_DIR, ".next"), exist_ok=True)
    with open(os.path.join(CONSOLE_DIR, ".next", "mcp-jobs-build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built():
            return None
        h = source_hash()
        if log:
            print("== console: npm run build (clients/js tsc, then next build)", flush=True)
        t0 = time.monotonic()
        p = subprocess.run(["npm", "run", "build"], cwd=CONSOLE_DIR, env=_env(), capture_output=True, text=True,
                           check=False)
        took = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"console build failed ({p.returncode}):\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
        with open(STAMP, "w") as f:
            f.write(h + "\n")
        if log:
            print(f"== console: built in {took:.1f} s", flush=True)
        return took


class ConsoleServer(_Process):
    """`next start` of the built console on a free loopback port, with the given environment
    (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, MCP_JOBS_API_TOKEN, ...)."""

    def __init__(self, env: Mapping[str, str], port: int | None = None):
        super().__init__("console")
        self.port = port or free_port()
        self.env = {k: v for k, v in _env().items() if k not in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY",
                                                                  "MCP_JOBS_API_TOKEN")}
        self.env.update(env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Self:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open while the server runs, closed by stop()
        self.proc = subprocess.Popen(["node", NEXT_BIN, "start", "-H", "127.0.0.1", "-p", str(self.port)],
                                     cwd=CONSOLE_DIR, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError("next start exited:\n" + self.log_text())
            try:
                return requests.get(f"{self.url}/login", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_until(ready, timeout=timeout, interval=0.1, what="the console (next start)")
        except (TimeoutError, RuntimeError) as e:
            log = self.log_text()
            self.stop()
            raise RuntimeError("the console did not get ready:\n" + log) from e
        return self

    def stop(self) -> None:
        """Stops next start and anything it started (its own process group)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        super().stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
