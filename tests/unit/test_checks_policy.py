"""Policy files and CLI expectations: valid input parses, every mistake names file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from epmscan.checks.policy_file import load_policy, parse_policy
from epmscan.checks.tomlpos import locate, locate_value
from epmscan.cli.parsing import parse_expect, parse_port_list, parse_severity
from epmscan.errors import PolicyError, UsageError
from epmscan.models import DynamicRanges, ExchangeInterface, Policy, PortRange, Role, Severity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "policies"

MAPI, NSPI, RFR = ExchangeInterface.MAPI, ExchangeInterface.NSPI, ExchangeInterface.RFR


def test_example_site_policy_parses() -> None:
    policy = load_policy(FIXTURES / "exchange-site.toml")
    names = [g.name for g in policy.groups]
    assert names == ["cas-array", "mailbox-public-folders", "mailbox", "legacy-2007"]
    cas = policy.groups[0].expectation
    assert cas.role is Role.CLIENT_ACCESS
    assert (cas.static_port(MAPI), cas.static_port(NSPI), cas.static_port(RFR)) == (
        60001,
        60002,
        60002,
    )
    assert cas.require_http == (6001, 6002, 6004)
    assert cas.allow_dynamic is False
    assert cas.severity_for("async_mapi.dynamic", Severity.ERROR) is Severity.INFO
    assert cas.severity_for("mapi.dynamic", Severity.ERROR) is Severity.ERROR
    pf = policy.groups[1].expectation
    assert pf.static_port(MAPI) == 60001 and pf.static_port(NSPI) is None
    assert pf.allow_dynamic is True


def test_demo_policy_uses_the_six_loopback_servers() -> None:
    policy = load_policy(Path(__file__).parents[2] / "src/epmscan/lab/demo/policy.toml")
    assert sorted(policy.targets()) == [f"127.0.10.{n}" for n in range(1, 7)]
    assert policy.expectation_for("127.0.10.5").role is Role.MAILBOX_PUBLIC_FOLDERS  # type: ignore[union-attr]
    assert policy.expectation_for("127.0.10.1").static_port(MAPI) == 60001  # type: ignore[union-attr]


def test_targets_keep_file_order_and_drop_duplicates() -> None:
    policy = parse_policy(
        '[[group]]\nservers = ["192.0.2.1", "b.example"]\n'
        '[[group]]\nservers = ["192.0.2.0/30", "192.0.2.1"]\n'
    )
    assert policy.targets() == ("192.0.2.1", "b.example", "192.0.2.0/30")


def test_expectation_for_first_match_cidr_and_case_insensitive_names() -> None:
    policy = parse_policy(
        '[[group]]\nname = "one"\nservers = ["192.0.2.5", "CAS01.Example.NET"]\n'
        '[[group]]\nname = "net"\nservers = ["192.0.2.0/24", "2001:db8::/64"]\n'
    )
    assert policy.expectation_for("192.0.2.5").group == "one"  # type: ignore[union-attr]
    assert policy.expectation_for("192.0.2.6").group == "net"  # type: ignore[union-attr]
    assert policy.expectation_for("2001:db8::7").group == "net"  # type: ignore[union-attr]
    assert policy.expectation_for("198.51.100.1", "cas01.example.net.").group == "one"  # type: ignore[union-attr]
    assert policy.expectation_for("cas01.example.net").group == "one"  # type: ignore[union-attr]
    assert policy.expectation_for("198.51.100.1", "other") is None


def test_group_inherits_defaults_and_overrides_single_ports() -> None:
    policy = parse_policy(
        "[defaults]\nallow_dynamic = false\nrequire_http = [6001]\n"
        "exchange_dynamic = [6005, 59530]\n"
        "[defaults.ports]\nmapi = 60001\nnspi = 60002\n"
        '[[group]]\nservers = ["192.0.2.1"]\nports = { nspi = 60003 }\n'
    )
    exp = policy.groups[0].expectation
    assert exp.static_port(MAPI) == 60001
    assert exp.static_port(NSPI) == 60003
    assert exp.allow_dynamic is False
    assert exp.require_http == (6001,)
    assert exp.ranges == DynamicRanges(PortRange(49152, 65535), PortRange(6005, 59530))


def test_from_expectations_quick_case() -> None:
    policy = Policy.from_expectations(
        expect=parse_expect(["mapi=60001", "nspi=60002", "rfr=60002"]),
        require_http=parse_port_list("6001,6002,6004"),
    )
    assert policy.targets() == ()
    exp = policy.expectation_for("192.0.2.1")
    assert exp is not None
    assert exp.static_port(MAPI) == 60001 and exp.static_port(RFR) == 60002
    assert exp.static_port(ExchangeInterface.ASYNC_MAPI) is None
    assert exp.require_http == (6001, 6002, 6004)
    string_keys = Policy.from_expectations(expect={"mapi": 1234})
    assert string_keys.default is not None and string_keys.default.static_port(MAPI) == 1234


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["mapii=60001"], "unknown interface 'mapii'"),
        (["mapi=70000"], "out of range"),
        (["mapi=abc"], "not a port number"),
        (["mapi"], "write INTERFACE=PORT"),
        (["mapi=1", "mapi=2"], "given twice"),
    ],
)
def test_parse_expect_errors_are_one_line(items: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_expect(items)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_expect_accepts_commas_and_case() -> None:
    assert parse_expect(["MAPI=60001,nspi = 60002"]) == {MAPI: 60001, NSPI: 60002}


def test_parse_port_list_and_severity() -> None:
    assert parse_port_list("6004, 6001,6004") == (6004, 6001)
    with pytest.raises(UsageError, match="0 is out of range"):
        parse_port_list("0")
    with pytest.raises(UsageError, match="empty port list"):
        parse_port_list(" , ")
    assert parse_severity("Error") is Severity.ERROR
    with pytest.raises(UsageError, match="unknown severity 'fatal'"):
        parse_severity("fatal")


# --- errors name the file and the line --------------------------------------------------

GOOD_HEAD = '[defaults]\nallow_dynamic = true\n\n[[group]]\nname = "cas"\nservers = ["192.0.2.1"]\n'


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # unknown interface inside a [group.ports] table
        (
            GOOD_HEAD + "[group.ports]\nmapi = 60001\nmapii = 60002\n",
            9,
            "unknown interface 'mapii'",
        ),
        # unknown interface inside an inline table of the second group
        (
            GOOD_HEAD + '\n[[group]]\nname = "mbx"\nservers = ["192.0.2.2"]\n'
            "ports = { mapi = 60001, nsip = 60002 }\n",
            11,
            "unknown interface 'nsip'",
        ),
        # port out of range
        (GOOD_HEAD + "[group.ports]\nnspi = 65536\n", 8, "nspi = 65536 is out of range"),
        # port of the wrong type
        (
            GOOD_HEAD + '[group.ports]\nrfr = "60002"\n',
            8,
            "rfr must be a port number, got a string",
        ),
        # bad CIDR in a multi-line list: the line of the element
        (
            '[[group]]\nname = "x"\nservers = [\n  "192.0.2.1",\n  "192.0.2.5/24",\n]\n',
            5,
            "bad CIDR '192.0.2.5/24'",
        ),
        # bad address
        ('[[group]]\nservers = ["192.0.2.300"]\n', 2, "bad address '192.0.2.300'"),
        # not a name either
        ('[[group]]\nservers = ["cas 01"]\n', 2, "is not an address, CIDR or host name"),
        # unknown key in a group, with the allowed keys
        (GOOD_HEAD + "alow_dynamic = false\n", 7, "unknown key 'alow_dynamic' (allowed: name,"),
        # unknown top-level key
        ("[defualts]\nallow_dynamic = true\n", 1, "unknown key 'defualts' (allowed: defaults"),
        # wrong type
        (GOOD_HEAD + 'allow_dynamic = "no"\n', 7, "allow_dynamic must be true or false"),
        (GOOD_HEAD + "require_http = 6001\n", 7, "require_http must be a list of ports"),
        (GOOD_HEAD + "require_http = [6001, 99999]\n", 7, "port 99999 is out of range"),
        (GOOD_HEAD + "windows_dynamic = [65535, 49152]\n", 7, "is not a range"),
        (GOOD_HEAD + 'role = "cas"\n', 7, "role 'cas' is not one of: client_access"),
        ('[severity]\n"mapi.dynamic" = "fatal"\n', 2, "'fatal' is not one of: info"),
        ('[[group]]\nname = "x"\n', 1, "servers is missing"),
        ('[[group]]\nname = "x"\nservers = []\n', 3, "servers must be a non-empty list"),
        (
            '[[group]]\nname = "a"\nservers = ["a"]\n[[group]]\nname = "a"\nservers = ["b"]\n',
            5,
            "name used twice",
        ),
        ("group = 5\n", 1, "group must be an array of tables"),
        ('[defaults]\nports = "mapi"\n', 2, "ports must be a table"),
    ],
)
def test_every_mistake_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "site.toml")
    message = str(info.value)
    assert message.startswith(f"site.toml:{line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_toml_syntax_error_keeps_line_and_column() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy('[[group]]\nservers = ["192.0.2.1"\nrole = "mailbox"\n', "bad.toml")
    message = str(info.value)
    assert re.match(r"bad\.toml:\d+:\d+: TOML syntax error: ", message), message
    assert "\n" not in message


def test_load_policy_names_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=re.escape(f"{missing}: cannot read policy")):
        load_policy(missing)


def test_load_policy_reports_the_path(tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    file.write_text('[[group]]\nservers = ["192.0.2.1"]\n\n[group.ports]\nfoo = 1\n')
    with pytest.raises(PolicyError, match=re.escape(f"{file}:5: ")):
        load_policy(file)


# --- the locator on its own -----------------------------------------------------------

LOCATOR_TEXT = """\
top = 1
[defaults]
allow_dynamic = true
[[group]]
name = "a"
ports = { mapi = 1,
          nspi = 2 }
