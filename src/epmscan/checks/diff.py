"""Compare two saved scan results: what appeared, disappeared, moved or changed status.

:func:`load_saved` reads what a scan wrote, tolerant of the envelope: a JSON document
(a list of host objects, or an object with ``hosts``/``results``), a single host object,
or a JSONL stream (one host object per line; lines that are not host objects, such as a
summary, are skipped). Each host object has the ``host_to_dict`` shape (``target,
address, port, status, error, endpoints[]``) and, for Exchange checks, an ``exchange``
member with ``ports``, ``http`` and ``findings``.

:func:`diff_results` matches hosts by (target, address) and, per host, endpoints by
(uuid, version, transport, port, endpoint). An endpoint whose (uuid, version,
transport) is still registered but on another port is a *move*, not a removal plus an
addition. :func:`diff_exit_code` answers 1 when anything the policy cares about changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from epmscan.errors import UsageError
from epmscan.facts.exchange import EXCHANGE_BY_UUID
from epmscan.models import ExchangeInterface, Policy


@dataclass(frozen=True, slots=True)
class SavedEndpoint:
    uuid: str
    version: str
    name: str | None
    transport: str
    port: int | None
    endpoint: str | None
    annotation: str = ""

    @property
    def identity(self) -> tuple[str, str, str, int | None, str | None]:
        return (self.uuid, self.version, self.transport, self.port, self.endpoint)

    @property
    def exchange_interface(self) -> ExchangeInterface | None:
        return EXCHANGE_BY_UUID.get(self.uuid)

    def __str__(self) -> str:
        where = f"[{self.port}]" if self.port is not None else f"[{self.endpoint or ''}]"
        return f"{self.name or self.uuid} v{self.version} {self.transport}{where}"


@dataclass(frozen=True, slots=True)
class SavedHost:
    """The parts of one saved host object the diff compares."""

    target: str
    address: str
    status: str
    error: str | None
    endpoints: tuple[SavedEndpoint, ...]
    exchange_ports: tuple[tuple[str, str, int | None], ...] = ()
    """(interface, transport, port) from the ``exchange`` member."""
    http: tuple[tuple[int, str], ...] = ()
    """(port, status) from the ``exchange`` member."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.address)


@dataclass(frozen=True, slots=True)
class PortMove:
    """The same interface (uuid, version, transport) registered on another port."""

    uuid: str
    version: str
    name: str | None
    transport: str
    old_port: int | None
    new_port: int | None
    exchange_interface: ExchangeInterface | None


@dataclass(frozen=True, slots=True)
class HostDiff:
    """Everything that changed on one host present in both results."""

    target: str
    address: str
    old_status: str
    new_status: str
    added: tuple[SavedEndpoint, ...] = ()
    removed: tuple[SavedEndpoint, ...] = ()
    moved: tuple[PortMove, ...] = ()
    http_changes: tuple[tuple[int, str | None, str | None], ...] = ()
    """(port, old status, new status) of RPC-over-HTTP probes."""
    exchange_port_changes: tuple[tuple[str, str, int | None, int | None], ...] = ()
    """(interface, transport, old port, new port) from the ``exchange`` member."""

    @property
    def status_changed(self) -> bool:
        return self.old_status != self.new_status

    @property
    def changed(self) -> bool:
        return bool(
            self.status_changed
            or self.added
            or self.removed
            or self.moved
            or self.http_changes
            or self.exchange_port_changes
        )

    @property
    def exchange_moves(self) -> tuple[PortMove, ...]:
        return tuple(m for m in self.moved if m.exchange_interface is not None)

    @property
    def exchange_endpoint_changes(self) -> tuple[SavedEndpoint, ...]:
        return tuple(e for e in self.added + self.removed if e.exchange_interface is not None)


@dataclass(frozen=True, slots=True)
class ResultDiff:
    """The difference between an old and a new saved result."""

    appeared: tuple[SavedHost, ...]
    disappeared: tuple[SavedHost, ...]
    changed: tuple[HostDiff, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.appeared or self.disappeared or self.changed)


# --- loading --------------------------------------------------------------------------


def _is_host(obj: object) -> bool:
    return isinstance(obj, dict) and "status" in obj and ("address" in obj or "target" in obj)


def _hosts_in(document: object) -> list[dict[str, Any]]:
    if _is_host(document):
        return [document]  # type: ignore[list-item]
    if isinstance(document, list):
        return [h for h in document if _is_host(h)]
    if isinstance(document, dict):
        for key in ("hosts", "results"):
            if isinstance(document.get(key), list):
                return [h for h in document[key] if _is_host(h)]
        inner = document.get("host")
        if _is_host(inner):
            return [inner]  # type: ignore[list-item]
    return []


def _endpoint(data: Mapping[str, Any]) -> SavedEndpoint:
    port = data.get("port")
    return SavedEndpoint(
        uuid=str(data.get("uuid", "")).lower(),
        version=str(data.get("version", "")),
        name=data.get("name"),
        transport=str(data.get("transport", "")),
        port=int(port) if port is not None else None,
        endpoint=data.get("endpoint"),
        annotation=str(data.get("annotation") or ""),
    )


def _host(data: Mapping[str, Any]) -> SavedHost:
    exchange = data.get("exchange") or {}
    return SavedHost(
        target=str(data.get("target", data.get("address", ""))),
        address=str(data.get("address", data.get("target", ""))),
        status=str(data["status"]),
        error=data.get("error"),
        endpoints=tuple(_endpoint(e) for e in data.get("endpoints") or ()),
        exchange_ports=tuple(
            (str(p.get("interface")), str(p.get("transport")), p.get("port"))
            for p in exchange.get("ports") or ()
        ),
        http=tuple((int(h["port"]), str(h.get("status"))) for h in exchange.get("http") or ()),
    )


