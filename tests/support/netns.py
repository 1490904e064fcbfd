"""A small test network of Linux network namespaces: bridges, veth pairs, hosts, a router.

``TestNetwork`` is a context manager. Inside it every piece is a network namespace named
``epmn-<run>-<role>`` (``<run>`` is random per network, so networks of parallel runs never
meet), every address is in 10.77.0.0/16 (a network may be given another prefix and range:
``open_network(prefix=..., address_range=...)``, so that tests of different areas never
share names or addresses), and nothing is created in the namespace of the test itself:
packets only travel between the namespaces of one network.

- ``namespace(role)``: a bare namespace (only ``lo``);
- ``lan(cidr)``: a Linux bridge in the network's own bridge namespace (``epmn-<run>-br``);
- ``host(role, lan, address, gateway=...)``: a namespace with ``lo`` up and ``eth0``, one
  end of a veth pair whose other end is a port of the bridge;
- ``router(role, {lan: address, ...})``: a namespace with one leg per LAN and IPv4
  forwarding on (per namespace: the machine's own setting is untouched).

A :class:`Namespace` runs commands (``ip netns exec``), loads nftables rules, adds routes,
runs ``python -m epmscan`` with ``PYTHONPATH`` of the tree under test (behind a wrapper
such as ``setpriv`` that drops a capability), runs any program in the background until
the network is closed (``start``: a ``tcpdump`` capture), and starts
``epmscan lab --config FILE`` (or ``--profile NAME --any-address``) or Samba's
``samba-dcerpcd`` inside itself. Leaving the
``with`` block, also on an exception or a failed assertion, stops every process it started
(and any other process left in its namespaces), then deletes every namespace; deleting a
namespace destroys its interfaces, addresses and nftables tables with it.

``open_network(...)`` is the way in for fixtures: it skips the test with the reason where
namespaces are impossible (not root, ``ip`` missing, ``ip netns add`` refused); under CI
(``CI`` set) as root, a missing tool or a refusal fails the test instead.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import pytest

from tests.support.cli import CliRun, cli_env
from tests.support.lab import LabProcess, start_lab, start_lab_file, write_lab_file
from tests.support.samba import SambaEpm, start_samba_epm

TEST_RANGE = ipaddress.IPv4Network("10.77.0.0/16")
"""Every address of a test network is in here."""
PREFIX = "epmn-"
"""Every namespace of a test network is named ``epmn-<run>-<role>``."""
TREE = Path(__file__).resolve().parents[2]
"""The checkout under test: its ``src`` goes first on ``PYTHONPATH`` in the namespaces."""


class NetnsError(RuntimeError):
    """A command that builds or runs the network failed; the message has its output."""


class NetnsUnavailable(NetnsError):
    """Not even one namespace could be made here (no privilege for it)."""


def _in_test_range(
    address: str, allowed: ipaddress.IPv4Network = TEST_RANGE
) -> ipaddress.IPv4Address:
    parsed = ipaddress.ip_address(address)
    if not isinstance(parsed, ipaddress.IPv4Address) or parsed not in allowed:
        raise ValueError(f"{address} is not in the test range {allowed}")
    return parsed


def _run(args: Sequence[str], *, input: str | None = None, timeout: float = 30.0) -> str:
    done = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise NetnsError(
            f"{' '.join(args)} -> exit {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get("CI") and os.geteuid() == 0:
        pytest.fail(f"{reason} (CI runs as root: these tests must run there)")
    pytest.skip(reason)


def require_netns(*tools: str) -> None:
    """Skip (or, in CI as root, fail) unless network namespaces and ``tools`` can be used."""
    if sys.platform != "linux":
        pytest.skip("network namespaces are Linux's")
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, veth pairs, nftables")
    missing = [tool for tool in ("ip", *tools) if shutil.which(tool) is None]
    if missing:
        packages = {"ip": "iproute2", "nft": "nftables"}
        _skip_or_fail(
            "not installed: "
            + ", ".join(f"{tool} (Debian package {packages.get(tool, tool)})" for tool in missing)
        )


@contextlib.contextmanager
def open_network(
    *tools: str, prefix: str = PREFIX, address_range: str = str(TEST_RANGE)
) -> Iterator[TestNetwork]:
    """A :class:`TestNetwork`, or a skip with the reason where namespaces are impossible.

    ``prefix`` names its namespaces (``<prefix><run>-<role>``), ``address_range`` holds
    every address in it.
    """
    require_netns(*tools)
    network = TestNetwork(prefix=prefix, address_range=address_range)
    try:
        network.__enter__()
    except NetnsUnavailable as exc:
        _skip_or_fail(f"cannot make a network namespace: {exc}")
    try:
        yield network
    finally:
        network.close()


def epmscan_env() -> dict[str, str]:
    """The CLI's environment with the tree under test first on ``PYTHONPATH``."""
    env = cli_env()
    paths = [str(TREE / "src"), str(TREE)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


@dataclass(frozen=True)
class Lan:
    """One layer-2 segment: a bridge in the network's bridge namespace, and its subnet."""

    bridge: str
    network: ipaddress.IPv4Network

    def interface(self, address: str) -> str:
        """``address/prefix`` for ``ip addr add``, checked to be in this LAN."""
        if _in_test_range(address, self.network) not in self.network:
            raise ValueError(f"{address} is not in {self.network}")
        return f"{address}/{self.network.prefixlen}"


@dataclass
class Namespace:
    """One network namespace of a :class:`TestNetwork`: a host or a router."""

    name: str
    network: TestNetwork
    addresses: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The first address (a host has one)."""
        return self.addresses[0]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """``ip netns exec NAME ARGS``, output captured, whatever its exit code."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def check(self, *args: str, input: str | None = None, timeout: float = 30.0) -> str:
        """Like :meth:`run`, raising :class:`NetnsError` unless it exits 0; its stdout."""
        return _run(["ip", "netns", "exec", self.name, *args], input=input, timeout=timeout)

    def ip(self, *args: str) -> str:
        """``ip -n NAME ARGS`` (must succeed)."""
        return _run(["ip", "-n", self.name, *args])

    def route(self, destination: str, via: str) -> None:
        """Reach ``destination`` (a CIDR or ``default``) through the router at ``via``."""
        allowed = self.network.address_range
        _in_test_range(via, allowed)
        if destination != "default":
            network = ipaddress.ip_network(destination)
            if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(allowed):
                raise ValueError(f"{destination} is not inside {allowed}")
        self.ip("route", "add", destination, "via", via)

    def nft(self, ruleset: str) -> None:
        """Load an nftables ruleset (``nft -f -``) into this namespace."""
        self.check("nft", "-f", "-", input=ruleset)

    def epmscan(self, *args: str, timeout: float = 60.0, wrapper: Sequence[str] = ()) -> CliRun:
        """``python -m epmscan ARGS`` run in this namespace, with the tree under test.

        ``wrapper`` goes before the interpreter inside the namespace (``setpriv
        --bounding-set=-net_raw``: the run without the privilege to capture).
        """
        command = [*wrapper, sys.executable, "-m", "epmscan", *args]
        completed = subprocess.run(
            ["ip", "netns", "exec", self.name, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=epmscan_env(),
        )
        return CliRun(tuple(args), completed.returncode, completed.stdout, completed.stderr)

    def start_lab(
        self,
        directory: Path,
        profile: str,
        *,
        epm_port: int = 135,
        timeout: float = 20.0,
        **host: object,
    ) -> LabProcess:
        """``epmscan lab --config FILE`` here: one host of ``profile`` on this namespace's
        address (``any_address``); ``host`` adds ``[[hosts]]`` keys (``delay``...)."""
        config = write_lab_file(
            directory / f"{self.role}.toml",
            profile,
            self.address,
            epm_port,
            any_address=True,
            **host,
        )
        lab = start_lab_file(
            config,
            self.address,
            epm_port,
            directory / f"{self.role}.out",
            timeout=timeout,
            netns=self.name,
            env=epmscan_env(),
        )
        self.network.stoppers.append(lab.stop)
        return lab

    def start_lab_profile(
        self, directory: Path, profile: str, *, epm_port: int = 135, timeout: float = 20.0
    ) -> LabProcess:
        """``epmscan lab --profile NAME --bind ADDR --any-address`` here, on its address."""
        lab = start_lab(
            profile,
            self.address,
            epm_port,
            directory / f"{self.role}.out",
            timeout=timeout,
            netns=self.name,
            env=epmscan_env(),
        )
        self.network.stoppers.append(lab.stop)
        return lab

    def start_samba(self, binary: str, directory: Path, *, timeout: float = 15.0) -> SambaEpm:
        """Samba's ``samba-dcerpcd`` here, serving this namespace's address on port 135."""
        lan = self.network.lan_of(self.address)
        samba = start_samba_epm(
            binary,
            directory,
            self.address,
            netbios_name=self.role.upper()[:15],
            timeout=timeout,
            netns=self.name,
            prefix_len=lan.network.prefixlen,
        )
        self.network.stoppers.append(samba.stop)
        return samba

    def start(self, *args: str, output: Path) -> subprocess.Popen[bytes]:
        """Run ``ARGS`` here in the background, output to ``output``, until the network is
        closed or :func:`stop_process` stops it (SIGINT first: tcpdump then writes its
        file to the end)."""
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.network.stoppers.append(lambda: stop_process(process))
        return process

    @property
    def role(self) -> str:
        return self.name.rsplit("-", 1)[1]


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGINT, then SIGKILL after ``timeout`` seconds; waits for the process to end."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


class TestNetwork:
    """Namespaces, bridges and veth pairs that exist only inside a ``with`` block."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, prefix: str = PREFIX, address_range: str = str(TEST_RANGE)) -> None:
        self.prefix = prefix
        self.address_range = ipaddress.IPv4Network(address_range)
        self.run_id = uuid.uuid4().hex[:6]
        self.bridge_ns = f"{prefix}{self.run_id}-br"
        self.namespaces: list[str] = []
        self.lans: list[Lan] = []
        self.stoppers: list[Callable[[], None]] = []
        self._links = 0

    # --- building ----------------------------------------------------------------

    def __enter__(self) -> TestNetwork:
        try:
            self._add_namespace(self.bridge_ns)
        except NetnsError as exc:
            self.close()
            raise NetnsUnavailable(str(exc)) from None
        except BaseException:
            self.close()
            raise
        return self

    def _add_namespace(self, name: str, *, lo_up: bool = True) -> None:
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        if lo_up:
            _run(["ip", "-n", name, "link", "set", "lo", "up"])

    def namespace(self, role: str, *, lo_up: bool = True) -> Namespace:
        """A bare namespace ``epmn-<run>-<role>``: only ``lo`` (up unless ``lo_up`` is false)."""
        if not role.isalnum() or len(role) > 12:
            raise ValueError(f"role {role!r}: up to 12 letters or digits")
        name = f"{self.prefix}{self.run_id}-{role}"
        if name in self.namespaces:
            raise ValueError(f"this network already has a {role!r}")
        self._add_namespace(name, lo_up=lo_up)
        return Namespace(name, self)

    def lan(self, cidr: str) -> Lan:
        """A new LAN (a bridge) for the subnet ``cidr`` (inside the network's range)."""
        network = ipaddress.ip_network(cidr)
        allowed = self.address_range
        if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(allowed):
            raise ValueError(f"{cidr} is not inside {allowed}")
        lan = Lan(f"br{len(self.lans)}", network)
        _run(["ip", "-n", self.bridge_ns, "link", "add", lan.bridge, "type", "bridge"])
        _run(["ip", "-n", self.bridge_ns, "link", "set", lan.bridge, "up"])
        self.lans.append(lan)
        return lan

    def lan_of(self, address: str) -> Lan:
        parsed = _in_test_range(address, self.address_range)
        for lan in self.lans:
            if parsed in lan.network:
                return lan
        raise ValueError(f"{address} is on no LAN of this network")

    def _plug(self, namespace: Namespace, lan: Lan, address: str, device: str) -> None:
        """A veth pair: ``device`` with ``address`` in ``namespace``, its peer on the bridge."""
        port = f"v{self._links}"
        self._links += 1
        veth = f"link add {port} type veth peer name {device} netns {namespace.name}"
        _run(["ip", "-n", self.bridge_ns, *veth.split()])
        _run(["ip", "-n", self.bridge_ns, "link", "set", port, "master", lan.bridge, "up"])
        namespace.ip("addr", "add", lan.interface(address), "dev", device)
        namespace.ip("link", "set", device, "up")
        namespace.addresses.append(address)

    def host(self, role: str, lan: Lan, address: str, *, gateway: str | None = None) -> Namespace:
        """A namespace with ``eth0`` on ``lan`` at ``address``; ``gateway`` is its default route."""
        namespace = self.namespace(role)
        self._plug(namespace, lan, address, "eth0")
        if gateway is not None:
            namespace.route("default", gateway)
        return namespace

    def router(self, role: str, legs: dict[Lan, str]) -> Namespace:
        """A namespace with one interface per LAN (``eth0``, ``eth1``...) that forwards IPv4."""
        namespace = self.namespace(role)
        for index, (lan, address) in enumerate(legs.items()):
            self._plug(namespace, lan, address, f"eth{index}")
        # /proc/sys/net is the writer's own namespace's (no procps needed for sysctl)
        namespace.check("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        return namespace

    # --- tearing down ------------------------------------------------------------

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process, then delete every namespace (the bridge namespace last)."""
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):  # the namespaces must go whatever happens here
                stop()
        self.stoppers.clear()
        for name in reversed(self.namespaces):
            _kill_leftovers(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()

    def __repr__(self) -> str:
        return f"TestNetwork({self.run_id}, {len(self.namespaces)} namespaces)"


def _kill_leftovers(name: str) -> None:
    """SIGKILL, by pid, every process still inside namespace ``name`` (workers of a daemon)."""
    for _ in range(50):
        listed = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10
        )
        pids = [int(pid) for pid in listed.stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def existing_namespaces(run_id: str, prefix: str = PREFIX) -> list[str]:
    """Names of the namespaces of run ``run_id`` that still exist (``ip netns list``)."""
    listed = _run(["ip", "netns", "list"])
    return [
        line.split()[0] for line in listed.splitlines() if line.startswith(f"{prefix}{run_id}-")
    ]
