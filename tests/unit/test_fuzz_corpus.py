"""The fuzz harnesses (fuzz/fuzz_*.py) replayed over their committed corpus, without atheris.

Every seed (real Samba and lab bytes) and every crash reproducer kept as ``regress-*``
goes through its harness's ``test_one_input``: only ProtocolError may leave the protocol
layer and every harness invariant holds. A crash fixed in the protocol layer stays fixed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
HARNESSES = sorted(path.stem.removeprefix("fuzz_") for path in FUZZ.glob("fuzz_*.py"))


def _load(name: str) -> ModuleType:
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    spec = importlib.util.spec_from_file_location(f"fuzz_{name}", FUZZ / f"fuzz_{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_harness_has_a_corpus() -> None:
    assert len(HARNESSES) >= 10
    for name in HARNESSES:
        assert any((FUZZ / "corpus" / name).glob("seed-*")), f"no seeds for {name}"


@pytest.mark.parametrize("name", HARNESSES)
def test_the_corpus_passes_its_harness(name: str) -> None:
    test_one_input: Callable[[bytes], None] = _load(name).test_one_input
    inputs = sorted((FUZZ / "corpus" / name).iterdir())
    for path in inputs:
        try:
            test_one_input(path.read_bytes())
        except Exception as exc:
            raise AssertionError(f"{path.name}: {exc!r}") from exc
