"""Hostile behaviours a lab host can show: the fault model, its parser, the lying bytes.

A host of a lab file may carry one *fault* (``fault = "drip"``, or a table
``fault = { kind = "bind_nak", reason = 4 }`` / ``[hosts.fault]``). A fault has a kind
(:class:`FaultKind`), the places it shows on (``on``: the endpoint mapper port ``epm``,
the interface ports ``rpc``, the ncacn_http ports ``http``) and the options of its
kind. :data:`FAULT_SPECS` says, per kind, where it may go, when it strikes and which
options it takes; :func:`parse_fault` validates a lab file's value against it.

Faults strike at one of four points, and the lab applies them there:

- *connection* faults replace the whole conversation (``silent``, ``endless_stream``,
  ``speaks_tls``, ``speaks_http``, the ``greeting_*`` kinds) or slow it down
  (``drip``): ``lab.server`` runs them;
- *PDU* faults replace one answer (the bind's, ``at = "bind"``, or the answer to the
  Nth call, ``at = "call"``) with a lie about the PDU itself: :func:`strike` turns the
  honest answer into what is sent and says what the server does next;
- *bind* faults answer the bind with a bind_nak or a rejection (also :func:`strike`);
- *lookup* faults change what the endpoint mapper's ``ept_lookup`` says (paging,
  ``num_ents``, towers, annotations, the number of entries): ``lab.endpoint_map``
  applies them with the byte crafting here (:func:`lying_tower`, :func:`lie_num_ents`,
  :func:`unterminated_annotation`, :func:`filler_entries`).

The protocol encoders stay honest: every lie is crafted here, from honest bytes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from epmscan.models import BindOutcome, InterfaceId
from epmscan.protocol.constants import (
    DREP_LITTLE_ENDIAN_ASCII_IEEE,
    FLOOR_TCP_PORT,
    HEADER_SIZE,
    PFC_FIRST_FRAG,
    PTYPE_BIND_ACK,
    PTYPE_NAMES,
    PTYPE_RESPONSE,
    RESPONSE_HEADER_SIZE,
)
from epmscan.protocol.epm_server import EncodedEntry, encode_lookup_entry
from epmscan.protocol.events import BindRequest, ContextResult, Request
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.status_codes import BIND_NAK_REASONS, PROVIDER_REASONS
from epmscan.protocol.syntax_ids import pad4
from epmscan.protocol.towers import encode_tower

if TYPE_CHECKING:
    from epmscan.lab.plan import RegisteredEndpoint

Place = Literal["epm", "rpc", "http"]
PLACES: tuple[Place, ...] = ("epm", "rpc", "http")
Stage = Literal["bind", "call"]
After = Literal["continue", "silent", "close", "endless"]


class FaultKind(str, Enum):
    """Every hostile behaviour the lab can show (see ``docs/lab.md`` for the wire)."""

    SILENT = "silent"
    DRIP = "drip"
    ENDLESS_STREAM = "endless_stream"
    SPEAKS_TLS = "speaks_tls"
    SPEAKS_HTTP = "speaks_http"
    GARBAGE = "garbage"
    CLOSE_MID_PDU = "close_mid_pdu"
    FRAG_SHORT = "frag_short"
    FRAG_LONG = "frag_long"
    FRAG_HUGE = "frag_huge"
    WRONG_VERSION = "wrong_version"
    WRONG_PTYPE = "wrong_ptype"
    WRONG_CALL_ID = "wrong_call_id"
    FAULT = "fault"
    ENDLESS_RESPONSE = "endless_response"
    BIND_NAK = "bind_nak"
    BIND_REJECT = "bind_reject"
    ALLOC_HINT = "alloc_hint"
    STUCK_HANDLE = "stuck_handle"
    ENDLESS_PAGES = "endless_pages"
    NUM_ENTS_LIE = "num_ents_lie"
    TOWER_FLOOR_COUNT = "tower_floor_count"
    TOWER_FLOOR_LENGTH = "tower_floor_length"
    TOWER_SHORT_FLOOR = "tower_short_floor"
    TOWER_NO_FLOORS = "tower_no_floors"
    ANNOTATION_UNTERMINATED = "annotation_unterminated"
    MANY_ENTRIES = "many_entries"
    GREETING_WRONG = "greeting_wrong"
    GREETING_ENDLESS = "greeting_endless"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What one kind of fault accepts: where it may show, when it strikes, its options."""

    places: tuple[Place, ...]
    """Allowed values of ``on``; the first is the default."""
    stages: tuple[Stage, ...] = ()
    """Allowed values of ``at`` (the first is the default, ``bind`` where ``call`` cannot
    be); empty: the kind takes no ``at``."""
    options: tuple[str, ...] = ()
    """Option keys of the kind, besides ``kind``, ``on``, ``at`` and ``call``."""


