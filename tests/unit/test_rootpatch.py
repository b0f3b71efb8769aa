"""The root pages edited in place give the bytes rendering them again gives, or None."""

from __future__ import annotations

import random

import pytest

from frumious.protocol import render, rootpatch

# Canonical names, and the odd ones a record may still hold (escaped in HTML or JSON, non-ASCII).
ALPHABET = ["a", "b", "c", "-", "0", "9", "z", "é", "&", '"', "'", "<", "\\", "}", "/"]


def html(projects: dict[str, int]) -> bytes:
    names = sorted(projects)
    return "".join(render.root_html_parts([names[i : i + 3] for i in range(0, len(names), 3)])).encode()


def js(projects: dict[str, int], serial: int) -> bytes:
    rows = sorted(projects.items())
    return "".join(render.root_json_parts(serial, [rows[i : i + 3] for i in range(0, len(rows), 3)])).encode()


def joined(pieces: rootpatch.Pieces | None) -> bytes:
    assert pieces is not None
    return b"".join(bytes(p) for p in pieces)


def some_name(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET[:7] if rng.random() < 0.8 else ALPHABET) for _ in range(rng.randint(1, 5)))


@pytest.mark.parametrize("seed", range(300))
def test_a_patched_page_is_the_page_rendered_again(seed: int) -> None:
    rng = random.Random(seed)
    old = {some_name(rng): rng.randint(1, 99) for _ in range(rng.choice([0, 1, 2, 10, 40]))}
    new = dict(old)
    changes: dict[str, int | None] = {}
    for _ in range(rng.randint(0, 8)):
        name = rng.choice(list(old)) if old and rng.random() < 0.6 else some_name(rng)
        if rng.random() < 0.4:
            new.pop(name, None)  # gone (or never there: nothing to cut)
            changes[name] = None
        else:
            new[name] = changes[name] = rng.randint(1, 99)  # added, or a new serial
    assert joined(rootpatch.patch_json(js(old, 5), changes, 6, len(new))) == js(new, 6)
    assert joined(rootpatch.patch_html(html(old), changes, len(new))) == html(new)


def test_every_entry_cut_and_added_again() -> None:
    old = {"a": 1, "b": 2, "c": 3}
    assert joined(rootpatch.patch_json(js(old, 1), dict.fromkeys(old), 2, 0)) == js({}, 2)
    assert joined(rootpatch.patch_json(js({}, 1), old, 2, 3)) == js(old, 2)
    assert joined(rootpatch.patch_html(html(old), dict.fromkeys(old), 0)) == html({})


def test_a_page_not_as_rendered_or_not_the_records_count_is_refused() -> None:
    old = {"a": 1, "b": 2}
    # The record holds a project the page lacks (not among the changes): the counts disagree.
    assert rootpatch.patch_json(js(old, 1), {"b": 3}, 2, 3) is None
    assert rootpatch.patch_html(html(old), {"c": 1}, 4) is None
    # bandersnatch's own root (other head), a truncated page, an entry without its end.
    assert rootpatch.patch_html(b"<html><body>" + html(old)[200:], {"c": 1}, 3) is None
    assert rootpatch.patch_json(js(old, 1)[:-1], {"c": 1}, 2, 3) is None
    broken = js(old, 1).replace(b'"_last-serial": 2}', b'"_last-serial": 2')
    assert rootpatch.patch_json(broken, {"b": None}, 2, 1) is None


def test_an_entry_without_its_serial_is_refused_not_read_across() -> None:
    # The name's end is then in the next entry: the bytes between are no name.
    page = js({"a": 1, "b": 2, "c": 3}, 1).replace(b', "_last-serial": 1}', b"}")
    assert rootpatch.patch_json(page, {"a": None}, 2, 2) is None
    assert rootpatch.patch_json(page, {"b": 5}, 2, 3) is None
