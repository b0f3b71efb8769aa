"""``[mirror] index-url``: an upstream whose simple index is not ``<master>/simple/`` (devpi, PyTorch-style)."""

from __future__ import annotations

import pytest

from frumious.config import loads
from frumious.errors import ConfigError
from frumious.serve.policy import not_carried
from frumious.testing.memhttp import MemHTTP, MemIndex
from frumious.upstream import Upstream

BASE = "[mirror]\ndirectory = /srv/pypi\nmaster = https://devpi.example.org\n"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(text)
    return caught.value.problems


def test_unset_it_is_masters_simple_index() -> None:
    assert loads(BASE).mirror.index_url == ""
    assert Upstream("https://devpi.example.org", MemHTTP(MemIndex())).simple == "https://devpi.example.org/simple"


def test_it_names_the_simple_index_on_masters_server() -> None:
    mirror = loads(BASE + "index-url = https://devpi.example.org/root/dev/+simple/\n").mirror
    assert mirror.index_url == "https://devpi.example.org/root/dev/+simple"
    upstream = Upstream(mirror.master, MemHTTP(MemIndex()), index_url=mirror.index_url)
    assert upstream.simple == "https://devpi.example.org/root/dev/+simple"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("devpi.example.org/+simple/", "is not an http(s) URL with a host"),
        ("http://devpi.example.org/root/dev/+simple/", "is not https; set allow-non-https = true"),
        # master left at pypi.org would look a devpi index's projects up on PyPI (its JSON, its feed).
        ("https://other.example.org/whl/", "is not on master's server (https://devpi.example.org)"),
    ],
)
def test_a_bad_index_url_is_one_line_naming_the_key(value: str, fragment: str) -> None:
    (problem,) = problems_of(BASE + f"index-url = {value}\n")
    assert problem.startswith("[mirror] index-url:") and fragment in problem, problem


def test_redirect_sends_clients_to_the_index_urls_page() -> None:
    text = BASE + "index-url = https://devpi.example.org/root/dev/+simple/\nfiltered-projects = redirect\n"
    answer = not_carried(loads(text).mirror).answer("foo-bar", "")
    assert answer is not None and answer.headers["Location"] == "https://devpi.example.org/root/dev/+simple/foo-bar/"
