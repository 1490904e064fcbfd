"""The interface catalogue: every entry sourced and well formed, its UUIDs those of others.

The UUIDs and versions are checked against sources that are not the catalogue: impacket's
interface constants (its own reading of Microsoft's documents), the Exchange facts the
catalogue must not restate, and the lab's catalogue of what emulated hosts register.
"""

from __future__ import annotations

import importlib
import re
import uuid

import pytest

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.facts.security import CATALOGUE, CatalogueError, load_catalogue
from epmscan.lab.catalog import CATALOG as LAB_CATALOG
from epmscan.models import HostRole, InterfaceCategory, Severity

REQUIRED = {
    # the issue's list: coercion, remote execution, DC roles, certificate services
    "12345678-1234-abcd-ef00-0123456789ab": "MS-RPRN",
    "76f03f96-cdfd-44fc-a22c-64950a001209": "MS-PAR",
    "c681d488-d850-11d0-8c52-00c04fd90f7e": "MS-EFSR",
    "df1941c5-fe89-4e79-bf10-463657acf44d": "MS-EFSR",
    "4fc742e0-4a10-11cf-8273-00aa004ae673": "MS-DFSNM",
    "a8e0653c-2744-4389-a61d-7373df8b2292": "MS-FSRVP",
    "82273fdc-e32a-18c3-3f78-827929dc23ea": "MS-EVEN",
    "86d35949-83c9-4044-b424-db363231fd0c": "MS-TSCH",
    "1ff70682-0a51-30e8-076d-740be8cee98b": "MS-TSCH",
    "367abb81-9844-35f1-ad32-98f038001003": "MS-SCMR",
    "000001a0-0000-0000-c000-000000000046": "MS-DCOM",
    "338cd001-2244-31f1-aaaa-900038001003": "MS-RRP",
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "MS-DRSR",
    "12345678-1234-abcd-ef00-01234567cffb": "MS-NRPC",
    "12345778-1234-abcd-ef00-0123456789ab": "MS-LSAD",
    "12345778-1234-abcd-ef00-0123456789ac": "MS-SAMR",
    "91ae6020-9e3c-11cf-8d7c-00aa00c091be": "MS-ICPR",
}

IMPACKET_CONSTANTS = {
    "ms-rprn": ("rprn", "MSRPC_UUID_RPRN"),
    "ms-par": ("par", "MSRPC_UUID_PAR"),
    "ms-even": ("even", "MSRPC_UUID_EVEN"),
    "ms-tsch": ("tsch", "MSRPC_UUID_TSCHS"),
    "ms-tsch-atsvc": ("atsvc", "MSRPC_UUID_ATSVC"),
    "ms-tsch-sasec": ("sasec", "MSRPC_UUID_SASEC"),
    "ms-scmr": ("scmr", "MSRPC_UUID_SCMR"),
    "ms-dcom-scm": ("dcomrt", "IID_IRemoteSCMActivator"),
    "ms-dcom-activation": ("dcomrt", "IID_IActivation"),
    "ms-dcom-oxid": ("dcomrt", "IID_IObjectExporter"),
    "ms-rrp": ("rrp", "MSRPC_UUID_RRP"),
    "ms-drsr": ("drsuapi", "MSRPC_UUID_DRSUAPI"),
    "ms-nrpc": ("nrpc", "MSRPC_UUID_NRPC"),
    "ms-lsad": ("lsad", "MSRPC_UUID_LSAD"),
    "ms-samr": ("samr", "MSRPC_UUID_SAMR"),
    "ms-dssp": ("dssp", "MSRPC_UUID_DSSP"),
    "ms-bkrp": ("bkrp", "MSRPC_UUID_BKRP"),
    "ms-icpr": ("icpr", "MSRPC_UUID_ICPR"),
}


def test_every_entry_has_a_source_and_a_valid_uuid_and_version() -> None:
    assert CATALOGUE.version >= 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", CATALOGUE.updated)
    for entry in CATALOGUE.interfaces:
        assert entry.source.strip(), entry.id
        assert entry.what.strip() and entry.why.strip(), entry.id
        assert str(uuid.UUID(entry.interface.uuid)) == entry.interface.uuid, entry.id
        assert 0 <= entry.interface.major <= 0xFFFF and 0 <= entry.interface.minor <= 0xFFFF
        assert entry.code == f"{entry.category.value}.{entry.id}"
        if entry.severity_on_dc is not None:
            assert entry.severity_on_dc.rank > entry.severity.rank, entry.id


def test_ids_and_uuids_are_unique() -> None:
    ids = [e.id for e in CATALOGUE.interfaces]
    uuids = [e.interface.uuid for e in CATALOGUE.interfaces]
    assert len(set(ids)) == len(ids)
    assert len(set(uuids)) == len(uuids)


def test_the_issue_interfaces_are_all_catalogued_with_their_document() -> None:
    for interface_uuid, document in REQUIRED.items():
        entry = CATALOGUE.by_uuid(interface_uuid)
        assert entry is not None, interface_uuid
        assert entry.document == document
    categories = {e.category for e in CATALOGUE.interfaces}
    assert categories == set(InterfaceCategory)


