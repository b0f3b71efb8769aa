"""Project filters: the raw listing name in, keep or drop out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from frumious.errors import ConfigError
from frumious.filters import FilterSet, load_filters
from frumious.filters.filterset import fast_canonical
from frumious.settings import MirrorSettings, Settings


def load(plugins: str, sections: Mapping[str, Mapping[str, str]], base_dir: str | None = None) -> FilterSet:
    settings = Settings(mirror=MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections)
    return load_filters(settings, base_dir=base_dir)


def kept(filters: FilterSet, names: list[str]) -> list[str]:
    return [n for n in names if filters.allows_project(n)]


NAMES = ["foo", "Foo.Bar", "foo_bar", "baz", "evil-thing", "Thing-evil", "requests", "numpy"]

CASES = [
    # blocklist: canonical match; specifier/extras/marker lines are left to blocklist_release.
    (
        "blocklist_project",
        {
            "blocklist": {
                "packages": "foo\nFOO-bar\nnumpy>=1.0\nrequests[socks]\n# baz\nevil-thing ; python_version<'3'"
            }
        },
        ["baz", "evil-thing", "Thing-evil", "requests", "numpy"],
    ),
    # blocklist: inline comments are stripped (bandersnatch crashes on them).
    ("blocklist_project", {"blocklist": {"packages": "baz  # broken"}}, [n for n in NAMES if n != "baz"]),
    # allowlist: inline comment stripped, specifier allowed, names canonicalized.
    (
        "allowlist_project",
        {"allowlist": {"packages": "foo-BAR # bar\nrequests>=2.0\n#numpy\n"}},
        ["Foo.Bar", "foo_bar", "requests"],
    ),
    # regex_project: re.match on the raw name, anchored at the start only.
    # ... and case-sensitive: `foo` does not match the raw name Foo.Bar.
    (
        "regex_project",
        {"filter_regex": {"packages": ".+-evil$\nfoo"}},
        ["Foo.Bar", "baz", "evil-thing", "requests", "numpy"],
    ),
    ("regex_project", {"filter_regex": {"packages": "thing"}}, NAMES),
    # several project filters: all must agree.
    (
        "allowlist_project blocklist_project",
        {"allowlist": {"packages": "foo\nbaz\nnumpy"}, "blocklist": {"packages": "baz"}},
        ["foo", "numpy"],
    ),
]


@pytest.mark.parametrize(("plugins", "sections", "expected"), CASES)
def test_project_filters(plugins: str, sections: dict[str, dict[str, str]], expected: list[str]) -> None:
    assert kept(load(plugins, sections), NAMES) == expected


def test_project_requirements(tmp_path: Path) -> None:
    reqs = tmp_path / "reqs"
    reqs.mkdir()
    (reqs / "requirements-a.txt").write_text("# comment\nFoo.Bar==1.0  # pinned\n-r other.txt\n-e ./local\n")
    (reqs / "requirements-b.txt").write_text("requests[socks]>=2 ; python_version>'3'\n--index-url x\n")
    (reqs / "extra.txt").write_text("numpy\n")
    sections = {"allowlist": {"requirements_path": "reqs", "requirements": "requirements-*.txt\nextra.txt # c"}}
    filters = load("project_requirements", sections, base_dir=str(tmp_path))
    assert kept(filters, NAMES) == ["Foo.Bar", "foo_bar", "requests", "numpy"]


def test_project_requirements_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("baz\n")
    sections = {"allowlist": {"requirements_path": str(tmp_path), "requirements": "r.txt"}}
    assert kept(load("project_requirements", sections, base_dir="/nonexistent"), NAMES) == ["baz"]


def test_project_requirements_and_allowlist_are_both_applied(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("baz\nfoo\n")
    sections = {"allowlist": {"packages": "foo\nnumpy", "requirements": "r.txt"}}
    filters = load("project_requirements allowlist_project", sections, base_dir=str(tmp_path))
    assert kept(filters, NAMES) == ["foo"]


@pytest.mark.parametrize(
    ("plugins", "sections", "fragment"),
    [
        ("regex_project", {"filter_regex": {"packages": "good\nbad(["}}, "bad regular expression 'bad(['"),
        ("blocklist_project", {"blocklist": {"packages": "not a name!"}}, "'not a name!' is not a valid requirement"),
        ("allowlist_project", {"allowlist": {"packages": "foo>>1"}}, "'foo>>1' is not a valid requirement"),
        ("project_requirements", {"allowlist": {"requirements": "missing.txt"}}, "cannot read"),
        # An allowlist named in [plugins] that names nothing would mirror everything (issue 14).
        ("allowlist_project", {"allowlist": {"packages": ""}}, "allowlist_project is enabled but names no project"),
        ("allowlist_project", {}, "allowlist_project is enabled but names no project"),
    ],
)
def test_bad_config_is_an_error(plugins: str, sections: dict[str, dict[str, str]], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(plugins, sections, base_dir="/nonexistent")
    assert any(fragment in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("name", ["foo", "Foo", "foo_bar", "Foo.Bar", "a--b", "a-_.b", "A1-B2", "x.y_z-W"])
def test_fast_canonical_agrees_with_packaging(name: str) -> None:
    from packaging.utils import canonicalize_name

    assert fast_canonical(name) == canonicalize_name(name)


def test_no_filters_allows_everything() -> None:
    assert kept(FilterSet(), NAMES) == NAMES
    assert FilterSet().project_rejected_by("foo") is None


def test_project_rejected_by_names_the_filter() -> None:
    filters = load("allowlist_project blocklist_project", {"allowlist": {"packages": "foo"}, "blocklist": {}})
    assert filters.project_rejected_by("baz") == "allowlist_project"
    assert filters.project_rejected_by("FOO") is None
