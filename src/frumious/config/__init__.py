"""Parse a bandersnatch-style INI config once into frozen ``Settings``.

The parsing rules are bandersnatch's (``=`` as the only delimiter, case-sensitive keys, ``%``
interpolation, full-line comments only) so an existing bandersnatch.conf works unchanged.
Validation collects every problem before failing, so one run shows the user all of them;
harmless oddities (dead keys, old section names, typos) become warnings instead.
"""

from __future__ import annotations

import ast
import configparser
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from frumious.config.mirror import (
    DEAD_MIRROR_KEYS,
    MIRROR_DEFAULTS,
    MIRROR_KEYS,
    RAW_WHEN_UNINTERPOLATABLE,
    STORAGE_ENTRY_POINT_GROUP,
    check_mirror_files,
    read_mirror,
)
from frumious.config.reader import Reader, did_you_mean
from frumious.errors import ConfigError, ConfigMissing
from frumious.settings import Settings

__all__ = [
    "CONFIG_SECTIONS",
    "EXAMPLE_CONFIG",
    "STORAGE_ENTRY_POINT_GROUP",
    "default_config_path",
    "load",
    "load_with_problems",
    "loads",
]

# The [mirror] keys, under the name tests and older callers use.
_MIRROR_KEYS = MIRROR_KEYS


def __getattr__(name: str) -> str:
    """``EXAMPLE_CONFIG``, read when asked for (there is no config yet), not at every start-up:
    importlib.resources and what it imports (zipfile...) cost about 30 ms of CPU."""
    if name == "EXAMPLE_CONFIG":
        from importlib import resources

        return resources.files("frumious.config").joinpath("example.conf").read_text(encoding="utf-8")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_CONFIG_CANDIDATES = ("/etc/frumious.conf", "/etc/bandersnatch.conf")

_OLD_SECTIONS: Mapping[str, str] = {"blacklist": "blocklist", "whitelist": "allowlist"}
# The sections config itself knows (the obsolete ones are warned about); filters and storage
# backends know theirs, and a section nobody knows is a typo (filters.guard).
CONFIG_SECTIONS = frozenset({"mirror", "plugins", *_OLD_SECTIONS})


class _Parser(configparser.ConfigParser):
    """bandersnatch's dialect: only ``=`` delimits, so ``:`` may appear in keys."""

    def __init__(self, raw: bool = False) -> None:
        if raw:
            # A default_section name nobody can write turns [DEFAULT] into an ordinary section,
            # so each section's own keys can be told from inherited ones.
            super().__init__(delimiters=("=",), interpolation=None, strict=False, default_section="\0")
        else:
            super().__init__(delimiters=("=",))

    def optionxform(self, optionstr: str) -> str:
        # Keys are case-sensitive and "-" differs from "_", exactly as in bandersnatch.
        return optionstr


def default_config_path() -> str:
    """Where the CLI looks when no ``-c`` is given: ours first, then an existing bandersnatch one."""
    return next((path for path in _CONFIG_CANDIDATES if Path(path).exists()), _CONFIG_CANDIDATES[0])


def load(path: str) -> Settings:
    """Read and validate the config at ``path``."""
    settings, problems = load_with_problems(path)
    if problems:
        raise ConfigError(problems)
    return settings


