"""Counted fault rules: each applies to the next ``times`` matching requests, then stops.

A rule matches a request when its method matches (None = any) and the request path
matches ``pattern`` with ``fnmatch`` (``/pypi/foo/json``, ``/packages/*``, ``*.whl``). The
first live matching rule fires, once per request. With ``every = n`` a rule fires only on
every n-th request it matches (a steady trickle of faults, e.g. 1 in 15 file bodies). The set is shared between the test
thread and the server thread, so every read-modify-write holds a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase

__all__ = ["Fault", "FaultKind", "Faults"]


class FaultKind(StrEnum):
    STATUS = "status"  # answer ``status`` (with ``headers``) instead of the page
    DROP = "drop"  # close the connection: before any response, or after ``keep`` body bytes
    TRUNCATE = "truncate"  # a complete, well-formed response whose body is cut to ``keep`` bytes
    CORRUPT = "corrupt"  # same length, different bytes (digest mismatch)
    STALE_SERIAL = "stale_serial"  # X-PyPI-Last-Serial lower than the real one
    NO_SERIAL = "no_serial"  # no X-PyPI-Last-Serial header
    BAD_JSON = "bad_json"  # a 200 whose body is not valid JSON
    DELAY = "delay"  # sleep ``delay`` seconds, then answer normally
    PATCH_JSON = "patch_json"  # a JSON object body with top-level ``fields`` replaced (e.g. last_serial)
    TRICKLE = "trickle"  # the full response, in ``keep``-byte pieces ``delay`` seconds apart
    OVERSIZE = "oversize"  # the real body, then filler, chunked, up to ``keep`` bytes in all (default 1 GiB)
    GZIP_BOMB = "gzip_bomb"  # Content-Encoding: gzip, a body of ``keep`` zero bytes (default 1 GiB) once decoded


@dataclass
class Fault:
    kind: FaultKind
    pattern: str
    times: int | None = 1
    method: str | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    keep: int | None = None
    serial: int | None = None
    fields: dict[str, object] = field(default_factory=dict)
    every: int = 1
    fired: int = 0
    seen: int = 0
    sent: int = 0  # body bytes an OVERSIZE fault managed to send before the client left

    @property
    def remaining(self) -> int | None:
        """How many more requests it will hit; None for a rule without limit."""
        return None if self.times is None else self.times - self.fired

    @property
    def live(self) -> bool:
        return self.times is None or self.fired < self.times

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatchcase(path, self.pattern)


class Faults:
    """The rules in force, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.times is not None and fault.times < 0:
            raise ValueError("times must be >= 0 or None")
        if fault.every < 1:
            raise ValueError("every must be >= 1")
        with self._lock:
            self._rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first live rule matching the request, marked as fired; None if none."""
        with self._lock:
            for rule in self._rules:
                if rule.live and rule.matches(method, path):
                    rule.seen += 1
                    if rule.seen % rule.every:
                        continue
                    rule.fired += 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    @property
    def pending(self) -> list[Fault]:
        """Rules that would still fire."""
        return [rule for rule in self.rules if rule.live]
