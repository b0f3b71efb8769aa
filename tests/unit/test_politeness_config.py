"""The politeness keys of [mirror]: rate limits (0 or absent: none) and the User-Agent's contact."""

from __future__ import annotations

import pytest

from frumious import __version__
from frumious.config import loads
from frumious.errors import ConfigError
from frumious.http.budget import Budget
from frumious.http.choose import user_agent

BASE = "[mirror]\ndirectory = /srv/pypi\n"


def test_absent_limits_limit_nothing() -> None:
    mirror = loads(BASE).mirror
    assert (mirror.max_requests_per_second, mirror.max_bytes_per_second, mirror.contact) == (0, 0, "")
    assert Budget.of(mirror.max_requests_per_second, mirror.max_bytes_per_second) is None


@pytest.mark.parametrize(
    ("requests", "size", "expected"),
    [
        ("20", "0", (20.0, 0)),
        ("0.5", "10M", (0.5, 10 << 20)),
        ("0", "512k", (0.0, 512 << 10)),
        ("0", "2G", (0, 2 << 30)),
    ],
)
def test_limits_take_numbers_and_sizes(requests: str, size: str, expected: tuple[float, int]) -> None:
    mirror = loads(f"{BASE}max-requests-per-second = {requests}\nmax-bytes-per-second = {size}\n").mirror
    assert (mirror.max_requests_per_second, mirror.max_bytes_per_second) == expected


def test_bad_limits_and_contact_are_all_named_at_once() -> None:
    text = f"{BASE}max-requests-per-second = -1\nmax-bytes-per-second = fast\ncontact = me (admin)\n"
    with pytest.raises(ConfigError) as caught:
        loads(text)
    problems = caught.value.problems
    assert any(p.startswith("[mirror] max-requests-per-second: '-1' is not a number of requests") for p in problems)
    assert any(p.startswith("[mirror] max-bytes-per-second: 'fast' is not a size") for p in problems)
    assert any(p.startswith("[mirror] contact: 'me (admin)' cannot go in a User-Agent") for p in problems)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("contact", ["ad\u00efmin@example.org", "a\\b", "x)"])
def test_a_contact_that_would_break_the_header_is_refused(contact: str) -> None:
    with pytest.raises(ConfigError, match=r"\[mirror\] contact: "):
        loads(f"{BASE}contact = {contact}\n")


def test_the_user_agent_keeps_its_comment_and_adds_the_contact() -> None:
    plain = user_agent()
    assert plain.startswith(f"frumious/{__version__} (") and plain.endswith(")")
    assert user_agent("https://example.org/mirror") == plain[:-1] + "; +https://example.org/mirror)"
