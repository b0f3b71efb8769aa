"""benchmarks/pypi_shape.py: the PyPI-scale harness's generator is deterministic and has PyPI's shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from pypi_shape import Shape

from frumious.protocol.parse import parse_project, read_listing

JOURNAL = ("1", "0", "5", "d2")


@pytest.fixture(scope="module")
def shape() -> Shape:
    return Shape(1000, seed=7, max_files=5000, journal=JOURNAL)


def test_same_seed_same_index_other_seed_another(shape: Shape) -> None:
    again = Shape(1000, seed=7, max_files=5000, journal=JOURNAL)
    assert again.listing() == shape.listing()
    assert again.warehouse_json(42, "http://x") == shape.warehouse_json(42, "http://x")
    assert Shape(1000, seed=8, journal=JOURNAL).listing() != shape.listing()


def test_file_counts_have_a_long_tail(shape: Shape) -> None:
    counts = [shape.file_count(i) for i in range(shape.n) if shape.listed(i)]
    nonempty = sorted(c for c in counts if c)
    assert nonempty[len(nonempty) // 2] <= 3  # most projects have a handful of files
    assert sum(c <= 20 for c in nonempty) / len(nonempty) > 0.85
    assert nonempty[-1] >= 200  # and a few have very many
    assert 5 < sum(counts) / len(counts) < 30


def test_empty_projects_are_listed_and_deleted_ones_are_not(shape: Shape) -> None:
    listed = {entry.name for entry in read_listing(shape.listing()).entries}
    empty = [i for i in range(shape.n) if shape.empty(i)]
    deleted = [i for i in range(shape.n) if shape.deleted0(i)]
    assert 20 < len(empty) < 90 and 2 < len(deleted) < 25
    assert all(shape.name(i) in listed for i in empty)
    assert not any(shape.name(i) in listed for i in deleted)
    assert parse_project(shape.warehouse_json(empty[0], "http://x")).files == ()


def test_the_journal_changes_exactly_what_it_says(shape: Shape) -> None:
    start = shape.at(0).last_serial
    before = {i: (shape.serial(i), shape.file_count(i)) for i in range(shape.n)}
    shape.at(1)
    (changed,) = shape.changed(1)
    assert shape.last_serial == shape.serial(changed) == start + 1
    assert shape.file_count(changed) == before[changed][1] + 1
    assert all(before[i] == (shape.serial(i), shape.file_count(i)) for i in range(shape.n) if i != changed)
    listing_one = shape.listing()
    assert json.loads(shape.at(2).listing())["projects"] == json.loads(listing_one)["projects"]  # a touch
    assert shape.last_serial == start + 2
    assert len(shape.changed(3)) == 5
    shape.at(4)
    assert not any(shape.listed(i) for i in shape.changed(4))


def test_every_file_is_found_from_its_url_path_alone(shape: Shape) -> None:
    shape.at(1)
    (changed,) = shape.changed(1)
    project = parse_project(shape.warehouse_json(changed, "http://x"), expected=shape.name(changed))
    for dist in project.files:
        path = dist.url.removeprefix("http://x")
        info = shape.locate(path)
        assert info is not None and info.sha256 == dist.digests["sha256"]
    assert shape.locate(path.replace("/packages/", "/packages/0")) is None
    (new,) = [dist.url.removeprefix("http://x") for dist in project.files if dist.version == "2.1"]
    assert shape.locate(new) is not None
    assert shape.at(0).locate(new) is None  # the journal's wheel does not exist before its generation


def test_spread_names_are_in_number_order_and_found_again() -> None:
    spread = Shape(2000, seed=7, max_files=50, journal=JOURNAL, spread=True)
    listed = [i for i in range(spread.n) if spread.listed(i)]
    canonical = [spread.canonical(i) for i in listed]
    assert canonical == sorted(canonical)  # the listing's number order is its canonical order
    assert len({name[:2] for name in canonical}) > 600  # spread over the two-letter groups
    assert all(spread.index_of(spread.name(i)) == i == spread.index_of(spread.canonical(i)) for i in listed)
    assert spread.index_of("pkg-000123") is None and spread.index_of(spread.canonical(5)[:-1] + "9") is None
    entries = read_listing(spread.listing()).entries
    assert [e.name for e in entries] == [spread.name(i) for i in listed]
    for i in listed[:50]:
        for info in spread.files(i):
            assert spread.locate(info.url_path) == info
