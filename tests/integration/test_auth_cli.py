"""``-u DOMAIN\\user`` on the command line: where the secret comes from, and where it never goes.

Against the lab that wants NTLM (``tests/support/auth_lab.py``): ``dump``, ``scan`` and
``check`` with the password from ``--password-file`` (also ``-``, standard input),
``EPMSCAN_PASSWORD`` or a prompt on a terminal, and the NT hash from ``--hashes-file`` or
``EPMSCAN_NTHASH``; anonymous gets ``access_denied``, the right secret the dump, a wrong
one ``auth_failed``; a missing or unreadable secret is one line and exit 2. Every output
(standard output, standard error, the JSON, JSONL, CSV and saved files, ``diff``'s
report, the lab's own lines) and the process's command line are searched for the
password and its NT hash, in right and wrong runs alike.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.auth_lab import (
    ACCOUNT,
    NT_HASH,
    PASSWORD,
    WRONG_PASSWORD,
    AuthLab,
    assert_no_secret,
    auth_lab,
    run_epmscan,
    secret_forms,
    texts_in,
)
from tests.support.cli import CliRun, cli_env
from tests.support.lab import start_lab_file
from tests.support.loopback import free_port

PREFIX = "127.112.4"
SILENT_ADDRESS = "127.112.4.60"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthLab]:
    with auth_lab(tmp_path_factory.mktemp("authlab"), PREFIX) as running:
        yield running


def dump(lab: AuthLab, address: str, *extra: str, **kwargs: Any) -> CliRun:
    """``dump --json``: for the hosts that fail (the document is short)."""
    return run_epmscan("dump", address, "-p", str(lab.epm_port), "--json", *extra, **kwargs)


def dump_plain(lab: AuthLab, address: str, *extra: str, **kwargs: Any) -> CliRun:
    """``dump --plain``: one line per endpoint, for the hosts that answer (their JSON is
    70 KB, and ``dump --json`` into a pipe read slowly stops at 64 KiB now and then: seen
    on the base commit too, not this suite's subject)."""
    return run_epmscan("dump", address, "-p", str(lab.epm_port), "--plain", *extra, **kwargs)


def endpoint_lines(run: CliRun) -> int:
    """Endpoint records of ``--plain`` output (the ``#`` heading and field names left out)."""
    lines = [line for line in run.stdout.splitlines() if line and not line.startswith("#")]
    assert lines and lines[0].startswith("binding\tuuid"), run.describe()
    return len(lines) - 1


def assert_clean(run: CliRun, password: str = PASSWORD) -> None:
    assert_no_secret({"stdout": run.stdout, "stderr": run.stderr}, password)


def test_anonymous_dump_is_access_denied(lab: AuthLab) -> None:
    run = dump(lab, lab.required)
    assert run.returncode == 1, run.describe()
    result = run.json()
    assert result["status"] == "access_denied"
    assert result["fault_status"] == "0x00000005"
    assert "access_denied" in run.stderr


def test_the_password_from_the_environment_gets_the_dump(lab: AuthLab) -> None:
    run = dump_plain(lab, lab.required, "-u", ACCOUNT, env={"EPMSCAN_PASSWORD": PASSWORD})
    assert run.returncode == 0, run.describe()
    assert endpoint_lines(run) == len(lab.lab.host(lab.required).plan.entries)
    assert_clean(run)


@pytest.mark.parametrize(
    "source", ["password_file", "password_stdin", "hashes_file", "lm_nt_file", "nthash_env"]
)
def test_every_secret_source_gets_the_dump(lab: AuthLab, tmp_path: Path, source: str) -> None:
    secret_file = tmp_path / "secret"
    args: list[str] = ["-u", ACCOUNT]
    env: dict[str, str] = {}
    stdin = None
    if source == "password_file":
        secret_file.write_text(PASSWORD + "\nsecond line ignored\n")
        args += ["--password-file", str(secret_file)]
    elif source == "password_stdin":
        args += ["--password-file", "-"]
        stdin = PASSWORD + "\n"
    elif source == "hashes_file":
        secret_file.write_text(NT_HASH + "\n")
        args += ["--hashes-file", str(secret_file)]
    elif source == "lm_nt_file":
        secret_file.write_text("aad3b435b51404eeaad3b435b51404ee:" + NT_HASH.upper() + "\n")
        args += ["--hashes-file", str(secret_file)]
    else:
        env["EPMSCAN_NTHASH"] = NT_HASH
    run = dump_plain(lab, lab.required, *args, env=env, stdin=stdin)
    assert run.returncode == 0, run.describe()
    assert endpoint_lines(run) == len(lab.lab.host(lab.required).plan.entries)
    assert_clean(run)


def test_a_wrong_password_is_an_authentication_failure(lab: AuthLab) -> None:
    run = dump(lab, lab.required, "-u", ACCOUNT, env={"EPMSCAN_PASSWORD": WRONG_PASSWORD})
    assert run.returncode == 1, run.describe()
    result = run.json()
    assert result["status"] == "auth_failed"
    assert "refused the credentials" in result["error"]
    assert "auth_failed" in run.stderr
    assert_clean(run, WRONG_PASSWORD)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["-u", ACCOUNT], {}, "no password"),
        (["--password-file", "/nonexistent"], {}, "--password-file needs -u"),
        (["--hashes-file", "/nonexistent"], {}, "--hashes-file needs -u"),
        (["-u", ACCOUNT, "--password-file", "/nonexistent/pw"], {}, "cannot read"),
        (
            ["-u", ACCOUNT],
            {"EPMSCAN_PASSWORD": PASSWORD, "EPMSCAN_NTHASH": NT_HASH},
            "not both",
        ),
        (["-u", ACCOUNT], {"EPMSCAN_NTHASH": PASSWORD}, "EPMSCAN_NTHASH: not an NT hash"),
        (["-u", "A\\B\\c"], {"EPMSCAN_PASSWORD": PASSWORD}, "'A\\B\\c' is not DOMAIN\\user"),
    ],
)
def test_a_missing_or_broken_secret_is_one_line_and_exit_2(
    lab: AuthLab, args: list[str], env: dict[str, str], message: str
) -> None:
    run = dump(lab, lab.required, *args, env=env)
    assert run.returncode == 2, run.describe()
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.describe()
    assert message in run.stderr
    assert_clean(run)


