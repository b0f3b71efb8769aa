"""When a project is read from Warehouse's ``/pypi/<name>/json`` instead of its simple page.

Pages carry everything a mirror needs; Warehouse's JSON carries more (``info.*``: classifiers,
license, ...) but only PyPI-like upstreams have it. It is read when ``json = true`` (saved for
mirrors downstream; an upstream without it is warned about once) or when a filter reads fields
only it carries, or ``digest_name = md5`` (then an upstream without it is a config error).
"""

from __future__ import annotations

import enum

from frumious.errors import ConfigError
from frumious.settings import MirrorSettings

__all__ = ["JsonMissing", "JsonUse", "json_use"]


class JsonUse(enum.Enum):
    """When Warehouse's ``/pypi/<name>/json`` is read instead of the project page."""

    NO = "no"
    # ``json = true``: saved as today; an upstream without it is warned about once, then pages are read.
    WANTED = "wanted"
    # A filter (or digest) needs fields only it carries: an upstream without it is a config error.
    REQUIRED = "required"


def json_use(mirror: MirrorSettings, json_only: list[str]) -> tuple[JsonUse, str]:
    """When to read Warehouse JSON, and what needs it: filter keys reading fields only it carries, or
    ``digest_name = md5`` (PyPI's pages give sha256 only); else ``json = true`` wants it."""
    needs = json_only + ([f"digest_name = {mirror.digest_name}"] if mirror.digest_name != "sha256" else [])
    use = JsonUse.REQUIRED if needs else JsonUse.WANTED if mirror.json else JsonUse.NO
    return use, ", ".join(needs)


class JsonMissing(ConfigError):
    """The configuration needs Warehouse JSON and the upstream has none: the whole run stops (exit 2)."""

    stops_run = True
