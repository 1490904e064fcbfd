"""Skips with the reason a user can act on (install this package, run as root)."""

from __future__ import annotations

import os

import pytest


def require_root(why: str) -> None:
    """Skip the calling test unless it runs as root; ``why`` says what needs root."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {why}")
