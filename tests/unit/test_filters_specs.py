"""Requirement lists: config values, requirements files, their encodings and globs."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext
from frumious.filters.specs import config_specs, decode_text, parse_spec, requirement_specs


def context(sections: dict[str, dict[str, str]], base_dir: str = "/nonexistent") -> FilterContext:
    return FilterContext(sections, plugin="test", base_dir=base_dir)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (codecs.BOM_UTF8 + "é\n".encode(), "é\n"),
        (codecs.BOM_UTF16_LE + "é\n".encode("utf-16-le"), "é\n"),
        (codecs.BOM_UTF16_BE + "é\n".encode("utf-16-be"), "é\n"),
        (codecs.BOM_UTF32_LE + "é\n".encode("utf-32-le"), "é\n"),
        (codecs.BOM_UTF32_BE + "é\n".encode("utf-32-be"), "é\n"),
        ("# -*- coding: latin-1 -*-\né\n".encode("latin-1"), "# -*- coding: latin-1 -*-\né\n"),
        ("\n# vim: set fileencoding=cp1252 :\n€\n".encode("cp1252"), "\n# vim: set fileencoding=cp1252 :\n€\n"),
        ("foo\né\n".encode(), "foo\né\n"),
    ],
)
def test_decode_text(data: bytes, text: str) -> None:
    assert decode_text(data) == text


@pytest.mark.parametrize(
    ("line", "name", "specifier", "bare"),
    [
        ("Foo.Bar", "foo-bar", "", True),
        ("foo>=1,<2", "foo", "<2,>=1", False),
        ("foo[x]", "foo", "", False),
        ("foo ; python_version < '3'", "foo", "", False),
        ("foo @ https://example.com/foo-1.0.tar.gz", "foo", "", False),
    ],
)
def test_parse_spec(line: str, name: str, specifier: str, bare: bool) -> None:
    spec = parse_spec(line)
    assert (spec.name, str(spec.specifier), spec.bare) == (name, specifier, bare)


def test_config_specs_reports_every_bad_line() -> None:
    ctx = context({"blocklist": {"packages": "ok\nbad one\n# skipped\nfoo==1 # note\nworse!"}})
    with pytest.raises(ConfigError) as info:
        config_specs(ctx, "blocklist", "packages")
    assert len(info.value.problems) == 2


def test_requirements_file_forms(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text(
        "\n".join(
            [
                "# a comment",
                "-r other.txt",
                "--index-url https://example.com",
                "-e git+https://example.com/x.git#egg=x",
                "alpha==1.0 \\",
                "    --hash=sha256:abcd \\",
                "    --hash=sha256:ef01",
                "beta>=2 --config-settings=x=y",
                "gamma  # inline comment",
                "",
                "   ",
            ]
        )
    )
    specs = requirement_specs(context({"allowlist": {"requirements": "req.txt"}}, str(tmp_path)))
    assert [(s.name, str(s.specifier)) for s in specs] == [("alpha", "==1.0"), ("beta", ">=2"), ("gamma", "")]


def test_requirements_glob_sorted_and_empty_glob_warns(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.txt").write_text("bravo\n")
    (sub / "a.txt").write_text("alfa\n")
    ctx = context({"allowlist": {"requirements": "sub/*.txt\nnone-*.txt"}}, str(tmp_path))
    assert [s.name for s in requirement_specs(ctx)] == ["alfa", "bravo"]
    assert ctx.warnings == [f"[allowlist] requirements: 'none-*.txt' matches no file in {tmp_path}"]


def test_requirements_problems_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text("ok\n./local/dir\n")
    (tmp_path / "binary.txt").write_bytes(b"caf\xe9\n")  # latin-1, undeclared
    ctx = context({"allowlist": {"requirements": "bad.txt\nbinary.txt\nmissing.txt"}}, str(tmp_path))
    with pytest.raises(ConfigError) as info:
        requirement_specs(ctx)
    problems = info.value.problems
    assert len(problems) == 3
    assert f"{tmp_path / 'bad.txt'}: './local/dir' is not a valid requirement" in problems[0]
    assert "cannot read" in problems[1] and "binary.txt" in problems[1]
    assert "cannot read" in problems[2] and "missing.txt" in problems[2]