def test_a_file_that_is_not_a_hash_is_named_but_not_shown(lab: AuthLab, tmp_path: Path) -> None:
    not_a_hash = tmp_path / "hashes"
    not_a_hash.write_text(PASSWORD + "\n")
    run = dump(lab, lab.required, "-u", ACCOUNT, "--hashes-file", str(not_a_hash))
    assert run.returncode == 2, run.describe()
    assert f"--hashes-file {not_a_hash}: not an NT hash" in run.stderr
    assert_clean(run)


def test_the_prompt_on_a_terminal_reads_the_password_without_echo(lab: AuthLab) -> None:
    env = {k: v for k, v in cli_env().items() if not k.startswith("EPMSCAN_")}
    command = [sys.executable, "-m", "epmscan", "dump", lab.required]
    command += ["-p", str(lab.epm_port), "-u", ACCOUNT, "--plain"]
    pid, master = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execvpe(command[0], command, env)
    seen = b""
    try:
        seen += _read_until(master, b"Password for", 20.0)
        os.write(master, PASSWORD.encode() + b"\n")
        while True:
            chunk = _read_some(master, 20.0)
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    text = seen.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert f"Password for {ACCOUNT}: " in text
    assert "ncacn_ip_tcp" in text
    assert PASSWORD not in text