def load_with_problems(path: str) -> tuple[Settings, list[str]]:
    """``load``, returning the problems of the values rather than raising them, so a caller can
    add its own (the filters') and report all at once; a file that cannot be read or parsed raises."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigMissing(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read the config file: {reason}") from exc
    return _settings(text, path, check_files=True)


def loads(text: str, path: str = "<string>", *, check_files: bool = False) -> Settings:
    """Parse and validate config text; raise ``ConfigError`` listing every problem found.

    ``check_files`` also checks what the values name on this machine (the mirror directory
    is not a file, log-config is a readable logging config), as ``load`` does for a real run.
    """
    settings, problems = _settings(text, path, check_files=check_files)
    if problems:
        raise ConfigError(problems)
    return settings


def _settings(text: str, path: str, *, check_files: bool) -> tuple[Settings, list[str]]:
    parser = _parse(text, path)
    own = _own_keys(text)
    values, problems = _interpolate(parser, own)
    reader = Reader(values)
    reader.problems.extend(problems)
    _audit(reader, own)
    settings = Settings(
        mirror=read_mirror(reader),
        plugins=_plugins(reader),
        sections=MappingProxyType({k: MappingProxyType(v) for k, v in values.items() if k != "DEFAULT"}),
        own_keys=MappingProxyType(own),
        warnings=tuple(reader.warnings),
        path=path,
    )
    if check_files:
        check_mirror_files(reader, settings.mirror)
    return settings, reader.problems


def _parse(text: str, path: str) -> _Parser:
    parser = _Parser()
    parser.read_dict({"mirror": MIRROR_DEFAULTS})
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConfigError(_syntax_problems(exc, path)) from exc
    return parser


def _syntax_problems(exc: configparser.Error, path: str) -> list[str]:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        lines = [(exc.lineno, exc.line)]
    elif isinstance(exc, configparser.ParsingError):
        # Python 3.11 and 3.12 keep repr(line) here; later versions keep the line itself.
        lines = [(n, _unrepr(text)) for n, text in exc.errors]
    else:  # duplicate sections and keys: configparser's own message is one clear line
        return [" ".join(str(exc).split())]
    return [
        f"{path} line {n}: cannot parse {text.strip()!r}; expected [section], key = value or a comment"
        for n, text in lines
    ]


def _unrepr(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def _own_keys(text: str) -> dict[str, tuple[str, ...]]:
    """The keys each section sets itself, without [DEFAULT] inheritance or our defaults."""
    raw = _Parser(raw=True)
    raw.read_string(text)
    return {name: tuple(raw.options(name)) for name in raw.sections()}


def _interpolate(parser: _Parser, own: Mapping[str, Sequence[str]]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Every section's values after %-interpolation, and one problem per key that fails it."""
    values: dict[str, dict[str, str]] = {}
    problems: dict[str, None] = {}  # ordered and deduplicated: a [DEFAULT] key is read in every section
    for name in ["DEFAULT", *parser.sections()]:
        values[name] = {}
        for key in parser.defaults() if name == "DEFAULT" else parser.options(name):
            try:
                values[name][key] = parser.get(name, key)
            except configparser.InterpolationError as exc:
                if (name, key) in RAW_WHEN_UNINTERPOLATABLE:
                    values[name][key] = parser.get(name, key, raw=True)
                elif name != "DEFAULT":
                    # [DEFAULT] values interpolate in the section reading them, so judge them only there.
                    where = name if key in own.get(name, ()) else "DEFAULT"
                    problems[f"[{where}] {key}: {_interpolation_problem(exc)}"] = None
    return values, list(problems)


def _interpolation_problem(exc: configparser.InterpolationError) -> str:
    if isinstance(exc, configparser.InterpolationMissingOptionError):
        return f"%({exc.reference})s names a key that does not exist; write %% for a literal %"
    if isinstance(exc, configparser.InterpolationDepthError):
        return "% references nest too deeply (do two keys refer to each other?)"
    return "a lone % is not allowed (values use %-interpolation); write %% for a literal %"


def _audit(r: Reader, own: Mapping[str, Sequence[str]]) -> None:
    """Warn about keys and sections that do nothing, so silent typos become visible."""
    for key in own.get("mirror", ()):
        if key in DEAD_MIRROR_KEYS:
            r.warn("mirror", key, DEAD_MIRROR_KEYS[key])
        elif key not in MIRROR_KEYS:
            r.warn("mirror", key, f"unknown key, ignored{did_you_mean(key, MIRROR_KEYS)}")
    for old, new in _OLD_SECTIONS.items():
        if old in own:
            r.warn(old, "", f"obsolete section, ignored; rename it to [{new}]")
    for name in ("blocklist", "allowlist", *_OLD_SECTIONS):
        if "plugins" in own.get(name, ()):
            r.warn(name, "plugins", "obsolete key, ignored; list filters in [plugins] enabled")


def _plugins(r: Reader) -> tuple[str, ...]:
    names = [line.strip() for line in r.text("plugins", "enabled").splitlines() if line.strip()]
    return ("all",) if "all" in names else tuple(dict.fromkeys(names))
