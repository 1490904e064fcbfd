"""Find the line of a key in TOML text.

tomllib reports line numbers for syntax errors only; a policy error found after parsing
("unknown interface 'mapii'") still has to name its line. This module scans the raw text
the way a reader would: it tracks ``[table]`` and ``[[array]]`` headers (counting the
array entries), then looks for ``key =`` inside the matching section, following an
inline table (``ports = { mapi = 1 }``) or a dotted key (``ports.mapi = 1``) when the
table has no header of its own. It is a locator, not a parser: when it cannot tell, it
answers with the nearest enclosing line it knows, or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PathPart = str | int
_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*(\]\]?)\s*(?:#.*)?$")


@dataclass(frozen=True, slots=True)
class _Section:
    path: tuple[PathPart, ...]
    header_line: int
    """1-based line of the header, 0 for the root table."""
    first: int
    """0-based index of the first body line."""
    end: int
    """0-based index one past the last body line."""


def _split_dotted(key: str) -> list[str]:
    parts: list[str] = []
    current = ""
    quote: str | None = None
    for ch in key:
        if quote:
            if ch == quote:
                quote = None
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def _sections(lines: list[str]) -> list[_Section]:
    headers: list[tuple[tuple[PathPart, ...], int]] = []
    array_counts: dict[tuple[PathPart, ...], int] = {}
    for index, line in enumerate(lines):
        match = _HEADER.match(line)
        if not match or (len(match.group(1)) != len(match.group(3))):
            continue
        names = _split_dotted(match.group(2))
        path: list[PathPart] = []
        for i, name in enumerate(names):
            path.append(name)
            prefix = tuple(path)
            is_last = i == len(names) - 1
            if prefix in array_counts and not (is_last and match.group(1) == "[["):
                path.append(array_counts[prefix] - 1)
        if match.group(1) == "[[":
            array_key = tuple(path)
            array_counts[array_key] = array_counts.get(array_key, 0) + 1
            path.append(array_counts[array_key] - 1)
        headers.append((tuple(path), index))
    sections = [_Section((), 0, 0, headers[0][1] if headers else len(lines))]
    for n, (header_path, index) in enumerate(headers):
        end = headers[n + 1][1] if n + 1 < len(headers) else len(lines)
        sections.append(_Section(header_path, index + 1, index + 1, end))
    return sections


def _key_pattern(key: str) -> re.Pattern[str]:
    quoted = re.escape(key)
    return re.compile(rf"""^\s*(?:{quoted}|"{quoted}"|'{quoted}')\s*=""")


def _find_key(lines: list[str], first: int, end: int, key: str) -> int | None:
    pattern = _key_pattern(key)
    for index in range(first, end):
        if pattern.match(lines[index]):
            return index + 1
    return None


def _find_inline(lines: list[str], first: int, end: int, key: str) -> int | None:
    """A key inside an inline table or after a dotted prefix, from ``first`` on."""
    quoted = re.escape(key)
    pattern = re.compile(rf"""(?:^|[{{,.\s])(?:{quoted}|"{quoted}"|'{quoted}')\s*=""")
    for index in range(first, end):
        if pattern.search(lines[index]):
            return index + 1
    return None


def locate(text: str, path: tuple[PathPart, ...], key: str | None = None) -> int | None:
    """1-based line of ``key`` in the table at ``path`` (``("group", 1, "ports")``).

    With ``key=None`` it answers the line where the table itself starts. Falls back
    to the table's header, then to the nearest enclosing table found; None when
    nothing along the path can be found.
    """
    lines = text.splitlines()
    sections = _sections(lines)
    by_path = {s.path: s for s in sections}
    section = by_path.get(path)
    if section is not None:
        if key is None:
            return section.header_line or None
        found = _find_key(lines, section.first, section.end, key)
        if found is not None:
            return found
        child = by_path.get((*path, key)) or by_path.get((*path, key, 0))
        if child is not None:
            return child.header_line
        return section.header_line or None
    # No header for this table: look for it as an inline table or dotted key in a parent.
    for cut in range(len(path) - 1, -1, -1):
        parent = by_path.get(path[:cut])
        if parent is None:
            continue
        start, end = parent.first, parent.end
        anchor: int | None = None
        for part in path[cut:]:
            if isinstance(part, int):
                continue
            hit = _find_inline(lines, start, end, part)
            if hit is None:
                break
            anchor = hit
            start = hit - 1
        if anchor is None:
            return parent.header_line or None
        if key is None:
            return anchor
        hit = _find_inline(lines, anchor - 1, end, key)
        return hit if hit is not None else anchor
    return None


def locate_value(text: str, path: tuple[PathPart, ...], key: str, value: str) -> int | None:
    """Line of one element of a multi-line array ``key = [ ... ]``: the first line at or
    after the key's line that shows ``value`` quoted (or bare, for numbers)."""
    start = locate(text, path, key)
    if start is None:
        return None
    lines = text.splitlines()
    needles = (f'"{value}"', f"'{value}'")
    for index in range(start - 1, len(lines)):
        line = lines[index]
        bare = re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", line)
        if bare or any(n in line for n in needles):
            return index + 1
        if index > start - 1 and ("]" in line and "[" not in line):
            break
    return start