def _read_some(fd: int, timeout: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        raise AssertionError("the command went silent on its terminal")
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""  # EIO: the child closed the terminal


def _read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        chunk = _read_some(fd, max(0.1, deadline - time.monotonic()))
        if not chunk:
            raise AssertionError(f"no {wanted!r} on the terminal: {seen!r}")
        seen += chunk
    return seen


# --- scan, check, diff: the secret in no output ------------------------------------------


@pytest.mark.parametrize("password", [PASSWORD, WRONG_PASSWORD], ids=["right", "wrong"])
def test_no_output_of_scan_check_and_diff_holds_the_secret(
    lab: AuthLab, tmp_path: Path, password: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    password_file = tmp_path / "pw"
    password_file.write_text(password + "\n")
    targets = [lab.required, lab.exchange, lab.open]
    port = ["-p", str(lab.epm_port)]
    auth = ["-u", ACCOUNT, "--password-file", str(password_file)]

    def files(name: str) -> list[str]:
        return [
            "--jsonl", str(out / f"{name}.jsonl"),
            "--json", str(out / f"{name}.json"),
            "--csv", str(out / f"{name}.csv"),
            "--save", str(out / f"{name}.saved.json"),
        ]  # fmt: skip

    runs = {
        "scan": run_epmscan("scan", *targets, *port, *auth, *files("scan"), "-v"),
        "check_anonymous": run_epmscan("check", lab.exchange, *port, *files("anon")),
        "check": run_epmscan("check", *targets, *port, *auth, *files("check"), "-v"),
        "scan_env": run_epmscan(
            "scan", *targets, *port, "-u", ACCOUNT, "--jsonl", "-",
            env={"EPMSCAN_PASSWORD": password},
        ),
    }  # fmt: skip
    runs["diff"] = run_epmscan("diff", str(out / "anon.saved.json"), str(out / "check.saved.json"))
    texts = texts_in(out)
    for name, run in runs.items():
        texts[f"{name} stdout"] = run.stdout
        texts[f"{name} stderr"] = run.stderr
    assert_no_secret(texts, password)

    scan_hosts = _hosts(out / "scan.jsonl")
    expected = "ok" if password == PASSWORD else "auth_failed"
    assert {scan_hosts[a] for a in (lab.required, lab.exchange, lab.open)} == {expected}
    assert _hosts(out / "anon.jsonl")[lab.exchange] == "access_denied"
    assert runs["diff"].returncode == 1, runs["diff"].describe()
    assert "access_denied" in runs["diff"].stdout


def _hosts(jsonl: Path) -> dict[str, str]:
    hosts = {}
    for line in jsonl.read_text().splitlines():
        item = json.loads(line)
        if "address" in item:
            hosts[item["address"]] = item["status"]
    return hosts


def test_the_command_line_of_a_running_scan_holds_no_secret(tmp_path: Path) -> None:
    port = free_port([SILENT_ADDRESS])
    with socket.create_server((SILENT_ADDRESS, port)) as silent:
        password_file = tmp_path / "pw"
        password_file.write_text(PASSWORD + "\n")
        env = {k: v for k, v in cli_env().items() if not k.startswith("EPMSCAN_")}
        env["EPMSCAN_NTHASH"] = NT_HASH
        command = [sys.executable, "-m", "epmscan", "dump", SILENT_ADDRESS, "-p", str(port)]
        command += ["-u", ACCOUNT, "--password-file", str(password_file), "--timeout", "5"]
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            connection, _ = silent.accept()  # the scan is in its bind now
            titles = [
                Path(f"/proc/{process.pid}/{name}").read_bytes() for name in ("cmdline", "comm")
            ]
            connection.close()
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    for title in titles:
        for secret in secret_forms():
            assert secret.encode() not in title
    assert_no_secret({"stdout": stdout.decode(), "stderr": stderr.decode()})


@pytest.mark.parametrize("variable", ["EPMSCAN_PASSWORD", "EPMSCAN_NTHASH"])
def test_a_secret_from_the_environment_is_wiped_from_proc_environ(
    tmp_path: Path, variable: str
) -> None:
    secret = PASSWORD if variable == "EPMSCAN_PASSWORD" else NT_HASH
    port = free_port([SILENT_ADDRESS])
    with socket.create_server((SILENT_ADDRESS, port)) as silent:
        env = {k: v for k, v in cli_env().items() if not k.startswith("EPMSCAN_")}
        env[variable] = secret
        command = [sys.executable, "-m", "epmscan", "dump", SILENT_ADDRESS, "-p", str(port)]
        command += ["-u", ACCOUNT, "--timeout", "5"]
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            connection, _ = silent.accept()  # the secret was read: the bind is under way
            environ = Path(f"/proc/{process.pid}/environ").read_bytes()
            connection.close()
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert f"{variable}=".encode() in environ  # the block is there, its value is not
    assert secret.encode() not in environ
    assert secret.lower().encode() not in environ.lower()
    assert_no_secret({"stdout": stdout.decode(), "stderr": stderr.decode()})


def test_the_labs_own_lines_name_the_accounts_count_not_the_passwords(
    lab: AuthLab, tmp_path: Path
) -> None:
    port = free_port([f"{PREFIX}.20"])
    config = tmp_path / "lab.toml"
    config.write_text(
        f'[lab]\nepm_port = {port}\nusers = {{ "LAB\\\\alice" = "{PASSWORD}" }}\n\n'
        f'[[hosts]]\naddress = "{PREFIX}.20"\nprofile = "windows-member"\nauth = "ntlm"\n'
    )
    process = start_lab_file(config, f"{PREFIX}.20", port, tmp_path / "lab.out", timeout=20)
    process.stop()
    text = process.output_text()
    assert "auth=ntlm(1 account)" in text
    assert_no_secret({"lab output": text})