[[group]]
name = "b"
servers = [
  "x",
  "y",
]
[group.ports]
"rfr" = 3
[severity]
"mapi.dynamic" = "info"
"""


@pytest.mark.parametrize(
    ("path", "key", "line"),
    [
        ((), "top", 1),
        (("defaults",), "allow_dynamic", 3),
        (("defaults",), None, 2),
        (("group", 0), "name", 5),
        (("group", 1), "name", 9),
        (("group", 0, "ports"), "nspi", 7),
        (("group", 0, "ports"), "mapi", 6),
        (("group", 1, "ports"), "rfr", 15),
        (("group", 1, "ports"), None, 14),
        (("severity",), "mapi.dynamic", 17),
        (("group", 1), "missing", 8),
        (("nothing",), "x", None),
    ],
)
def test_locate(path: tuple[str | int, ...], key: str | None, line: int | None) -> None:
    assert locate(LOCATOR_TEXT, path, key) == line


def test_locate_value_finds_the_element_line() -> None:
    assert locate_value(LOCATOR_TEXT, ("group", 1), "servers", "y") == 12
    assert locate_value(LOCATOR_TEXT, ("group", 1), "servers", "absent") == 10


# --- which interfaces share a port is the role's to say --------------------------------

CAS_HEAD = '[[group]]\nname = "cas"\nrole = "client_access"\nservers = ["192.0.2.1"]\n'


@pytest.mark.parametrize("role", ["client_access", "mailbox", "mailbox_public_folders"])
def test_exchange_2010_nspi_and_rfr_on_different_ports_is_an_error(role: str) -> None:
    text = (
        f'[[group]]\nname = "ex"\nrole = "{role}"\nservers = ["192.0.2.1"]\n'
        "[group.ports]\nmapi = 60001\nnspi = 60002\nrfr = 60003\n"
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "site.toml")
    message = str(info.value)
    assert message.startswith("site.toml:8: group 'ex': "), message
    assert "nspi = 60002 and rfr = 60003 differ" in message
    assert "RpcTcpPort" in message and "MSExchangeAB" in message
    assert "\n" not in message


def test_nspi_rfr_error_in_an_inline_table_names_its_line() -> None:
    text = CAS_HEAD + "\nports = { nspi = 60002, rfr = 60003 }\n"
    with pytest.raises(PolicyError, match=r"^site\.toml:6: group 'cas': ports: nspi = 60002"):
        parse_policy(text, "site.toml")


def test_nspi_rfr_error_from_inherited_ports_names_the_role_line() -> None:
    text = "[defaults.ports]\nnspi = 60002\nrfr = 60003\n\n" + CAS_HEAD
    with pytest.raises(PolicyError, match=r"^site\.toml:7: group 'cas': .*differ"):
        parse_policy(text, "site.toml")


def test_exchange_2010_address_book_and_mapi_on_one_port_is_an_error() -> None:
    text = CAS_HEAD + "[group.ports]\nmapi = 60001\nnspi = 60001\nrfr = 60001\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "site.toml")
    message = str(info.value)
    assert message.startswith("site.toml:7: group 'cas': ports: mapi and nspi are both 60001")
    assert "MSExchangeRPC" in message


def test_legacy_role_keeps_separate_values() -> None:
    text = (
        '[[group]]\nname = "ex2007"\nrole = "legacy"\nservers = ["192.0.2.9"]\n'
        "ports = { mapi = 59531, nspi = 59532, rfr = 59533 }\n"
    )
    exp = parse_policy(text).groups[0].expectation
    assert (exp.static_port(MAPI), exp.static_port(NSPI), exp.static_port(RFR)) == (
        59531,
        59532,
        59533,
    )


def test_legacy_role_with_one_port_for_two_values_is_an_error() -> None:
    text = (
        '[[group]]\nname = "ex2003"\nrole = "legacy"\nservers = ["192.0.2.9"]\n'
        "[group.ports]\nmapi = 5101\nnspi = 5102\nrfr = 5102\n"
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "site.toml")
    message = str(info.value)
    assert message.startswith("site.toml:8: group 'ex2003': ports: nspi and rfr are both 5102")


@pytest.mark.parametrize("role_line", ["", 'role = "windows"\n'])
def test_without_an_exchange_role_any_ports_are_taken(role_line: str) -> None:
    text = (
        f'[[group]]\nname = "any"\n{role_line}servers = ["192.0.2.1"]\n'
        "ports = { nspi = 60002, rfr = 60003 }\n"
    )
    exp = parse_policy(text).groups[0].expectation
    assert (exp.static_port(NSPI), exp.static_port(RFR)) == (60002, 60003)


def test_legacy_dynamic_range_defaults_and_overrides() -> None:
    policy = parse_policy(
        "[defaults]\nlegacy_dynamic = [1025, 65534]\n"
        '[[group]]\nname = "a"\nrole = "legacy"\nservers = ["192.0.2.1"]\n'
        '[[group]]\nname = "b"\nservers = ["192.0.2.2"]\nlegacy_dynamic = [1025, 5000]\n'
    )
    a, b = (g.expectation for g in policy.groups)
    assert a.ranges.legacy == PortRange(1025, 65534)
    assert b.ranges.legacy == PortRange(1025, 5000) == DynamicRanges().legacy
    with pytest.raises(PolicyError, match=r"^site\.toml:7: .*legacy_dynamic = \[5000, 1025\]"):
        parse_policy(GOOD_HEAD + "legacy_dynamic = [5000, 1025]\n", "site.toml")
