"""The reference tables of the documentation site, generated from the code's own tables.

``docs/hooks.py`` puts ``config_reference()`` into docs/config.md and ``commands_reference()``
into docs/cli.md when mkdocs builds the site, so a key or flag added to the code appears there
without anyone editing a page; ``python -m frumious.cli.reference config|commands`` prints them.
Sources: ``[mirror]`` from ``config.mirror`` (keys, defaults) and ``config.keydocs`` (help); the
filter sections from ``filters.keydocs``; ``[s3]``/``[swift]`` from the backends' settings and
``storage.keydocs``; commands and flags from the argparse parser itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping

from msgspec.structs import fields

from frumious.config.keydocs import MIRROR_KEY_HELP, PLUGINS_KEY_HELP
from frumious.config.mirror import MIRROR_DEFAULTS, MIRROR_KEYS
from frumious.filters.keydocs import ANY_KEY, FILTER_KEYS
from frumious.storage.keydocs import S3_KEY_HELP, SWIFT_KEY_HELP
from frumious.storage.s3settings import S3Settings
from frumious.storage.swiftsettings import _FALLBACK, ENVIRONMENT

__all__ = ["commands_reference", "config_reference", "main"]

MISSING = "(no description: add one to the key's help table)"


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return [*lines, ""]


def _default(value: str) -> str:
    # Sizes are stored in bytes; the MiB figure is what a reader compares with.
    if value.isdigit() and int(value) >= 2**20 and int(value) % 2**20 == 0:
        return f"`{value}` ({int(value) >> 20} MiB)"
    return _code(value) or "(empty)"


def mirror_rows() -> list[tuple[str, str, str]]:
    """(key, default, help) for every key the ``[mirror]`` reader accepts, in the settings' order."""
    order = ["directory", *MIRROR_DEFAULTS]
    keys = [*order, *sorted(MIRROR_KEYS - set(order))]
    return [
        (
            key,
            "required" if key == "directory" else _default(MIRROR_DEFAULTS.get(key, "")),
            MIRROR_KEY_HELP.get(key, MISSING),
        )
        for key in keys
    ]


def _filter_sections() -> list[str]:
    lines: list[str] = []
    by_section: dict[str, list[tuple[str, str, str]]] = {}
    for entry in FILTER_KEYS:
        key = "any key" if entry.key == ANY_KEY else _code(entry.key)
        readers = ", ".join(f"[`{name}`](filters.md#{name})" for name in entry.plugins)
        by_section.setdefault(entry.section, []).append((key, readers, entry.help))
    for section in sorted(by_section):
        lines += [f"### [{section}]", ""]
        lines += _table(["key", "read by", "meaning"], by_section[section])
    return lines


def _s3_rows() -> list[tuple[str, str, str]]:
    defaults: Mapping[str, object] = {f.name: f.default for f in fields(S3Settings) if f.name != "extra_args"}
    return [
        (_code(key), _default(str(defaults.get(key, ""))), help_text)
        for key, help_text in {**dict.fromkeys(defaults, MISSING), **S3_KEY_HELP}.items()
    ]


def _swift_rows() -> list[tuple[str, str, str]]:
    rows = []
    for key, env_names in ENVIRONMENT.items():
        fallback = " then ".join(f"`${name}`" for name in env_names)
        default = _code(_FALLBACK.get(key, ""))
        unset = " else ".join(part for part in (fallback, default) if part) or "(empty)"
        rows.append((_code(key), unset, SWIFT_KEY_HELP.get(key, MISSING)))
    return rows


def config_reference() -> str:
    """Markdown: every config key frumious reads, by section, with its default and meaning."""
    lines = ["## [mirror]", ""]
    lines += _table(["key", "default", "meaning"], ((_code(k), d, h) for k, d, h in mirror_rows()))
    lines += ["## [plugins]", ""]
    lines += _table(["key", "default", "meaning"], ((_code(k), "(empty)", h) for k, h in PLUGINS_KEY_HELP.items()))
    lines += ["## Filter sections", "", "Read only when a plugin that reads them is enabled.", ""]
    lines += _filter_sections()
    lines += ["## [s3]", "", "Read when `storage-backend = s3` opens the store.", ""]
    lines += _table(["key", "default", "meaning"], _s3_rows())
    lines += ["## [swift]", "", "Read when `storage-backend = swift` opens the store.", ""]
    lines += _table(["key", "when unset", "meaning"], _swift_rows())
    return "\n".join(lines)


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return _code(action.metavar if isinstance(action.metavar, str) else action.dest) + (
            "..." if action.nargs in ("+", "*") else ""
        )
    value = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
    return ", ".join(_code(flag + value) for flag in action.option_strings)


def _option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    return [
        (_flags(action), action.help or MISSING)
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    ]


def _subcommands(parser: argparse.ArgumentParser) -> Mapping[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _usage(parser: argparse.ArgumentParser) -> str:
    # A fixed width: argparse wraps to the terminal's, and the page must not depend on where it was built.
    formatter = argparse.HelpFormatter(parser.prog, width=100)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def commands_reference(parser: argparse.ArgumentParser) -> str:
    """Markdown: the global options, then each command with its usage line and every option."""
    lines = ["## Global options", "", "```", _usage(parser), "```", ""]
    lines += _table(["option", "meaning"], _option_rows(parser))
    helps = {
        action.dest: action.help or ""
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for action in action._choices_actions
    }
    for name, sub in _subcommands(parser).items():
        lines += [f"## {name}", "", helps.get(name) or MISSING, "", "```", _usage(sub), "```", ""]
        lines += _table(["argument", "meaning"], _option_rows(sub))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from frumious.cli import build_parser

    if argv == ["config"]:
        print(config_reference())
    elif argv == ["commands"]:
        print(commands_reference(build_parser()))
    else:
        print("usage: python -m frumious.cli.reference config|commands", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
