"""plan: the pure planner, as a table of cases (inputs -> the plan's fields); no I/O, no store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from frumious.models import ListingEntry
from frumious.plan import Inputs, Memory, Options, Plan, plan
from frumious.protocol.statefiles import Todo
from frumious.retries import Failure
from frumious.settings import MirrorSettings
from frumious.upstream import Listing

NOW = 1_000_000.0
DAY = 86_400.0


@dataclass(frozen=True)
class Held:
    """What the mirror holds, as plain values: project -> its release files."""

    files: dict[str, int] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.files)

    def holds(self, name: str) -> bool:
        return name in self.files

    def count(self) -> int:
        return len(self.files)

    def release_files(self) -> int:
        return sum(self.files.values())

    def release_files_of(self, names: Iterable[str]) -> int:
        return sum(self.files[name] for name in names)


def listing(serial: int | None = None, invalid: tuple[str, ...] = (), **serials: int) -> Listing:
    return Listing([ListingEntry(n, s) for n, s in serials.items()], serial, "etag-new", invalid=invalid)


MANY = {f"p{i}": 1 for i in range(10)}

# (case, inputs, allowed-out names, settings overrides, options, expected plan fields)
CASES: list[tuple[str, dict[str, Any], set[str], dict[str, Any], Options, dict[str, Any]]] = [
    (
        "a first run queues every listed project, heading for the root's serial",
        {"serial": 0, "listing": listing(9, a=3, B=5)},
        set(),
        {},
        Options(),
        {"queue": (("a", 3), ("B", 5)), "target": 5, "ceiling": 9, "resumed": False, "refused": None},
    ),
    (
        "only projects past the mirror's serial are queued",
        {"serial": 4, "listing": listing(9, a=3, b=5), "holdings": Held({"a": 1, "b": 1})},
        set(),
        {},
        Options(),
        {"queue": (("b", 5),), "target": 5},
    ),
    (
        "a filtered-out project the mirror holds is excluded; a filtered-out listed one is ignored",
        {"serial": 4, "listing": listing(9, a=5, c=6), "holdings": Held({"a": 1})},
        {"a", "c"},
        {},
        Options(),
        {"queue": (), "excluded": ("a",), "target": 4},
    ),
    (
        "a project that left the listing is asked for again, confirmable after the delay",
        {
            "serial": 4,
            "listing": listing(9, a=5),
            "holdings": Held({"a": 1, "gone": 1, "new-gone": 1}),
            "memory": Memory(vanishing={"gone": NOW - 2 * DAY}),
        },
        set(),
        {"max_delete_share": 1.0},
        Options(),
        {
            "queue": (("a", 5), ("gone", 0), ("new-gone", 0)),
            "vanished": ("gone", "new-gone"),
            "confirmable": ("gone",),
            "refused": None,
        },
    ),
    (
        "the safety valve refuses too many removals: a field of the plan, vanished dropped from the queue",
        {
            "serial": 4,
            "listing": listing(9, p0=5),
            "holdings": Held(MANY),
            "memory": Memory(vanishing={f"p{i}": NOW - 2 * DAY for i in range(1, 10)}),
        },
        set(),
        {"max_delete_share": 0.5},
        Options(),
        {
            "queue": (("p0", 5),),
            "vanished": (),
            "confirmable": (),
            "keep_vanishing": True,
            "refused": "refusing to remove 9 of 10 projects in one run (max-delete-share allows 5)"
            "; if that is intended, rerun with --allow-mass-delete",
        },
    ),
    (
        "--allow-mass-delete lets the same removals through",
        {
            "serial": 4,
            "listing": listing(9, p0=5),
            "holdings": Held(MANY),
            "memory": Memory(vanishing={f"p{i}": NOW - 2 * DAY for i in range(1, 10)}),
        },
        set(),
        {"max_delete_share": 0.5},
        Options(allow_mass_delete=True),
        {"refused": None, "confirmable": tuple(f"p{i}" for i in range(1, 10))},
    ),
    (
        "the file valve refuses one project holding most of the mirror's files",
        {
            "serial": 4,
            "listing": listing(9, a=1, b=1, c=1),
            "holdings": Held({"a": 1, "b": 1, "c": 1, "big": 5000}),
            "memory": Memory(vanishing={"big": NOW - 2 * DAY}),
        },
        set(),
        {"max_delete_share": 0.5},
        Options(),
        {
            "refused": "refusing to remove 1 project(s) holding 5000 of the mirror's 5003 files in one run"
            " (max-delete-share allows 2501 files); if that is intended, rerun with --allow-mass-delete",
        },
    ),
    (
        "a pruned exclusion counts against the valve; a refused plan prunes nothing",
        {"serial": 4, "listing": listing(9, **MANY), "holdings": Held(MANY)},
        {f"p{i}" for i in range(8)},
        {"prune_filtered": True, "max_delete_share": 0.5},
        Options(),
        {
            "excluded": (),
            "queue": (),
            "refused": "refusing to remove 8 of 10 projects in one run"
            " (max-delete-share allows 5); if that is intended, rerun with --allow-mass-delete",
        },
    ),
    (
        "a resumed todo is filtered by today's filters and heads for its own target",
        {"serial": 4, "todo": Todo(8, (ListingEntry("a", 6), ListingEntry("blocked", 8)))},
        {"blocked"},
        {},
        Options(),
        {"queue": (("a", 6),), "target": 8, "resumed": True, "keep_vanishing": True},
    ),
    (
        "an unchanged listing (304) re-asks only the remembered absences the mirror still holds",
        {
            "serial": 7,
            "etag": "etag-old",
            "holdings": Held({"gone": 1}),
            "memory": Memory(vanishing={"gone": NOW, "forgotten": NOW}),
        },
        set(),
        {},
        Options(),
        {"queue": (("gone", 0),), "listing_unchanged": True, "listing_etag": "etag-old", "target": 7},
    ),
    (
        "a quarantined failure waits; a due one is queued again at its serial; an excluded one is forgotten",
        {
            "serial": 4,
            "listing": listing(9),
            "memory": Memory(
                failures={
                    "stuck": Failure("stuck", 6, 3, NOW + DAY),
                    "due": Failure("due", 7, 1, NOW - 1),
                    "blocked": Failure("blocked", 7, 1, 0),
                }
            ),
        },
        {"blocked"},
        {},
        Options(),
        {"queue": (("due", 7),), "waiting": (Failure("stuck", 6, 3, NOW + DAY),)},
    ),
    (
        "--allow-mass-delete retries a quarantined failure at once",
        {"serial": 4, "listing": listing(9), "memory": Memory(failures={"stuck": Failure("stuck", 6, 3, NOW + DAY)})},
        set(),
        {},
        Options(allow_mass_delete=True),
        {"queue": (("stuck", 6),), "waiting": ()},
    ),
    (
        "a listed project with an invalid serial is skipped, neither queued nor vanished",
        {"serial": 4, "listing": listing(9, ("Odd",), a=5), "holdings": Held({"odd": 1})},
        set(),
        {},
        Options(),
        {"queue": (("a", 5),), "invalid": ("odd",), "vanished": ()},
    ),
]


@pytest.mark.parametrize(
    ("inputs", "blocked", "overrides", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_table(
    inputs: dict[str, Any], blocked: set[str], overrides: dict[str, Any], options: Options, expected: dict[str, Any]
) -> None:
    values = {"now": NOW, "memory": Memory(), "holdings": Held()} | inputs
    settings = MirrorSettings(directory="/unused", confirm_removal_after=DAY, **overrides)
    found = plan(Inputs(**values), lambda name: name.lower() not in blocked, settings, options)
    for name, want in expected.items():
        got = getattr(found, name)
        if name == "queue":
            got = tuple((entry.name, entry.serial) for entry in got)
        assert got == want, name


def test_the_plan_is_frozen_and_carries_what_the_run_starts_from() -> None:
    memory = Memory(vanishing={"x": 1.0})
    found = plan(Inputs(5, NOW, memory, Held(), listing=listing(9)), lambda _n: True, MirrorSettings("/d"), Options())
    assert (found.serial, found.started, found.memory) == (5, NOW, memory)
    with pytest.raises(AttributeError):
        found.target = 1  # type: ignore[misc]
    assert isinstance(found, Plan)
