"""NTLM credentials from the command line: ``-u DOMAIN\\user`` and where its secret comes from.

The secret is never a command-line value: ``/proc/PID/cmdline`` is readable by every user
of the machine. It comes, in this order, from ``--password-file FILE`` (its first line;
``-`` reads standard input), ``--hashes-file FILE`` (an NT hash: 32 hex digits, or
impacket's ``LM:NT``), the environment (``EPMSCAN_PASSWORD``, ``EPMSCAN_NTHASH``; taken
out of the environment once read, so no child process inherits it, and on Linux wiped
from the copy the kernel shows as ``/proc/PID/environ``), or a prompt when
standard input is a terminal. With none of them, or a file that cannot be read, it is a
usage error: one line that names the option, never the secret.
"""

from __future__ import annotations

import ctypes
import getpass
import os
import sys
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Annotated

import typer

from epmscan.errors import UsageError
from epmscan.settings import Credentials

PASSWORD_VARIABLE = "EPMSCAN_PASSWORD"
NT_HASH_VARIABLE = "EPMSCAN_NTHASH"

User = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        metavar="DOMAIN\\USER",
        help=(
            "Authenticate to the endpoint mapper with NTLM (packet integrity) as DOMAIN\\user;"
            f" the secret from --password-file, --hashes-file, {PASSWORD_VARIABLE},"
            f" {NT_HASH_VARIABLE} or a prompt."
        ),
    ),
]
PasswordFile = Annotated[
    str | None,
    typer.Option(
        "--password-file",
        metavar="FILE",
        help="Read -u's password from this file's first line (-: stdin).",
    ),
]
HashesFile = Annotated[
    str | None,
    typer.Option(
        "--hashes-file", metavar="FILE", help="Read -u's NT hash (hex, or LM:NT) from this file."
    ),
]


def parse_account(text: str) -> tuple[str, str]:
    """``DOMAIN\\user`` (or ``user``) as ``(domain, user)``."""
    domain, _, user = text.rpartition("\\")
    if not user.strip() or "\\" in domain:
        raise UsageError(f"-u/--user: '{text}' is not DOMAIN\\user or user")
    return domain, user


def parse_nt_hash(text: str, source: str) -> bytes:
    """An NT hash written as 32 hex digits, or as impacket's ``LM:NT``."""
    digits = text.strip().rpartition(":")[2]
    if len(digits) != 32:
        raise UsageError(f"{source}: not an NT hash (32 hex digits, or LM:NT)")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise UsageError(f"{source}: not an NT hash (32 hex digits, or LM:NT)") from None


def _first_line(path: str, option: str) -> str:
    try:
        if path == "-":
            line = sys.stdin.readline()
        else:
            with Path(path).open(encoding="utf-8") as file:
                line = file.readline()
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text") from None
    line = line.rstrip("\r\n")
    if not line:
        raise UsageError(f"{option} {path}: the first line is empty")
    return line


def wipe_initial_environment(name: str) -> bool:
    """Overwrite the value of ``name`` where the process's environment began (Linux).

    ``/proc/PID/environ`` shows the block the process was started with, not
    ``os.environ``: taking a variable out of the environment (``unsetenv``) leaves its value
    readable there, by the same user and root. The C library's ``getenv`` still points
    into that block, so the value is overwritten in place, with NUL bytes. True when a
    value was wiped; nothing happens where there is no such block or C library.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        getenv = libc.getenv
    except (OSError, AttributeError):
        return False
    getenv.restype = ctypes.c_void_p
    getenv.argtypes = [ctypes.c_char_p]
    where = getenv(name.encode())
    if not where:
        return False
    ctypes.memset(where, 0, len(ctypes.string_at(where)))
    return True


def read_credentials(
    user: str | None,
    password_file: str | None = None,
    hashes_file: str | None = None,
    *,
    environ: MutableMapping[str, str] | None = None,
    interactive: bool | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> Credentials | None:
    """The credentials the options describe (None: anonymous; :class:`UsageError` when
    they are incomplete or cannot be read).

    ``environ`` defaults to ``os.environ``; ``interactive`` to whether standard input is a
    terminal (only then does ``prompt`` ask for the password).
    """
    if user is None:
        for option, value in (("--password-file", password_file), ("--hashes-file", hashes_file)):
            if value is not None:
                raise UsageError(f"{option} needs -u/--user DOMAIN\\user")
        return None
    domain, name = parse_account(user)
    if password_file is not None and hashes_file is not None:
        raise UsageError("give --password-file or --hashes-file, not both")
    if password_file is not None:
        return Credentials(name, domain, password=_first_line(password_file, "--password-file"))
    if hashes_file is not None:
        line = _first_line(hashes_file, "--hashes-file")
        return Credentials(
            name, domain, nt_hash=parse_nt_hash(line, f"--hashes-file {hashes_file}")
        )
    if environ is None:
        environ = os.environ
        for variable in (PASSWORD_VARIABLE, NT_HASH_VARIABLE):
            wipe_initial_environment(variable)
    password = environ.pop(PASSWORD_VARIABLE, None)
    nt_hash = environ.pop(NT_HASH_VARIABLE, None)
    if password is not None and nt_hash is not None:
        raise UsageError(f"set {PASSWORD_VARIABLE} or {NT_HASH_VARIABLE}, not both")
    if password:
        return Credentials(name, domain, password=password)
    if nt_hash:
        return Credentials(name, domain, nt_hash=parse_nt_hash(nt_hash, NT_HASH_VARIABLE))
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise UsageError(
            f"-u {user}: no password: give --password-file or --hashes-file, set"
            f" {PASSWORD_VARIABLE} or {NT_HASH_VARIABLE}, or run on a terminal to be asked"
        )
    typed = prompt(f"Password for {user}: ")
    if not typed:
        raise UsageError(f"-u {user}: no password given")
    return Credentials(name, domain, password=typed)
