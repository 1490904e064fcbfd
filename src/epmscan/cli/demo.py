"""``epmscan demo``: a small lab started in-process, then dumped."""

from __future__ import annotations

import typer


def demo_command() -> None:
    """Start a small built-in lab on loopback and dump its hosts."""
    raise typer.Exit(3)
