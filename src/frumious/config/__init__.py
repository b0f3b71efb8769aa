"""Parse a bandersnatch-style INI config once into frozen ``Settings``.

The parsing rules are bandersnatch's (``=`` as the only delimiter, case-sensitive keys, ``%``
interpolation, full-line comments only) so an existing bandersnatch.conf works unchanged.
Validation collects every problem before failing, so one run shows the user all of them;
harmless oddities (dead keys, old section names, typos) become warnings instead.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from enum import Enum
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from urllib.parse import urlsplit

from frumious.config import guards
from frumious.config.reader import Reader, did_you_mean
from frumious.errors import ConfigError, ConfigMissing
from frumious.settings import CompareMethod, MirrorSettings, S3Settings, Settings, SimpleFormat, SwiftSettings

__all__ = ["EXAMPLE_CONFIG", "default_config_path", "load", "loads"]

EXAMPLE_CONFIG: str = resources.files("frumious.config").joinpath("example.conf").read_text(encoding="utf-8")

# Where storage backends register (frumious.storage.ENTRY_POINT_GROUP; config may not import storage).
STORAGE_ENTRY_POINT_GROUP = "frumious.storage.v1"

_CONFIG_CANDIDATES = ("/etc/frumious.conf", "/etc/bandersnatch.conf")

# bandersnatch spells these with underscores; every other [mirror] key is its field name with "-".
_UNDERSCORE_KEYS = frozenset({"digest_name", "keep_index_versions", "root_uri"})


def _mirror_key(field_name: str) -> str:
    if field_name == "manage_permissions":
        return "storage-filesystem-manage-permissions"
    return field_name if field_name in _UNDERSCORE_KEYS else field_name.replace("_", "-")


def _ini_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value.value if isinstance(value, Enum) else value)


# settings.py's defaults as INI text, merged under the user's [mirror] the way bandersnatch merges
# its defaults.conf, so %(key)s and {{ mirror_key }} references to unset keys resolve as there.
_MIRROR_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {_mirror_key(f.name): _ini_text(f.default) for f in fields(MirrorSettings) if f.name != "directory"}
)
_MIRROR_KEYS = frozenset({"directory", *_MIRROR_DEFAULTS})
_DEAD_MIRROR_KEYS: Mapping[str, str] = {
    "delete-packages": "obsolete key, ignored (use the delete command to remove projects)",
    "api-method": "obsolete key, ignored (the project list always comes from the simple API)",
    "keep-index-versions": "ignored, as bandersnatch ignores it; the key is spelled keep_index_versions",
}
_OLD_SECTIONS: Mapping[str, str] = {"blacklist": "blocklist", "whitelist": "allowlist"}

_S3_PARAM_PREFIX = "config_param_"
_S3_DEFAULTS = S3Settings()
_S3_KEYS = frozenset(f.name for f in fields(S3Settings) if f.name != "extra_args")

# The environment variables bandersnatch 6's swift backend consulted, in its order, for
# keys absent from [swift]; then its hard defaults.
_SWIFT_ENV: Mapping[str, tuple[str, ...]] = {
    "default_container": (),
    "auth_url": ("OS_AUTH_URL", "OS_AUTHENTICATION_URL"),
    "username": ("OS_USER_ID", "OS_USERNAME"),
    "password": ("OS_PASSWORD",),
    "project_name": ("OS_PROJECT_NAME", "OS_TENANT_NAME"),
    "user_domain_name": ("OS_USER_DOMAIN_NAME",),
    "project_domain_name": ("OS_PROJECT_DOMAIN_NAME",),
    "object_storage_url": ("OS_STORAGE_URL",),
    "region": ("OS_REGION_NAME",),
    "project_id": ("OS_PROJECT_ID",),
}
_SWIFT_FALLBACK: Mapping[str, str] = {
    "default_container": "bandersnatch",
    "user_domain_name": "default",
    "project_domain_name": "default",
}

# "max-delete-share = 5%" must work although a lone % breaks interpolation; bandersnatch never
# reads this frumious-only key, so taking it raw cannot break a config shared with it.
_RAW_WHEN_UNINTERPOLATABLE = frozenset({("mirror", "max-delete-share"), ("mirror", "max-delete-file-share")})
_SHARE = "a share of the mirror: a fraction in (0, 1] such as 0.01, or a percentage such as 5%"
_FILE_SHARE = "a share of a project's files: a fraction in (0, 1] such as 0.5, or a percentage such as 50%"
_PROXY_SCHEMES = ("http", "https", "socks4", "socks5")
_GLOBAL_TIMEOUT_WHEN_ZERO = 18000.0  # bandersnatch's Master treats 0 as five hours

# bandersnatch's diff-file reference grammar: "{{ section_option }}" anywhere on the first line;
# the section may not contain "_", so the first "_" splits section from option.
_HAS_REFERENCE = re.compile(r".*\{\{.+_.+\}\}")
_REFERENCE = re.compile(
    r"^(?P<pre>.*)\{\{\s*(?P<section>[^_\s][^_]*[^_\s])\s*_\s*(?P<option>\S(?:.*\S)?)\s*\}\}(?P<post>.*)$"
)


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


def load(path: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config at ``path``; ``environ`` feeds the [swift] OS_* fallbacks."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigMissing(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read the config file: {reason}") from exc
    return loads(text, path, environ, check_files=True)


def loads(
    text: str, path: str = "<string>", environ: Mapping[str, str] | None = None, *, check_files: bool = False
) -> Settings:
    """Parse and validate config text; raise ``ConfigError`` listing every problem found.

    ``check_files`` also checks what the values name on this machine (the mirror directory
    is not a file, log-config is a readable logging config), as ``load`` does for a real run.
    """
    parser = _parse(text, path)
    own = _own_keys(text)
    values, problems = _interpolate(parser, own)
    reader = Reader(values)
    reader.problems.extend(problems)
    _audit(reader, own)
    settings = Settings(
        mirror=_mirror(reader),
        plugins=_plugins(reader),
        sections=MappingProxyType({k: MappingProxyType(v) for k, v in values.items() if k != "DEFAULT"}),
        s3=_s3(reader),
        swift=_swift(reader, os.environ if environ is None else environ),
        warnings=tuple(reader.warnings),
        path=path,
    )
    if check_files:
        _check_files(reader, settings.mirror)
    if reader.problems:
        raise ConfigError(reader.problems)
    return settings


def _parse(text: str, path: str) -> _Parser:
    parser = _Parser()
    parser.read_dict({"mirror": _MIRROR_DEFAULTS})
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
                if (name, key) in _RAW_WHEN_UNINTERPOLATABLE:
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
        if key in _DEAD_MIRROR_KEYS:
            r.warn("mirror", key, _DEAD_MIRROR_KEYS[key])
        elif key not in _MIRROR_KEYS:
            r.warn("mirror", key, f"unknown key, ignored{did_you_mean(key, _MIRROR_KEYS)}")
    for key in own.get("s3", ()):
        if key not in _S3_KEYS and not key.startswith(_S3_PARAM_PREFIX):
            r.warn("s3", key, f"unknown key, ignored{did_you_mean(key, _S3_KEYS)}")
    for key in own.get("swift", ()):
        if key not in _SWIFT_ENV:
            r.warn("swift", key, f"unknown key, ignored{did_you_mean(key, _SWIFT_ENV)}")
    for old, new in _OLD_SECTIONS.items():
        if old in own:
            r.warn(old, "", f"obsolete section, ignored; rename it to [{new}]")
    for name in ("blocklist", "allowlist", *_OLD_SECTIONS):
        if "plugins" in own.get(name, ()):
            r.warn(name, "plugins", "obsolete key, ignored; list filters in [plugins] enabled")


def _mirror(r: Reader) -> MirrorSettings:
    m = "mirror"
    directory = r.text(m, "directory")
    if not directory:
        r.bad(m, "directory", "required but not set; name the directory the mirror lives in")
    allow_non_https = r.boolean(m, "allow-non-https")
    backend = r.choice(m, "storage-backend", _storage_backends(), str.lower)
    if backend == "s3" and directory:
        _check_s3_directory(r, directory)
    elif backend == "filesystem" and directory:
        _guard(r, "directory", guards.system_directory_problem(directory))
    download_mirror = _url(r, "download-mirror", ("http", "https")).rstrip("/")
    global_timeout = r.number(m, "global-timeout", lambda x: x >= 0, "a number of seconds, 0 or more")
    release_files = r.boolean(m, "release-files", True)
    return MirrorSettings(
        directory=directory,
        master=_master(r, allow_non_https),
        allow_non_https=allow_non_https,
        proxy=_url(r, "proxy", _PROXY_SCHEMES),
        download_mirror=download_mirror,
        # As in bandersnatch, the flag means nothing without a download mirror.
        download_mirror_no_fallback=r.boolean(m, "download-mirror-no-fallback") and bool(download_mirror),
        json=r.boolean(m, "json"),
        release_files=release_files,
        core_metadata=r.boolean(m, "core-metadata"),
        hash_index=r.boolean(m, "hash-index"),
        simple_format=SimpleFormat(r.choice(m, "simple-format", ("ALL", "HTML", "JSON"), str.upper)),
        compare_method=CompareMethod(r.choice(m, "compare-method", ("hash", "stat"), str.lower)),
        digest_name=r.choice(m, "digest_name", ("sha256", "md5"), lambda raw: raw.strip().lower()),
        keep_index_versions=r.integer(m, "keep_index_versions", 0, low=0),
        cleanup=r.boolean(m, "cleanup"),
        stop_on_error=r.boolean(m, "stop-on-error"),
        timeout=r.number(m, "timeout", lambda x: x > 0, "a number of seconds more than 0"),
        global_timeout=global_timeout or _GLOBAL_TIMEOUT_WHEN_ZERO,
        workers=r.integer(m, "workers", 3, low=1, high=10),
        verifiers=r.integer(m, "verifiers", 3, low=1),
        storage_backend=backend,
        manage_permissions=r.boolean(m, "storage-filesystem-manage-permissions", True),
        root_uri=_root_uri(r, release_files),
        diff_file=_diff_file(r, directory),
        diff_append_epoch=r.boolean(m, "diff-append-epoch"),
        log_config=r.text(m, "log-config"),
        prune_filtered=r.boolean(m, "prune-filtered"),
        keep_removed=r.boolean(m, "keep-removed"),
        max_delete_share=r.number(m, "max-delete-share", lambda x: 0 < x <= 1, _SHARE, percent=True),
        quarantine_after=r.integer(m, "quarantine-after", 3, low=1),
        confirm_removal_after=r.number(m, "confirm-removal-after", lambda x: x >= 0, "a number of seconds, 0 or more"),
        max_delete_file_share=r.number(m, "max-delete-file-share", lambda x: 0 < x <= 1, _FILE_SHARE, percent=True),
        max_listing_size=r.size(m, "max-listing-size"),
        max_project_size=r.size(m, "max-project-size"),
    )


def _master(r: Reader, allow_non_https: bool) -> str:
    raw = r.text("mirror", "master")
    # bandersnatch appends "/simple" etc. by concatenation; a trailing "/" would give "//simple".
    master = raw.rstrip("/")
    if guards.url_problem(master, ("http", "https")) is not None:
        r.bad("mirror", "master", f"{raw!r} is not an http(s) URL with a host; to mirror PyPI use https://pypi.org")
    elif _scheme(master) == "http" and not allow_non_https:
        r.bad("mirror", "master", f"{raw!r} is not https; set allow-non-https = true to allow plain http")
    return master


def _url(r: Reader, key: str, schemes: Sequence[str]) -> str:
    raw = r.text("mirror", key)
    if raw:
        _guard(r, key, guards.url_problem(raw, schemes))
    return raw


def _guard(r: Reader, key: str, problem: str | None) -> None:
    if problem is not None:
        r.bad("mirror", key, problem)


def _check_files(r: Reader, mirror: MirrorSettings) -> None:
    """What the values name on this machine: problems a later open would hit as a traceback."""
    if mirror.storage_backend == "filesystem" and mirror.directory:
        _guard(r, "directory", guards.not_a_directory_problem(mirror.directory))
    if mirror.log_config:
        _guard(r, "log-config", guards.log_config_problem(mirror.log_config))


def _storage_backends() -> tuple[str, ...]:
    """The built-in backends and the installed ones (frumious.storage lists the same, and loads them)."""
    installed = (ep.name for ep in entry_points(group=STORAGE_ENTRY_POINT_GROUP))
    return tuple(dict.fromkeys(("filesystem", "s3", "swift", *installed)))


def _scheme(url: str) -> str | None:
    """The URL's lowercased scheme, or None when it has no host or does not parse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.scheme.lower() if parts.netloc else None


