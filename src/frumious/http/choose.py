"""Which HTTP client fetches what: the lean one, or aiohttp for proxies and credentials.

The composition root calls ``make_client``; ``Upstream`` only sees an ``HTTPClient``. The rules
are bandersnatch's: a configured proxy, else the environment's; aiohttp (which reads
``.netrc``) whenever a proxy is in use or a ``.netrc`` may hold credentials, and for any URL
that carries credentials itself; the lean client for everything else.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from frumious import __version__
from frumious.http import client as lean
from frumious.http.budget import Budget
from frumious.http.checked import Checked, check_status
from frumious.http.client import Response, Timeouts

if TYPE_CHECKING:
    from frumious.http.aio import Session


def user_agent(contact: str = "") -> str:
    """``frumious/<version> (<python>, <system>[; +<contact>])``: the operator's address lets an
    index that sees trouble reach them instead of blocking the mirror."""
    impl = platform.python_implementation()
    reach = f"; +{contact}" if contact else ""
    return (
        f"frumious/{__version__} ({impl} {platform.python_version()}, {platform.system()} {platform.machine()}{reach})"
    )


def pick_proxy(configured: str) -> str:
    """The configured proxy, else the environment's, in bandersnatch's precedence."""
    if configured:
        return configured
    if not _proxy_settings_possible():
        return ""
    import urllib.request  # 12-16 ms of CPU: only when the environment may name a proxy

    env = urllib.request.getproxies()
    for scheme in _PROXY_SCHEMES:
        if env.get(scheme):
            return env[scheme]
    return ""


_PROXY_SCHEMES = ("socks5", "socks4", "socks", "https", "http", "all")
_PROXY_VARIABLES = frozenset(f"{scheme}_proxy" for scheme in _PROXY_SCHEMES)


def _proxy_settings_possible() -> bool:
    """Whether ``getproxies`` could find one: on POSIX it reads only ``<scheme>_proxy`` variables set to
    something (in any case; ``no_proxy`` names no proxy)."""
    if sys.platform in ("darwin", "win32"):  # the system's proxy settings too
        return True
    return any(value and name.lower() in _PROXY_VARIABLES for name, value in os.environ.items())


def netrc_present() -> bool:
    """aiohttp (trust_env) sends credentials from ``.netrc``; the lean client does not read it."""
    return os.path.isfile(os.environ.get("NETRC") or os.path.expanduser("~/.netrc"))


def make_client(
    *, proxy: str, timeouts: Timeouts, connections: int, budget: Budget | None = None, contact: str = ""
) -> Clients:
    """The client for a run: the lean one unless a proxy or a ``.netrc`` asks for aiohttp.

    Both share ``budget``: the limits hold for the run's requests whichever client sends them.
    """
    proxy = pick_proxy(proxy)
    agent = user_agent(contact)
    use_lean = not proxy and not netrc_present()
    first = lean.Client(user_agent=agent, timeouts=timeouts, limit=connections, budget=budget) if use_lean else None
    return Clients(first, proxy=proxy, timeouts=timeouts, connections=connections, user_agent=agent, budget=budget)


class Clients:
    """The lean client for the URLs it handles, aiohttp (opened on first use) for the rest.

    aiohttp is imported only when a request needs it: its import alone costs more CPU than a
    small incremental run spends on its requests.
    """

    def __init__(
        self,
        first: lean.Client | None,
        *,
        proxy: str,
        timeouts: Timeouts,
        connections: int,
        user_agent: str,
        budget: Budget | None = None,
    ) -> None:
        self._lean, self.proxy, self._budget = first, proxy, budget
        self._timeouts, self._connections, self._agent = timeouts, connections, user_agent
        self._session: Session | None = None

    def get(
        self, url: str, headers: Mapping[str, str] | None = None, *, checked: bool = False
    ) -> AbstractAsyncContextManager[Response]:
        """``checked``: the status checked on the way in (``http.checked``), by the lean client itself."""
        first = self._lean
        if first is not None and lean.handles(url):
            return first.get(url, headers, check=check_status if checked else None)
        exchange = self._aiohttp().get(url, headers)
        return Checked(exchange, url) if checked else exchange

    @property
    def meters_bytes(self) -> bool:
        """Whether a byte limit (``max-bytes-per-second``) counts every body read: one not needed is left."""
        return self._budget is not None and self._budget.bytes is not None

    def pipelines(self, url: str) -> bool:
        """Whether ``pipelined`` may write ``url`` ahead (the lean client's, ``Client.pipelines``)."""
        return self._lean is not None and self._lean.pipelines(url)

    async def pipelined(self, urls: Sequence[str], take: lean.Take, headers: Mapping[str, str] | None = None) -> int:
        """``Client.pipelined`` through the lean client; 0 (none taken) without one."""
        return 0 if self._lean is None else await self._lean.pipelined(urls, take, headers)

    def _aiohttp(self) -> Session:
        if self._session is None:
            from frumious.http.aio import Session

            self._session = Session(
                proxy=self.proxy,
                timeouts=self._timeouts,
                limit=self._connections,
                user_agent=self._agent,
                budget=self._budget,
            )
        return self._session

    async def close(self) -> None:
        if self._lean is not None:
            await self._lean.close()
        if self._session is not None:
            await self._session.close()