_EVERYWHERE: tuple[Place, ...] = ("epm", "rpc", "http")
_PDU: tuple[Stage, ...] = ("bind", "call")
K = FaultKind

FAULT_SPECS: Mapping[FaultKind, FaultSpec] = {
    K.SILENT: FaultSpec(_EVERYWHERE),
    K.DRIP: FaultSpec(_EVERYWHERE, options=("interval",)),
    K.ENDLESS_STREAM: FaultSpec(_EVERYWHERE),
    K.SPEAKS_TLS: FaultSpec(_EVERYWHERE),
    K.SPEAKS_HTTP: FaultSpec(_EVERYWHERE),
    K.GARBAGE: FaultSpec(_EVERYWHERE, _PDU, ("size",)),
    K.CLOSE_MID_PDU: FaultSpec(_EVERYWHERE, _PDU),
    K.FRAG_SHORT: FaultSpec(_EVERYWHERE, _PDU, ("frag_length",)),
    K.FRAG_LONG: FaultSpec(_EVERYWHERE, _PDU, ("extra",)),
    K.FRAG_HUGE: FaultSpec(_EVERYWHERE, _PDU),
    K.WRONG_VERSION: FaultSpec(_EVERYWHERE, _PDU, ("version",)),
    K.WRONG_PTYPE: FaultSpec(_EVERYWHERE, _PDU, ("ptype",)),
    K.WRONG_CALL_ID: FaultSpec(_EVERYWHERE, ("call", "bind"), ("call_id_shift",)),
    K.FAULT: FaultSpec(_EVERYWHERE, _PDU, ("status",)),
    K.ENDLESS_RESPONSE: FaultSpec(("epm",), ("call",)),
    K.BIND_NAK: FaultSpec(_EVERYWHERE, options=("reason",)),
    K.BIND_REJECT: FaultSpec(_EVERYWHERE, options=("reason", "rejection")),
    K.ALLOC_HINT: FaultSpec(("epm",), options=("alloc_hint",)),
    K.STUCK_HANDLE: FaultSpec(("epm",), options=("empty",)),
    K.ENDLESS_PAGES: FaultSpec(("epm",), options=("per_page",)),
    K.NUM_ENTS_LIE: FaultSpec(("epm",), options=("extra", "array", "page")),
    K.TOWER_FLOOR_COUNT: FaultSpec(("epm",), options=("floors", "entries")),
    K.TOWER_FLOOR_LENGTH: FaultSpec(("epm",), options=("extra", "entries")),
    K.TOWER_SHORT_FLOOR: FaultSpec(("epm",), options=("entries",)),
    K.TOWER_NO_FLOORS: FaultSpec(("epm",), options=("entries",)),
    K.ANNOTATION_UNTERMINATED: FaultSpec(("epm",)),
    K.MANY_ENTRIES: FaultSpec(("epm",), options=("count",)),
    K.GREETING_WRONG: FaultSpec(("http",), options=("text",)),
    K.GREETING_ENDLESS: FaultSpec(("http",)),
}

CONNECTION_KINDS = frozenset(
    {
        K.SILENT,
        K.ENDLESS_STREAM,
        K.SPEAKS_TLS,
        K.SPEAKS_HTTP,
        K.GREETING_WRONG,
        K.GREETING_ENDLESS,
    }
)
"""Kinds that replace the whole conversation on a connection."""
LOOKUP_KINDS = frozenset(
    {
        K.STUCK_HANDLE,
        K.ENDLESS_PAGES,
        K.NUM_ENTS_LIE,
        K.TOWER_FLOOR_COUNT,
        K.TOWER_FLOOR_LENGTH,
        K.TOWER_SHORT_FLOOR,
        K.TOWER_NO_FLOORS,
        K.ANNOTATION_UNTERMINATED,
        K.MANY_ENTRIES,
    }
)
"""Kinds that change what ``ept_lookup`` answers (applied by ``lab.endpoint_map``)."""
TOWER_KINDS = frozenset(
    {
        K.TOWER_FLOOR_COUNT,
        K.TOWER_FLOOR_LENGTH,
        K.TOWER_SHORT_FLOOR,
        K.TOWER_NO_FLOORS,
    }
)
"""Kinds that replace the towers of the first ``entries`` ncacn_ip_tcp entries."""

