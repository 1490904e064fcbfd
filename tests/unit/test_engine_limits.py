"""The open-file budget: raise the soft limit as far as allowed, lower concurrency past it."""

from __future__ import annotations

import pytest

from epmscan.engine import limits


class FakeResource:
    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft: int, hard: int, *, may_raise: bool = True) -> None:
        self.limits = (soft, hard)
        self.may_raise = may_raise

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == self.RLIMIT_NOFILE
        return self.limits

    def setrlimit(self, which: int, value: tuple[int, int]) -> None:
        if not self.may_raise:
            raise ValueError("not allowed")
        self.limits = value


def test_soft_limit_is_raised_to_what_the_scan_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeResource(1024, 65536)
    monkeypatch.setattr(limits, "resource", fake)
    budget = limits.ensure_fd_budget(5000)
    assert budget.warning is None and budget.usable_concurrency == 5000
    assert fake.limits == (5000 + limits.RESERVED_FDS, 65536)


def test_hard_limit_too_low_lowers_concurrency_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeResource(1024, 20000)
    monkeypatch.setattr(limits, "resource", fake)
    budget = limits.ensure_fd_budget(30000)
    assert fake.limits == (20000, 20000)
    assert budget.usable_concurrency == 20000 - limits.RESERVED_FDS
    assert budget.warning and "20000" in budget.warning and "30000" in budget.warning


def test_a_limit_that_cannot_be_raised_is_worked_around(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "resource", FakeResource(256, 256, may_raise=False))
    budget = limits.ensure_fd_budget(1000, sockets_per_task=2)
    assert budget.usable_concurrency == (256 - limits.RESERVED_FDS) // 2
    assert budget.warning
