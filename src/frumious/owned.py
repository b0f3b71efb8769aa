"""What the mirror owns for a project, read back from its own pages.

A project's current page lists every file the mirror keeps for it, so the page
is the record of ownership that survives from bandersnatch mirrors too. These
helpers are pure: page bytes in, keys out.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urljoin

from frumious import layout
from frumious.errors import BadUpstreamData

_HREF = re.compile(rb'<a href="([^"]*)"')


def page_hrefs(body: bytes, *, json_page: bool) -> list[str]:
    """The file URLs a project page links to, fragments removed."""
    if json_page:
        try:
            files = json.loads(body)["files"]
            return [str(entry["url"]).split("#", 1)[0] for entry in files]
        except (ValueError, KeyError, TypeError):
            return []
    return [html.unescape(m.decode("utf-8", "replace")).split("#", 1)[0] for m in _HREF.findall(body)]


def file_keys(canonical: str, hrefs: list[str]) -> set[str]:
    """Mirror keys of the hrefs that point into this mirror's ``packages/``."""
    # Pages are served at /simple/<name>/ whatever the hash-index layout on disk.
    base = f"http://mirror.invalid/simple/{canonical}/"
    keys = set()
    for href in hrefs:
        url = urljoin(base, href)
        if not url.startswith("http://mirror.invalid/packages/"):
            continue
        try:
            keys.add(layout.package_key(url))
        except BadUpstreamData:
            continue
    return keys