_PTYPE_BY_NAME = {name: number for number, name in PTYPE_NAMES.items()}
_NAK_BY_NAME = {name: number for number, name in BIND_NAK_REASONS.items()}
_PROVIDER_BY_NAME = {name: number for number, name in PROVIDER_REASONS.items()}
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_RESPONSE_HEAD = struct.Struct("<BBBB4sHHIIHBB")
MAX_FRAG_LENGTH = 0xFFFF


@dataclass(frozen=True, slots=True)
class HostFault:
    """One host's fault: its kind, where it shows, and the options of its kind.

    Options a kind does not take keep their defaults and mean nothing for it.
    """

    kind: FaultKind
    on: frozenset[Place] = frozenset({"epm"})
    at: Stage = "bind"
    call: int = 1
    """``at = "call"``: the call (1-based, on one connection) whose answer is replaced."""
    interval: float = 1.0
    size: int = 64
    frag_length: int = 10
    extra: int = 64
    version: tuple[int, int] = (4, 0)
    ptype: int = 0
    call_id_shift: int = 1
    status: int = 0x00000005
    reason: int = 0
    rejection: BindOutcome = BindOutcome.PROVIDER_REJECTION
    alloc_hint: int = 0xFFFFFFFF
    empty: bool = False
    per_page: int = 1
    array: bool = False
    page: int = 1
    floors: int | None = None
    entries: int = 1
    count: int = 10000
    text: str = "ncacn_http/2.0"

    @property
    def spec(self) -> FaultSpec:
        return FAULT_SPECS[self.kind]

    def applies_to(self, place: str) -> bool:
        """True when the fault shows on ports of ``place`` (``epm``, ``rpc``, ``http``)."""
        return place in self.on

    def describe(self) -> str:
        """One token for the lab's host lines: ``bind_nak@epm,reason=4``."""
        places = "+".join(place for place in PLACES if place in self.on)
        parts = [f"{self.kind.value}@{places}"]
        if self.spec.stages:
            parts.append(f"at={self.at}" + (f"#{self.call}" if self.at == "call" else ""))
        for key in self.spec.options:
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, BindOutcome):
                text = "user" if value is BindOutcome.USER_REJECTION else "provider"
            elif key == "version":
                text = f"{value[0]}.{value[1]}"
            elif key in ("status", "alloc_hint"):
                text = f"0x{value:08x}"
            elif key == "ptype":
                text = PTYPE_NAMES.get(value, str(value))
            elif key == "text":
                text = repr(value)
            else:
                text = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{key}={text}")
        return ",".join(parts)


# --- parsing --------------------------------------------------------------------------

Fail = Callable[[str, str], NoReturn]


class _Options:
    """Typed reads of one fault table, failing with the file's key path."""

    def __init__(self, table: dict[str, Any], key: str, fail: Fail) -> None:
        self.table = table
        self.key = key
        self.fail = fail

    def at(self, name: str) -> str:
        return f"{self.key}.{name}"

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.table[name]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.at(name), f"must be an integer, not {value!r}")
        if not low <= value <= high:
            self.fail(self.at(name), f"{value} out of range {low}..{high}")
        return int(value)

    def number(self, name: str, low: float, high: float) -> float:
        value = self.table[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.at(name), f"must be a number of seconds, not {value!r}")
        if not low <= value <= high:
            self.fail(self.at(name), f"{value} out of range {low:g}..{high:g}")
        return float(value)

    def boolean(self, name: str) -> bool:
        value = self.table[name]
        if not isinstance(value, bool):
            self.fail(self.at(name), f"must be true or false, not {value!r}")
        return value

    def named(self, name: str, names: Mapping[str, int], low: int, high: int) -> int:
        """An integer, or one of ``names`` (``reason = "temporary_congestion"``)."""
        value = self.table[name]
        if isinstance(value, str):
            if value not in names:
                self.fail(self.at(name), f"{value!r} is not one of {', '.join(names)}")
            return names[value]
        return self.integer(name, low, high)


