"""The error tree: the drawing in errors.py is the code, and retries follow the ``retryable`` mark."""

from __future__ import annotations

import re

import pytest

from frumious import download, errors
from frumious.models import StoredFile
from frumious.upstream import RetryPolicy, Upstream


class _NoClient:
    """No request is made: ``with_retries`` is given the call to run."""

    def get(self, url: str, headers: object = None) -> object:
        raise AssertionError(url)

    async def close(self) -> None:
        pass


def drawn() -> dict[str, tuple[str, bool]]:
    """Each class in the docstring's drawing: (its parent as drawn, whether it is marked R)."""
    assert errors.__doc__ is not None
    found: dict[str, tuple[str, bool]] = {}
    parents: list[str] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^ {4}([│ ├└─]*)(\w+)(.*)$", line)
        if not match or not match.group(2)[0].isupper() or not hasattr(errors, match.group(2)):
            continue
        depth = len(match.group(1)) // 4
        parents[depth:] = [match.group(2)]
        found[match.group(2)] = (
            parents[depth - 1] if depth else "",
            bool(re.match(r"\s+(\(\d\)\s+)?R\s", match.group(3))),
        )
    return found


def test_the_drawing_matches_the_classes() -> None:
    tree = drawn()
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.FrumiousError) and cls.__module__ == errors.__name__
    }
    assert set(tree) == set(classes)  # every class drawn, nothing drawn that is not a class
    for name, (parent, retryable) in tree.items():
        cls = classes[name]
        assert (cls.__bases__[0].__name__ if parent else "", cls.retryable) == (parent, retryable), name


def test_transport_errors_are_frumious_errors_marked_retryable() -> None:
    for cls in (errors.TransportError, errors.ConnectionFailed, errors.ProtocolError, errors.Unanswered):
        assert issubclass(cls, errors.UpstreamError) and cls.retryable
    assert not errors.BadUpstreamData.retryable and not errors.NotFound.retryable


@pytest.mark.parametrize(
    ("raised", "calls"),
    [
        (errors.ProtocolError("cut short"), 3),
        (errors.ShortBody("short"), 3),
        (errors.RetryableStatus(503, "http://x/", 0.0), 3),
        (TimeoutError(), 3),
        (errors.BadUpstreamData("bad"), 1),
        (errors.DownloadError("too long"), 1),
    ],
)
async def test_with_retries_decides_by_the_mark(raised: Exception, calls: int) -> None:
    upstream = Upstream("http://127.0.0.1:9", _NoClient(), retry=RetryPolicy(attempts=3, base=0.0))
    made = 0

    async def call() -> None:
        nonlocal made
        made += 1
        raise raised

    with pytest.raises(errors.FrumiousError):
        await upstream.with_retries("fetching", call)
    assert made == calls


def test_a_short_body_is_a_download_error_not_the_transports() -> None:
    wanted = StoredFile("k", "x", "1", 10, "sha256", "ab", None, urls=("http://x/f",))
    with pytest.raises(errors.ShortBody, match="ended after 4 of 10") as caught:
        download._verify("http://x/f", wanted, 4, "ab", "sha256", "ab")
    assert isinstance(caught.value, errors.DownloadError) and caught.value.retryable
    assert not isinstance(caught.value, errors.TransportError)
