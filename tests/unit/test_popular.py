"""``frumious popular``'s parts: log lines to projects (pure), counting over files, the allowlist text."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from frumious.errors import FrumiousError
from frumious.popular import DAY, Unit, allowlist_text, count_logs
from frumious.protocol.accesslog import Kind, parse_line, project_of
from frumious.protocol.serving import combined_log_line

NOW = datetime(2025, 10, 10, 12, 0, tzinfo=UTC).timestamp()


def line(path: str, status: int = 200, when: str = "10/Oct/2025:11:00:00 +0000", method: str = "GET") -> str:
    return f'10.0.0.1 - - [{when}] "{method} {path} HTTP/1.1" {status} 512 "-" "pip/25.0 {{\\"ci\\":null}}"'


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/simple/Foo_Bar/", ("foo-bar", Kind.PAGE)),
        ("/pypi/simple/foo/?format=text/html", ("foo", Kind.PAGE)),  # served under a root path
        ("/packages/ab/cd/ef/foo_bar-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", ("foo-bar", Kind.FILE)),
        ("/packages/ab/cd/ef/Foo-Bar-1.0.tar.gz", ("foo-bar", Kind.FILE)),
        ("/packages/ab/cd/ef/foo-1.0.zip", ("foo", Kind.FILE)),
        ("/packages/ab/cd/ef/foo-1.0-py3-none-any.whl.metadata", ("foo", Kind.METADATA)),
        ("/packages/ab/zope.interface-3.6.1-py2.7-linux-x86_64.egg", ("zope-interface", Kind.FILE)),
        ("/packages/ab/cd/ef/foo%2Bbar-1.0.tar.gz", None),  # not a valid sdist name
        ("/simple/", None),
        ("/simple/foo", None),  # the 301 to /simple/foo/, which counts when it is asked
        ("/-/health", None),
        ("/packages/ab/readme.txt", None),
    ],
)
def test_project_of_a_request_target(target: str, expected: tuple[str, Kind] | None) -> None:
    assert project_of(target) == expected


def test_frumious_serve_and_nginx_lines_both_parse() -> None:
    ours = combined_log_line("127.0.0.1", "GET /simple/foo/ HTTP/1.1", 304, 0, None, 'say "hi"')
    nginx = '127.0.0.1 - - [10/Oct/2025:13:55:36 +0200] "GET /simple/foo/ HTTP/1.1" 200 9 "-" "say \\x22hi\\x22"'
    for text in (ours, nginx):
        hit = parse_line(text)
        assert hit is not None and hit.project == "foo" and hit.kind is Kind.PAGE and hit.method == "GET"
    hit = parse_line(nginx)
    assert hit is not None and hit.when == datetime(2025, 10, 10, 11, 55, 36, tzinfo=UTC).timestamp()
    assert abs(parse_line(ours).when - time.time()) < 120  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-10-10 12:00:00 INFO: serving /srv/pypi on http://127.0.0.1:8000/",
        line("/simple/foo/", when="31/Feb/2025:11:00:00 +0000"),
        line("/simple/foo/", when="10/Okt/2025:11:00:00 +0000"),
        line("/simple/foo/").replace('"GET /simple/foo/ HTTP/1.1"', '"\\x16\\x03\\x01"'),  # TLS to a plain port
        line("/simple/foo/").replace(" 200 ", " 2000 "),
    ],
)
def test_lines_that_are_not_requests_parse_to_none(text: str) -> None:
    assert parse_line(text) is None


def write(path: Path, lines: list[str], *, gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_counting_pages_over_plain_and_gzipped_logs_within_the_period(tmp_path: Path) -> None:
    old = "01/Oct/2025:11:00:00 +0000"  # nine days before NOW
    current = write(tmp_path / "access.log", [line("/simple/foo/"), line("/simple/bar/", 304), "garbage"])
    rotated = [
        line("/simple/bar/"),
        line("/simple/foo/", when=old),
        line("/simple/foo/", when=old),
        line("/simple/Foo/", 301),  # the client then asks /simple/foo/
        line("/simple/nothere/", 404),
        line("/simple/elsewhere/", 302),  # filtered-projects = redirect
        line("/simple/baz/", method="HEAD"),
        line("/packages/a/b/c/foo-1.0.tar.gz"),
    ]
    gzipped = write(tmp_path / "access.log.1.gz", rotated, gz=True)
    found = count_logs([current, gzipped], since=NOW - 7 * DAY, unit=Unit.PAGES)
    assert dict(found.counts) == {"bar": 2, "foo": 1, "elsewhere": 1}
    assert (found.lines, found.too_old, found.unparseable) == (11, 2, 1)
    assert found.first_unparseable == f"{current}:3"
    assert found.top(2) == [("bar", 2), ("elsewhere", 1)]  # ties by name
    everything = count_logs([current, gzipped], since=0, unit=Unit.PAGES)
    assert everything.counts["foo"] == 3


def test_counting_file_downloads(tmp_path: Path) -> None:
    log = write(
        tmp_path / "access.log",
        [
            line("/packages/a/b/c/foo-1.0-py3-none-any.whl"),
            line("/packages/a/b/c/foo-1.0-py3-none-any.whl", 206),  # a piece of a resumed download
            line("/packages/a/b/c/foo-1.0-py3-none-any.whl.metadata"),
            line("/packages/a/b/c/bar-2.0.tar.gz"),
            line("/packages/a/b/c/bar-2.0.tar.gz", 304),
            line("/simple/baz/"),
        ],
    )
    found = count_logs([log], since=0, unit=Unit.FILES)
    assert dict(found.counts) == {"foo": 1, "bar": 1}


def test_the_allowlist_has_a_header_and_one_project_a_line(tmp_path: Path) -> None:
    log = write(tmp_path / "access.log", [line("/simple/foo/"), line("/simple/bar/"), line("/simple/bar/")])
    found = count_logs([log], since=0, unit=Unit.PAGES)
    text = allowlist_text(found, top=5, days=30, unit=Unit.PAGES, sources=[log], now=NOW)
    lines = text.splitlines()
    assert lines[0] == "# The 2 most-requested projects over the 30 days before 2025-10-10 12:00 UTC,"
    assert [entry for entry in lines if not entry.startswith("#")] == ["bar  # 2", "foo  # 1"]


def test_an_unreadable_or_broken_log_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FrumiousError, match=r"cannot read the access log .*missing\.log: No such file"):
        count_logs([tmp_path / "missing.log"], since=0, unit=Unit.PAGES)
    broken = tmp_path / "access.log.2.gz"
    whole = gzip.compress("".join(line(f"/simple/p{n}/") + "\n" for n in range(2000)).encode())
    broken.write_bytes(whole[: len(whole) // 2])  # a rotation cut short
    with pytest.raises(FrumiousError, match=r"cannot read the access log .*access\.log\.2\.gz"):
        count_logs([broken], since=0, unit=Unit.PAGES)


@pytest.mark.parametrize("options", [[], ["-c", "missing.conf"]])
def test_popular_reads_no_config(
    options: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log host has no /etc/frumious.conf: popular neither needs one nor writes the example there."""
    from frumious import cli, config

    etc = tmp_path / "etc"
    monkeypatch.setattr(config, "_CONFIG_CANDIDATES", (str(etc / "frumious.conf"), str(etc / "bandersnatch.conf")))
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "access.log"
    recent = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    log.write_text(line("/simple/flask/", when=recent) + "\n")
    assert cli.main([*options, "popular", str(log)]) == 0
    assert "flask  # 1" in capsys.readouterr().out.splitlines()
    assert not etc.exists() and not (tmp_path / "missing.conf").exists()