def _places(options: _Options, spec: FaultSpec, kind: FaultKind) -> frozenset[Place]:
    value = options.table.get("on", spec.places[0])
    items = value if isinstance(value, list) else [value]
    if not items:
        options.fail(options.at("on"), "must name at least one place")
    places: set[Place] = set()
    for item in items:
        if item not in spec.places:
            options.fail(
                options.at("on"),
                f"{item!r} is not a place {kind.value} can show on"
                f" (it can: {', '.join(spec.places)})",
            )
        places.add(item)
    return frozenset(places)


def _version(options: _Options) -> tuple[int, int]:
    value = options.table["version"]
    text = value if isinstance(value, str) else ""
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit() and int(major) < 256 and int(minor) < 256):
        options.fail(options.at("version"), f'must be "MAJOR.MINOR" (0..255 each), not {value!r}')
    version = (int(major), int(minor))
    if version in ((5, 0), (5, 1)):
        options.fail(options.at("version"), f"{text} is DCE/RPC's own version: not a lie")
    return version


def parse_fault(value: Any, key: str, fail: Fail) -> HostFault:
    """Validate a lab file's ``fault`` value (a kind name or a table) into a :class:`HostFault`.

    ``key`` is where the value sits (``hosts[3].fault``); ``fail(key, message)`` raises
    the lab's one-line error.
    """
    if isinstance(value, str):
        table: dict[str, Any] = {"kind": value}
    elif isinstance(value, dict):
        table = dict(value)
    else:
        fail(key, f'must be a behaviour name or a table with kind = "...", not {value!r}')
    kind_key = key if isinstance(value, str) else f"{key}.kind"
    name = table.get("kind")
    if name is None:
        fail(kind_key, f"is required (one of {', '.join(k.value for k in FaultKind)})")
    try:
        kind = FaultKind(name)
    except ValueError:
        fail(kind_key, f"{name!r} is not a fault (known: {', '.join(k.value for k in FaultKind)})")
    spec = FAULT_SPECS[kind]
    allowed = {"kind", "on", *spec.options}
    if spec.stages:
        allowed.add("at")
        if "call" in spec.stages:
            allowed.add("call")
    for option in table:
        if option not in allowed:
            fail(
                f"{key}.{option}",
                f"{kind.value} takes no such option (it takes: {', '.join(sorted(allowed))})",
            )
    options = _Options(table, key, fail)
    fault = HostFault(kind, on=_places(options, spec, kind))
    if spec.stages:
        default: Stage = spec.stages[0]
        if default == "call" and fault.on != {"epm"} and "bind" in spec.stages:
            default = "bind"  # only the endpoint mapper is called: elsewhere, the bind
        at = table.get("at", default)
        if at not in spec.stages:
            fail(options.at("at"), f"{at!r} is not one of {', '.join(spec.stages)}")
        if at == "call" and fault.on != {"epm"}:
            fail(options.at("at"), 'at = "call" needs on = "epm": only the mapper is called')
        fault = replace(fault, at=at)
        if "call" in table:
            if at != "call":
                fail(options.at("call"), 'goes with at = "call"')
            fault = replace(fault, call=options.integer("call", 1, 1_000_000))
    readers: dict[str, Callable[[], Any]] = {
        "interval": lambda: options.number("interval", 0.001, 60.0),
        "size": lambda: options.integer("size", 1, 65536),
        "frag_length": lambda: options.integer("frag_length", 0, HEADER_SIZE - 1),
        "extra": lambda: options.integer("extra", 1, 1_000_000),
        "version": lambda: _version(options),
        "ptype": lambda: options.named("ptype", _PTYPE_BY_NAME, 0, 255),
        "call_id_shift": lambda: options.integer("call_id_shift", 1, 2**31),
        "status": lambda: options.integer("status", 0, 0xFFFFFFFF),
        "reason": lambda: options.named(
            "reason", _PROVIDER_BY_NAME if kind is K.BIND_REJECT else _NAK_BY_NAME, 0, 0xFFFF
        ),
        "rejection": lambda: _rejection(options),
        "alloc_hint": lambda: options.integer("alloc_hint", 0, 0xFFFFFFFF),
        "empty": lambda: options.boolean("empty"),
        "per_page": lambda: options.integer("per_page", 0, 10000),
        "array": lambda: options.boolean("array"),
        "page": lambda: options.integer("page", 1, 1_000_000),
        "floors": lambda: options.integer("floors", 0, 0xFFFF),
        "entries": lambda: options.integer("entries", 1, 1_000_000),
        "count": lambda: options.integer("count", 1, 200_000),
        "text": lambda: _text(options),
    }
    values = {name: readers[name]() for name in table if name in readers}
    if kind is K.BIND_REJECT and "reason" not in values:
        values["reason"] = 2
    if kind is K.WRONG_PTYPE:
        honest = PTYPE_BIND_ACK if fault.at == "bind" else PTYPE_RESPONSE
        if values.get("ptype", 0) == honest:
            fail(options.at("ptype"), f"{PTYPE_NAMES[honest]} is the honest type at {fault.at}")
    return replace(fault, **values)


