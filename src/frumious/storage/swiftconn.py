"""Swift connections for the Swift backend: auth settings, a per-thread pool, retries.

A ``swiftclient.Connection`` holds one HTTP connection and is not thread-safe, so each
worker thread gets its own. They share the token the first one obtained, so a pool of
threads costs one authentication, and each re-authenticates by itself on a 401.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import swiftclient
from requests.exceptions import RequestException

from frumious.errors import ConfigError, StorageError
from frumious.storage.swiftsettings import SwiftSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Statuses worth another try: timeouts, rate limiting (429, 498 is Swift's own), server errors.
RETRY_STATUSES = frozenset({408, 429, 498, 499})


class SwiftAuth(msgspec.Struct, frozen=True):
    """How to reach the cluster: TempAuth v1 when auth_url ends in /auth/v1.0, else Keystone v3."""

    auth_url: str
    username: str
    password: str
    project_name: str = ""
    user_domain_name: str = "default"
    project_domain_name: str = "default"
    object_storage_url: str = ""
    region: str = ""
    project_id: str = ""

    @classmethod
    def from_settings(cls, swift: SwiftSettings) -> SwiftAuth:
        """From [swift] as read_swift gives it, absent keys filled from the OS_* variables."""
        if not swift.auth_url:
            raise ConfigError("[swift] auth_url is required (or OS_AUTH_URL in the environment)")
        fields = ("project_name", "object_storage_url", "region", "project_id")
        optional = {name: getattr(swift, name) for name in fields if getattr(swift, name)}
        domains = {
            name: getattr(swift, name) for name in ("user_domain_name", "project_domain_name") if getattr(swift, name)
        }
        return cls(swift.auth_url, swift.username, swift.password, **optional, **domains)

    @property
    def version(self) -> str:
        return "1" if self.auth_url.rstrip("/").endswith(("/auth/v1.0", "/auth/v1")) else "3"

    def connect(self, preauth: tuple[str, str] | None, retries: int) -> swiftclient.Connection:
        url, token = preauth or (None, None)
        options: dict[str, Any] = {}
        if self.version == "3":
            options = {
                "project_name": self.project_name or None,
                "project_id": self.project_id or None,
                "user_domain_name": self.user_domain_name,
                "project_domain_name": self.project_domain_name,
                "region_name": self.region or None,
            }
        if self.object_storage_url:
            options["object_storage_url"] = self.object_storage_url
        return swiftclient.Connection(
            authurl=self.auth_url,
            user=self.username,
            key=self.password,
            auth_version=self.version,
            os_options={k: v for k, v in options.items() if v is not None},
            preauthurl=url,
            preauthtoken=token,
            retries=retries,
            starting_backoff=0.5,
            max_backoff=8,
            timeout=120,
        )


class Connections:
    """One Connection per worker thread, sharing the last good token; calls retried with backoff."""

    def __init__(self, auth: SwiftAuth, *, attempts: int = 3, inner_retries: int = 3) -> None:
        self._auth = auth
        self._attempts = max(1, attempts)
        self._inner_retries = inner_retries
        self._local = threading.local()
        self._guard = threading.Lock()
        self._token: tuple[str, str] | None = None
        self._all: list[swiftclient.Connection] = []

    def _get(self) -> swiftclient.Connection:
        conn: swiftclient.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._guard:
                conn = self._auth.connect(self._token, self._inner_retries)
                self._all.append(conn)
            self._local.conn = conn
        return conn

    def call(self, what: str, fn: Callable[[swiftclient.Connection], T]) -> T:
        """Run ``fn`` on this thread's connection; retry what swiftclient's own retries gave up on."""
        delay = 1.0
        for attempt in range(1, self._attempts + 1):
            conn = self._get()
            try:
                result = fn(conn)
            except swiftclient.ClientException as exc:
                status = exc.http_status
                if attempt == self._attempts or not (status is None or status >= 500 or status in RETRY_STATUSES):
                    raise
                log.warning("swift %s: %s %s; retrying", what, status, exc.http_reason or exc.msg)
            except (OSError, RequestException) as exc:
                if attempt == self._attempts:
                    raise StorageError(f"swift {what}: cannot reach {self._auth.auth_url}: {exc}") from exc
                log.warning("swift %s: %s; retrying", what, exc)
            else:
                if conn.url and conn.token:
                    with self._guard:
                        self._token = (conn.url, conn.token)
                return result
            # Jitter keeps many workers from retrying against a throttling server in lockstep.
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay *= 2
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()


def failure(what: str, exc: swiftclient.ClientException) -> StorageError:
    reason = exc.http_reason or exc.msg
    content = exc.http_response_content or b""
    detail = (content.decode(errors="replace") if isinstance(content, bytes) else str(content))[:200]
    return StorageError(f"swift {what}: {exc.http_status or ''} {reason} {detail}".strip())


def is_status(exc: swiftclient.ClientException, *statuses: int) -> bool:
    return exc.http_status in statuses
