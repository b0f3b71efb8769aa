"""Release-file filters, and how emptied releases disappear before the release filters run."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from frumious.errors import ConfigError
from frumious.filters import FilterSet, load_filters
from frumious.filters.platforms import python_substrings
from frumious.models import DistFile, Project, replace
from frumious.settings import MirrorSettings, Settings

TYPES = {".tar.gz": "sdist", ".zip": "sdist", ".whl": "bdist_wheel", ".exe": "bdist_wininst", ".msi": "bdist_msi"}
TYPES |= {".dmg": "bdist_dmg", ".rpm": "bdist_rpm", ".egg": "bdist_egg"}


def load(plugins: str, sections: Mapping[str, Mapping[str, str]]) -> FilterSet:
    settings = Settings(mirror=MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections)
    return load_filters(settings)


def dist(filename: str, version: str = "1.0", requires_python: str | None = None) -> DistFile:
    packagetype = next(t for suffix, t in TYPES.items() if filename.endswith(suffix))
    url = f"https://f/packages/{filename}"
    return DistFile(filename, url, 1, {}, version, requires_python=requires_python, packagetype=packagetype)


def project(files: list[DistFile], **releases: list[DistFile]) -> Project:
    grouped: dict[str, tuple[DistFile, ...]] = {}
    for f in files:
        grouped[f.version] = (*grouped.get(f.version, ()), f)
    return Project(
        "pkg", 1, grouped | {v: tuple(fs) for v, fs in releases.items()}, info={"name": "pkg", "version": "1.0"}
    )


def kept_files(filters: FilterSet, p: Project) -> list[str]:
    return [f.filename for f in filters.apply(p).files]


FILES = [
    "pkg-1.0.tar.gz",
    "pkg-1.0.zip",
    "pkg-1.0-py3-none-any.whl",
    "pkg-1.0-py2.py3-none-any.whl",
    "pkg-1.0-cp27-cp27m-win32.whl",
    "pkg-1.0-cp311-cp311-win_amd64.whl",
    "pkg-1.0-cp312-cp312-win_arm64.whl",
    "pkg-1.0.win32.exe",
    "pkg-1.0.win-amd64-py2.7.msi",
    "pkg-1.0-cp311-cp311-macosx_11_0_arm64.whl",
    "pkg-1.0-macosx-10.9.dmg",
    "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "pkg-1.0-cp36-cp36m-manylinux1_i686.whl",
    "pkg-1.0-cp311-cp311-musllinux_1_1_aarch64.whl",
    "pkg-1.0-cp39-cp39-linux_armv7l.whl",
    "pkg-1.0.linux-x86_64.tar.gz",
    "pkg-1.0-1.noarch.rpm",
    "pkg-1.0-cp311-cp311-freebsd_13_0_amd64.whl",
    "pkg-1.0-py2.7.egg",
    "pkg-1.0-pp38-pypy38_pp73-win_amd64.whl",
]


def without(*dropped: str) -> list[str]:
    return [f for f in FILES if f not in dropped]


WINDOWS = (FILES[4], FILES[5], FILES[6], FILES[7], FILES[8], FILES[19])
LINUX = (FILES[11], FILES[12], FILES[13], FILES[14], FILES[16])

PLATFORM_CASES = [
    ("windows", without(*WINDOWS)),
    ("WIN", without(*WINDOWS)),
    ("macos", without(FILES[9], FILES[10])),
    ("macosx", without(FILES[9], FILES[10])),
    ("linux", without(*LINUX)),  # the linux-x86_64 *sdist* stays: sdists are never filtered
    ("freebsd", without(FILES[17])),
    ("win_amd64", without(FILES[5], FILES[19])),
    ("manylinux1_i686 linux_armv7l", without(FILES[12], FILES[14])),
    ("py2.7", without(FILES[4], FILES[8], FILES[18])),
    ("py3", without(FILES[2])),  # `-py3-` also catches py3-none-any wheels
    ("py3.11", without(FILES[5], FILES[9], FILES[11], FILES[13], FILES[17])),
    ("py3.8", without(FILES[19])),
    ("py3.6 py3.12", without(FILES[6], FILES[12])),
    ("windows\n    macos\n    linux", without(*WINDOWS, *LINUX, FILES[9], FILES[10])),
]


@pytest.mark.parametrize(("platforms", "expected"), PLATFORM_CASES)
def test_exclude_platform(platforms: str, expected: list[str]) -> None:
    filters = load("exclude_platform", {"blocklist": {"platforms": platforms}})
    assert kept_files(filters, project([dist(f) for f in FILES])) == expected


def test_python_token_expansion() -> None:
    assert python_substrings("3", "10") == ("-cp310-", "-pp310-", "-ip310-", "-jy310-", "-py3.10-", "-py3.10.")
    assert python_substrings("2", None) == ("-cp2-", "-pp2-", "-ip2-", "-jy2-", "-py2-", "-py2.")


@pytest.mark.parametrize("platforms", ["solaris", "free", "py2.2", "py4", "windows bsd"])
def test_unknown_platform_is_an_error(platforms: str) -> None:
    with pytest.raises(ConfigError, match="unknown platform"):
        load("exclude_platform", {"blocklist": {"platforms": platforms}})


def test_emptied_and_empty_releases_are_dropped_before_release_filters() -> None:
    p = project(
        [dist("pkg-1.0-cp311-cp311-win_amd64.whl"), dist("pkg-2.0.tar.gz", "2.0"), dist("pkg-3.0.tar.gz", "3.0")],
        **{"0.1": []},
    )
    # Release 1.0 loses its only file and 0.1 never had one; latest_release then ranks 2.0 and 3.0.
    filters = load(
        "exclude_platform latest_release", {"blocklist": {"platforms": "windows"}, "latest_release": {"keep": "2"}}
    )
    assert list(filters.apply(p).releases) == ["2.0", "3.0"]
    # bandersnatch 8 drops upstream-empty releases even with no release-file filter.
    assert list(FilterSet().apply(p).releases) == ["1.0", "2.0", "3.0"]


RP = "release_file.requires_python"
REGEX_FILE_CASES = [
    ({"release_file.packagetype": "sdist"}, ["pkg-1.0.tar.gz", "pkg-1.0.zip", "pkg-1.0.linux-x86_64.tar.gz"]),
    (
        {"none:release_file.filename": r".*\.(exe|msi|dmg|rpm|egg)$" + "\n" + ".*-cp"},
        [*FILES[:4], FILES[15], FILES[19]],
    ),
    ({"release": "1\\.0$", "info.name": "pkg"}, FILES),
    ({"release": "2"}, []),
]


@pytest.mark.parametrize(("section", "expected"), REGEX_FILE_CASES)
def test_regex_release_file_metadata(section: dict[str, str], expected: list[str]) -> None:
    filters = load("regex_release_file_metadata", {"regex_release_file_metadata": section})
    assert kept_files(filters, project([dist(f) for f in FILES])) == expected


def test_regex_release_file_metadata_reads_raw_file_objects() -> None:
    files = [dist("pkg-1.0.tar.gz"), dist("pkg-1.0.zip")]
    fields = [{"filename": "pkg-1.0.tar.gz", "comment_text": "ok"}, {"filename": "pkg-1.0.zip"}]
    files = [replace(f, fields=upstream) for f, upstream in zip(files, fields, strict=True)]
    p = Project("pkg", 1, {"1.0": tuple(files)}, info={"name": "pkg"})
    filters = load(
        "regex_release_file_metadata", {"regex_release_file_metadata": {"not-null:release_file.comment_text": "ok"}}
    )
    assert kept_files(filters, p) == ["pkg-1.0.tar.gz"]


VERSION_FILES = [
    dist("pkg-1.0.tar.gz", requires_python=None),
    dist("pkg-1.0.zip", requires_python=""),
    dist("pkg-1.0-py2-none-any.whl", requires_python="<3"),
    dist("pkg-1.0-py3-none-any.whl", requires_python=">=3.8"),
    dist("pkg-1.0-cp312-cp312-win_amd64.whl", requires_python=">=3.12"),
]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({RP: "3.11"}, ["pkg-1.0.tar.gz", "pkg-1.0.zip", "pkg-1.0-py3-none-any.whl"]),
        ({RP: "2.7\n3.12"}, [f.filename for f in VERSION_FILES]),
        ({f"not-null:{RP}": "3.11"}, ["pkg-1.0-py3-none-any.whl"]),
        ({"info.requires_python": "2.7"}, [f.filename for f in VERSION_FILES]),
    ],
)
def test_version_range_release_file_metadata(section: dict[str, str], expected: list[str]) -> None:
    filters = load("version_range_release_file_metadata", {"version_range_release_file_metadata": section})
    assert kept_files(filters, project(VERSION_FILES)) == expected


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({RP: "three"}, "'three' is not a version"),
        ({f"any:{RP}": "3.11"}, "unknown tag 'any'"),
        ({RP: ""}, "no version given"),
    ],
)
def test_version_range_bad_config(section: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("version_range_release_file_metadata", {"version_range_release_file_metadata": section})
    assert any(fragment in p for p in info.value.problems), info.value.problems