def _rejection(options: _Options) -> BindOutcome:
    value = options.table["rejection"]
    if value == "provider":
        return BindOutcome.PROVIDER_REJECTION
    if value == "user":
        return BindOutcome.USER_REJECTION
    options.fail(options.at("rejection"), f'must be "provider" or "user", not {value!r}')


def _text(options: _Options) -> str:
    value = options.table["text"]
    if not isinstance(value, str) or not 1 <= len(value) <= 4096:
        options.fail(options.at("text"), f"must be a string of 1..4096 characters, not {value!r}")
    return value


# --- connection faults ----------------------------------------------------------------

TLS_ALERT = bytes.fromhex("15030300020246")
"""A TLS 1.2 record: fatal alert ``protocol_version``, what a TLS server sends a non-TLS peer."""
HTTP_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\n"
    b"Connection: close\r\n\r\nBad Request"
)
"""What a web server answers to bytes that are not HTTP."""
CHARGEN_LINE = bytes(range(0x21, 0x7F)) + b"\r\n"
ENDLESS_CHUNK = 4096


def chargen_chunk() -> bytes:
    """One chunk of an endless printable stream (RFC 864 lines)."""
    lines = ENDLESS_CHUNK // len(CHARGEN_LINE) + 1
    return (CHARGEN_LINE * lines)[:ENDLESS_CHUNK]


def garbage_bytes(size: int, seed: str) -> bytes:
    """``size`` random bytes, the same for the same seed, never starting like DCE/RPC 5.x."""
    data = bytearray(random.Random(f"garbage:{seed}").randbytes(size))
    if data[0] == 5:
        data[0] = 0xFF
    return bytes(data)


def greeting_bytes(fault: HostFault) -> tuple[bytes, bytes]:
    """``(first bytes, endless chunk)`` an ncacn_http port sends instead of its greeting."""
    if fault.kind is K.GREETING_WRONG:
        return fault.text.encode("utf-8"), b""
    return b"ncacn_http/1.0", b"0" * ENDLESS_CHUNK


# --- PDU and bind faults --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Strike:
    """What to send instead of an honest answer, and what the server does then.

    ``then``: ``continue`` (go on answering), ``silent`` (read and never answer again),
    ``close`` (FIN once sent), ``endless`` (send ``endless`` over and over until the peer
    goes away).
    """

    data: bytes
    then: After = "silent"
    endless: bytes = b""


def _fragments(pdus: bytes) -> list[bytearray]:
    """Split honest PDU bytes (one or more fragments) at their ``frag_length``."""
    out = []
    offset = 0
    while offset < len(pdus):
        (length,) = _U16.unpack_from(pdus, offset + 8)
        out.append(bytearray(pdus[offset : offset + length]))
        offset += length
    return out


def with_alloc_hint(pdus: bytes, alloc_hint: int) -> bytes:
    """Response fragments with ``alloc_hint`` replaced in every header (a hint only)."""
    fragments = _fragments(pdus)
    for fragment in fragments:
        if fragment[2] == PTYPE_RESPONSE and len(fragment) >= RESPONSE_HEADER_SIZE:
            _U32.pack_into(fragment, 16, alloc_hint)
    return b"".join(fragments)