def _check_s3_directory(r: Reader, directory: str) -> None:
    if not directory.startswith("/") or not directory.split("/")[1].strip():
        r.bad("mirror", "directory", f"{directory!r} is not /bucket/prefix, which storage-backend = s3 requires")


def _root_uri(r: Reader, release_files: bool) -> str:
    # Pages concatenate root_uri and "/packages/...", so a trailing "/" would give "//packages".
    root_uri = r.text("mirror", "root_uri").rstrip("/")
    if not root_uri and not release_files:
        root_uri = "https://files.pythonhosted.org"
        r.warn("mirror", "root_uri", f"not set while release-files = false; pages will link to {root_uri}")
    return root_uri


def _diff_file(r: Reader, directory: str) -> str:
    raw = r.text("mirror", "diff-file")
    if not _HAS_REFERENCE.match(raw):
        return raw
    match = _REFERENCE.match(raw)
    value = r.values.get(match["section"], {}).get(match["option"]) if match else None
    if match is None or value is None:
        fallback = (PurePosixPath(directory) / "mirrored-files").as_posix()
        r.warn("mirror", "diff-file", f"cannot resolve the {{{{ ... }}}} reference in {raw!r}; using {fallback}")
        return fallback
    return match["pre"] + value + match["post"]


def _plugins(r: Reader) -> tuple[str, ...]:
    names = [line.strip() for line in r.text("plugins", "enabled").splitlines() if line.strip()]
    return ("all",) if "all" in names else tuple(dict.fromkeys(names))


