"""Large release files through the threaded path (``http.bulk``) in a whole ``frumious mirror``.

The threaded path starts at ``wire.DIRECT`` (48 MiB); here it is lowered so that 1 MiB files
take it. The faults a transfer can meet there (a body cut short, a dropped connection, a
flipped byte) are refused and retried, and what lands is byte for byte what upstream serves.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fakepypi import FakeIndex, default_index
from fakepypi.builder import Artifact
from frumious.http import bulk, wire

from .helpers import mirror_dir, run, temp_files

BIG = 1024 * 1024 + 7  # several of the shrunk pieces and a partial last one
NAME = "bigfile_pkg-1.0.tar.gz"


def _blob() -> bytes:
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(-(-BIG // 32)))[:BIG]


@pytest.fixture
def fake_index() -> FakeIndex:
    index = default_index()
    index.add("bigfile-pkg", "1.0", Artifact(NAME, _blob()))
    return index


@pytest.fixture
def poured(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threaded path for bodies from 64 KiB, in 64 KiB pieces; the sizes it read."""
    monkeypatch.setattr(wire, "DIRECT", 64 * 1024)
    monkeypatch.setattr(bulk, "PIECE", 64 * 1024)
    sizes: list[int] = []
    pour = wire.Reply.pour

    async def counted(self: wire.Reply, sinks: list[bulk.Sink]) -> int:
        sizes.append(await pour(self, sinks))
        return sizes[-1]

    monkeypatch.setattr(wire.Reply, "pour", counted)
    return sizes


def stored(config: Path) -> bytes:
    (path,) = mirror_dir(config).glob(f"web/packages/*/*/*/{NAME}")
    return path.read_bytes()


def test_a_large_file_is_mirrored_through_the_threads(fake_pypi, make_config, tmp_path, poured) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert poured == [BIG]
    assert stored(config) == _blob()
    assert temp_files(mirror_dir(config)) == []


@pytest.mark.parametrize("fault", ["truncate", "drop", "corrupt"])
def test_a_faulty_large_body_is_refused_and_retried(fake_pypi, make_config, tmp_path, poured, fault) -> None:
    pattern = f"/packages/*{NAME}"
    if fault == "truncate":
        fake_pypi.truncate(pattern)  # a shorter Content-Length: refused after the body, as short
    elif fault == "drop":
        fake_pypi.drop(pattern, after_bytes=300_000)  # the connection closes mid-body
    else:
        fake_pypi.corrupt(pattern)  # one byte flipped: the digest differs
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert len([p for p in fake_pypi.paths("/packages/") if p.endswith(NAME)]) == 2  # retried once
    assert stored(config) == _blob()
    assert poured[-1] == BIG
    assert temp_files(mirror_dir(config)) == []
