"""The one exception tree of frumious.

Every error the CLI can report derives from ``FrumiousError`` and carries the exit
code the process ends with, so the CLI maps errors to codes without a table::

    FrumiousError (1)
    ├── ConfigError (2)            bad or missing configuration; lists every problem
    │   └── ConfigMissing (1)      no config file; the example was written or printed
    ├── LockHeld (1)               another run holds the mirror lock
    ├── StateError (1)             generation/status/todo unusable
    ├── UpstreamError (1)          upstream misbehaved for one request
    │   ├── NotFound               404: the project or file is gone
    │   ├── StaleMetadata          X-PyPI-Last-Serial older than asked for
    │   └── BadUpstreamData        JSON/HTML/URL/filename we refuse to mirror
    │       └── BodyTooLarge       a body past its limit
    │           └── DecompressionBomb  a compressed body expanding beyond any sane ratio
    ├── DownloadError (1)          size or digest mismatch, truncated body
    ├── StorageError (1)           the backend failed
    │   └── ObjectMissing          a key that should exist does not
    ├── SafetyValveError (1)       a run would remove too much of the mirror
    └── SyncFailed (1)             a run finished with failed projects
"""

from __future__ import annotations

from typing import ClassVar


class FrumiousError(Exception):
    exit_code: ClassVar[int] = 1


class ConfigError(FrumiousError):
    exit_code: ClassVar[int] = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigMissing(FrumiousError):
    exit_code: ClassVar[int] = 1


class LockHeld(FrumiousError):
    pass


class StateError(FrumiousError):
    pass


class UpstreamError(FrumiousError):
    pass


class NotFound(UpstreamError):
    pass


class StaleMetadata(UpstreamError):
    pass


class BadUpstreamData(UpstreamError):
    pass


class BodyTooLarge(BadUpstreamData):
    pass


class DecompressionBomb(BodyTooLarge):
    pass


class DownloadError(FrumiousError):
    pass


class StorageError(FrumiousError):
    pass


class ObjectMissing(StorageError):
    pass


class SafetyValveError(FrumiousError):
    pass


class SyncFailed(FrumiousError):
    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        super().__init__(f"{len(failures)} project(s) failed")
