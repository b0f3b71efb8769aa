"""The `[tag:]dotted.path` grammar and the node matching rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from packaging.version import Version

from frumious.filters.paths import (
    NULL_TAGS,
    NodeKey,
    RegexRule,
    VersionRangeRule,
    file_document,
    find_node,
    node_values,
    parse_key,
    project_document,
)
from frumious.models import DistFile, Project, replace


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("info.name", NodeKey("info.name", ("info", "name"), "any", True)),
        ("all:info.classifiers", NodeKey("all:info.classifiers", ("info", "classifiers"), "all", True)),
        ("not-null:none:a", NodeKey("not-null:none:a", ("a",), "none", False)),
        ("not-null:match-null:any:all:a.b", NodeKey("not-null:match-null:any:all:a.b", ("a", "b"), "all", True)),
    ],
)
def test_parse_key(key: str, expected: NodeKey) -> None:
    assert parse_key(key) == expected


@pytest.mark.parametrize(("key", "fragment"), [("bogus:info.name", "unknown tag 'bogus'"), ("info..name", "dotted")])
def test_parse_key_rejects(key: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_key(key)


def test_parse_key_restricted_tags() -> None:
    with pytest.raises(ValueError, match="unknown tag 'all'"):
        parse_key("all:info.name", allowed_tags=NULL_TAGS)


DOC = {"info": {"name": "x", "classifiers": ["A :: 1", "B :: 2"], "empty": [], "none": None, "blank": "", "n": 3}}


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("info.name", ["x"]),
        ("info.classifiers", ["A :: 1", "B :: 2"]),
        ("info.empty", []),
        ("info.none", []),
        ("info.missing", []),
        ("info.name.deeper", []),
        ("info.blank", [""]),
        ("info.n", ["3"]),
        (
            "info",
            ['{"blank": "", "classifiers": ["A :: 1", "B :: 2"], "empty": [], "n": 3, "name": "x", "none": null}'],
        ),
    ],
)
def test_find_node_values(path: str, values: list[str]) -> None:
    assert node_values(find_node(DOC, path.split("."))) == values


# (key, patterns, expected pass) over DOC; the default is any:match-null.
REGEX_CASES: list[tuple[str, list[str], bool]] = [
    ("info.classifiers", ["A"], True),
    ("info.classifiers", ["C", "B"], True),
    ("info.classifiers", ["C"], False),
    ("info.classifiers", [":: 1"], False),  # re.match is anchored at the start
    ("all:info.classifiers", ["A", "B"], True),
    ("all:info.classifiers", ["A", "C"], False),
    ("none:info.classifiers", ["C"], True),
    ("none:info.classifiers", ["B"], False),
    ("info.missing", ["anything"], True),
    ("not-null:info.missing", ["anything"], False),
    ("all:info.empty", ["x"], True),
    ("not-null:all:info.empty", ["x"], False),
    ("none:info.missing", ["x"], True),  # bandersnatch rejects here; frumious follows the null tag
    ("not-null:none:info.missing", ["x"], False),
    ("info.blank", ["^$"], True),  # an empty string is a value, not a null
    ("info.n", [r"\d"], True),
]


@pytest.mark.parametrize(("key", "patterns", "passes"), REGEX_CASES)
def test_regex_rule(key: str, patterns: list[str], passes: bool) -> None:
    rule = RegexRule(parse_key(key), tuple(re.compile(p) for p in patterns))
    assert rule.passes(DOC) is passes


@pytest.mark.parametrize(
    ("key", "node", "versions", "passes"),
    [
        ("r", ">=3.8", ["3.11"], True),
        ("r", ">=3.8", ["2.7", "3.7"], False),
        ("r", ">=3.8", ["2.7", "3.9"], True),
        ("r", ">=3.12", ["3.13.0rc1"], True),  # pre-releases allowed
        ("r", None, ["3.11"], True),
        ("r", "", ["3.11"], True),
        ("not-null:r", None, ["3.11"], False),
        ("r", ">=3.6.*", ["2.7"], True),  # unparseable specifier counts as null
        ("not-null:r", ">=3.6.*", ["3.11"], False),
    ],
)
def test_version_range_rule(key: str, node: Any, versions: list[str], passes: bool) -> None:
    rule = VersionRangeRule(parse_key(key, allowed_tags=NULL_TAGS), tuple(Version(v) for v in versions))
    assert rule.passes({"r": node}) is passes


def _file(filename: str = "x-1.0.tar.gz", version: str = "1.0") -> DistFile:
    return DistFile(filename, f"https://files/packages/{filename}", 5, {"sha256": "ab"}, version, packagetype="sdist")


def test_documents_show_upstreams_own_objects() -> None:
    upstream = {"filename": "x-1.0.tar.gz", "comment_text": "c"}
    file = replace(_file(), fields=upstream)
    project = Project("x", 1, {"1.0": (file,)}, info={"name": "x"}, extra={"urls": [], "last_serial": "1"})
    assert project_document(project) == {
        "info": {"name": "x"},
        "last_serial": "1",
        "releases": {"1.0": [upstream]},
        "urls": [],
    }
    assert file_document(project, file)["release_file"] is upstream
    assert project.raw == project_document(project)  # older third-party filters read project.raw


def test_documents_built_from_model_without_raw() -> None:
    project = Project("x", 7, {"1.0": (_file(),)}, info={"name": "x", "version": "1.0"})
    document = project_document(project)
    assert document["last_serial"] == 7
    assert document["releases"]["1.0"][0]["packagetype"] == "sdist"
    file_doc = file_document(project, _file())
    assert (file_doc["release"], file_doc["release_file"]["filename"]) == ("1.0", "x-1.0.tar.gz")