def host_objects(text: str, source: str = "<saved>") -> list[dict[str, Any]]:
    """The host objects of a saved JSON document or a JSONL stream (summary lines skipped)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        objects: list[object] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{source}:{number}: not JSON or JSONL ({exc.msg})") from None
        raw = [h for obj in objects for h in _hosts_in(obj)]
    else:
        raw = _hosts_in(document)
    if not raw:
        raise UsageError(f"{source}: no host results found")
    return raw


def parse_saved(text: str, source: str = "<saved>") -> tuple[SavedHost, ...]:
    """Host objects from a saved JSON document or a JSONL stream."""
    raw = host_objects(text, source)
    try:
        return tuple(_host(h) for h in raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{source}: a host object is malformed ({exc})") from None


def load_saved(path: str | Path) -> tuple[SavedHost, ...]:
    """Read a saved result file (``scan --save`` document or JSONL)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return parse_saved(text, str(file))


# --- comparing ------------------------------------------------------------------------


def _endpoint_diff(
    old: Iterable[SavedEndpoint], new: Iterable[SavedEndpoint]
) -> tuple[tuple[SavedEndpoint, ...], tuple[SavedEndpoint, ...], tuple[PortMove, ...]]:
    old_by_id = {e.identity: e for e in old}
    new_by_id = {e.identity: e for e in new}
    removed = [e for i, e in old_by_id.items() if i not in new_by_id]
    added = [e for i, e in new_by_id.items() if i not in old_by_id]
    moves: list[PortMove] = []
    for gone in sorted(removed, key=lambda e: (e.uuid, e.version, e.transport, e.port or 0)):
        if gone.port is None:
            continue
        for fresh in sorted(added, key=lambda e: e.port or 0):
            same = (fresh.uuid, fresh.version, fresh.transport) == (
                gone.uuid,
                gone.version,
                gone.transport,
            )
            if same and fresh.port is not None:
                moves.append(
                    PortMove(
                        gone.uuid,
                        gone.version,
                        gone.name or fresh.name,
                        gone.transport,
                        gone.port,
                        fresh.port,
                        gone.exchange_interface,
                    )
                )
                removed.remove(gone)
                added.remove(fresh)
                break
    return tuple(added), tuple(removed), tuple(moves)


def _http_diff(
    old: Iterable[tuple[int, str]], new: Iterable[tuple[int, str]]
) -> tuple[tuple[int, str | None, str | None], ...]:
    before, after = dict(old), dict(new)
    changes: list[tuple[int, str | None, str | None]] = []
    for port in sorted(set(before) | set(after)):
        if before.get(port) != after.get(port):
            changes.append((port, before.get(port), after.get(port)))
    return tuple(changes)


def _exchange_port_diff(
    old: Iterable[tuple[str, str, int | None]], new: Iterable[tuple[str, str, int | None]]
) -> tuple[tuple[str, str, int | None, int | None], ...]:
    before = {(i, t): p for i, t, p in old}
    after = {(i, t): p for i, t, p in new}
    return tuple(
        (key[0], key[1], before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    )


def diff_results(old: Iterable[SavedHost], new: Iterable[SavedHost]) -> ResultDiff:
    """Compare two loaded results host by host."""
    old_by_key = {h.key: h for h in old}
    new_by_key = {h.key: h for h in new}
    appeared = tuple(h for k, h in new_by_key.items() if k not in old_by_key)
    disappeared = tuple(h for k, h in old_by_key.items() if k not in new_by_key)
    changed: list[HostDiff] = []
    unchanged = 0
    for key, before in old_by_key.items():
        after = new_by_key.get(key)
        if after is None:
            continue
        added, removed, moved = _endpoint_diff(before.endpoints, after.endpoints)
        host_diff = HostDiff(
            target=after.target,
            address=after.address,
            old_status=before.status,
            new_status=after.status,
            added=added,
            removed=removed,
            moved=moved,
            http_changes=_http_diff(before.http, after.http),
            exchange_port_changes=_exchange_port_diff(before.exchange_ports, after.exchange_ports),
        )
        if host_diff.changed:
            changed.append(host_diff)
        else:
            unchanged += 1
    return ResultDiff(appeared, disappeared, tuple(changed), unchanged)


def diff_exit_code(diff: ResultDiff, policy: Policy | None = None) -> int:
    """1 when something the policy cares about changed, else 0.

    Always cared about: hosts that appeared or disappeared, a changed host status, and
    any Exchange interface endpoint that moved, appeared or vanished. RPC-over-HTTP
    changes count for the ports the host's expectation requires; with no policy, any
    HTTP change counts. Other endpoints (ordinary Windows services on dynamic ports)
    come and go and never fail the diff.
    """
    if diff.appeared or diff.disappeared:
        return 1
    for host in diff.changed:
        if (
            host.status_changed
            or host.exchange_moves
            or host.exchange_endpoint_changes
            or host.exchange_port_changes
        ):
            return 1
        if not host.http_changes:
            continue
        if policy is None:
            return 1
        expectation = policy.expectation_for(host.address, host.target)
        required = set(expectation.require_http) if expectation else set()
        if any(port in required for port, _, _ in host.http_changes):
            return 1
    return 0
