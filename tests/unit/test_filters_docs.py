"""Every example in docs/filters.md loads, and filters what the page says it does.

Each ```ini block is parsed the bandersnatch way and checked against the entry of EXPECTED
named by the heading it sits under; the page and the table must name the same headings.
"""

from __future__ import annotations

import configparser
import re
import sys
import tomllib
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from frumious.filters import ENTRY_POINT_GROUP, FilterSet, load_filters, loading
from frumious.models import DistFile, Project, replace
from frumious.settings import MirrorSettings, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "filters.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)


def blocks(language: str) -> list[tuple[str, str]]:
    """(heading above the block, block text) for every fenced block in ``language``."""
    text = DOC.read_text()
    headings = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(text)]
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) == language:
            heading = [h for pos, h in headings if pos < match.start()][-1]
            found.append((heading, match.group(2)))
    return found


def settings_from_ini(text: str) -> Settings:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=configparser.BasicInterpolation())
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    enabled = parser.get("plugins", "enabled", fallback="")
    plugins = tuple(line.strip() for line in enabled.split("\n") if line.strip())
    sections = {name: dict(parser[name]) for name in parser.sections()}
    return Settings(mirror=MirrorSettings(directory="/x"), plugins=plugins, sections=sections)


# -- sample data ---------------------------------------------------------------------------

KINDS = {  # file kind -> (filename suffix, packagetype, requires_python)
    "sdist": (".tar.gz", "sdist", None),
    "any": ("-py3-none-any.whl", "bdist_wheel", ">=3.8"),
    "win27": ("-cp27-cp27m-win_amd64.whl", "bdist_wheel", "<3"),
    "mac312": ("-cp312-cp312-macosx_11_0_arm64.whl", "bdist_wheel", ">=3.12"),
    "exe": (".win-amd64.exe", "bdist_wininst", None),
}


def make(name: str, versions: list[str], current: str, size: int = 10, **info: object) -> Project:
    releases = {}
    for v in versions:
        releases[v] = tuple(
            DistFile(
                f"{name}-{v}{suffix}",
                f"https://f/packages/{name}-{v}{suffix}",
                size,
                {},
                v,
                packagetype=t,
                requires_python=rp,
            )
            for suffix, t, rp in KINDS.values()
        )
    full_info = {"name": name, "version": current, **info}
    releases = {
        v: tuple(
            replace(
                f,
                fields={
                    "filename": f.filename,
                    "size": f.size,
                    "packagetype": f.packagetype,
                    "requires_python": f.requires_python,
                },
            )
            for f in fs
        )
        for v, fs in releases.items()
    }
    return Project(name, 1, releases, info=full_info)


EXAMPLE = make("example", ["1.0", "1.1", "2.0rc1", "2.0", "2.1.dev1"], current="2.0")
NAMES = [
    "evil-package",
    "typo.squat",
    "requests",
    "Django",
    "flask",
    "numpy",
    "torch-nightly",
    "tf-keras",
    "abc",
    "example",
]
PY3 = "Programming Language :: Python :: 3"
PROJECTS = [
    make("modern", ["1.0", "2.0"], "2.0", classifiers=[PY3, "Development Status :: 5 - Production/Stable"]),
    make("legacy", ["1.0"], "1.0", classifiers=["Programming Language :: Python :: 2"]),
    make("retired", ["1.0", "2.0"], "2.0", classifiers=[PY3, "Development Status :: 7 - Inactive"]),
    make("unlabelled", ["1.0", "2.0"], "2.0"),
    make("numpy", [str(i) for i in range(3)], "2", size=2**28),  # 3 releases x 5 files x 256 MiB
    make("huge", [str(i) for i in range(600)], "599", size=2**20),
]


def names(filters: FilterSet) -> list[str]:
    return [n for n in NAMES if filters.allows_project(n)]


def projects(filters: FilterSet) -> list[str]:
    return [p.name for p in PROJECTS if filters.allows_metadata(p)]


def versions(filters: FilterSet, project: Project = EXAMPLE) -> list[str]:
    return list(filters.apply(project).releases)


def kinds(filters: FilterSet) -> list[str]:
    """File kinds kept in every release of EXAMPLE (each release has one file of each kind)."""
    kept = {f.filename.removeprefix(f"example-{f.version}") for f in filters.apply(EXAMPLE).files}
    return [kind for kind, (suffix, _, _) in KINDS.items() if suffix in kept]


def cooled(filters: FilterSet) -> list[str]:
    """Files kept of a release uploaded today and one a month old, for a project and an exempt one."""
    now = datetime.now(UTC)
    kept = []
    for name in ("example", "cryptography"):
        for days in (0, 30):
            uploaded = (now - timedelta(days=days)).isoformat()
            dist = DistFile(f"{name}-{days}.tar.gz", f"https://f/{name}-{days}.tar.gz", 1, {}, "1", uploaded)
            kept += [f.filename for f in filters.apply(Project(name, 1, {"1": (dist,)})).files]
    return kept


