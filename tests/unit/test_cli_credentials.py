"""Reading NTLM credentials from options, files, the environment and a prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from epmscan.cli.credentials import parse_account, parse_nt_hash, read_credentials
from epmscan.errors import UsageError
from epmscan.settings import Credentials, NetworkSettings

PASSWORD = "S3cret-Value-x"
HASH_HEX = "20f6ed00649255bb61650db837434b3f"


def no_prompt(_text: str) -> str:
    raise AssertionError("prompted")


def test_no_user_is_anonymous_whatever_the_environment() -> None:
    environ = {"EPMSCAN_PASSWORD": PASSWORD}
    assert read_credentials(None, environ=environ, prompt=no_prompt) is None
    assert environ == {"EPMSCAN_PASSWORD": PASSWORD}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("LAB\\alice", ("LAB", "alice")), ("alice", ("", "alice")), ("lab\\Bob", ("lab", "Bob"))],
)
def test_accounts_are_domain_and_user(text: str, expected: tuple[str, str]) -> None:
    assert parse_account(text) == expected


@pytest.mark.parametrize("text", ["", "LAB\\", "A\\B\\c", "LAB\\  "])
def test_a_broken_account_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="-u/--user"):
        parse_account(text)


def test_the_password_file_gives_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(f"{PASSWORD}\r\nnext line\n")
    credentials = read_credentials("LAB\\alice", str(path), environ={}, prompt=no_prompt)
    assert credentials == Credentials("alice", "LAB", password=PASSWORD)


def test_spaces_in_a_password_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(" two words \n")
    credentials = read_credentials("alice", str(path), environ={})
    assert credentials is not None and credentials.password == " two words "


@pytest.mark.parametrize(
    "line", [HASH_HEX, HASH_HEX.upper(), f"aad3b435b51404eeaad3b435b51404ee:{HASH_HEX}"]
)
def test_the_hashes_file_gives_an_nt_hash(tmp_path: Path, line: str) -> None:
    path = tmp_path / "hashes"
    path.write_text(line + "\n")
    credentials = read_credentials("LAB\\alice", hashes_file=str(path), environ={})
    assert credentials == Credentials("alice", "LAB", nt_hash=bytes.fromhex(HASH_HEX))


def test_the_environment_is_read_and_emptied() -> None:
    environ = {"EPMSCAN_PASSWORD": PASSWORD, "OTHER": "x"}
    credentials = read_credentials("alice", environ=environ, prompt=no_prompt)
    assert credentials == Credentials("alice", password=PASSWORD)
    assert environ == {"OTHER": "x"}
    environ = {"EPMSCAN_NTHASH": HASH_HEX}
    credentials = read_credentials("alice", environ=environ, prompt=no_prompt)
    assert credentials == Credentials("alice", nt_hash=bytes.fromhex(HASH_HEX))
    assert environ == {}


def test_a_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("from-the-file\n")
    environ = {"EPMSCAN_PASSWORD": PASSWORD}
    credentials = read_credentials("alice", str(path), environ=environ)
    assert credentials is not None and credentials.password == "from-the-file"


def test_the_prompt_only_on_a_terminal() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return PASSWORD

    credentials = read_credentials("LAB\\alice", environ={}, interactive=True, prompt=prompt)
    assert credentials == Credentials("alice", "LAB", password=PASSWORD)
    assert asked == ["Password for LAB\\alice: "]
    with pytest.raises(UsageError, match="no password"):
        read_credentials("LAB\\alice", environ={}, interactive=False, prompt=no_prompt)
    with pytest.raises(UsageError, match="no password given"):
        read_credentials("LAB\\alice", environ={}, interactive=True, prompt=lambda _t: "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"password_file": "x"}, "--password-file needs -u"),
        ({"hashes_file": "x"}, "--hashes-file needs -u"),
    ],
)
def test_a_secret_without_a_user_is_a_usage_error(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        read_credentials(None, environ={}, **kwargs)


def test_both_files_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not both"):
        read_credentials("alice", "a", "b", environ={})


@pytest.mark.parametrize("content", ["", "\n", "not-hex-but-32-characters-long!!", "abc"])
def test_an_unusable_file_is_a_usage_error_without_its_content(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "hashes"
    path.write_text(content)
    with pytest.raises(UsageError) as caught:
        read_credentials("alice", hashes_file=str(path), environ={})
    message = str(caught.value)
    assert str(path) in message
    assert not content.strip() or content.strip() not in message


def test_a_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_bytes(b"\xff\xfe\x00bad\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_credentials("alice", str(path), environ={})


def test_an_nt_hash_must_be_32_hex_digits() -> None:
    assert parse_nt_hash(f" {HASH_HEX} ", "x") == bytes.fromhex(HASH_HEX)
    with pytest.raises(UsageError, match="x: not an NT hash"):
        parse_nt_hash(HASH_HEX[:-1], "x")


def test_credentials_and_settings_never_show_the_secret() -> None:
    for credentials in (
        Credentials("alice", "LAB", password=PASSWORD),
        Credentials("alice", "LAB", nt_hash=bytes.fromhex(HASH_HEX)),
    ):
        network = NetworkSettings(credentials=credentials)
        for text in (repr(credentials), str(credentials), repr(network), str(network)):
            assert PASSWORD not in text
            assert HASH_HEX not in text
            assert "bytes.fromhex" not in text and "\\x20\\xf6" not in text
            assert "alice" in text


def test_credentials_need_one_secret() -> None:
    with pytest.raises(ValueError):
        Credentials("alice")
    with pytest.raises(ValueError):
        Credentials("alice", password="a", nt_hash=bytes(16))
    with pytest.raises(ValueError):
        Credentials("", password="a")
    assert Credentials("alice", "LAB", password="a").account == "LAB\\alice"
