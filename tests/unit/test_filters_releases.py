"""Release filters and the order ``FilterSet.apply`` runs them in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from frumious.errors import ConfigError
from frumious.filters import FilterSet, load_filters
from frumious.models import DistFile, Project
from frumious.settings import MirrorSettings, Settings


def load(plugins: str, sections: Mapping[str, Mapping[str, str]], base_dir: str | None = None) -> FilterSet:
    settings = Settings(mirror=MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections)
    return load_filters(settings, base_dir=base_dir)


def project(name: str, versions: list[str], current: str | None = None, days: list[int] | None = None) -> Project:
    """One sdist per version; ``days`` gives each release's upload day in January 2024."""
    upload = days or list(range(1, len(versions) + 1))
    releases = {
        v: (
            DistFile(
                f"{name}-{v}.tar.gz",
                f"https://f/packages/{name}-{v}.tar.gz",
                1,
                {},
                v,
                f"2024-01-{d:02}T00:00:00Z",
                packagetype="sdist",
            ),
        )
        for v, d in zip(versions, upload, strict=True)
    }
    return Project(name, 1, releases, info={"name": name, "version": current or versions[-1]})


def kept(filters: FilterSet, p: Project) -> list[str]:
    return list(filters.apply(p).releases)


FOO = project("Foo.Bar", ["0.9", "1.0", "1.5rc1", "1.5", "2.0a1", "2.0b2", "2.0.dev3", "2.0", "not-a-version"], "1.5")

CASES = [
    # PEP 440: pre-releases count (bandersnatch sets prereleases=True), but `<2.0` excludes 2.0's own.
    ("blocklist_release", {"blocklist": {"packages": "foo-bar>=1.5,<2.0"}}, [v for v in FOO.releases if v != "1.5"]),
    ("blocklist_release", {"blocklist": {"packages": "foo_bar"}}, ["not-a-version"]),
    ("blocklist_release", {"blocklist": {"packages": "other"}}, list(FOO.releases)),
    (
        "blocklist_release",
        {"blocklist": {"packages": "foo.bar==1.0\nfoo-bar==2.0 # eol"}},
        ["0.9", "1.5rc1", "1.5", "2.0a1", "2.0b2", "2.0.dev3", "not-a-version"],
    ),
    (
        "allowlist_release",
        {"allowlist": {"packages": "Foo.Bar>=1.5 # comment"}},
        ["1.5", "2.0a1", "2.0b2", "2.0.dev3", "2.0"],
    ),
    ("allowlist_release", {"allowlist": {"packages": "foo-bar"}}, [v for v in FOO.releases if v != "not-a-version"]),
    ("allowlist_release", {"allowlist": {"packages": "foo-bar==0.9\nfoo-bar==2.0"}}, ["0.9", "2.0"]),
    ("allowlist_release", {"allowlist": {"packages": "other"}}, []),
    ("prerelease_release", {}, ["0.9", "1.0", "1.5", "2.0", "not-a-version"]),
    (
        "prerelease_release",
        {"filter_prerelease": {"packages": "FOO_bar"}},
        ["0.9", "1.0", "1.5", "2.0", "not-a-version"],
    ),
    ("prerelease_release", {"filter_prerelease": {"packages": "other"}}, list(FOO.releases)),
    (
        "regex_release",
        {"filter_regex": {"releases": r".+rc\d$" + "\n" + r"0\."}},
        [v for v in FOO.releases if v not in ("1.5rc1", "0.9")],
    ),
    (
        "latest_release",
        {"latest_release": {"keep": "2"}},
        ["1.5", "2.0"],
    ),  # top 2 = 2.0, 2.0b2; info.version 1.5 takes slot 2
    ("latest_release", {"latest_release": {"keep": "3"}}, ["1.5", "2.0b2", "2.0"]),
    ("latest_release", {"latest_release": {"keep": "0"}}, list(FOO.releases)),
    ("latest_release", {"latest_release": {"keep": "100"}}, list(FOO.releases)),
    ("latest_release", {"latest_release": {"keep": "2", "sort_by": "time"}}, ["1.5", "not-a-version"]),
    ("prerelease_release latest_release", {"latest_release": {"keep": "3"}}, ["1.0", "1.5", "2.0"]),
    (
        "prerelease_release regex_release latest_release",
        {"latest_release": {"keep": "2"}, "filter_regex": {"releases": "not"}},
        ["1.5", "2.0"],
    ),
]


