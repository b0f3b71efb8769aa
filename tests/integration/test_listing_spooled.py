"""The listing spooled to a temporary file (``http/spool``, its threshold lowered) through the lean client.

A listing past the threshold is written to an unlinked file as it arrives and read through a
map: the mirror is the same; one streamed past ``max-listing-size``, a cut one, a corrupt one
and a gzip bomb are refused as before, and the next honest run converges.
"""

from __future__ import annotations

from typing import Any

import pytest

from frumious.http import spool

from .helpers import mirror_dir, packages, read, run, temp_files


@pytest.fixture
def spooled(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """The kinds of listing bodies read (a map when spooled); the threshold is 16 bytes."""
    kinds: list[type] = []
    real = spool.read_spooled

    async def spy(response: Any, limit: int | None) -> spool.Body:
        body = await real(response, limit)
        kinds.append(type(body))
        return body

    monkeypatch.setattr(spool, "SPOOL_AT", 16)
    monkeypatch.setattr(spool, "read_spooled", spy)
    return kinds


def test_a_spooled_listing_mirrors_the_same_tree(fake_pypi, make_config, tmp_path, spooled) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert packages(root) and temp_files(root) == []
    assert spooled and all(kind.__name__ == "mmap" for kind in spooled)


@pytest.mark.parametrize("fault", ["oversize", "truncate", "bad_json", "gzip_bomb"])
def test_a_spooled_listing_is_refused_as_before(fake_pypi, make_config, tmp_path, capsys, spooled, fault) -> None:
    {
        "oversize": lambda: fake_pypi.oversize("/simple/", total=64 << 20, times=None),
        "truncate": lambda: fake_pypi.drop("/simple/", after_bytes=40, times=None),
        "bad_json": lambda: fake_pypi.bad_json("/simple/", times=None),
        "gzip_bomb": lambda: fake_pypi.gzip_bomb("/simple/", size=256 << 20, times=None),
    }[fault]()
    config = make_config(tmp_path, fake_pypi, max_listing_size="1M")
    assert run(config, "mirror") == 1
    root = mirror_dir(config)
    assert packages(root) == set() and not (root / "status").exists()
    err = capsys.readouterr().err
    said = {
        "oversize": "raise [mirror] max-listing-size",
        "truncate": f"{fake_pypi.url}/simple/",
        "bad_json": "the project listing is not valid JSON",
        "gzip_bomb": "decompression bomb",
    }[fault]
    assert "Traceback" not in err and said in err
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert read(root, "status") == str(fake_pypi.index.serial)
