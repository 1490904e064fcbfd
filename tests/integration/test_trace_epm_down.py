"""``trace`` against a server whose endpoint mapper does not answer: asked once.

Every Exchange interface over TCP is resolved through the endpoint mapper, so when its
connect fails (reset, no answer) the interfaces after the first are ``not_tried``: one
connect, one wait, one verdict with evidence, the others saying why they were not tried.
The RPC-over-HTTP ports do not go through it and are still tried. Loopback only
(127.0.0.1 with a port nothing listens on; a lab host whose endpoint mapper drops SYNs).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.lab import running_lab
from tests.support.loopback import free_address, free_port

TCP_INTERFACES = ["mapi", "async_mapi", "nspi", "rfr"]


def tcp_steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in document["steps"] if s["transport"] == "ncacn_ip_tcp"]


def assert_asked_once(document: dict[str, Any], port: int, outcome: str) -> None:
    steps = tcp_steps(document)
    assert [s["interface"] for s in steps] == TCP_INTERFACES
    first, *rest = steps
    assert (first["step"], first["port"], first["outcome"]) == ("connect", port, outcome)
    assert first["evidence"]  # the kernel's word at least
    for step in rest:
        assert (step["step"], step["port"], step["outcome"]) == ("connect", port, "not_tried")
        assert step["evidence"] == [] and step["local_port"] is None
        assert f"was {outcome} for MAPI (EMSMDB)" in step["detail"]


def test_a_closed_endpoint_mapper_is_asked_once_and_http_still_tried() -> None:
    port = free_port(["127.0.0.1"])
    run = run_cli("trace", "127.0.0.1", "-p", str(port), "--no-capture", "--json", timeout=60)
    assert run.returncode == 1, run.describe()
    document = run.json()
    assert_asked_once(document, port, "closed")
    http = [s for s in document["steps"] if s["transport"] == "ncacn_http"]
    assert {s["port"] for s in http} == {6001, 6002, 6004}
    assert all(s["outcome"] != "not_tried" for s in http)


def test_the_console_names_why_an_interface_was_not_tried() -> None:
    port = free_port(["127.0.0.1"])
    run = run_cli("trace", "127.0.0.1", "-p", str(port), "--no-capture", "--no-http", timeout=60)
    assert run.returncode == 1, run.describe()
    verdicts = [line.split("\t") for line in run.stdout.splitlines() if line.startswith("verdict")]
    assert [v[1:4] for v in verdicts] == [
        ["mapi", "ncacn_ip_tcp", "closed"],
        ["async_mapi", "ncacn_ip_tcp", "not_tried"],
        ["nspi", "ncacn_ip_tcp", "not_tried"],
        ["rfr", "ncacn_ip_tcp", "not_tried"],
    ]
    assert verdicts[2][4].startswith("not tried again: the endpoint mapper on port")
    assert "address book (NSPI) is resolved through it too" in verdicts[2][4]


@pytest.mark.slow
def test_a_filtered_endpoint_mapper_costs_one_connect_timeout() -> None:
    address = free_address("127.113.1.10", (60001, 60002, 6001, 6002, 6004))
    port = free_port([address])
    with running_lab("exchange2010-cas-static", address, port, filtered_epm=True):
        run = run_cli(
            "trace", address, "-p", str(port), "--no-capture", "--no-http",
            "--connect-timeout", "0.5", "--json", timeout=60,
        )  # fmt: skip
    assert run.returncode == 1, run.describe()
    assert_asked_once(run.json(), port, "filtered")
