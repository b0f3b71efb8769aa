"""plan: which mirrored projects a run filters again from their stored copy (``Plan.recheck``), as a table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from frumious.models import ListingEntry
from frumious.plan import Inputs, Memory, Options, plan
from frumious.protocol.statefiles import Todo
from frumious.settings import MirrorSettings
from frumious.upstream import Listing

NOW, DAY = 1_000_000.0, 86_400.0


@dataclass(frozen=True)
class Held:
    """The mirror holds these projects, one file each."""

    held: tuple[str, ...]

    def names(self) -> list[str]:
        return sorted(self.held)

    def holds(self, name: str) -> bool:
        return name in self.held

    def count(self) -> int:
        return len(self.held)

    def release_files(self) -> int:
        return len(self.held)

    def release_files_of(self, names: Iterable[str]) -> int:
        return len(list(names))


def listing(serial: int, **serials: int) -> Listing:
    return Listing([ListingEntry(n, s) for n, s in serials.items()], serial, "etag")


HELD = Held(("a", "b", "c"))

# (case, inputs, names the project filters refuse, expected recheck)
CASES: list[tuple[str, dict[str, Any], set[str], tuple[str, ...]]] = [
    ("nothing changed, nothing held: no recheck", {"listing": listing(9, a=1, b=1, c=1)}, set(), ()),
    (
        "changed release/file filters: every mirrored project the project filters allow, not those queued anyway",
        {"listing": listing(9, a=1, b=6, c=1), "recheck_all": True},
        {"c"},
        ("a",),
    ),
    (
        "changed filters with an unchanged listing (304): every mirrored project",
        {"listing": None, "recheck_all": True},
        set(),
        ("a", "b", "c"),
    ),
    (
        "a resumed run filters again too (the fingerprint waits for a finished run)",
        {"todo": Todo(9, (ListingEntry("b", 6),)), "recheck_all": True},
        set(),
        ("a", "c"),
    ),
    (
        "held files whose moment has passed: those projects only",
        {"listing": None, "memory": Memory(held={"a": NOW - 1, "b": NOW + DAY})},
        set(),
        ("a",),
    ),
    (
        "a moment of a project no longer mirrored is not acted on",
        {"listing": None, "memory": Memory(held={"gone": NOW - DAY})},
        set(),
        (),
    ),
    (
        "a due project the filters now exclude is not filtered again",
        {"listing": None, "memory": Memory(held={"a": NOW - DAY})},
        {"a"},
        (),
    ),
]


@pytest.mark.parametrize(("case", "given", "refused", "expected"), CASES, ids=[c[0] for c in CASES])
def test_recheck(case: str, given: dict[str, Any], refused: set[str], expected: tuple[str, ...]) -> None:
    values = {"serial": 5, "now": NOW, "memory": Memory(), "holdings": HELD} | given
    found = plan(Inputs(**values), lambda name: name not in refused, MirrorSettings(directory="/x"), Options())
    assert found.recheck == expected
    assert all(name not in {e.name for e in found.queue} for name in found.recheck)
    assert bool(expected) == any("again" in note for note in found.notes)
