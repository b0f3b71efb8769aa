"""Shared fixtures: a fake PyPI per test, and bandersnatch-style config files."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # so `import fakepypi` works whatever the import mode
    sys.path.insert(0, str(Path(__file__).parent))

from fakepypi import FakeIndex, FakePyPI, default_index, run_fake_pypi, write_config


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``frumious.cli.main`` points the root logger at the sys.stderr of its moment (a test's captured
    stream): put the handlers back, so a later server thread never logs into a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def fake_index() -> FakeIndex:
    """The default catalogue (see fakepypi.defaults); override this fixture to serve another."""
    return default_index()


@pytest.fixture
def fake_pypi(fake_index: FakeIndex) -> Iterator[FakePyPI]:
    """A fake pypi.org serving ``fake_index`` on 127.0.0.1, stopped after the test."""
    with run_fake_pypi(fake_index) as pypi:
        yield pypi


@pytest.fixture
def download_mirror(fake_pypi: FakePyPI) -> Iterator[FakePyPI]:
    """A second server over the same index, to use as ``download-mirror``."""
    with run_fake_pypi(fake_pypi.index) as mirror:
        yield mirror


@pytest.fixture
def make_config() -> Callable[..., Path]:
    """``make_config(tmp_path, pypi, **mirror_keys) -> Path`` (see fakepypi.write_config)."""
    return write_config


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any network socket opened during the test fails it (the event loop's own pipe is a Unix one)."""
    real = socket.socket

    def refuse(family: int = socket.AF_INET, *args: object, **kwargs: object) -> socket.socket:
        if family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError("a network socket was opened")
        return real(family, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "socket", refuse)


@pytest.fixture
def on_uvloop() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """``on_uvloop(case)`` runs the async test ``case`` on uvloop, the sync's loop (its transports differ)."""
    uvloop = pytest.importorskip("uvloop")

    def run(case: Callable[[], Awaitable[None]]) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(case())  # type: ignore[arg-type]

    return run
