"""The interface catalogue: RPC interfaces that matter for security, read from a data file.

The catalogue is ``security_interfaces.toml`` beside this module (versioned, one source
per entry; the file's header says what each key means). :func:`load_catalogue` reads and
checks it: every entry has a source, a canonical lower-case UUID and a ``major.minor``
version, ids and UUIDs are unique, and every role rule names known roles and entries.
Exchange's own interfaces name their key (``exchange = "mapi"``) and take UUID and
version from :mod:`epmscan.facts.exchange`, so the two never disagree.
:data:`CATALOGUE` is the packaged catalogue, read once at import.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import (
    ExchangeInterface,
    HostRole,
    InterfaceCatalogue,
    InterfaceCategory,
    InterfaceId,
    RoleRule,
    SecurityInterface,
    Severity,
)

CATALOGUE_FILE: Final = "security_interfaces.toml"

UUID_PATTERN: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
VERSION_PATTERN: Final = re.compile(r"^(\d{1,5})\.(\d{1,5})$")
ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
UINT16_MAX: Final = 0xFFFF


class CatalogueError(ValueError):
    """The catalogue file is malformed (a packaging or editing mistake, not user input)."""


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: {key} must be a non-empty string")
    return value


def _enum(kind: Any, table: Mapping[str, Any], key: str, where: str) -> Any:
    value = _text(table, key, where)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise CatalogueError(f"{where}: {key} {value!r} is not one of {allowed}") from None


def parse_interface_id(uuid: str, version: str, where: str = "interface") -> InterfaceId:
    """``InterfaceId`` from a lower-case UUID and ``major.minor`` (:class:`CatalogueError`)."""
    if not UUID_PATTERN.match(uuid):
        raise CatalogueError(f"{where}: uuid {uuid!r} is not a lower-case canonical UUID")
    match = VERSION_PATTERN.match(version)
    if match is None:
        raise CatalogueError(f"{where}: version {version!r} is not major.minor")
    major, minor = int(match.group(1)), int(match.group(2))
    if major > UINT16_MAX or minor > UINT16_MAX:
        raise CatalogueError(f"{where}: version {version!r} does not fit 16-bit numbers")
    return InterfaceId(uuid, major, minor)


def _interface(table: Mapping[str, Any], index: int) -> SecurityInterface:
    where = f"interface[{index}]"
    entry_id = _text(table, "id", where)
    if not ID_PATTERN.match(entry_id):
        raise CatalogueError(f"{where}: id {entry_id!r} must be lower case letters, digits, -")
    where = f"interface {entry_id}"
    exchange: ExchangeInterface | None = None
    if "exchange" in table:
        if "uuid" in table or "version" in table:
            raise CatalogueError(f"{where}: an Exchange entry takes its uuid from the facts")
        exchange = _enum(ExchangeInterface, table, "exchange", where)
        interface = EXCHANGE_INTERFACES[exchange]
    else:
        interface = parse_interface_id(
            _text(table, "uuid", where), _text(table, "version", where), where
        )
    severity_on_dc = (
        _enum(Severity, table, "severity_on_dc", where) if "severity_on_dc" in table else None
    )
    return SecurityInterface(
        id=entry_id,
        name=_text(table, "name", where),
        document=_text(table, "document", where),
        interface=interface,
        category=_enum(InterfaceCategory, table, "category", where),
        severity=_enum(Severity, table, "severity", where),
        what=_text(table, "what", where),
        why=_text(table, "why", where),
        source=_text(table, "source", where),
        severity_on_dc=severity_on_dc,
        exchange=exchange,
    )


def _ids(table: Mapping[str, Any], key: str, where: str, known: set[str]) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{where}: {key} must be a list of catalogue ids")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise CatalogueError(f"{where}: {key} names unknown entries {', '.join(unknown)}")
    return tuple(value)


def _role(table: Mapping[str, Any], index: int, known: set[str]) -> RoleRule:
    where = f"role[{index}]"
    role = _enum(HostRole, table, "role", where)
    where = f"role {role.value}"
    return RoleRule(
        role=role,
        label=_text(table, "label", where),
        description=_text(table, "description", where),
        high=_ids(table, "high", where, known),
        low=_ids(table, "low", where, known),
    )


def parse_catalogue(data: Mapping[str, Any]) -> InterfaceCatalogue:
    """Check and build the catalogue from the parsed TOML (:class:`CatalogueError`)."""
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise CatalogueError("version must be a positive integer")
    updated = _text(data, "updated", "catalogue")
    tables = data.get("interface")
    if not isinstance(tables, list) or not tables:
        raise CatalogueError("the catalogue has no [[interface]] entries")
    entries = tuple(_interface(table, i) for i, table in enumerate(tables))
    seen_ids: set[str] = set()
    seen_uuids: dict[str, str] = {}
    for entry in entries:
        if entry.id in seen_ids:
            raise CatalogueError(f"interface {entry.id}: id given twice")
        seen_ids.add(entry.id)
        other = seen_uuids.get(entry.interface.uuid)
        if other is not None:
            raise CatalogueError(f"interface {entry.id}: uuid already used by {other}")
        seen_uuids[entry.interface.uuid] = entry.id
    rules = tuple(_role(table, i, seen_ids) for i, table in enumerate(data.get("role", [])))
    roles = [rule.role for rule in rules]
    if len(set(roles)) != len(roles):
        raise CatalogueError("a role has two [[role]] rules")
    missing = [role.value for role in HostRole if role not in roles]
    if missing:
        raise CatalogueError(f"no [[role]] rule for {', '.join(missing)}")
    return InterfaceCatalogue(version=version, updated=updated, interfaces=entries, roles=rules)


def load_catalogue(text: str | None = None) -> InterfaceCatalogue:
    """The catalogue in ``text`` (TOML), or the packaged one when None."""
    if text is None:
        text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{CATALOGUE_FILE}: {exc}") from None
    return parse_catalogue(data)


CATALOGUE: Final[InterfaceCatalogue] = load_catalogue()
"""The packaged interface catalogue."""
