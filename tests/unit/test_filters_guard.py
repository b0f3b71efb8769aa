"""The filter guard: typos in keys and sections, empty allowlists, idle keys, documented keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from frumious import config
from frumious.errors import ConfigError
from frumious.filters import BUILTIN_FILTERS, FilterContext, FilterSet, ProjectFilter, load_filters, loading
from frumious.filters.guard import probe
from frumious.models import NormalizedName
from frumious.settings import MirrorSettings, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "filters.md"
KNOWN = {*config.CONFIG_SECTIONS, "s3", "swift"}
Sections = Mapping[str, Mapping[str, str]]


def settings(plugins: str, sections: Sections) -> Settings:
    return Settings(mirror=MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections)


def load(plugins: str, sections: Sections, base_dir: str = "/nonexistent") -> FilterSet:
    return load_filters(settings(plugins, sections), base_dir=base_dir, known_sections=KNOWN)


def problems(plugins: str, sections: Sections, base_dir: str = "/nonexistent") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(plugins, sections, base_dir)
    return info.value.problems


def test_a_misspelled_key_is_named_with_the_closest_one() -> None:
    found = problems("allowlist_project", {"allowlist": {"packges": "requests"}})
    assert found[0].startswith("[allowlist] packges: unknown key (did you mean packages?)")
    # ... and the allowlist it left empty is the second problem, in the same error.
    assert "allowlist_project is enabled but names no project" in found[1]


def test_a_key_another_filter_reads_is_not_a_typo(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("flask\n")
    # requirements is project_requirements' key, which is not enabled: a warning, not an error.
    filters = load("allowlist_project", {"allowlist": {"packages": "requests", "requirements": "r.txt"}}, str(tmp_path))
    assert "[allowlist] requirements: ignored, as only project_requirements" in " ".join(filters.warnings)
    filters = load("blocklist_project", {"blocklist": {"packages": "evil", "platforms": "windows"}})
    assert any(w.startswith("[blocklist] platforms: ignored, as only exclude_platform") for w in filters.warnings)


def test_keys_inherited_from_default_and_legacy_plugins_keys_are_not_typos() -> None:
    sections = {"allowlist": {"packages": "requests", "base": "/srv", "plugins": "allowlist_project"}}
    with_own = Settings(
        mirror=MirrorSettings(directory="/x"),
        plugins=("allowlist_project",),
        sections=sections,
        own_keys={"allowlist": ("packages", "plugins"), "DEFAULT": ("base",)},
    )
    assert load_filters(with_own, known_sections=KNOWN).names == ("allowlist_project",)


def test_whole_section_filters_own_every_key() -> None:
    sections = {"regex_project_metadata": {"not-null:info.classifiers": ".*Python :: 3"}}
    assert load("regex_project_metadata", sections).names == ("regex_project_metadata",)


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"allowlst": {"packages": "x"}}, "[allowlst]: unknown section (did you mean allowlist?)"),
        ({"filter-regex": {"packages": "x"}}, "[filter-regex]: unknown section (did you mean filter_regex?)"),
        ({"mirorr": {"workers": "3"}}, "[mirorr]: unknown section (did you mean mirror?)"),
        ({"zzz": {"a": "b"}}, "[zzz]: unknown section"),
    ],
)
def test_unknown_sections(sections: Sections, expected: str) -> None:
    assert problems("blocklist_project", {**sections, "blocklist": {"packages": "evil"}}) == [expected]


def test_known_sections_pass_even_without_their_filter() -> None:
    sections = {
        "s3": {"region_name": "x"},
        "whitelist": {"packages": "x"},
        "latest_release": {"keep": "2"},
        "wheel_tags": {"architectures": "x86_64"},
        "size_project_metadata": {"max_package_size": "1G"},
        "blocklist": {"packages": "evil"},
    }
    filters = load("blocklist_project", sections)
    assert filters.names == ("blocklist_project",)


def test_plugins_keys_other_than_enabled() -> None:
    found = problems("", {"plugins": {"enable": "allowlist_project"}})
    assert found == ["[plugins] enable: unknown key (did you mean enabled?); filters are listed in enabled"]


def test_an_allowlist_no_enabled_filter_reads_would_mirror_everything() -> None:
    found = problems("", {"allowlist": {"packages": "requests"}})
    assert len(found) == 1 and "no enabled filter reads [allowlist]" in found[0]
    # Read for its exemptions by an enabled size filter, it is not idle.
    sized = load(
        "size_project_metadata",
        {"allowlist": {"packages": "numpy"}, "size_project_metadata": {"max_package_size": "1G"}},
    )
    assert sized.names == ("size_project_metadata",)


@pytest.mark.parametrize(
    ("plugins", "files", "fragment"),
    [
        ("project_requirements", {"r.txt": "# nothing yet\n"}, "project_requirements is enabled but names no project"),
        ("project_requirements", {}, "cannot read"),
        ("allowlist_release", {}, "allowlist_release is enabled but names no project"),
    ],
)
def test_empty_allowlists(tmp_path: Path, plugins: str, files: dict[str, str], fragment: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = problems(plugins, {"allowlist": {"requirements": "r.txt"}}, str(tmp_path))
    assert any(fragment in p for p in found), found


def test_a_glob_matching_nothing_empties_the_allowlist(tmp_path: Path) -> None:
    found = problems("project_requirements", {"allowlist": {"requirements": "reqs/*.txt"}}, str(tmp_path))
    assert found == [
        "[allowlist] requirements: project_requirements is enabled but names no project, so it would keep every"
        " project upstream; list projects there, or remove the filter from [plugins] enabled"
    ]


def test_one_allowlist_naming_projects_is_enough(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("flask\n")
    sections = {"allowlist": {"requirements": "r.txt"}}
    filters = load("allowlist_project project_requirements", sections, str(tmp_path))
    assert filters.only_projects == {"flask"}
    # Switched on by `all`, an empty allowlist is not a request to restrict anything.
    assert "allowlist_project" in load("all", {}).names


def test_every_key_a_filter_reads_is_documented() -> None:
    doc = DOC.read_text()
    empty = Settings(mirror=MirrorSettings(directory="/x"))
    for cls in BUILTIN_FILTERS:
        for section, keys in probe(cls, empty, "/nonexistent").items():
            assert f"[{section}]" in doc, (cls.name, section)
            for key in keys or ():
                assert re.search(rf"(`{re.escape(key)}`|^{re.escape(key)} =)", doc, re.MULTILINE), (cls.name, key)


def test_asked_records_keys_whether_set_or_not() -> None:
    context = FilterContext({"a": {"x": "1"}}, plugin="p", base_dir="/")
    assert context.value("a", "x") == "1" and context.get("a", "y") is None and context.lines("b", "z") == []
    context.section("c")
    assert context.asked == {"a": {"x", "y"}, "b": {"z"}, "c": None}


class LockSource(ProjectFilter):
    """Asks for [allowlist] mode only when [allowlist] files is set, as a real filter may."""

    name = "lock_source"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        if context.value("allowlist", "files"):
            context.value("allowlist", "mode")

    def allows_project(self, name: str, canonical: NormalizedName) -> bool:
        return True


def test_a_key_a_disabled_filter_asks_for_only_when_another_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "BUILTIN_FILTERS", (*loading.BUILTIN_FILTERS, LockSource))
    sections = {"allowlist": {"packages": "requests", "files": "uv.lock", "mode": "exact"}}
    filters = load("allowlist_project", sections)
    assert "[allowlist] mode: ignored, as only lock_source reads it and it is not enabled" in filters.warnings
    assert problems("allowlist_project", {"allowlist": {"packages": "requests", "mdoe": "x"}})[0].startswith(
        "[allowlist] mdoe: unknown key"
    )
