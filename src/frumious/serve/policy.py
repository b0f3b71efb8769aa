"""What ``frumious serve`` answers for a project page the mirror does not hold (``filtered-projects``).

``omit`` is bandersnatch's 404. ``redirect`` sends the client to the upstream's page for the
same project with a 302: pip (requests), uv and poetry all follow 301/302/303/307/308 for a
GET and keep the ``Accept`` header, so the upstream negotiates the format itself. 302 rather
than a permanent 301/308 because the answer is temporary: a project the filters allow later is
served by the mirror from the next sync on, and clients and proxies do not cache a 302 that
carries no freshness headers. 307 would do as well for GET; 302 is the one every HTTP client
ever written follows. ``metadata-only`` needs nothing here: the sync writes those pages.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from packaging.utils import is_normalized_name

from frumious.settings import FilteredProjects, MirrorSettings

__all__ = ["NotCarried", "not_carried"]


class NotCarried:
    """The answer for a project page missing from the tree: None (a 404) or a redirect upstream."""

    def __init__(self, upstream: str = "") -> None:
        # The upstream's simple index without a trailing "/" (``<master>/simple``, or ``index-url``); "" means 404.
        self.upstream = upstream.rstrip("/")

    def answer(self, canonical: str, query: str) -> web.Response | None:
        if not self.upstream or not is_normalized_name(canonical):
            return None
        location = f"{self.upstream}/{quote(canonical)}/" + (f"?{query}" if query else "")
        headers = {"Location": location, "Cache-Control": "no-store"}
        return web.Response(status=302, headers=headers, text=f"not mirrored here; see {location}\n")


def not_carried(mirror: MirrorSettings) -> NotCarried:
    """The policy a ``[mirror]`` section asks for."""
    if mirror.filtered_projects is FilteredProjects.REDIRECT:
        return NotCarried(mirror.index_url or f"{mirror.master}/simple")
    return NotCarried()
