"""The Python end of tests/console/browser.mjs: a headless Chromium driven by playwright-core, one
JSON command per line. Each method waits for its answer (bounded); a failed command raises
BrowserError with playwright's message."""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from typing import Any, cast

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")


class BrowserError(RuntimeError):
    pass


def available() -> str | None:
    """None when the browser can run here, else why not."""
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        return f"no chromium at {CHROMIUM}: run scripts/setup.sh (apt-get install chromium)"
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return "tests/console/node_modules/playwright-core is missing: run scripts/setup.sh"
    return None


class Browser:
    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self._id = 0
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stderr: list[str] = []
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "browser.mjs")], cwd=HERE, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                     env={**os.environ, "CHROMIUM_BIN": CHROMIUM})
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        first = self._wait(0)
        self.version = first.get("result", {}).get("version")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._answers.put(json.loads(line))
            except json.JSONDecodeError:
                self._stderr.append("stdout: " + line)
        self._answers.put({"id": None, "ok": False, "error": "the browser driver exited"})

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _wait(self, want: int) -> dict[str, Any]:
        while True:
            try:
                msg = self._answers.get(timeout=self.timeout)
            except queue.Empty:
                raise BrowserError(f"no answer from the browser driver in {self.timeout} s; stderr:\n"
                                   + "".join(self._stderr[-50:])) from None
            if msg.get("id") == want:
                return msg
            if msg.get("id") is None:
                raise BrowserError(f"{msg.get('error')}; stderr:\n" + "".join(self._stderr[-50:]))

    def call(self, cmd: str, **args: Any) -> Any:
        self._id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": self._id, "cmd": cmd, "args": args}) + "\n")
        self.proc.stdin.flush()
        msg = self._wait(self._id)
        if not msg.get("ok"):
            raise BrowserError(f"{cmd} {args}: {msg.get('error')}")
        return msg.get("result")

    # the commands the tests use
    def goto(self, url: str) -> int | None:
        return cast("int | None", self.call("goto", url=url))

    def url(self) -> str:
        return cast("str", self.call("url"))

    def click(self, selector: str) -> None:
        self.call("click", selector=selector)

    def fill(self, selector: str, value: str) -> None:
        self.call("fill", selector=selector, value=value)

    def select(self, selector: str, value: str) -> None:
        self.call("select", selector=selector, value=value)

    def check(self, selector: str) -> None:
        self.call("check", selector=selector)

    def wait_for(self, selector: str, state: str = "visible", timeout: float = 15000) -> None:
        self.call("waitFor", selector=selector, state=state, timeout=timeout)

    def wait_for_url(self, pattern: str, timeout: float = 15000) -> str:
        return cast("str", self.call("waitForUrl", pattern=pattern, timeout=timeout))

    def wait_for_function(self, expression: str, timeout: float = 15000) -> Any:
        return self.call("waitForFunction", expression=expression, timeout=timeout)

    def text(self, selector: str) -> str:
        return cast("str", self.call("text", selector=selector))

    def texts(self, selector: str) -> list[str]:
        return cast("list[str]", self.call("texts", selector=selector))

    def count(self, selector: str) -> int:
        return cast("int", self.call("count", selector=selector))

    def attr(self, selector: str, name: str) -> str | None:
        return cast("str | None", self.call("attr", selector=selector, name=name))

    def attrs(self, selector: str, name: str) -> list[str | None]:
        return cast("list[str | None]", self.call("attrs", selector=selector, name=name))

    def evaluate(self, expression: str) -> Any:
        return self.call("evaluate", expression=expression)

    def screenshot(self, path: str, full_page: bool = True) -> str:
        return cast("str", self.call("screenshot", path=path, fullPage=full_page))

    def cookies(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self.call("cookies"))

    def responses_containing(self, needle: str) -> list[str]:
        return cast("list[str]", self.call("responsesContaining", needle=needle))

    def response_count(self) -> int:
        return cast("int", self.call("responseCount"))

    def console_errors(self) -> list[str]:
        return cast("list[str]", self.call("consoleErrors"))

    def failed_responses(self) -> list[str]:
        """Every answer of status 400 or more the browser got: "404 GET http://..."."""
        return cast("list[str]", self.call("failedResponses"))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close")
            except BrowserError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
