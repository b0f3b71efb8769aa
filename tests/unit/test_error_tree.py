"""The error tree: the drawing in errors.py is every error class in frumious; retries follow the ``retryable`` mark."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest

import frumious
from frumious import download, errors
from frumious.models import StoredFile
from frumious.stats import Report, RunStopped
from frumious.upstream import RetryPolicy, Upstream


class _NoClient:
    """No request is made: ``with_retries`` is given the call to run."""

    def get(self, url: str, headers: object = None) -> object:
        raise AssertionError(url)

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class Drawn:
    parent: str
    retryable: bool
    exit_code: str  # as drawn: "2", "cause's", or "" (inherited from the parent)
    module: str  # the module noted after it, else frumious.errors


def drawn() -> dict[str, Drawn]:
    """Each class in the docstring's drawing, as drawn."""
    assert errors.__doc__ is not None
    found: dict[str, Drawn] = {}
    parents: list[str] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^ {4}([│ ├└─]*)([A-Z]\w+)(?: \((\d|cause's)\))?(.*)$", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        parents[depth:] = [match.group(2)]
        module = re.search(r"\(([\w/]+)\.py\)$", match.group(4))
        found[match.group(2)] = Drawn(
            parent=parents[depth - 1] if depth else "",
            retryable=bool(re.match(r"\s+R\s", match.group(4))),
            exit_code=match.group(3) or "",
            module="frumious." + module.group(1).replace("/", ".") if module else errors.__name__,
        )
    return found


def every_error_class() -> dict[str, type[errors.FrumiousError]]:
    """Every ``FrumiousError`` subclass defined anywhere in frumious, once every module is imported."""
    for module in pkgutil.walk_packages(frumious.__path__, "frumious."):
        if module.name != "frumious.__main__":  # importing it runs the CLI
            importlib.import_module(module.name)
    found: dict[str, type[errors.FrumiousError]] = {}
    pending = [errors.FrumiousError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def test_the_drawing_matches_every_error_class_in_frumious() -> None:
    tree, classes = drawn(), every_error_class()
    assert set(tree) == set(classes)  # every class drawn, nothing drawn that is not a class
    codes: dict[str, str] = {"": ""}
    for name, shown in tree.items():  # parents are drawn before their children
        cls = classes[name]
        codes[name] = shown.exit_code or codes[shown.parent]
        parent = cls.__bases__[0].__name__ if shown.parent else ""
        assert (parent, cls.retryable, cls.__module__) == (shown.parent, shown.retryable, shown.module), name
        if codes[name] == "cause's":
            assert isinstance(vars(cls)["exit_code"], property), name
        elif name != "FrumiousError":
            assert str(cls.exit_code) == codes[name], name


def test_a_stopped_run_exits_as_its_cause() -> None:
    for cause in (errors.ConfigError("bad"), errors.ResourceError(28, "/m")):
        stopped = RunStopped(cause, Report())
        assert (stopped.exit_code, str(stopped)) == (cause.exit_code, str(cause))


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


class _FailingClient:
    """Every GET fails as ``raised`` does, counted."""

    def __init__(self, raised: Exception) -> None:
        self.raised, self.gets = raised, 0

    def get(self, url: str, headers: object = None) -> object:
        self.gets += 1
        raise self.raised

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("raised", "gets"), [(errors.ProtocolError("cut short"), 3), (TimeoutError(), 3), (errors.BadUpstreamData("x"), 1)]
)
async def test_a_download_makes_its_first_attempt_then_the_loop_the_rest(raised: Exception, gets: int) -> None:
    """``download`` tries once itself and hands a retryable failure to ``with_retries(failed=...)``: the
    attempts in all stay the policy's, the final error names the URL and the count."""
    client = _FailingClient(raised)
    upstream = Upstream("http://127.0.0.1:9", client, retry=RetryPolicy(attempts=3, base=0.0))  # type: ignore[arg-type]
    wanted = StoredFile("web/packages/x.whl", "x", "1", 10, "sha256", "ab", None, urls=("http://x/f",))
    with pytest.raises(errors.FrumiousError) as caught:
        await download.download(upstream, None, wanted, "sha256", None)  # type: ignore[arg-type]
    assert client.gets == gets
    assert upstream.counters.retries == gets - 1
    if gets > 1:
        assert "http://x/f: downloading http://x/f" in str(caught.value) and "after 3 attempts" in str(caught.value)
