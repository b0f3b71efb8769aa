"""The generated reference (docs/config.md, docs/cli.md) and the code agree, both ways.

Every key documented is one the readers accept, and every key they read is documented: ``[mirror]``
against ``config.mirror``; the filter sections against what each built-in plugin asks its
``FilterContext`` for; ``[s3]``/``[swift]`` against the backends' readers. Every command and flag
of the parser is described in the hand-written pages too (the generated page lists them anyway).
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import logging
import re
from pathlib import Path

import pytest
from msgspec.structs import asdict

from frumious import config
from frumious.cli import build_parser
from frumious.cli.reference import MISSING, commands_reference, config_reference
from frumious.config.keydocs import MIRROR_KEY_HELP, PLUGINS_KEY_HELP
from frumious.config.mirror import MIRROR_DEFAULTS, MIRROR_KEYS
from frumious.errors import ConfigError
from frumious.filters import BUILTIN_FILTERS, FilterContext
from frumious.filters.keydocs import ANY_KEY, FILTER_KEYS
from frumious.settings import MirrorSettings, Settings
from frumious.storage import s3settings, swiftsettings
from frumious.storage.keydocs import S3_KEY_HELP, SWIFT_KEY_HELP

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_mirror_key_is_documented_and_every_documented_key_is_read() -> None:
    assert set(MIRROR_KEY_HELP) == MIRROR_KEYS
    assert set(PLUGINS_KEY_HELP) == {"enabled"}


def test_every_documented_mirror_key_loads_without_a_warning(tmp_path: Path) -> None:
    values = {key: MIRROR_DEFAULTS.get(key, "") for key in MIRROR_KEY_HELP}
    values["directory"] = str(tmp_path)
    text = "[mirror]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())
    settings = config.loads(text + "[plugins]\nenabled =\n")
    assert settings.warnings == ()


def _asked(cls: type, sections: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    context = FilterContext(sections, plugin=cls.name, base_dir="/nonexistent")
    # A half-configured plugin may refuse; what it asked for before that still counts.
    with contextlib.suppress(ConfigError):
        cls(context)
    # (section, "*") for a plugin that reads a whole section.
    return {(section, key) for section, keys in context.asked.items() for key in (keys or {"*"})}


def _filters_md_sections() -> list[dict[str, dict[str, str]]]:
    """The sections of every ini example in docs/filters.md, the configs plugins are built from."""
    found = []
    for block in re.findall(r"```ini\n(.*?)```", (DOCS / "filters.md").read_text(), re.S):
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(block)
        found.append({name: dict(parser[name]) for name in parser.sections()})
    return found


@pytest.mark.parametrize("cls", BUILTIN_FILTERS, ids=lambda cls: cls.name)
def test_each_filter_reads_exactly_its_documented_keys(cls: type) -> None:
    documented = {(k.section, k.key) for k in FILTER_KEYS if cls.name in k.plugins}
    asked: set[tuple[str, str]] = set()
    for sections in [{}, *_filters_md_sections()]:
        asked |= _asked(cls, sections)
    assert asked - documented == set(), f"{cls.name} reads keys filters/keydocs.py does not document"
    assert documented - asked == set(), f"filters/keydocs.py documents keys {cls.name} never reads"


def test_filter_keys_name_only_built_in_plugins() -> None:
    names = {cls.name for cls in BUILTIN_FILTERS}
    assert {plugin for k in FILTER_KEYS for plugin in k.plugins} <= names
    assert all(k.key == ANY_KEY or re.fullmatch(r"\w+", k.key) for k in FILTER_KEYS)


def _settings(directory: str, **sections: dict[str, str]) -> Settings:
    return Settings(
        mirror=MirrorSettings(directory=directory),
        sections=sections,
        own_keys={name: tuple(values) for name, values in sections.items()},
    )


def test_every_s3_key_is_documented_and_accepted(caplog: pytest.LogCaptureFixture) -> None:
    documented = {k.replace("<Name>", "StorageClass"): "1" for k in S3_KEY_HELP}
    assert {k for k in S3_KEY_HELP if "<" not in k} == s3settings.KEYS
    with caplog.at_level(logging.WARNING):
        read = s3settings.read_s3(_settings("/bucket/prefix", s3=documented))
    assert read.extra_args == {"StorageClass": "1"}
    assert not [r for r in caplog.records if "unknown key" in r.getMessage()]


def test_every_swift_key_is_documented_and_accepted(caplog: pytest.LogCaptureFixture) -> None:
    assert set(SWIFT_KEY_HELP) == set(swiftsettings.ENVIRONMENT)
    with caplog.at_level(logging.WARNING):
        read = swiftsettings.read_swift(_settings("/m", swift=dict.fromkeys(SWIFT_KEY_HELP, "x")), environ={})
    assert set(asdict(read).values()) == {"x"}
    assert not [r for r in caplog.records if "unknown key" in r.getMessage()]


def _parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **sub.choices}


def test_every_command_and_flag_is_in_the_generated_page_with_its_help() -> None:
    page = commands_reference(build_parser())
    assert MISSING not in page
    for name, parser in _parsers().items():
        if name:
            assert f"\n## {name}\n" in page
        for action in parser._actions:
            for flag in action.option_strings:
                assert f"`{flag}" in page or isinstance(action, argparse._HelpAction), flag


def test_every_command_and_long_flag_is_described_in_the_guides() -> None:
    prose = (DOCS / "commands.md").read_text() + (DOCS / "serving.md").read_text()
    for name, parser in _parsers().items():
        if name:
            assert f"`{name}" in prose or f"frumious {name}" in prose, name
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in prose, f"{name or 'frumious'} {flag} is not described in commands.md or serving.md"


def test_the_config_page_lists_every_key_with_a_description() -> None:
    page = config_reference()
    assert MISSING not in page
    for key in MIRROR_KEYS | set(S3_KEY_HELP) | set(SWIFT_KEY_HELP):
        assert f"| `{key}` |" in page, key
    for entry in FILTER_KEYS:
        assert f"### [{entry.section}]" in page
