"""impacket's own ``rpcdump.py`` against ``epmscan lab``: the same endpoints as ``epmscan dump``.

rpcdump.py is an independent client (impacket's transport, NDR decoder and string bindings):
on a lab that pages as Windows does, it must list exactly the (interface, version, binding)
triples that epmscan lists. On a lab that pages as Samba does (the last batch comes with
ept_s_not_registered) rpcdump.py loses everything while epmscan still gets it all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cli import dump_json
from tests.support.impacket_peer import RpcdumpRun, find_rpcdump, run_rpcdump
from tests.support.lab import LabProcess, RunningLab, start_lab_file, write_lab_file
from tests.support.loopback import free_address
from tests.support.samba import EPM_PORT
from tests.support.skips import require_root

pytestmark = pytest.mark.peer

SAMBA_STYLE_LAB_ADDRESS = "127.0.0.138"

Triple = tuple[str, str, str]


@pytest.fixture(scope="module")
def rpcdump() -> str:
    path = find_rpcdump()
    if path is None:
        pytest.skip("impacket's rpcdump.py script not found")
    return path


def epmscan_triples(dump: dict[str, Any]) -> Counter[Triple]:
    return Counter((e["uuid"], e["version"], e["binding"]) for e in dump["endpoints"])


def rpcdump_triples(run: RpcdumpRun, asked: str) -> Counter[Triple]:
    """rpcdump prints tower addresses as sent; 0.0.0.0 means the address that was asked."""
    return Counter(
        (block.uuid, block.version, binding.replace("0.0.0.0", asked))
        for block in run.blocks
        for binding in block.bindings
    )


def test_rpcdump_lists_what_epmscan_lists_on_a_windows_style_lab(
    rpcdump: str, lab_epm: RunningLab, lab_dump: dict[str, Any]
) -> None:
    run = run_rpcdump(rpcdump, lab_epm.address)
    theirs = rpcdump_triples(run, lab_epm.address)
    ours = epmscan_triples(lab_dump)
    assert len(ours) > 0
    assert theirs == ours, run.output
    assert f"Received {sum(ours.values())} endpoints." in run.output


def test_rpcdump_and_epmscan_agree_on_each_interface_annotation(
    rpcdump: str, lab_epm: RunningLab, lab_dump: dict[str, Any]
) -> None:
    run = run_rpcdump(rpcdump, lab_epm.address)
    # rpcdump keeps, per interface, the annotation of its last tower.
    last_annotation: dict[tuple[str, str], str] = {}
    for e in lab_dump["endpoints"]:
        last_annotation[(e["uuid"], e["version"])] = e["annotation"]
    assert {(b.uuid, b.version): b.annotation for b in run.blocks} == last_annotation


@pytest.fixture(scope="module")
def samba_style_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    require_root("the lab's endpoint mapper must listen on port 135 for rpcdump.py")
    address = free_address(SAMBA_STYLE_LAB_ADDRESS, [EPM_PORT])
    root = tmp_path_factory.mktemp("lab-samba-style")
    config = write_lab_file(
        root / "samba-style.toml", "windows-member", address, EPM_PORT, paging="samba"
    )
    lab = start_lab_file(config, address, EPM_PORT, root / "lab.out")
    try:
        yield lab
    finally:
        lab.stop()


def test_rpcdump_loses_a_samba_style_lab_that_epmscan_lists(
    rpcdump: str, samba_style_lab: LabProcess
) -> None:
    dump = dump_json(samba_style_lab.address, port=EPM_PORT)
    run = run_rpcdump(rpcdump, samba_style_lab.address)
    assert len(dump["endpoints"]) > 0
    assert dump["lookup_status"] == "0x16c9a0d6"
    assert "No endpoints found" in run.output, run.output
    assert run.blocks == ()
