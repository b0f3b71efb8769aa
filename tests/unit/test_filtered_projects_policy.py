"""``[mirror] filtered-projects``: parsed strictly, and what serve's policy answers."""

from __future__ import annotations

import pytest

from frumious.config import loads
from frumious.errors import ConfigError
from frumious.serve.policy import NotCarried, not_carried
from frumious.settings import FilteredProjects

BASE = "[mirror]\ndirectory = /srv/pypi\nmaster = https://pypi.example.org/\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", FilteredProjects.OMIT),
        ("filtered-projects = Redirect\n", FilteredProjects.REDIRECT),
        ("filtered-projects = metadata-only\n", FilteredProjects.METADATA_ONLY),
    ],
)
def test_the_key_is_parsed(line: str, expected: FilteredProjects) -> None:
    assert loads(BASE + line).mirror.filtered_projects is expected


def test_an_unknown_policy_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        loads(BASE + "filtered-projects = proxy\n")
    expected = "[mirror] filtered-projects: 'proxy' is not supported; use one of omit, redirect, metadata-only"
    assert caught.value.problems == [expected]


def test_redirect_points_at_the_masters_page_keeping_the_query() -> None:
    policy = not_carried(loads(BASE + "filtered-projects = redirect\n").mirror)
    answer = policy.answer("foo-bar", "format=text/html")
    assert answer is not None and answer.status == 302
    assert answer.headers["Location"] == "https://pypi.example.org/simple/foo-bar/?format=text/html"
    assert policy.answer("foo-bar", "") is not None


def test_omit_metadata_only_and_invalid_names_give_no_answer() -> None:
    assert not_carried(loads(BASE).mirror).answer("foo-bar", "") is None
    # metadata-only: the sync wrote the page; a project without one is a 404, never sent upstream.
    assert not_carried(loads(BASE + "filtered-projects = metadata-only\n").mirror).answer("foo-bar", "") is None
    assert NotCarried("https://pypi.org").answer("foo bar", "") is None
