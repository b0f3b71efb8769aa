"""The one exception tree of frumious.

Every error the CLI can report derives from ``FrumiousError`` and carries the exit
code the process ends with, so the CLI maps errors to codes without a table. Three live
beside what they are about (their module is noted); all the others are here::

    FrumiousError (1)
    ├── ConfigError (2)            bad or missing configuration; lists every problem
    │   └── JsonMissing            a filter needs Warehouse JSON the upstream lacks; ends the run (protocol/jsonuse.py)
    ├── ConfigMissing (1)          no config file; the example was written or printed
    ├── LockHeld (1)               another run holds the mirror lock
    ├── LeaseLost (1)              the object-store lease was lost mid-run; the run stopped
    ├── ServeError (1)             `frumious serve` cannot start: port in use, no mirror there
    ├── StateError (1)             generation/status/todo unusable
    │   ├── RecordUnusable         the record (frumious.sqlite) is damaged (record/errors.py)
    │   └── RowsLost               rows written behind could not be written; the run stopped (record/errors.py)
    ├── UpstreamError (1)          upstream misbehaved for one request
    │   ├── NotFound               404: the project or file is gone
    │   ├── StaleMetadata          X-PyPI-Last-Serial older than asked for
    │   ├── RetryableStatus    R   429 or a 5xx, with its Retry-After
    │   ├── TransportError     R   the transfer failed
    │   │   ├── ConnectionFailed R no connection, or it dropped
    │   │   │   └── Unanswered R  closed before a byte: on a reused connection the request never ran
    │   │   └── ProtocolError  R   a malformed or cut-short response
    │   └── BadUpstreamData        JSON/HTML/URL/filename we refuse to mirror
    │       ├── KeyConflict        a file key another project (or file) already owns
    │       └── BodyTooLarge       a body past its limit
    │           └── DecompressionBomb  a compressed body expanding beyond any sane ratio
    ├── DownloadError (1)          no digest to check, a body past its advertised size, every source failed
    │   └── BodyMismatch       R   size or digest not as advertised (often a fault in transit)
    │       └── ShortBody      R   the body ended before its advertised size
    ├── StorageError (1)           the backend failed
    │   ├── ObjectMissing          a key that should exist does not
    │   └── ResourceError          disk full, read-only, quota, permission: the run stops
    ├── MassDeleteRefused (1)      one project's sync would remove too many files
    └── RunStopped (cause's)       a run-ending error, with the partial report (stats.py)

Errors marked ``stops_run`` (LeaseLost, ResourceError, RecordUnusable, RowsLost) end the
whole run: ``ends_run`` tells the per-project and per-URL handlers not to swallow them.

R: ``retryable`` is True (subclasses inherit it): ``Upstream.with_retries`` tries the request again with backoff
(as it does a ``TimeoutError``); any other error ends the attempt at once.
"""

from __future__ import annotations

import errno
import os
from typing import ClassVar


class FrumiousError(Exception):
    exit_code: ClassVar[int] = 1
    # True for errors that must end the whole run rather than fail one project or file:
    # every handler that swallows errors per project or per URL re-raises them (``ends_run``).
    stops_run: ClassVar[bool] = False
    # True for transient faults that the same request may not meet again (see the drawing).
    retryable: ClassVar[bool] = False


class ConfigError(FrumiousError):
    exit_code: ClassVar[int] = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigMissing(FrumiousError):
    exit_code: ClassVar[int] = 1


class LockHeld(FrumiousError):
    pass


class ServeError(FrumiousError):
    """``frumious serve`` cannot start: the address is taken, or there is no mirror to serve."""


class LeaseLost(FrumiousError):
    """The mirror lock's lease on an object store was taken over or could not be renewed.

    Not a StorageError: it ends the whole run, never just the project that met it.
    """

    stops_run: ClassVar[bool] = True


class StateError(FrumiousError):
    pass


class UpstreamError(FrumiousError):
    pass


class NotFound(UpstreamError):
    pass


class StaleMetadata(UpstreamError):
    pass


class RetryableStatus(UpstreamError):
    """429 or a 5xx; ``retry_after`` is the server's Retry-After in seconds, when it gave one."""

    retryable: ClassVar[bool] = True

    def __init__(self, status: int, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status, self.retry_after = status, retry_after


class TransportError(UpstreamError):
    """A transfer failed: no connection, a dropped connection, a malformed or cut-short response."""

    retryable: ClassVar[bool] = True


class ConnectionFailed(TransportError):
    pass


class Unanswered(ConnectionFailed):
    """The peer closed before sending a byte: on a reused connection, the request never ran."""


class ProtocolError(TransportError):
    pass


class BadUpstreamData(UpstreamError):
    pass


class KeyConflict(BadUpstreamData):
    pass


class BodyTooLarge(BadUpstreamData):
    pass


class DecompressionBomb(BodyTooLarge):
    pass


class DownloadError(FrumiousError):
    pass


class BodyMismatch(DownloadError):
    """The body's size or digest is not what upstream advertised.

    Often a fault in transit (a flipped byte, a cache serving another object), so it is
    retried with backoff like a dropped connection; only a repeated mismatch fails the file.
    """

    retryable: ClassVar[bool] = True


class ShortBody(BodyMismatch):
    pass


class StorageError(FrumiousError):
    pass


class ObjectMissing(StorageError):
    pass


class ResourceError(StorageError):
    """The machine refused a write: disk full, read-only, quota, permission (``code``, an errno).

    Unlike a project's failure it stops the whole run: every later write would meet it too.
    """

    stops_run: ClassVar[bool] = True

    def __init__(self, code: int, path: str, problem: str = "") -> None:
        self.code, self.path = code, path
        self.problem = problem or os.strerror(code)
        advice = RESOURCE_ERRNOS.get(code, "fix the mirror's storage and run again")
        super().__init__(f"{self.problem}: {path}; {advice}")


# The errnos that mean "the machine refused", not "the data is bad", and what the operator can do.
RESOURCE_ERRNOS = {
    errno.ENOSPC: "free some space and run again",
    errno.EDQUOT: "free some space or raise the quota, and run again",
    errno.EROFS: "remount it read-write and run again",
    errno.EACCES: "check the permissions of the mirror directory",
    errno.EPERM: "check the permissions of the mirror directory",
    errno.EIO: "the disk failed a write; check the system log",
}


def resource_error(exc: BaseException) -> ResourceError | None:
    """The resource error behind ``exc``, if any: itself, a filesystem OSError (one that names
    its path: a socket's EPERM is the network's business), one in a group, or a storage error's cause."""
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if isinstance(current, ResourceError):
            return current
        if isinstance(current, OSError) and current.errno in RESOURCE_ERRNOS and current.filename is not None:
            return ResourceError(current.errno, str(current.filename))
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        elif isinstance(current, StorageError) and current.__cause__ is not None:
            pending.append(current.__cause__)
    return None


def ends_run(exc: BaseException) -> bool:
    """Whether ``exc`` must end the whole run rather than fail one project or one source:
    an error marked ``stops_run`` (a lost lease, an unusable record), also in a group, or a refused disk."""
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if getattr(current, "stops_run", False):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    return resource_error(exc) is not None


class MassDeleteRefused(FrumiousError):
    pass
