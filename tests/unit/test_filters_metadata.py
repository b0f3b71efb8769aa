"""Metadata filters: whole projects judged on their upstream JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from frumious.errors import ConfigError
from frumious.filters import FilterSet, load_filters
from frumious.filters.metadata import parse_size
from frumious.models import DistFile, Project
from frumious.settings import MirrorSettings, Settings


def load(plugins: str, sections: Mapping[str, Mapping[str, str]]) -> FilterSet:
    settings = Settings(mirror=MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections)
    return load_filters(settings)


def project(name: str, sizes: dict[str, list[int]], **info: Any) -> Project:
    releases = {
        v: tuple(
            DistFile(
                f"{name}-{v}-{i}.whl",
                f"https://f/packages/{name}-{v}-{i}.whl",
                s,
                {},
                v,
                fields={"filename": f"{name}-{v}-{i}.whl", "size": s},
            )
            for i, s in enumerate(ss)
        )
        for v, ss in sizes.items()
    }
    return Project(name, 1, releases, info={"name": name, **info})


SMALL = project("Small_One", {"1.0": [100], "2.0": [100, 100]}, classifiers=["Programming Language :: Python :: 3"])
BIG = project("big", {"1.0": [600], "2.0": [600]}, classifiers=["Programming Language :: Python :: 2"])
MANY = project("many", {str(i): [1] for i in range(10)}, summary="many releases")
EMPTY = project("empty", {"1.0": []})
ALL = [SMALL, BIG, MANY, EMPTY]

CASES = [
    (
        "regex_project_metadata",
        {"regex_project_metadata": {"info.classifiers": ".*Python :: 3"}},
        ["Small_One", "many", "empty"],
    ),
    (
        "regex_project_metadata",
        {"regex_project_metadata": {"not-null:info.classifiers": ".*Python :: 3"}},
        ["Small_One"],
    ),
    (
        "regex_project_metadata",
        {"regex_project_metadata": {"none:info.classifiers": ".*Python :: 2", "not-null:info.name": "[a-z]"}},
        ["many", "empty"],
    ),
    ("regex_project_metadata", {}, ["Small_One", "big", "many", "empty"]),
    ("size_project_metadata", {"size_project_metadata": {"max_package_size": "1000"}}, ["Small_One", "many", "empty"]),
    (
        "size_project_metadata",
        {"size_project_metadata": {"max_package_size": "1200"}},
        ["Small_One", "big", "many", "empty"],
    ),
    (
        "size_project_metadata",
        {"size_project_metadata": {"max_package_size": "1K"}, "allowlist": {"packages": "BIG # ok"}},
        ["Small_One", "big", "many", "empty"],
    ),
    (
        "size_project_metadata",
        {"size_project_metadata": {"max_package_size": "0"}},
        ["Small_One", "big", "many", "empty"],
    ),
    (
        "versions_count_project_metadata",
        {"versions_count_project_metadata": {"min_versions": "2"}},
        ["Small_One", "big", "many"],
    ),
    (
        "versions_count_project_metadata",
        {"versions_count_project_metadata": {"max_versions": "5"}},
        ["Small_One", "big", "empty"],
    ),
    (
        "versions_count_project_metadata",
        {
            "versions_count_project_metadata": {"min_versions": "2", "max_versions": "5"},
            "allowlist": {"packages": "many"},
        },
        ["Small_One", "big", "many"],
    ),
    (
        "versions_count_project_metadata",
        {"versions_count_project_metadata": {"min_versions": "0"}},
        ["Small_One", "big", "many", "empty"],
    ),
]


@pytest.mark.parametrize(("plugins", "sections", "expected"), CASES)
def test_metadata_filters(plugins: str, sections: dict[str, dict[str, str]], expected: list[str]) -> None:
    filters = load(plugins, sections)
    assert [p.name for p in ALL if filters.allows_metadata(p)] == expected


def test_metadata_rejected_by() -> None:
    filters = load("size_project_metadata", {"size_project_metadata": {"max_package_size": "10"}})
    assert filters.metadata_rejected_by(BIG) == "size_project_metadata"
    assert filters.metadata_rejected_by(EMPTY) is None


def test_regex_metadata_reads_the_model_without_raw() -> None:
    bare = Project("p", 1, {"1.0": ()}, info={"name": "p", "summary": "hello"})
    filters = load("regex_project_metadata", {"regex_project_metadata": {"info.summary": "hel"}})
    assert filters.allows_metadata(bare)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("0", 0),
        ("13b", 13),
        ("5 bytes", 5),
        ("1K", 1024),
        ("1 KB", 1024),
        ("1KiB", 1024),
        ("1G", 1024**3),
        ("1gigabyte", 1024**3),
        ("1.5 GB", int(1.5 * 1024**3)),
        ("2T", 2 * 1024**4),
        (" 3M ", 3 * 1024**2),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "-1", "1 X", "1,5G", "one"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("plugins", "sections", "fragment"),
    [
        ("size_project_metadata", {"size_project_metadata": {"max_package_size": "lots"}}, "max_package_size"),
        ("versions_count_project_metadata", {"versions_count_project_metadata": {"min_versions": "x"}}, "min_versions"),
        (
            "versions_count_project_metadata",
            {"versions_count_project_metadata": {"max_versions": "-1"}},
            "max_versions",
        ),
        (
            "versions_count_project_metadata",
            {"versions_count_project_metadata": {"min_versions": "5", "max_versions": "2"}},
            "min_versions (5) > max_versions (2)",
        ),
        ("regex_project_metadata", {"regex_project_metadata": {"info.name": "("}}, "bad regular expression"),
        ("regex_project_metadata", {"regex_project_metadata": {"nope:info.name": "x"}}, "unknown tag 'nope'"),
        ("regex_project_metadata", {"regex_project_metadata": {"info.name": ""}}, "no pattern"),
    ],
)
def test_bad_config_is_an_error(plugins: str, sections: dict[str, dict[str, str]], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(plugins, sections)
    assert any(fragment in p for p in info.value.problems), info.value.problems
