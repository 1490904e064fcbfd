"""Debian's Chromium, headless, driven over its DevTools pipe: open a page, read it back.

``open_page(file, ...)`` starts ``chromium --headless --no-sandbox --disable-gpu
--remote-debugging-pipe`` (inside the network namespace ``netns`` when given, through
``ip netns exec``), opens ``file://FILE`` in a new tab and waits for its load event.
The DevTools protocol runs over the pipe Chromium reads on fd 3 and writes on fd 4
(JSON messages ended by a NUL byte): no port is opened, so a browser in an empty
namespace (only a ``lo`` that is down) can still be driven, and can reach nothing.

A :class:`PageRun` holds what happened: every console message and uncaught exception
(``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown``) and every browser log entry
(``Log.entryAdded``: Content-Security-Policy violations, failed loads), how long the
navigation took (wall clock, and the page's own Navigation Timing), and methods to
evaluate JavaScript in the page, read every ``data-count`` element and take a PNG
screenshot. The browser is stopped (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """The Chromium binary (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary; skips the test without it (fails in CI as root, which has it)."""
    found = find_chromium()
    if found is None:
        reason = "not installed: chromium (Debian package chromium)"
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail(f"{reason} (.ci/run installs it)")
        pytest.skip(reason)
    return found


class BrowserError(RuntimeError):
    """Chromium ended, or did not answer, or answered a command with an error."""


@dataclass
class PageRun:
    """One page opened in a headless Chromium, and what it logged."""

    process: subprocess.Popen[bytes]
    commands: Any
    replies: Any
    session: str = ""
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    navigation_seconds: float = 0.0
    _next_id: int = 0
    _buffer: bytes = b""
    _events: list[dict[str, Any]] = field(default_factory=list)

    # --- the protocol ---------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 60.0,
             session: bool = True) -> dict[str, Any]:  # fmt: skip
        """Send one command and wait for its answer (events meanwhile are recorded)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.commands.write(json.dumps(message).encode() + b"\0")
        self.commands.flush()
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._record(reply)

    def wait_for(self, event: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the next event ``event`` (others are recorded)."""
        for index, seen in enumerate(self._events):
            if seen.get("method") == event:
                return self._events.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            self._record(message)
            if message.get("method") == event:
                self._events.remove(message)
                return message

    def _record(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(params)
        elif method == "Runtime.exceptionThrown":
            self.exceptions.append(params)
        elif method == "Log.entryAdded":
            self.log.append(params.get("entry", {}))
        elif method is not None:
            self._events.append(message)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self.replies], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.replies.fileno(), 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its DevTools pipe")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    # --- the page -------------------------------------------------------------

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (returned by value)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def counts(self) -> dict[str, str]:
        """Every ``data-count`` element's name and text, as the page shows them."""
        value = self.evaluate(
            "JSON.stringify(Object.fromEntries(Array.from("
            "document.querySelectorAll('[data-count]'), e => [e.dataset.count, e.textContent])))"
        )
        parsed: dict[str, str] = json.loads(value)
        return parsed

    def screenshot(self, path: Path, *, full_page: bool = False, max_height: int = 16000) -> Path:
        """A PNG of the viewport (or of the page, up to ``max_height`` CSS pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], max_height),
                "scale": 1,
            }
        data = self.send("Page.captureScreenshot", params, timeout=120.0)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and warnings, and browser log errors."""
        found = [
            f"exception: {e.get('exceptionDetails', {}).get('text', e)}" for e in self.exceptions
        ]
        for call in self.console:
            if call.get("type") in ("error", "warning", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in call["args"])
                found.append(f"console.{call['type']}: {args}")
        for entry in self.log:
            if entry.get("level") in ("error", "warning"):
                where = entry.get("url", "")
                found.append(f"log {entry.get('source')}: {entry.get('text')} {where}")
        return found


def _high(fd: int) -> int:
    """``fd`` moved to a descriptor above 9 (close-on-exec, as ``os.pipe`` makes them)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def _wrapper(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


@contextlib.contextmanager
def open_page(
    file: Path,
    *,
    binary: str,
    netns: str | None = None,
    width: int = 1400,
    height: int = 1000,
    timeout: float = 120.0,
) -> Iterator[PageRun]:
    """Chromium with ``file`` loaded (after its load event); stopped when the block ends."""
    profile = Path(tempfile.mkdtemp(prefix="epmscan-chromium-"))
    commands_read, commands_write = os.pipe()
    replies_read, replies_write = os.pipe()
    # fd 3 and fd 4 of Chromium: bash maps the pipes there, then becomes Chromium. The
    # child's ends are moved above 9 first, so that neither is 3 or 4 itself.
    commands_read, replies_write = (_high(fd) for fd in (commands_read, replies_write))
    script = f'exec "$@" 3<&{commands_read} 4>&{replies_write}'
    args = [
        *_wrapper(netns),
        "bash",
        "-c",
        script,
        "chromium",
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    stderr = (profile.parent / f"{profile.name}.log").open("wb")
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        pass_fds=(commands_read, replies_write),
        start_new_session=True,
    )
    os.close(commands_read)
    os.close(replies_write)
    run = PageRun(process, os.fdopen(commands_write, "wb"), os.fdopen(replies_read, "rb"))
    log = profile.parent / f"{profile.name}.log"
    try:
        try:
            target = run.send("Target.createTarget", {"url": "about:blank"}, session=False)
        except (BrowserError, OSError) as exc:
            tail = log.read_text(errors="replace")[-2000:]
            raise BrowserError(f"chromium did not start ({exc}); it said: {tail}") from None
        attached = run.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        run.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            run.send(f"{domain}.enable")
        run.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        started = time.monotonic()
        run.send("Page.navigate", {"url": file.resolve().as_uri()}, timeout=timeout)
        run.wait_for("Page.loadEventFired", timeout=timeout)
        run.navigation_seconds = time.monotonic() - started
        yield run
    finally:
        with contextlib.suppress(Exception):
            run.send("Browser.close", session=False, timeout=5.0)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for stream in (run.commands, run.replies, stderr):
            with contextlib.suppress(OSError):  # a pipe Chromium closed may not flush
                stream.close()
        shutil.rmtree(profile, ignore_errors=True)
        with contextlib.suppress(OSError):
            log.unlink()
