"""``dump``: every endpoint registered with one host's endpoint mapper."""

from __future__ import annotations

from epmscan.engine.lookup import dump_host
from epmscan.engine.loop import run
from epmscan.models import HostResult, HostStatus
from epmscan.settings import DumpSettings
from epmscan.targets import Target, resolve_target


async def _dump(settings: DumpSettings) -> HostResult:
    network = settings.network
    target = Target.parse_one(settings.target)
    resolution = await resolve_target(target, timeout=network.timeouts.resolve)
    if resolution.error is not None:
        return HostResult(
            target=settings.target,
            address="",
            port=network.port,
            status=HostStatus.UNRESOLVED,
            error=resolution.error,
        )
    return await dump_host(target.spec, resolution.addresses[0], network)


def dump_one(settings: DumpSettings) -> HostResult:
    """Ask one host for every registered endpoint; every failure is a status, not an error.

    A target that is not one host (a range, a typo) is a :class:`~epmscan.errors.UsageError`
    raised before anything is resolved or sent.
    """
    Target.parse_one(settings.target)
    return run(_dump(settings))
