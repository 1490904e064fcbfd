"""Where specs come from: the command line, ``-iL`` files, ``--exclude`` lists and files.

Each spec is paired with where it came from (``targets.txt:7``, ``--exclude``) so that an
error names it. Files hold one or more specs per line separated by whitespace; ``#``
starts a comment that runs to the end of the line; ``-`` reads standard input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from epmscan.errors import TargetSpecError


@dataclass(frozen=True, slots=True)
class SpecSource:
    """One spec and where it came from (None for a command-line argument)."""

    text: str
    where: str | None = None


def from_arguments(specs: Iterable[str]) -> Iterator[SpecSource]:
    """Command-line specs; an argument holding several whitespace-separated specs is split."""
    for argument in specs:
        for text in argument.split():
            yield SpecSource(text)


def from_exclude_lists(values: Iterable[str]) -> Iterator[SpecSource]:
    """``--exclude`` values: comma separated, as in nmap (so no octet lists with commas)."""
    for value in values:
        for text in value.split(","):
            if text.strip():
                yield SpecSource(text.strip(), "--exclude")


def from_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[SpecSource]:
    """Every spec in each file, with ``file:line``."""
    for path in paths:
        yield from _from_file(path)


def _from_file(path: str | os.PathLike[str]) -> Iterator[SpecSource]:
    label = "<stdin>" if os.fspath(path) == "-" else os.fspath(path)
    try:
        if label == "<stdin>":
            yield from _from_lines(sys.stdin, label)
            return
        with open(path, encoding="utf-8") as lines:
            yield from _from_lines(lines, label)
    except UnicodeDecodeError as exc:
        raise TargetSpecError(f"{label}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TargetSpecError(f"cannot read target file {label!r}: {reason}") from None


def _from_lines(lines: TextIO, label: str) -> Iterator[SpecSource]:
    for number, line in enumerate(lines, start=1):
        for text in line.split("#", 1)[0].split():
            yield SpecSource(text, f"{label}:{number}")