ALL_VERSIONS = list(EXAMPLE.releases)
# heading -> (files to create under base_dir, check returning the observed result, expected result)
Check = Callable[[FilterSet], object]
EXPECTED: dict[str, tuple[dict[str, str], Check, object]] = {
    "Enabling filters": (
        {},
        lambda f: (names(f)[:2], versions(f)),
        (["typo.squat", "requests"], ["1.0", "1.1", "2.0"]),
    ),
    "blocklist_project": ({}, names, [n for n in NAMES if n not in ("evil-package", "typo.squat")]),
    "allowlist_project": ({}, names, ["requests", "Django"]),
    "project_requirements": (
        {"requirements/base.txt": "flask==3.0.3\n", "requirements/team-data.txt": "numpy>=1.26\n"},
        names,
        ["flask", "numpy"],
    ),
    "regex_project": ({}, names, [n for n in NAMES if n not in ("torch-nightly", "tf-keras")]),
    # Before its first run the closure allows only the roots; the run grows it (test_core_closure).
    "Dependency closure": ({}, names, ["requests", "Django"]),
    "regex_project_metadata": ({}, projects, ["modern"]),
    "size_project_metadata": ({}, projects, ["modern", "legacy", "retired", "unlabelled", "numpy"]),
    "versions_count_project_metadata": ({}, projects, ["modern", "retired", "unlabelled", "numpy"]),
    "exclude_platform": ({}, kinds, ["sdist", "any"]),
    "regex_release_file_metadata": ({}, kinds, ["sdist", "any", "win27", "mac312"]),
    "version_range_release_file_metadata": ({}, kinds, ["sdist", "any", "mac312", "exe"]),
    "wheel_tags": ({}, kinds, ["sdist", "any", "mac312"]),
    "cooldown_release_file": ({}, cooled, ["example-30.tar.gz", "cryptography-0.tar.gz", "cryptography-30.tar.gz"]),
    "blocklist_release": ({}, versions, ["1.0", "1.1", "2.0rc1", "2.1.dev1"]),
    "allowlist_release": ({}, lambda f: (names(f), versions(f)), (["example"], ["1.1", "2.0rc1", "2.1.dev1"])),
    "project_requirements_pinned": ({"pinned.txt": "example==2.0rc1\n"}, versions, ["2.0rc1"]),
    "prerelease_release": (
        {},
        lambda f: (versions(f), versions(f, make("other", ["1.0", "2.0rc1"], "1.0"))),
        (["1.0", "1.1", "2.0"], ["1.0", "2.0rc1"]),
    ),
    "regex_release": ({}, versions, ["2.0rc1", "2.0"]),
    "latest_release": ({}, versions, ["2.0", "2.1.dev1"]),
    "lockfiles": (
        {
            "repos/web/uv.lock": '[[package]]\nname = "Flask"\nversion = "3.0.3"\nsource = { registry = "x" }\n',
            "repos/data/requirements.txt": "numpy==1.26.4 --hash=sha256:" + "0" * 64 + "\n",
        },
        names,
        ["flask", "numpy"],
    ),
    "Writing a filter plugin": ({}, names, [n for n in NAMES if len(n.replace(".", "-")) >= 4]),
}


@pytest.fixture
def doc_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the page's plugin example: its python block as a module, its toml entry point."""
    ((_, toml_text),) = blocks("toml")
    ((_, source),) = blocks("python")
    ((name, target),) = tomllib.loads(toml_text)["project"]["entry-points"][ENTRY_POINT_GROUP].items()
    module = types.ModuleType(target.split(":")[0])
    exec(compile(source, str(DOC), "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    entry = EntryPoint(name=name, value=target, group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(loading, "_plugin_entry_points", lambda: [entry])


def test_every_example_is_checked() -> None:
    headings = [heading for heading, _ in blocks("ini")]
    assert len(headings) == len(set(headings)), "one ini example per heading"
    assert set(headings) == set(EXPECTED)
    documented = set(re.findall(r"^### (\w+)$", DOC.read_text(), re.MULTILINE))
    assert documented >= {cls.name for cls in loading.BUILTIN_FILTERS}


@pytest.mark.parametrize(("heading", "ini"), blocks("ini"), ids=[h for h, _ in blocks("ini")])
@pytest.mark.usefixtures("doc_plugin")
def test_example(heading: str, ini: str, tmp_path: Path) -> None:
    files, check, expected = EXPECTED[heading]
    for relative, content in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content)
    filters = load_filters(settings_from_ini(ini), base_dir=str(tmp_path))
    assert not [w for w in filters.warnings if "does nothing" in w]
    assert check(filters) == expected
