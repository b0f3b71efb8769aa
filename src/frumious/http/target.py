"""Where a GET goes: a URL's pool key, Host header and request target, and header lines (``client``'s).

Pure string work, no I/O: the lean client asks these for every request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from frumious.errors import UpstreamError

__all__ = ["DEFAULT_PORTS", "Key", "handles", "header_lines", "origin", "parsed_target", "target"]

DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE = re.compile(r"[^\x21-\x7e]")  # spaces, controls, non-ASCII: percent-encode them
_SAFE = "/%:@!$&'()*+,;=-._~?[]"

Key = tuple[str, str, int]


def handles(url: str) -> bool:
    """Whether this client takes ``url``: http(s) without credentials (aiohttp does those)."""
    scheme, _, rest = url.partition("://")
    return scheme.lower() in DEFAULT_PORTS and "@" not in rest.split("/", 1)[0]


def target(url: str) -> tuple[Key, str, str]:
    """(scheme, host, port), the Host header and the request target of ``url``.

    A sync asks one or two hosts for every file: a plain URL's origin is parsed once per host
    (``origin``), its target cut from the rest (urlsplit per request was about 2 us of 12,000).
    Anything unusual (spaces, controls, non-ASCII, credentials, ``?`` or ``#`` in the host part)
    goes through ``parsed_target``, which gives the same answers for plain URLs.
    """
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    plain = url.isascii() and url.isprintable() and " " not in url  # what _UNSAFE finds nothing in
    if sep and plain and "?" not in netloc and "#" not in netloc and "@" not in netloc:
        found = origin(f"{scheme}://{netloc}")
        if found is not None:
            where, _, query = (slash + path).partition("#")[0].partition("?")
            return found[0], found[1], f"{where or '/'}?{query}" if query else where or "/"
    return parsed_target(url)


@functools.lru_cache(maxsize=64)
def origin(base: str) -> tuple[Key, str] | None:
    """The pool key and Host header of a plain ``scheme://host[:port]``; None: ``parsed_target`` says why not."""
    try:
        key, host, _path = parsed_target(base)
    except UpstreamError:
        return None
    return key, host


def parsed_target(url: str) -> tuple[Key, str, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UpstreamError(f"{url}: {exc}") from None
    host = parts.hostname
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise UpstreamError(f"{url}: not an http(s) URL this client can fetch")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if _UNSAFE.search(target):
        target = quote(target, safe=_SAFE)
    netloc = parts.netloc
    if not netloc.isascii():  # an internationalised host name goes on the wire in IDNA
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise UpstreamError(f"{url}: bad host name ({exc})") from None
        netloc = ascii_host if port is None else f"{ascii_host}:{port}"
    return (parts.scheme, host, port or DEFAULT_PORTS[parts.scheme]), netloc, target


def header_lines(headers: Mapping[str, str]) -> str:
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise UpstreamError(f"header {name!r} holds a line break")
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())
