"""The open-file limit a scan needs, raised as far as this process may."""

from __future__ import annotations

from dataclasses import dataclass

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

RESERVED_FDS = 64
"""Descriptors kept for the interpreter, logs and output files."""


@dataclass(frozen=True, slots=True)
class FdBudget:
    soft: int
    hard: int
    usable_concurrency: int
    warning: str | None


def ensure_fd_budget(concurrency: int, *, sockets_per_task: int = 1) -> FdBudget:
    """Raise the soft limit up to the hard limit if ``concurrency`` needs it.

    Returns the concurrency that fits, and a warning when the hard limit is too low.
    """
    needed = concurrency * sockets_per_task + RESERVED_FDS
    if resource is None:
        return FdBudget(needed, needed, concurrency, None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return FdBudget(soft, hard, concurrency, None)
    usable = max(1, (soft - RESERVED_FDS) // sockets_per_task)
    warning = (
        f"open-file limit {soft} (hard {hard}) allows {usable} connections in flight, "
        f"not {concurrency}; concurrency lowered (raise it with ulimit -n as root)"
    )
    return FdBudget(soft, hard, usable, warning)
