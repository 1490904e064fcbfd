"""Where a command's human lines go, and in which of two forms.

On a terminal: rich tables and styled lines that never cut an address, a UUID or a
port (other columns fold). Off a terminal (piped, redirected) or with ``--plain``: one
record per line, tab-separated, no box drawing, no wrapping, no truncation, so
``epmscan dump HOST | grep EMSMDB`` finds the line. Server-supplied text is made
printable either way (:func:`~epmscan.report.text.printable`).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from epmscan.report.text import printable


class Output:
    """A console for results in its rich or plain form; ``quiet`` keeps it silent."""

    def __init__(self, console: Console, *, plain: bool, quiet: bool = False) -> None:
        self.console = console
        self.plain = plain
        self.quiet = quiet

    def line(self, text: str | Text = "") -> None:
        """One line; in plain form written as is (no wrapping, no styling)."""
        if self.quiet:
            return
        if self.plain:
            self.console.file.write(str(text) + "\n")
        else:
            self.console.print(text)

    def record(self, *cells: object) -> None:
        """One tab-separated record (plain form); cells are made printable, None is empty."""
        self.line("\t".join("" if c is None else printable(str(c)) for c in cells))

    def render(self, renderable: RenderableType) -> None:
        """A rich renderable (tables): only in the rich form."""
        if not self.quiet:
            self.console.print(renderable)

    def flush(self) -> None:
        self.console.file.flush()


def key_column_width(values: Iterable[str], header: str) -> int:
    """The width a column needs so that no value in it is ever cut."""
    return max([len(header), *(len(line) for v in values for line in v.splitlines() or [""])])


def keep_whole(table: Table, index: int, values: Iterable[str]) -> None:
    """Make column ``index`` of ``table`` wide enough for every value, never wrapped or cut."""
    column = table.columns[index]
    column.no_wrap = True
    column.overflow = "ignore"
    column.min_width = key_column_width(values, str(column.header))
