"""Where things live in a mirror: pure functions from names and URLs to store keys.

A key is a ``/``-separated path relative to the mirror directory. The tree is
bandersnatch's, byte for byte, so an existing mirror is continued in place::

    generation  status  todo  .lock
    web/last-modified  web/local-stats/days/
    web/simple/index.{html,v1_html,v1_json}
    web/simple/<name>/index.{html,v1_html,v1_json}     (hash-index: web/simple/<n>/<name>/)
    web/simple/<name>/versions/index_<serial>_<ts>.<ext>
    web/packages/<upstream URL path>  (+ ".metadata")
    web/json/<name>  web/pypi/<name>/json

Everything that turns upstream text into a key is checked here, because a key
that escapes its directory would let upstream overwrite any file of the mirror.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from frumious.errors import BadUpstreamData

__all__ = [
    "GENERATION",
    "JSON_DIR",
    "LAST_MODIFIED",
    "LOCAL_STATS",
    "LOCK",
    "PACKAGES",
    "PAGE_EXTENSIONS",
    "PYPI_DIR",
    "SIMPLE",
    "STATUS",
    "TEMP_DIR",
    "TEMP_DIRS",
    "TEMP_FALLBACK_DIR",
    "TEMP_PREFIX",
    "TODO",
    "PageKeys",
    "check_filename",
    "download_url",
    "json_key",
    "metadata_key",
    "package_key",
    "page_key",
    "page_keys",
    "pypi_json_key",
    "root_page_keys",
    "simple_dir",
    "version_timestamp",
    "versioned_page_key",
    "versions_dir",
    "versions_to_prune",
]

GENERATION = "generation"
STATUS = "status"
TODO = "todo"
LOCK = ".lock"
# Temp files: ``.frumious-<pid>-<n>`` in TEMP_DIR, or in a TEMP_FALLBACK_DIR at the top of a part
# of the tree on another filesystem (listed in TEMP_DIRS). Upstream names may not use the prefix.
TEMP_PREFIX = ".frumious-"
TEMP_DIR = ".frumious/tmp"
TEMP_DIRS = ".frumious/tmp-dirs"
TEMP_FALLBACK_DIR = ".frumious-tmp"
LAST_MODIFIED = "web/last-modified"
LOCAL_STATS = "web/local-stats/days"
SIMPLE = "web/simple"
PACKAGES = "web/packages"
JSON_DIR = "web/json"
PYPI_DIR = "web/pypi"

# The extensions of the three page files, in bandersnatch's order.
PAGE_EXTENSIONS = ("html", "v1_html", "v1_json")

# Most file systems (ext4, xfs, btrfs, zfs, NTFS) refuse a name longer than this.
MAX_NAME_BYTES = 255

# C0 controls and DEL: NUL breaks every file API, and a newline would break the
# newline-separated diff file and todo list.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PageKeys(NamedTuple):
    """The three page files of one simple directory."""

    html: str
    v1_html: str
    v1_json: str


def _check_segment(segment: str, what: str) -> str | None:
    """Why ``segment`` cannot be one path component, or None when it can."""
    if segment in ("", ".", ".."):
        return f"{what} is empty, '.' or '..'"
    if "/" in segment or "\\" in segment:
        return f"{what} contains a slash or backslash"
    if _CONTROL.search(segment):
        return f"{what} contains a NUL or control character"
    if segment.startswith(TEMP_PREFIX):
        return f"{what} starts with {TEMP_PREFIX!r}, which marks frumious' temp files"
    try:
        size = len(segment.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{what} contains a lone surrogate, which no file system can store"
    if size > MAX_NAME_BYTES:
        return f"{what} is longer than {MAX_NAME_BYTES} bytes in UTF-8, which file systems refuse"
    return None


def check_filename(filename: str) -> None:
    """Refuse a release filename that is not a single safe path component."""
    problem = _check_segment(filename, "filename")
    if problem:
        raise BadUpstreamData(f"refusing filename {filename!r}: {problem}")


def _check_name(name: str) -> None:
    problem = _check_segment(name, "project name")
    if problem:
        raise BadUpstreamData(f"refusing project name {name!r}: {problem}")


def simple_dir(name: str, hash_index: bool) -> str:
    """The simple directory of a project (canonical name, or a raw one for cleanup)."""
    _check_name(name)
    if hash_index:
        return f"{SIMPLE}/{name[0]}/{name}"
    return f"{SIMPLE}/{name}"


def page_key(simple_dir: str, ext: str) -> str:
    """``<simple_dir>/index.<ext>``, one of the three page formats."""
    _check_ext(ext)
    return f"{simple_dir}/index.{ext}"


def page_keys(simple_dir: str) -> PageKeys:
    """The index.html / index.v1_html / index.v1_json keys inside ``simple_dir``."""
    return PageKeys(*(f"{simple_dir}/index.{ext}" for ext in PAGE_EXTENSIONS))


def root_page_keys() -> PageKeys:
    return page_keys(SIMPLE)


# A sync asks for each file's key three times (validating the JSON, planning downloads, recording):
# remembered, the URL is checked once (a project with more files than this is merely checked again).
@functools.lru_cache(maxsize=4096)
def package_key(url: str) -> str:
    """The key of a release file: ``web`` plus the URL-decoded path of its URL.

    The path must lie under ``/packages/`` and every segment must stay a single
    component after percent-decoding, so upstream cannot aim a file elsewhere.
    """
    path = urlsplit(url).path
    if not path.startswith("/packages/"):
        raise BadUpstreamData(f"refusing file URL {url!r}: its path does not start with /packages/")
    decoded: list[str] = []
    for raw in path[1:].split("/"):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise BadUpstreamData(f"refusing file URL {url!r}: a path segment is not valid UTF-8") from None
        problem = _check_segment(segment, f"path segment {raw!r}")
        if problem:
            raise BadUpstreamData(f"refusing file URL {url!r}: {problem}")
        decoded.append(segment)
    return "web/" + "/".join(decoded)


def metadata_key(file_key: str) -> str:
    """The PEP 658 core-metadata file stored beside a release file."""
    return file_key + ".metadata"


def json_key(canonical: str) -> str:
    _check_name(canonical)
    return f"{JSON_DIR}/{canonical}"


def pypi_json_key(canonical: str) -> str:
    _check_name(canonical)
    return f"{PYPI_DIR}/{canonical}/json"


def versions_dir(simple_dir: str) -> str:
    return f"{simple_dir}/versions"


def version_timestamp(timestamp: datetime) -> str:
    """bandersnatch's file-name timestamp: UTC isoformat without ':' plus 'Z'.

    A naive datetime is taken to be UTC already (bandersnatch uses utcnow()).
    """
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(UTC).replace(tzinfo=None)
    return timestamp.isoformat().replace(":", "") + "Z"


def versioned_page_key(simple_dir: str, serial: int, timestamp: datetime, ext: str) -> str:
    """``<simple_dir>/versions/index_<serial>_<ts>.<ext>`` (keep_index_versions > 0)."""
    _check_ext(ext)
    return f"{versions_dir(simple_dir)}/index_{serial}_{version_timestamp(timestamp)}.{ext}"


def _check_ext(ext: str) -> None:
    if ext not in PAGE_EXTENSIONS:
        raise ValueError(f"unknown page extension {ext!r}; expected one of {PAGE_EXTENSIONS}")


def versions_to_prune(existing_names: list[str], keep: int) -> list[str]:
    """The version files to delete before writing a new one, keeping ``keep`` in all.

    Like bandersnatch: per extension, the ``count - keep + 1`` lexicographically
    oldest names (serials compare as strings). Names are returned as given, so
    they may be base names or whole keys of one directory.
    """
    if keep <= 0:
        return []
    doomed: list[str] = []
    for ext in PAGE_EXTENSIONS:
        same_ext = sorted(n for n in existing_names if n.endswith("." + ext))
        doomed.extend(same_ext[: max(0, len(same_ext) - keep + 1)])
    return doomed


def download_url(file_url: str, download_mirror: str) -> str:
    """The file's URL on a download mirror: the mirror's base plus the file URL's path."""
    return download_mirror.rstrip("/") + urlsplit(file_url).path


def pypi_dir(canonical: str) -> str:
    """``web/pypi/<name>``: the directory of a project's ``json`` (bandersnatch's second JSON place)."""
    _check_name(canonical)
    return f"{PYPI_DIR}/{canonical}"


def versions_file_key(simple_dir: str, filename: str) -> str:
    """A file of ``<simple_dir>/versions``, by the name ``store.children`` gives it."""
    return f"{versions_dir(simple_dir)}/{filename}"


# frumious' own state files beside bandersnatch's (GENERATION, STATUS, TODO): the listing's
# ETag, the filter fingerprint, the projects carried by name from run to run (failures,
# and absences awaiting a second 404), and the metadata-only pages written (metaonly.py).
LISTING_ETAG = ".frumious/listing-etag"
FILTERS = ".frumious/filters"
FAILED = ".frumious/failed"
VANISHING = ".frumious/vanishing"
# The dependency closure: the projects it needs and each one's kept files with their requirements.
CLOSURE = ".frumious/closure.json"
METADATA_ONLY = ".frumious/metadata-only"
# Projects a time-based filter (the cooldown) holds files of, and when the first becomes eligible.
HELD = ".frumious/held"
