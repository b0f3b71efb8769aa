"""Where things live in a mirror: pure functions from names and URLs to store keys.

A key is a ``/``-separated path relative to the mirror directory. The tree is
bandersnatch's, byte for byte, so an existing mirror is continued in place::

    generation  status  todo  .lock
    web/last-modified  web/local-stats/days/
    web/simple/index.{html,v1_html,v1_json}
    web/simple/<name>/index.{html,v1_html,v1_json}     (hash-index: web/simple/<n>/<name>/)
    web/simple/<name>/versions/index_<serial>_<ts>.<ext>
    web/packages/<2>/<2>/<60 hex>/<filename>  (+ ".metadata"; PyPI's tail, else from the sha256)
    web/json/<name>  web/pypi/<name>/json

Everything that turns upstream text into a key is checked here, because a key
that escapes its directory would let upstream overwrite any file of the mirror.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

from frumious.errors import BadUpstreamData
from frumious.models import DistFile

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
    "RECORD",
    "TODO",
    "FilePlace",
    "PageKeys",
    "check_filename",
    "dist_key",
    "dist_place",
    "file_place",
    "download_url",
    "json_key",
    "metadata_key",
    "package_key",
    "page_key",
    "path_key",
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
# The record (``record/db``), a SQLite file at the top of a filesystem mirror.
RECORD = "frumious.sqlite"
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


# Most names and filenames: short, ASCII letters, digits and "._+-", neither "." nor ".." nor a temp name. Such
# a segment has none of _segment_problem's problems, told by one regular expression (about four a project).
_PLAIN_SEGMENT = re.compile(rf"(?!{re.escape(TEMP_PREFIX)})(?!\.\.?\Z)[A-Za-z0-9_.+\-]{{1,{MAX_NAME_BYTES}}}")


def _check_segment(segment: str, what: str) -> str | None:
    """Why ``segment`` cannot be one path component, or None when it can."""
    return None if _PLAIN_SEGMENT.fullmatch(segment) else _segment_problem(segment, what)


def _segment_problem(segment: str, what: str) -> str | None:
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


class FilePlace(NamedTuple):
    """Where a release file lives in the mirror."""

    key: str  # ``web/packages/...``, decoded: the store key
    href: str  # ``/packages/...``, percent-encoded: what the mirror's pages link to (after root_uri or ../..)


# PyPI's file path ends in <blake2b[:2]>/<blake2b[2:4]>/<blake2b[4:]>/<filename>; frumious' own keys for
# other upstreams have the same shape (from the sha256), so a mirror of a frumious mirror keeps its keys.
_HEX2 = re.compile(r"[0-9a-f]{2}")
_HEX60 = re.compile(r"[0-9a-f]{60}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# The common URL, with PyPI's tail: printable ASCII, no query, fragment or brackets (urlsplit would read
# the same path from it), and a filename that needs no decoding. Groups: the hash directories, the filename.
_PLAIN_PYPI_URL = re.compile(
    r'[A-Za-z][A-Za-z0-9+.\-]*://[!"$-.0->@-Z\\^-~]*(?:/[!"$->@-~]*?)??'  # lazy: 0.7 us, not 2.7 (backtracking)
    r'/([0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60})/([!"$&-.0->@-~]+)'
)


def _decoded(raw: str, url: str) -> str:
    """One percent-decoded path segment, refused unless it is a single safe component."""
    try:
        segment = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadUpstreamData(f"refusing file URL {url!r}: a path segment is not valid UTF-8") from None
    problem = _check_segment(segment, f"path segment {raw!r}")
    if problem:
        raise BadUpstreamData(f"refusing file URL {url!r}: {problem}")
    return segment


def _pypi_tail(raw: list[str]) -> bool:
    return (
        len(raw) >= 4
        and _HEX2.fullmatch(raw[-4]) is not None
        and _HEX2.fullmatch(raw[-3]) is not None
        and _HEX60.fullmatch(raw[-2]) is not None
    )


# A sync asks for each file's place several times (validating, planning downloads, recording, pages):
# remembered, the URL is checked once (a project with more files than this is merely checked again).
@functools.lru_cache(maxsize=4096)
def file_place(url: str, sha256: str = "", filename: str = "") -> FilePlace:
    """Where the file at ``url`` (an absolute URL, already resolved against its page) lands.

    A URL whose path ends in PyPI's ``<2 hex>/<2 hex>/<60 hex>/<filename>`` keeps that tail, as
    bandersnatch does, so continuing its mirror downloads nothing. Any other URL (another index's
    own scheme, a second host, a query string) lands by content: ``<h[0:2]>/<h[2:4]>/<h[4:]>/<filename>``
    of the file's sha256, so the key never depends on how the upstream spells its URLs. Without a
    sha256 such a file has no place: it is refused, never stored under a guessed name.
    """
    plain = _PLAIN_PYPI_URL.fullmatch(url)
    if plain is not None and _check_segment(plain[2], "") is None:
        # What _placed gives for such a URL, without urlsplit and unquote: 2.4 us a new URL, not 6.2.
        tail = f"{plain[1]}/{plain[2]}"
        return FilePlace(f"{PACKAGES}/{tail}", f"/packages/{tail}")
    return _placed(url, sha256, filename)


def _placed(url: str, sha256: str, filename: str) -> FilePlace:
    """``file_place`` for any URL."""
    raw = urlsplit(url).path.split("/")
    if _pypi_tail(raw):
        kept = "/".join([*raw[-4:-1], _decoded(raw[-1], url)])
        return FilePlace(f"{PACKAGES}/{kept}", "/packages/" + "/".join(raw[-4:]))
    if not _SHA256.fullmatch(sha256):
        raise BadUpstreamData(
            f"refusing file URL {url!r}: its path is not PyPI's packages/<hash> layout and upstream gave no"
            " sha256 digest to place it by"
        )
    name = filename or _decoded(raw[-1], url)
    check_filename(name)
    h = sha256.lower()
    shaped = f"{h[:2]}/{h[2:4]}/{h[4:]}"
    return FilePlace(f"{PACKAGES}/{shaped}/{name}", f"/packages/{shaped}/{quote(name, safe='')}")


def package_key(url: str, sha256: str = "", filename: str = "") -> str:
    """The store key of the release file at ``url`` (``file_place``)."""
    return file_place(url, sha256, filename).key


def dist_place(dist: DistFile) -> FilePlace:
    """Where a release file upstream describes lands (its URL, sha256 and filename)."""
    return file_place(dist.url, dist.digests.get("sha256", ""), dist.filename)


def dist_key(dist: DistFile) -> str:
    return dist_place(dist).key


@functools.lru_cache(maxsize=4096)
def path_key(url: str) -> str:
    """The key a link of the mirror's own pages points to: ``web`` plus its decoded path.

    For the mirror's own pages only (ownership, ``reindex``, ``verify``): they link each file where
    it lies, so an older tree whose keys followed another rule is read as it is. The path must lie
    under ``/packages/`` and every segment must stay a single component after percent-decoding.
    """
    path = urlsplit(url).path
    if not path.startswith("/packages/"):
        raise BadUpstreamData(f"refusing file URL {url!r}: its path does not start with /packages/")
    return "web/" + "/".join(_decoded(raw, url) for raw in path[1:].split("/"))


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


def download_url(href: str, download_mirror: str) -> str:
    """The file's URL on a download mirror (a mirror in this tree's layout): its base plus the file's ``href``."""
    return download_mirror.rstrip("/") + href


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
