"""tshark as a judge of the bytes on the wire: capture on ``lo``, then decode the file.

``TsharkCapture`` runs ``tshark -i lo -f FILTER -w FILE`` and waits until dumpcap says it is
capturing; ``stop()`` sends SIGINT, which makes tshark flush and close the file. Reading uses
Wireshark's own dissectors: ``malformed_frames`` must be empty for bytes we produced or accepted,
``fields`` extracts dissected values (``epm.num_ents``, ``epm.rc``, ...).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.support.loopback import require_loopback

AGGREGATOR = "|"
"""Joins the values of a field that occurs more than once in a frame."""


def find_tshark() -> str | None:
    return shutil.which("tshark")


def port_filter(address: str, ports: Sequence[int]) -> str:
    """A BPF capture filter for TCP traffic of ``address`` on any of ``ports``."""
    port_expr = " or ".join(f"tcp port {port}" for port in ports)
    return f"host {require_loopback(address)} and ({port_expr})"


class TsharkCapture:
    """A running capture on the loopback interface, written to ``path``."""

    def __init__(self, tshark: str, path: Path, capture_filter: str) -> None:
        self.tshark = tshark
        self.path = path
        self.capture_filter = capture_filter
        self._stderr_path = path.with_suffix(".stderr")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 10.0) -> None:
        stderr = open(self._stderr_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            self._process = subprocess.Popen(
                [self.tshark, "-i", "lo", "-f", self.capture_filter, "-w", str(self.path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        finally:
            stderr.close()
        deadline = time.monotonic() + timeout
        while "Capturing on" not in self.stderr_text():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tshark did not start capturing:\n{self.stderr_text()}")
            time.sleep(0.05)
        # dumpcap reports before its first read; give the ring buffer a moment.
        time.sleep(0.2)

    def stop(self) -> None:
        """SIGINT and wait: tshark then writes out what it holds and closes the file."""
        if self._process is None:
            return
        # Let the last segments (FIN/ACK) of the exchange reach the capture.
        time.sleep(0.3)
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def stderr_text(self) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> TsharkCapture:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _decode_as_args(dcerpc_ports: Sequence[int]) -> list[str]:
    args: list[str] = []
    for port in dcerpc_ports:
        if port != 135:
            args += ["-d", f"tcp.port=={port},dcerpc"]
    return args


def read_fields(
    tshark: str,
    path: Path,
    display_filter: str,
    fields: Sequence[str],
    *,
    dcerpc_ports: Sequence[int] = (),
) -> list[list[str]]:
    """Dissect ``path`` and return, per matching frame, the values of ``fields`` (text; several
    occurrences of a field in one frame are joined with :data:`AGGREGATOR`)."""
    args = [tshark, "-r", str(path), "-n", *_decode_as_args(dcerpc_ports), "-Y", display_filter]
    args += [
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        f"aggregator={AGGREGATOR}",
    ]
    for field in fields:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in out.stdout.splitlines()]


def malformed_frames(tshark: str, path: Path, *, dcerpc_ports: Sequence[int] = ()) -> str:
    """Summary lines of every frame Wireshark flags as malformed (empty text: none)."""
    args = [tshark, "-r", str(path), "-n", *_decode_as_args(dcerpc_ports), "-Y", "_ws.malformed"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def frame_count(tshark: str, path: Path) -> int:
    out = subprocess.run(
        [tshark, "-r", str(path), "-n", "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return len(out.stdout.split())