def response_fragment(call_id: int, context_id: int, stub_size: int, flags: int) -> bytes:
    """One response fragment of ``stub_size`` zero bytes (for the endless response)."""
    return _RESPONSE_HEAD.pack(
        5,
        0,
        PTYPE_RESPONSE,
        flags,
        DREP_LITTLE_ENDIAN_ASCII_IEEE,
        RESPONSE_HEADER_SIZE + stub_size,
        0,
        call_id,
        0xFFFFFFFF,
        context_id,
        0,
        0,
    ) + bytes(stub_size)


def bind_answer(fault: HostFault, connection: ServerConnection, bind: BindRequest) -> bytes:
    """The bind_nak or rejecting bind_ack a bind fault answers ``bind`` with."""
    if fault.kind is K.BIND_NAK:
        return connection.bind_nak(bind.call_id, fault.reason)
    results = [ContextResult.rejected(fault.reason, fault.rejection) for _ in bind.contexts]
    return connection.bind_ack(bind, results)


def strike(
    fault: HostFault,
    honest: bytes,
    event: BindRequest | Request,
    connection: ServerConnection,
    *,
    seed: str,
) -> Strike:
    """Turn the honest answer to ``event`` into the fault's lie (PDU and bind kinds)."""
    kind = fault.kind
    fragments = _fragments(honest)
    first = fragments[0]
    if kind in (K.BIND_NAK, K.BIND_REJECT):
        assert isinstance(event, BindRequest)
        return Strike(bind_answer(fault, connection, event), "continue")
    if kind is K.FAULT:
        context_id = event.context_id if isinstance(event, Request) else 0
        return Strike(connection.fault(event.call_id, fault.status, context_id), "continue")
    if kind is K.GARBAGE:
        return Strike(garbage_bytes(fault.size, seed))
    if kind is K.CLOSE_MID_PDU:
        return Strike(bytes(first[: max(1, len(first) // 2)]), "close")
    if kind is K.FRAG_SHORT:
        _U16.pack_into(first, 8, fault.frag_length)
        return Strike(b"".join(fragments))
    if kind is K.FRAG_LONG:
        _U16.pack_into(first, 8, min(MAX_FRAG_LENGTH, len(first) + fault.extra))
        return Strike(bytes(first))
    if kind is K.FRAG_HUGE:
        _U16.pack_into(first, 8, MAX_FRAG_LENGTH)
        return Strike(bytes(first))
    if kind is K.WRONG_VERSION:
        for fragment in fragments:
            fragment[0], fragment[1] = fault.version
        return Strike(b"".join(fragments))
    if kind is K.WRONG_PTYPE:
        first[2] = fault.ptype
        return Strike(b"".join(fragments))
    if kind is K.WRONG_CALL_ID:
        call_id = (event.call_id + fault.call_id_shift) & 0xFFFFFFFF
        for fragment in fragments:
            _U32.pack_into(fragment, 12, call_id)
        return Strike(b"".join(fragments))
    if kind is K.ENDLESS_RESPONSE:
        assert isinstance(event, Request)
        size = (connection.response_frag - RESPONSE_HEADER_SIZE) & ~7
        opening = response_fragment(event.call_id, event.context_id, size, PFC_FIRST_FRAG)
        middle = response_fragment(event.call_id, event.context_id, size, 0)
        return Strike(opening, "endless", middle)
    raise ValueError(f"{kind.value} is not a PDU or bind fault")


def strikes_at(fault: HostFault, stage: Stage, calls: int) -> bool:
    """Whether a PDU/bind fault replaces this answer (``calls``: calls seen so far)."""
    if fault.kind in (K.BIND_NAK, K.BIND_REJECT):
        return stage == "bind"
    if not fault.spec.stages:
        return False
    if fault.at == "bind":
        return stage == "bind"
    return stage == "call" and calls == fault.call


# --- lookup faults ----------------------------------------------------------------------


def _split_floors(tower: bytes) -> list[bytes]:
    """The floors of an honest tower, each with its two length prefixes."""
    (count,) = _U16.unpack_from(tower, 0)
    floors = []
    offset = 2
    for _ in range(count):
        (lhs,) = _U16.unpack_from(tower, offset)
        (rhs,) = _U16.unpack_from(tower, offset + 2 + lhs)
        end = offset + 4 + lhs + rhs
        floors.append(tower[offset:end])
        offset = end
    return floors


def lying_tower(fault: HostFault, tower: bytes) -> bytes:
    """The tower octet string a tower fault sends in place of the honest ``tower``.

    ``tower_floor_count``: the floor count says ``floors`` (default: two more than
    there are); ``tower_floor_length``: the last floor's right-hand side claims ``extra``
    bytes more than the tower holds; ``tower_short_floor``: the port floor's right-hand
    side is one byte (lengths agree, the port does not fit); ``tower_no_floors``: a
    floor count of 0 and nothing else.
    """
    floors = _split_floors(tower)
    if fault.kind is K.TOWER_NO_FLOORS:
        return _U16.pack(0)
    if fault.kind is K.TOWER_FLOOR_COUNT:
        claimed = len(floors) + 2 if fault.floors is None else fault.floors
        return _U16.pack(claimed) + b"".join(floors)
    if fault.kind is K.TOWER_FLOOR_LENGTH:
        last = bytearray(floors[-1])
        (lhs,) = _U16.unpack_from(last, 0)
        (rhs,) = _U16.unpack_from(last, 2 + lhs)
        _U16.pack_into(last, 2 + lhs, min(0xFFFF, rhs + fault.extra))
        return _U16.pack(len(floors)) + b"".join(floors[:-1]) + bytes(last)
    if fault.kind is K.TOWER_SHORT_FLOOR:
        out = []
        for floor in floors:
            if floor[2] == FLOOR_TCP_PORT:
                floor = _U16.pack(1) + bytes((FLOOR_TCP_PORT,)) + _U16.pack(1) + floor[5:6]
            out.append(floor)
        return _U16.pack(len(out)) + b"".join(out)
    raise ValueError(f"{fault.kind.value} is not a tower fault")


def faulty_towers(
    fault: HostFault, entries: tuple[RegisteredEndpoint, ...], towers: tuple[bytes, ...]
) -> tuple[bytes, ...]:
    """The towers as ``ept_lookup`` sends them: the first ``entries`` TCP towers lie."""
    if fault.kind not in TOWER_KINDS:
        return towers
    out = list(towers)
    left = fault.entries
    for index, entry in enumerate(entries):
        if left == 0:
            break
        if entry.transport == "ncacn_ip_tcp":
            out[index] = lying_tower(fault, towers[index])
            left -= 1
    return tuple(out)


def unterminated_annotation(entry: EncodedEntry) -> EncodedEntry:
    """The entry with its annotation sent without the terminating NUL (offset, length, text)."""
    inline = entry.inline_annotation
    (length,) = _U32.unpack_from(inline, 4)
    text = inline[8 : 8 + length].rstrip(b"\0")
    body = struct.pack("<II", 0, len(text)) + text
    return replace(entry, inline_annotation=body + bytes(pad4(len(body))))


def filler_entries(count: int, start: int) -> tuple[EncodedEntry, ...]:
    """``count`` made-up ncalrpc entries (``many_entries``), numbered from ``start``."""
    entries = []
    for number in range(start, start + count):
        interface = InterfaceId(f"{number:08x}-1ab0-4e4c-8a62-000000fa0175", 1, 0)
        tower = encode_tower(interface, "ncalrpc", endpoint=f"LRPC-lab-{number:06d}")
        entries.append(
            encode_lookup_entry(
                "00000000-0000-0000-0000-000000000000", tower, f"lab filler {number}"
            )
        )
    return tuple(entries)


def lie_num_ents(stub: bytes, extra: int, array: bool) -> bytes:
    """An ``ept_lookup`` response stub whose ``num_ents`` (and, with ``array``, the array's
    counts) claims ``extra`` entries more than it holds."""
    lied = bytearray(stub)
    (count,) = _U32.unpack_from(lied, 20)
    claimed = min(0xFFFFFFFF, count + extra)
    _U32.pack_into(lied, 20, claimed)
    if array:
        _U32.pack_into(lied, 24, max(claimed, _U32.unpack_from(lied, 24)[0]))
        _U32.pack_into(lied, 32, claimed)
    return bytes(lied)