@pytest.mark.parametrize(("plugins", "sections", "expected"), CASES)
def test_release_filters(plugins: str, sections: dict[str, dict[str, str]], expected: list[str]) -> None:
    assert kept(load(plugins, sections), FOO) == expected


def test_latest_release_keeps_current_version_only_if_others_kept_it() -> None:
    p = project("x", ["1.0", "2.0", "3.0rc1"], current="3.0rc1")
    assert kept(load("prerelease_release latest_release", {"latest_release": {"keep": "1"}}), p) == ["2.0"]


def test_latest_release_by_time_uses_first_file() -> None:
    p = project("x", ["3.0", "1.0", "2.0"], current="2.0", days=[1, 5, 3])
    assert kept(load("latest_release", {"latest_release": {"keep": "2", "sort_by": "time"}}), p) == ["1.0", "2.0"]


def requirements(tmp_path: Path, text: str) -> dict[str, dict[str, str]]:
    (tmp_path / "requirements.txt").write_text(text)
    return {"allowlist": {"requirements": "requirements.txt", "packages": "foo-bar\nother>=3"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Pinned: only project_requirements_pinned runs, so the pre-release filter and the
        # allowlist are bypassed.
        ("foo-bar==2.0a1\n", ["2.0a1"]),
        ("foo-bar>=2.0a1,<3\n", ["2.0a1", "2.0b2", "2.0"]),
        # A bare name is not a pin: every release filter runs, the requirements admit all.
        ("foo-bar\n", ["0.9", "1.0", "1.5", "2.0"]),
        # Not in the requirements at all: project_requirements_pinned drops everything.
        ("other==1\n", []),
    ],
)
def test_project_requirements_pinned(tmp_path: Path, text: str, expected: list[str]) -> None:
    sections = requirements(tmp_path, text)
    filters = load("prerelease_release allowlist_release project_requirements_pinned", sections, str(tmp_path))
    assert kept(filters, FOO) == expected


@pytest.mark.parametrize(
    ("sections", "fragment"),
    [
        ({"latest_release": {"keep": "-1"}}, "keep"),
        ({"latest_release": {"keep": "two"}}, "keep"),
        ({"latest_release": {"keep": "2", "sort_by": "size"}}, "sort_by"),
        ({"filter_regex": {"releases": "[z-a]"}}, "bad regular expression"),
        ({"blocklist": {"packages": "foo bar"}}, "not a valid requirement"),
        ({"allowlist": {"packages": "foo==>1"}}, "not a valid requirement"),
        # Named in [plugins] but naming nothing: every release would stay (bandersnatch drops them all).
        ({}, "allowlist_release is enabled but names no project"),
    ],
)
def test_bad_config_is_an_error(sections: dict[str, dict[str, str]], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("latest_release regex_release blocklist_release allowlist_release", sections)
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_apply_returns_new_project_and_keeps_order() -> None:
    filters = load("regex_release", {"filter_regex": {"releases": "1"}})
    result = filters.apply(FOO)
    assert result is not FOO and list(FOO.releases)[1] == "1.0"
    assert list(result.releases) == ["0.9", "2.0a1", "2.0b2", "2.0.dev3", "2.0", "not-a-version"]
    assert (result.name, result.serial, result.info) == (FOO.name, FOO.serial, FOO.info)


def test_apply_without_release_filters_keeps_the_project_itself_unless_a_release_is_empty() -> None:
    # Nothing to drop: the project as given (no copy a project on the sync's hot path).
    filters = load("", {})
    assert filters.apply(FOO) is FOO
    # An upstream release without files is still dropped, in a new project; the given one is untouched.
    empty = project("Foo.Bar", ["1.0", "2.0"])
    with_empty = Project(empty.name, 7, {**empty.releases, "3.0": ()}, info=empty.info)
    result = filters.apply(with_empty)
    assert list(result.releases) == ["1.0", "2.0"] and list(with_empty.releases) == ["1.0", "2.0", "3.0"]
    assert (result.name, result.serial) == ("Foo.Bar", 7)