def test_exchange_entries_take_their_uuids_from_the_exchange_facts() -> None:
    exchange = [e for e in CATALOGUE.interfaces if e.exchange is not None]
    assert {e.exchange for e in exchange} == set(EXCHANGE_INTERFACES)
    for entry in exchange:
        assert entry.exchange is not None
        assert entry.interface is EXCHANGE_INTERFACES[entry.exchange]
        assert entry.category is InterfaceCategory.EXCHANGE


@pytest.mark.parametrize(("entry_id", "where"), sorted(IMPACKET_CONSTANTS.items()))
def test_uuid_and_version_agree_with_impacket(entry_id: str, where: tuple[str, str]) -> None:
    module = importlib.import_module(f"impacket.dcerpc.v5.{where[0]}")
    raw = getattr(module, where[1])
    entry = CATALOGUE.by_id(entry_id)
    assert str(uuid.UUID(bytes_le=raw[:16])) == entry.interface.uuid
    if len(raw) >= 20:
        major = int.from_bytes(raw[16:18], "little")
        minor = int.from_bytes(raw[18:20], "little")
        assert (major, minor) == (entry.interface.major, entry.interface.minor)


def test_the_lab_registers_the_catalogue_interfaces_it_shares() -> None:
    shared = 0
    for lab_entry in LAB_CATALOG.values():
        entry = CATALOGUE.by_uuid(lab_entry.interface.uuid)
        if entry is not None:
            shared += 1
            assert lab_entry.interface == entry.interface, lab_entry.key
    assert shared >= 20


def test_every_role_has_a_rule_whose_ids_exist() -> None:
    assert {rule.role for rule in CATALOGUE.roles} == set(HostRole)
    ids = {e.id for e in CATALOGUE.interfaces}
    for rule in CATALOGUE.roles:
        assert set(rule.high) | set(rule.low) <= ids
        assert rule.label and rule.description


def test_severities_are_the_check_scale() -> None:
    assert {e.severity for e in CATALOGUE.interfaces} <= set(Severity)
    coercion = [e for e in CATALOGUE.interfaces if e.category is InterfaceCategory.COERCION]
    assert all(e.severity.rank >= Severity.WARNING.rank for e in coercion)


GOOD = """
version = 1
updated = "2026-01-01"
[[interface]]
id = "x"
name = "X"
document = "MS-X"
uuid = "12345678-1234-abcd-ef00-0123456789ab"
version = "1.0"
category = "coercion"
severity = "error"
what = "w"
why = "y"
source = "https://example.invalid/x"
"""
ROLES = "".join(
    f'\n[[role]]\nrole = "{role.value}"\nlabel = "l"\ndescription = "d"\n' for role in HostRole
)


def test_a_minimal_catalogue_loads() -> None:
    catalogue = load_catalogue(GOOD + ROLES)
    assert catalogue.by_id("x").interface.version == "1.0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('source = "https://example.invalid/x"\n', ""), "source must be"),
        (("12345678-1234-abcd-ef00-0123456789ab", "12345678-1234-ABCD-EF00-0123456789AB"), "uuid"),
        (('version = "1.0"', 'version = "1"'), "major.minor"),
        (('version = "1.0"', 'version = "70000.0"'), "16-bit"),
        (('severity = "error"', 'severity = "fatal"'), "not one of"),
        (('category = "coercion"', 'category = "misc"'), "not one of"),
        (('id = "x"', 'id = "X Y"'), "lower case"),
        (('uuid = "12345678', 'exchange = "mapi"\nuuid = "12345678'), "from the facts"),
    ],
)
def test_a_malformed_entry_is_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(GOOD.replace(*change) + ROLES)


def test_duplicates_and_unknown_role_ids_are_refused() -> None:
    twice = GOOD + GOOD.split("\n", 3)[3].replace('id = "x"', 'id = "y"')
    with pytest.raises(CatalogueError, match="uuid already used by x"):
        load_catalogue(twice + ROLES)
    with pytest.raises(CatalogueError, match="unknown entries nope"):
        load_catalogue(GOOD + ROLES.replace('label = "l"', 'label = "l"\nhigh = ["nope"]', 1))
    with pytest.raises(CatalogueError, match="no \\[\\[role\\]\\] rule"):
        load_catalogue(GOOD)


def test_docs_list_every_entry_and_every_lab_profile() -> None:
    from pathlib import Path

    from epmscan.lab import list_profiles

    docs = Path(__file__).resolve().parents[2] / "docs"
    security = (docs / "security.md").read_text()
    for entry in CATALOGUE.interfaces:
        assert f"`{entry.code}`" in security, entry.code
        assert entry.interface.uuid in security, entry.id
    for role in HostRole:
        assert f"`{role.value}`" in security, role
    lab = (docs / "lab.md").read_text()
    for profile in list_profiles():
        assert f"`{profile.name}`" in lab, profile.name
