"""cooldown_release_file: its keys, its verdicts and revisit moments; fingerprints per kind of filter;
and which kinds a mirror sees as changed (``Mirror.changed_filter_kinds``), older state files included."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from frumious.errors import ConfigError
from frumious.filters import FilterSet, load_filters
from frumious.mirror import Mirror
from frumious.models import DistFile, Project
from frumious.record.db import MirrorRecord
from frumious.settings import MirrorSettings, Settings
from frumious.testing.memstore import MemoryStore

DAY = 86_400.0
NOW = 1_700_000_000.0


def load(plugins: str, **cooldown: str) -> FilterSet:
    sections = {"cooldown": cooldown} if cooldown else {}
    return load_filters(Settings(MirrorSettings(directory="/x"), plugins=tuple(plugins.split()), sections=sections))


def project(name: str, *ages: float | None) -> Project:
    """One release per age (days before NOW; None: no upload time)."""
    releases = {}
    for i, age in enumerate(ages):
        uploaded = "" if age is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - age * DAY))
        releases[str(i)] = (DistFile(f"{name}-{i}.tar.gz", f"https://f/{name}-{i}.tar.gz", 1, {}, str(i), uploaded),)
    return Project(name, 1, releases)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)


@pytest.mark.usefixtures("clock")
def test_young_files_are_held_and_the_first_eligible_moment_is_given() -> None:
    filters = load("cooldown_release_file", days="7")
    kept = filters.apply(project("p", 30, 2, 5, None))
    assert list(kept.releases) == ["0", "3"]  # the month-old one, and the undated one (kept by default)
    assert filters.revisit_at(project("p", 30, 2, 5, None)) == NOW + 2 * DAY
    assert filters.revisit_at(project("p", 30)) is None


@pytest.mark.usefixtures("clock")
def test_exempt_projects_undated_hold_and_fractional_days() -> None:
    filters = load("cooldown_release_file", days="0.5", exempt="Hot_Fix other", undated="hold")
    assert list(filters.apply(project("p", 1, 0.25, None)).releases) == ["0"]
    assert list(filters.apply(project("hot.fix", 1, 0.25, None)).releases) == ["0", "1", "2"]
    assert filters.revisit_at(project("hot-fix", 0.25)) is None


def test_bad_keys_are_config_errors_listed_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load("cooldown_release_file", days="a week", undated="maybe")
    assert len(caught.value.problems) == 2 and "days" in caught.value.problems[0]
    with pytest.raises(ConfigError):
        load("cooldown_release_file", days="-1")


def test_the_fingerprint_ignores_the_clock_and_kinds_are_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load("cooldown_release_file", days="7")
    monkeypatch.setattr(time, "time", lambda: NOW + 30 * DAY)
    later = load("cooldown_release_file", days="7")
    assert first.fingerprint == later.fingerprint and first.fingerprints == later.fingerprints
    other = load("cooldown_release_file", days="8")
    changed = {k for k in KINDS if first.fingerprints[k] != other.fingerprints[k]}
    assert changed == {"release_file"}


KINDS = ("project", "metadata", "release_file", "release")


async def test_changed_kinds_read_this_and_older_state_files(tmp_path: Path) -> None:
    store = MemoryStore()
    record = MirrorRecord(str(tmp_path / "r.sqlite"))
    tree = Mirror(store, record, MirrorSettings(directory="/x"))
    a, b = load("cooldown_release_file", days="7"), load("cooldown_release_file", days="8")
    assert await tree.changed_filter_kinds(a.fingerprint, a.fingerprints) == {"project"}  # never published
    await tree.publish(1, 0.0, None, a.fingerprint, a.fingerprints)
    assert await tree.changed_filter_kinds(a.fingerprint, a.fingerprints) == frozenset()
    assert await tree.changed_filter_kinds(b.fingerprint, b.fingerprints) == {"release_file"}
    await store.write(".frumious/filters", b"0123abcd")  # an older frumious: one fingerprint
    assert await tree.changed_filter_kinds(b.fingerprint, b.fingerprints) == set(KINDS)
    record.close()