def _s3(r: Reader) -> S3Settings:
    prefix = _S3_PARAM_PREFIX
    extra = {
        k.removeprefix(prefix): v for k, v in r.values.get("s3", {}).items() if k.startswith(prefix) and k != prefix
    }
    return S3Settings(
        region_name=r.text("s3", "region_name"),
        aws_access_key_id=r.text("s3", "aws_access_key_id"),
        aws_secret_access_key=r.text("s3", "aws_secret_access_key"),
        endpoint_url=r.text("s3", "endpoint_url"),
        signature_version=r.text("s3", "signature_version"),
        extra_args=MappingProxyType(extra),
        verify_concurrency=r.integer("s3", "verify_concurrency", _S3_DEFAULTS.verify_concurrency, low=1),
        max_attempts=r.integer("s3", "max_attempts", _S3_DEFAULTS.max_attempts, low=1),
    )


def _swift(r: Reader, environ: Mapping[str, str]) -> SwiftSettings:
    # A key present in [swift] wins even when empty, as it did in bandersnatch 6.
    section = r.values.get("swift", {})
    found: dict[str, str] = {}
    for key, env_names in _SWIFT_ENV.items():
        from_env = next((environ[name] for name in env_names if name in environ), None)
        found[key] = section.get(key, from_env if from_env is not None else _SWIFT_FALLBACK.get(key, ""))
    return SwiftSettings(**found)
