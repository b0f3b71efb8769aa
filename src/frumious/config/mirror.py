"""The ``[mirror]`` section: its keys, their defaults (from ``settings``) and its reader.

Apart from ``load``/``loads`` (parsing, interpolation, the other sections) because it is the
one section with dozens of keys, each with its own rule; every problem goes to the ``Reader``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import PurePosixPath
from types import MappingProxyType
from urllib.parse import urlsplit

from msgspec.structs import fields

from frumious.config import guards
from frumious.config.reader import Reader
from frumious.settings import (
    BUILTIN_BACKENDS,
    STORAGE_ENTRY_POINT_GROUP,
    CompareMethod,
    FilteredProjects,
    MirrorSettings,
    SimpleFormat,
)
from frumious.shard import MAX_SHARDS

__all__ = [
    "DEAD_MIRROR_KEYS",
    "MIRROR_DEFAULTS",
    "MIRROR_KEYS",
    "RAW_WHEN_UNINTERPOLATABLE",
    "STORAGE_ENTRY_POINT_GROUP",
    "check_mirror_files",
    "read_mirror",
]


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


# Fields that are no config key: the directory has no default, and the shard a run is comes from the CLI.
_NOT_KEYS = frozenset({"directory", "shard"})
# settings.py's defaults as INI text, merged under the user's [mirror] the way bandersnatch merges
# its defaults.conf, so %(key)s and {{ mirror_key }} references to unset keys resolve as there.
MIRROR_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {_mirror_key(f.name): _ini_text(f.default) for f in fields(MirrorSettings) if f.name not in _NOT_KEYS}
)
MIRROR_KEYS = frozenset({"directory", *MIRROR_DEFAULTS})
DEAD_MIRROR_KEYS: Mapping[str, str] = {
    "delete-packages": "obsolete key, ignored (use the delete command to remove projects)",
    "api-method": "obsolete key, ignored (the project list always comes from the simple API)",
    "keep-index-versions": "ignored, as bandersnatch ignores it; the key is spelled keep_index_versions",
}

# "max-delete-share = 5%" must work although a lone % breaks interpolation; bandersnatch never
# reads this frumious-only key, so taking it raw cannot break a config shared with it.
RAW_WHEN_UNINTERPOLATABLE = frozenset({("mirror", "max-delete-share"), ("mirror", "max-delete-file-share")})
_SHARE = "a share of the mirror: a fraction in (0, 1] such as 0.01, or a percentage such as 5%"
_FILE_SHARE = "a share of a project's files: a fraction in (0, 1] such as 0.5, or a percentage such as 50%"
_SHARD_SHARE = "a shard's part of the limits: a fraction in [0, 1] such as 0.25, or a percentage (0: 1/shards)"
_RATE = "a number of requests per second, 0 or more (0: no limit)"
# The contact goes into the User-Agent's comment: printable ASCII, and no parentheses or
# backslash, which would end or escape that comment (RFC 9110, 5.6.5).
_CONTACT = re.compile(r"[\x21-\x7e][\x20-\x7e]*")
_POLICIES = tuple(policy.value for policy in FilteredProjects)
_PROXY_SCHEMES = ("http", "https", "socks4", "socks5")
_GLOBAL_TIMEOUT_WHEN_ZERO = 18000.0  # bandersnatch's Master treats 0 as five hours

# bandersnatch's diff-file reference grammar: "{{ section_option }}" anywhere on the first line;
# the section may not contain "_", so the first "_" splits section from option.
_HAS_REFERENCE = re.compile(r".*\{\{.+_.+\}\}")
_REFERENCE = re.compile(
    r"^(?P<pre>.*)\{\{\s*(?P<section>[^_\s][^_]*[^_\s])\s*_\s*(?P<option>\S(?:.*\S)?)\s*\}\}(?P<post>.*)$"
)


def read_mirror(r: Reader) -> MirrorSettings:
    m = "mirror"
    directory = r.text(m, "directory")
    if not directory:
        r.bad(m, "directory", "required but not set; name the directory the mirror lives in")
    allow_non_https = r.boolean(m, "allow-non-https")
    backend = r.choice(m, "storage-backend", _storage_backends(r.text(m, "storage-backend")), str.lower)
    # Other backends check the directory themselves, when the store opens.
    if backend == "filesystem" and directory:
        _guard(r, "directory", guards.system_directory_problem(directory))
    download_mirror = _url(r, "download-mirror", ("http", "https")).rstrip("/")
    global_timeout = r.number(m, "global-timeout", lambda x: x >= 0, "a number of seconds, 0 or more")
    release_files = r.boolean(m, "release-files", True)
    master = _master(r, allow_non_https)
    return MirrorSettings(
        directory=directory,
        master=master,
        index_url=_index_url(r, master, allow_non_https),
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
        report_file=r.text(m, "report-file"),
        metrics_file=r.text(m, "metrics-file"),
        filtered_projects=FilteredProjects(r.choice(m, "filtered-projects", _POLICIES, str.lower)),
        feed=r.boolean(m, "feed"),
        feed_keep_days=r.integer(m, "feed-keep-days", 7, low=1),
        max_requests_per_second=r.number(m, "max-requests-per-second", lambda x: x >= 0, _RATE),
        max_bytes_per_second=r.size(m, "max-bytes-per-second", zero=True),
        contact=_contact(r),
        shards=r.integer(m, "shards", 0, low=0, high=MAX_SHARDS),
        shard_share=r.number(m, "shard-share", lambda x: 0 <= x <= 1, _SHARD_SHARE, percent=True),
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


def _index_url(r: Reader, master: str, allow_non_https: bool) -> str:
    raw = r.text("mirror", "index-url")
    index = raw.rstrip("/")
    if not raw or guards.url_problem(index, ("http", "https")) is not None:
        if raw:
            r.bad("mirror", "index-url", f"{raw!r} is not an http(s) URL with a host, such as {master}/simple/")
        return ""
    if _scheme(index) == "http" and not allow_non_https:
        r.bad("mirror", "index-url", f"{raw!r} is not https; set allow-non-https = true to allow plain http")
    elif _origin(index) != _origin(master):
        # master still names where /pypi/<name>/json and the feed are asked: another server would mix two
        # indexes (a devpi index's projects looked up on pypi.org, say), so it must be the index's own.
        server = "://".join(_origin(index))
        r.bad("mirror", "index-url", f"{raw!r} is not on master's server ({master}): set master to {server}")
    return index


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _url(r: Reader, key: str, schemes: Sequence[str]) -> str:
    raw = r.text("mirror", key)
    if raw:
        _guard(r, key, guards.url_problem(raw, schemes))
    return raw


def _guard(r: Reader, key: str, problem: str | None) -> None:
    if problem is not None:
        r.bad("mirror", key, problem)


def _contact(r: Reader) -> str:
    raw = r.text("mirror", "contact").strip()
    if raw and (not _CONTACT.fullmatch(raw) or any(c in raw for c in "()\\")):
        r.bad("mirror", "contact", f"{raw!r} cannot go in a User-Agent; use an e-mail address or URL in plain ASCII")
    return raw


def check_mirror_files(r: Reader, mirror: MirrorSettings) -> None:
    """What the values name on this machine: problems a later open would hit as a traceback."""
    if mirror.storage_backend == "filesystem" and mirror.directory:
        _guard(r, "directory", guards.not_a_directory_problem(mirror.directory))
    if mirror.log_config:
        _guard(r, "log-config", guards.log_config_problem(mirror.log_config))


def _storage_backends(raw: str) -> tuple[str, ...]:
    """The built-in backends and the installed ones (frumious.storage lists the same, and loads them)."""
    if not raw or raw.lower() in BUILTIN_BACKENDS:
        # No need to list the installed ones: importlib.metadata and the scan of every installed
        # distribution cost 30-50 ms of every run's CPU.
        return tuple(BUILTIN_BACKENDS)
    from importlib.metadata import entry_points

    installed = (ep.name for ep in entry_points(group=STORAGE_ENTRY_POINT_GROUP))
    return tuple(dict.fromkeys((*BUILTIN_BACKENDS, *installed)))


def _scheme(url: str) -> str | None:
    """The URL's lowercased scheme, or None when it has no host or does not parse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.scheme.lower() if parts.netloc else None


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
