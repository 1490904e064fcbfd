"""``trace``: Outlook's steps to one server, with the packets that explain each one.

The program layer ties it up: resolve the server, start recording the packets of the
trace where privileges allow (``capture.sniffer``: root or ``CAP_NET_RAW``; otherwise the
report says what could not be seen), run the steps (``engine.trace``), stop recording,
explain every step from its packets and the kernel's errors (``checks.trace_verdicts``),
and with ``--path`` send a TCP SYN traceroute to the first failing port and to the
endpoint mapper's (``capture.traceroute``). SIGINT and SIGTERM end the steps early: the
report keeps the steps done, says which signal came, and the CLI exits 130/143.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import replace

from epmscan.capture.sniffer import (
    CaptureUnavailable,
    PacketSniffer,
    bpf_filter,
    capture_unavailable,
    route_interface,
)
from epmscan.capture.traceroute import syn_traceroute
from epmscan.checks.trace_verdicts import explain_steps, judge_path
from epmscan.engine.loop import run
from epmscan.engine.trace import trace_server
from epmscan.errors import UsageError
from epmscan.models.trace import (
    CaptureStatus,
    PathTrace,
    TraceReport,
    TraceStep,
    TraceStepKind,
    WirePacket,
)
from epmscan.settings import TraceSettings
from epmscan.targets import Target, resolve_target

CAPTURE_SETTLE = 0.2
"""Seconds the sniffer keeps reading after the last step: packets still in its socket."""


def start_capture(
    address: str, settings: TraceSettings
) -> tuple[PacketSniffer | None, CaptureStatus]:
    """A running sniffer for the trace's packets, or None and the reason it is not."""
    if not settings.capture:
        return None, CaptureStatus(active=False, reason="--no-capture was given")
    reason = capture_unavailable()
    if reason is not None:
        return None, CaptureStatus(active=False, reason=reason)
    bpf = bpf_filter(address)
    try:
        iface = settings.net_iface or route_interface(address)
        sniffer = PacketSniffer(iface, bpf)
        sniffer.start()
    except CaptureUnavailable as exc:
        return None, CaptureStatus(active=False, net_iface=settings.net_iface, reason=str(exc))
    return sniffer, CaptureStatus(active=True, net_iface=iface, filter=bpf)


def _first_failed_connect(steps: tuple[TraceStep, ...]) -> TraceStep | None:
    return next((s for s in steps if s.step is TraceStepKind.CONNECT and not s.ok), None)


def trace_path(
    address: str, steps: tuple[TraceStep, ...], settings: TraceSettings, iface: str | None
) -> tuple[PathTrace | None, str | None]:
    """The SYN traceroute of ``--path``, or None and a note saying why there is none."""
    failed = _first_failed_connect(steps)
    epm_port = settings.network.port
    if failed is None:
        return None, "--path: every connect was answered; no path to trace"
    ports = (failed.port,) if failed.port == epm_port else (failed.port, epm_port)
    try:
        probes = syn_traceroute(
            address,
            ports,
            max_hops=settings.path_max_hops,
            timeout=settings.path_timeout,
            iface=iface,
        )
    except CaptureUnavailable as exc:
        return None, f"--path: not traced: {exc}"
    path = PathTrace(target=address, ports=ports, probes=probes, max_hops=settings.path_max_hops)
    return judge_path(path), None


async def _steps(
    address: str, settings: TraceSettings, record: Callable[[TraceStep], None]
) -> str | None:
    """Run the steps; the name of the signal that cut them short, if one did."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    caught: list[str] = []

    def on_signal(name: str) -> None:
        if not caught:
            caught.append(name)
            if task is not None:
                task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signal.Signals(signum).name)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        await trace_server(
            address, settings.interfaces, settings.network, record, http=settings.http
        )
    except asyncio.CancelledError:
        if not caught:
            raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    return caught[0] if caught else None


async def _resolve(settings: TraceSettings) -> str:
    target = Target.parse_one(settings.server)
    resolution = await resolve_target(target, timeout=settings.network.timeouts.resolve)
    if resolution.error is not None or not resolution.addresses:
        raise UsageError(f"{settings.server}: {resolution.error or 'no address'}")
    return str(resolution.addresses[0])


def run_trace(settings: TraceSettings) -> TraceReport:
    """Trace Outlook's steps to the server; every failure is a step's outcome.

    Raises :class:`~epmscan.errors.UsageError` for a server that is not one host or does
    not resolve, before anything is sent.
    """
    Target.parse_one(settings.server)
    started = time.time()
    address = run(_resolve(settings))
    sniffer, capture = start_capture(address, settings)
    recorded: list[TraceStep] = []
    packets: list[WirePacket] = []
    try:
        interrupted = run(_steps(address, settings, recorded.append))
    finally:
        if sniffer is not None:
            time.sleep(CAPTURE_SETTLE)
            packets = sniffer.stop()
    steps = explain_steps(recorded, packets, captured=capture.active)
    notes: list[str] = []
    if not capture.active:
        notes.append(
            f"no packet capture ({capture.reason}): outcomes rest on the kernel's errors "
            "alone; who sent a reset, how many SYNs went unanswered and what came back "
            "on a silent connection cannot be seen"
        )
    wire = sum(1 for step in steps for fact in step.evidence if fact.source == "wire")
    capture = replace(capture, packets=wire)
    path = None
    if settings.path and interrupted is None:
        path, note = trace_path(address, steps, settings, capture.net_iface)
        if note:
            notes.append(note)
    return TraceReport(
        server=settings.server,
        address=address,
        epm_port=settings.network.port,
        interfaces=tuple(i.value for i in settings.interfaces),
        started=started,
        capture=capture,
        steps=steps,
        path=path,
        notes=tuple(notes),
        interrupted=interrupted,
    )
