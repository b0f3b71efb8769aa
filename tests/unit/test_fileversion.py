"""fileversion asks packaging once per name shape and version string, with packaging's answers."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from frumious.protocol import fileversion
from frumious.protocol.fileversion import version_of


def reference(filename: str, project: str, listed: Mapping[Version, str]) -> str | None:
    """version_of as it was: packaging's parsers on every whole name."""
    parsed = None
    try:
        if filename.endswith(".whl"):
            parsed = parse_wheel_filename(filename)[1]
        elif filename.endswith((".tar.gz", ".zip")):
            parsed = parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        parsed = None
    if parsed is not None:
        return listed.get(parsed, str(parsed))
    canonical = canonicalize_name(project)
    for spelling in sorted(listed.values(), key=len, reverse=True):
        at = filename.find(f"-{spelling}")
        end = at + len(spelling) + 1
        if at > 0 and canonicalize_name(filename[:at]) == canonical and filename[end : end + 1] in (".", "-"):
            return spelling
    return None


NAMES = [
    "foo-1.0-py3-none-any.whl",
    "foo-1.0.0-py3-none-any.whl",
    "foo-01.0-py3-none-any.whl",
    "foo-1.0-1-py3-none-any.whl",  # a build tag
    "foo-1.0-1b-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "foo-1.0-x-py3-none-any.whl",  # a build tag that is no number
    "foo-1.0-py3-none.whl",  # too few parts
    "foo-1.0-1-2-py3-none-any.whl",  # too many
    "foo__bar-1.0-py3-none-any.whl",  # "__" in the name
    "fo o-1.0-py3-none-any.whl",
    "-1.0-py3-none-any.whl",  # no name
    "foo-1.0-3py-none-any.whl",  # an interpreter that is no identifier
    "foo-1.0-py3..py2-none-any.whl",  # an empty tag set component
    "foo-not.a.version-py3-none-any.whl",
    "foo-1.0+local.7-py3-none-any.whl",
    "foo-1.0.tar.gz",
    "foo-bar-1.0.post1.tar.gz",
    "foo-1.0.zip",
    "foo.tar.gz",  # no dash
    "-1.0.tar.gz",  # no name
    "foo-1.0-2.tar.gz",
    "foo-x.y.tar.gz",
    "foo-1.0.tar.bz2",
    "foo-1.0-py3.9.egg",
    "foo-1.0.win32.exe",
]
LISTED = {Version("1.0"): "1.0", Version("1.0.post1"): "1.0-1", Version("2"): "2"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("listed", [{}, LISTED])
def test_version_of_answers_as_packaging_on_the_whole_name(name: str, listed: Mapping[Version, str]) -> None:
    fileversion._wheel_shape.cache_clear()
    fileversion.parse_version.cache_clear()
    assert version_of(name, "foo", listed) == reference(name, "foo", listed)
    assert version_of(name, "foo", listed) == reference(name, "foo", listed)  # from the caches


def test_packaging_is_asked_once_per_wheel_shape_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def counting(filename: str) -> object:
        asked.append(filename)
        return parse_wheel_filename(filename)

    monkeypatch.setattr(fileversion, "parse_wheel_filename", counting)
    fileversion._wheel_shape.cache_clear()
    fileversion.parse_version.cache_clear()
    names = [f"foo-{v}-cp311-cp311-manylinux_2_17_x86_64.whl" for v in ("1.0", "1.1", "2.0", "1.0")]
    assert [version_of(n, "foo") for n in names] == ["1.0", "1.1", "2.0", "1.0"]
    assert asked == ["foo-0-cp311-cp311-manylinux_2_17_x86_64.whl"]
    assert fileversion.parse_version.cache_info().currsize == 3
