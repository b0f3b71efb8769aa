"""load_filters: enabling, aliases, errors, warnings, third-party plugins, fingerprints."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from frumious.errors import ConfigError
from frumious.filters import (
    BUILTIN_FILTERS,
    ENTRY_POINT_GROUP,
    FilterContext,
    FilterSet,
    ProjectFilter,
    ReleaseFilter,
    load_filters,
    loading,
)
from frumious.models import DistFile, NormalizedName, Project
from frumious.settings import MirrorSettings, Settings


def settings(plugins: str, sections: Mapping[str, Mapping[str, str]] | None = None) -> Settings:
    return Settings(mirror=MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections or {})


def load(plugins: str, sections: Mapping[str, Mapping[str, str]] | None = None) -> FilterSet:
    return load_filters(settings(plugins, sections))


# -- a third-party plugin, as a package would ship it ----------------------------------------


class NoVowelsFilter(ProjectFilter):
    """Drops projects whose name has no vowel, unless [no_vowels] allow lists it."""

    name = "no_vowels"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.allowed = set(context.lines("no_vowels", "allow"))

    def allows_project(self, name: str, canonical: NormalizedName) -> bool:
        return canonical in self.allowed or any(c in "aeiou" for c in canonical)


class EvenReleases(ReleaseFilter):
    name = "even_releases"

    def keeps_release(self, project: Project, version: str) -> bool:
        return int(version.split(".")[-1]) % 2 == 0


class Misnamed(NoVowelsFilter):
    name = "something_else"


class NotAFilter:
    name = "not_a_filter"


def entry_point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{target}", group=ENTRY_POINT_GROUP)


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    installed = [entry_point("no_vowels", "NoVowelsFilter"), entry_point("even_releases", "EvenReleases")]
    monkeypatch.setattr(loading, "_plugin_entry_points", lambda: installed)
    return installed


# -- enabling ---------------------------------------------------------------------------------


def test_plugins_are_off_unless_listed() -> None:
    filters = load("", {"blocklist": {"packages": "foo"}})
    assert filters.names == () and filters.allows_project("foo")


def test_all_enables_every_builtin_quietly() -> None:
    filters = load("all")
    assert filters.names == tuple(cls.name for cls in BUILTIN_FILTERS)
    assert filters.warnings == ()
    assert filters.allows_project("anything")


def test_listed_order_does_not_matter_and_duplicates_collapse() -> None:
    a = load("regex_project blocklist_project regex_project", {"blocklist": {"packages": "x"}})
    b = load("blocklist_project regex_project", {"blocklist": {"packages": "x"}})
    assert a.names == b.names == ("blocklist_project", "regex_project")
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("blacklist_project", "blocklist_project"),
        ("whitelist_project", "allowlist_project"),
        ("blacklist_release", "blocklist_release"),
        ("whitelist_release", "allowlist_release"),
        ("exclude_platforms", "exclude_platform"),
    ],
)
def test_deprecated_names_work_with_a_warning(old: str, new: str) -> None:
    filters = load(old, {"blocklist": {"packages": "x", "platforms": "windows"}, "allowlist": {"packages": "x"}})
    assert filters.names == (new,)
    assert f"[plugins] enabled: {old!r} is a deprecated name; use {new!r}" in filters.warnings


def test_legacy_sections_are_not_read() -> None:
    # bandersnatch 8 ignores them too; frumious.config warns that they are obsolete.
    filters = load("blocklist_project", {"blacklist": {"packages": "a"}})
    assert filters.allows_project("a")


def test_inert_filters_warn_only_when_named() -> None:
    named = load("latest_release regex_project")
    assert named.warnings == (
        "filter plugin 'regex_project' does nothing: [filter_regex] packages is empty",
        "filter plugin 'latest_release' does nothing: [latest_release] keep is not set (or 0)",
    )
    assert load("all").warnings == ()


def test_every_problem_is_reported_at_once() -> None:
    sections = {
        "filter_regex": {"packages": "("},
        "latest_release": {"keep": "x", "sort_by": "size"},
        "blocklist": {"platforms": "amiga"},
    }
    with pytest.raises(ConfigError) as info:
        load("regex_project latest_release exclude_platform bogus_filter", sections)
    assert info.value.exit_code == 2
    problems = info.value.problems
    assert len(problems) == 5
    assert problems[0].startswith(
        "[plugins] enabled: unknown filter plugin 'bogus_filter' (known: all, allowlist_project"
    )


def test_requirements_path_defaults_to_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r.txt").write_text("a\n")
    monkeypatch.chdir(tmp_path)
    filters = load("project_requirements", {"allowlist": {"requirements": "r.txt"}})
    assert filters.allows_project("a") and not filters.allows_project("b")


# -- fingerprints -------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_tracks_effective_config(tmp_path: Path) -> None:
    base = {"allowlist": {"packages": "a\nb"}}
    fp = load("allowlist_project", base).fingerprint
    assert len(fp) == 64 and fp == load("allowlist_project", base).fingerprint
    assert fp == load("allowlist_project", {"allowlist": {"packages": "B # same\nA"}}).fingerprint
    assert fp != load("allowlist_project", {"allowlist": {"packages": "a\nc"}}).fingerprint
    assert fp != load("allowlist_project allowlist_release", base).fingerprint
    assert load("").fingerprint == FilterSet().fingerprint != fp


def test_fingerprint_follows_requirements_file_content(tmp_path: Path) -> None:
    req = tmp_path / "r.txt"
    sections = {"allowlist": {"requirements": "r.txt"}}
    req.write_text("a==1\n")
    first = load_filters(settings("project_requirements_pinned", sections), base_dir=str(tmp_path)).fingerprint
    req.write_text("a==2\n")
    assert load_filters(settings("project_requirements_pinned", sections), base_dir=str(tmp_path)).fingerprint != first


# -- third-party plugins ----------------------------------------------------------------------


def test_third_party_plugin_by_name(third_party: list[EntryPoint]) -> None:
    filters = load("no_vowels blocklist_project", {"no_vowels": {"allow": "xyz"}, "blocklist": {"packages": "foo"}})
    assert filters.names == ("blocklist_project", "no_vowels")
    assert [filters.allows_project(n) for n in ("foo", "bar", "xyz", "qrst")] == [False, True, True, False]


def test_third_party_plugins_join_all(third_party: list[EntryPoint]) -> None:
    filters = load("all")
    assert filters.names[-2:] == ("no_vowels", "even_releases")
    files = {
        v: (DistFile(f"p-{v}.tar.gz", f"https://f/packages/p-{v}.tar.gz", 1, {}, v),) for v in ("1.1", "1.2", "1.4")
    }
    assert list(filters.apply(Project("p", 1, files, info={"name": "p"})).releases) == ["1.2", "1.4"]


def test_third_party_fingerprint_uses_what_it_read(third_party: list[EntryPoint]) -> None:
    a = load("no_vowels", {"no_vowels": {"allow": "x"}}).fingerprint
    assert a != load("no_vowels", {"no_vowels": {"allow": "y"}}).fingerprint


@pytest.mark.parametrize(
    ("ep", "fragment"),
    [
        (entry_point("something", "Misnamed"), "has name 'something_else'; they must match"),
        (entry_point("something", "NotAFilter"), "is not a subclass of one of"),
        (EntryPoint(name="something", value="no_such_module_q:X", group=ENTRY_POINT_GROUP), "failed to load"),
    ],
)
def test_broken_third_party_plugin_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, ep: EntryPoint, fragment: str
) -> None:
    monkeypatch.setattr(loading, "_plugin_entry_points", lambda: [ep])
    with pytest.raises(ConfigError) as info:
        load("something")
    assert len(info.value.problems) == 1 and fragment in info.value.problems[0]
    assert load("blocklist_project").names == ("blocklist_project",)  # not loaded unless wanted


def test_entry_point_cannot_shadow_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "_plugin_entry_points", lambda: [entry_point("regex_project", "NoVowelsFilter")])
    filters = load("regex_project", {"filter_regex": {"packages": "a"}})
    assert not filters.allows_project("abc") and filters.allows_project("xyz")
    assert any("shadows a built-in" in w for w in filters.warnings)


def test_release_filter_must_implement_something() -> None:
    class Lazy(ReleaseFilter):
        name = "lazy"

    lazy = Lazy(FilterContext({}, plugin="lazy", base_dir="."))
    with pytest.raises(NotImplementedError):
        lazy.kept_versions(Project("p", 1, {"1": ()}))
