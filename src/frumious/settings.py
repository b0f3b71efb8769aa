"""Frozen settings: the validated form of a bandersnatch-style config file.

``config.load`` builds these once; every other module receives them as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

import msgspec

from frumious.shard import Shard

# Storage backends: the group third-party ones register in, and the built-in ones, named here
# (in code, so a broken install still opens them) where both config and storage can read them.
# pyproject.toml registers the same three (tests/unit/test_storage_guide.py checks).
STORAGE_ENTRY_POINT_GROUP = "frumious.storage.v1"
BUILTIN_BACKENDS: Mapping[str, str] = {  # name -> "module:Class", imported on use
    "filesystem": "frumious.storage.filesystem:FilesystemStore",
    "s3": "frumious.storage.s3:S3Store",
    "swift": "frumious.storage.swift:SwiftStore",
}


class SimpleFormat(Enum):
    ALL = "ALL"
    HTML = "HTML"
    JSON = "JSON"

    @property
    def html(self) -> bool:
        return self is not SimpleFormat.JSON

    @property
    def json(self) -> bool:
        return self is not SimpleFormat.HTML


class FilteredProjects(Enum):
    """What the mirror's server answers for a project the mirror does not carry."""

    OMIT = "omit"  # 404, as bandersnatch
    REDIRECT = "redirect"  # to the upstream's page for that project
    # The sync writes its page, linking the upstream's files (metaonly.py); nothing is downloaded.
    METADATA_ONLY = "metadata-only"


class CompareMethod(Enum):
    HASH = "hash"
    STAT = "stat"


class MirrorSettings(msgspec.Struct, frozen=True):
    directory: str
    master: str = "https://pypi.org"
    # The upstream's simple index when it is not ``<master>/simple/`` (devpi's ``/root/dev/+simple/``,
    # a PyTorch-style ``/whl/``); "" for ``<master>/simple``. Kept without its trailing "/".
    index_url: str = ""
    allow_non_https: bool = False
    proxy: str = ""
    download_mirror: str = ""
    download_mirror_no_fallback: bool = False
    json: bool = False
    release_files: bool = True
    core_metadata: bool = True
    hash_index: bool = False
    simple_format: SimpleFormat = SimpleFormat.ALL
    compare_method: CompareMethod = CompareMethod.HASH
    digest_name: str = "sha256"
    keep_index_versions: int = 0
    cleanup: bool = False
    stop_on_error: bool = False
    timeout: float = 10.0
    global_timeout: float = 1800.0
    workers: int = 3
    verifiers: int = 3
    storage_backend: str = "filesystem"
    manage_permissions: bool = True
    root_uri: str = ""
    diff_file: str = ""
    diff_append_epoch: bool = False
    log_config: str = ""
    # frumious additions (bandersnatch ignores unknown keys, so these are safe).
    prune_filtered: bool = False
    keep_removed: bool = False
    max_delete_share: float = 0.01
    # Failed runs in a row before a project is quarantined (retried with backoff).
    quarantine_after: int = 3
    # Seconds between the two runs that must both see a project gone before it is removed.
    confirm_removal_after: float = 3600.0
    # Refuse a project sync that would remove more than this share of its files (beyond a small floor).
    max_delete_file_share: float = 0.5
    # Bodies read whole: the /simple/ listing (PyPI's is ~40 MB), and a project's JSON, page or
    # .metadata file (the largest JSON documents are tens of MB). Generous: they stop hostile answers.
    max_listing_size: int = 512 * 2**20
    max_project_size: int = 256 * 2**20
    # Where each run writes its JSON report (``--report`` overrides; empty: none).
    report_file: str = ""
    # Where each run writes its Prometheus metrics, a node_exporter textfile (``--metrics`` overrides; empty: none).
    metrics_file: str = ""
    # What serve answers for a project the mirror does not hold: 404 (omit), a redirect upstream, or
    # (metadata-only) the page the sync wrote for it, linking the upstream's files.
    filtered_projects: FilteredProjects = FilteredProjects.OMIT
    # Publish the change feed (web/feed/, docs/feed.md) for downstream mirrors, keeping this many days of it.
    feed: bool = False
    feed_keep_days: int = 7
    # Politeness: mirror-wide limits on upstream requests and body bytes per second (0: none), and
    # an address for the User-Agent so the index's operators can reach the mirror's.
    max_requests_per_second: float = 0
    max_bytes_per_second: int = 0
    contact: str = ""
    # Scale-out (``shard.py``, docs/scale-out.md): the number of shards the mirror is synced in (0: one
    # process), a shard's part of the upstream limits (0: 1/N), and the shard this run is (set by the CLI).
    shards: int = 0
    shard_share: float = 0.0
    shard: Shard | None = None


class Settings(msgspec.Struct, frozen=True):
    mirror: MirrorSettings
    # [plugins] enabled, in file order; ("all",) means every filter.
    plugins: tuple[str, ...] = ()
    # Every section as parsed (after interpolation), for filter plugins.
    sections: Mapping[str, Mapping[str, str]] = msgspec.field(default_factory=dict)
    # The keys each section sets itself (not inherited from [DEFAULT]), so a reader of a
    # section, such as a storage backend, can warn about unknown ones without false alarms.
    own_keys: Mapping[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    # Non-fatal findings (dead keys, deprecated spellings) for the CLI to log.
    warnings: tuple[str, ...] = ()
    path: str = ""
