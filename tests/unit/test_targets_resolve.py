"""Name resolution as results: localhost resolves to loopback, other names fail cleanly.

Only 'localhost' reaches the system resolver (it is answered from the hosts file). Other
names run on :class:`OfflineLoop`, whose getaddrinfo answers like a resolver saying
NXDOMAIN (or never answers) without sending a query anywhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from epmscan.targets import Resolution, Target, TargetSpace, resolve_names, resolve_target
from tests.support.offline import HangingLoop, run_offline


def name_target(name: str) -> Target:
    (target,) = TargetSpace.parse([name]).iter_targets(1)
    assert target.is_name
    return target


def test_localhost_resolves_to_loopback() -> None:
    result = asyncio.run(resolve_target(name_target("localhost"), timeout=5))
    assert result.ok
    assert result.error is None
    assert result.addresses
    assert len(set(result.addresses)) == len(result.addresses)
    assert all(ipaddress.ip_address(a).is_loopback for a in result.addresses)


def test_family_filter_keeps_only_that_family() -> None:
    result = asyncio.run(resolve_target(name_target("localhost"), family=socket.AF_INET, timeout=5))
    assert result.ok
    assert all(ipaddress.ip_address(a).version == 4 for a in result.addresses)


def test_unresolvable_name_is_a_result_not_an_exception() -> None:
    target = name_target("nothing.invalid")
    result = run_offline(resolve_target(target, timeout=5))
    assert not result.ok
    assert result.addresses == ()
    assert result.target == target
    assert result.error == "nothing.invalid: Name or service not known"


def test_resolver_that_never_answers_times_out_as_a_result() -> None:
    result = run_offline(resolve_target(name_target("slow.invalid"), timeout=0.05), HangingLoop)
    assert not result.ok
    assert result.error == "slow.invalid: name resolution timed out after 0.05s"


def test_address_target_resolves_to_itself_without_lookup() -> None:
    (target,) = TargetSpace.parse(["192.0.2.9"]).iter_targets(1)
    assert asyncio.run(resolve_target(target, timeout=5)) == Resolution(target, ("192.0.2.9",))


def test_resolve_names_keeps_order_and_mixes_results() -> None:
    targets = [
        name_target("nothing.invalid"),
        name_target("localhost"),
        name_target("still-nothing.invalid"),
    ]
    results = run_offline(resolve_names(targets, concurrency=2, timeout=5))
    assert [r.target for r in results] == targets
    assert [r.ok for r in results] == [False, True, False]
