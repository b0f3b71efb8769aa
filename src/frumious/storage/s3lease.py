"""The S3 lock object's three calls (get, put, delete), for ``objectlock``.

Apart from the store so the store reads as storage; it takes the client and the store's
helpers as plain values, so it imports nothing of ``s3`` (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

from frumious.storage import objectlock
from frumious.storage.objectbase import Blocking
from frumious.storage.s3client import code, is_missing

__all__ = ["S3LeaseIO"]

# The store's error wrapper: (operation, key) -> a context turning boto failures into StorageError.
Errors = Callable[[str, str], AbstractContextManager[None]]


class S3LeaseIO:
    """One lock object under ``bucket``: read it, write it (create-only or not), delete it."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        full_key: str,
        *,
        blocking: Blocking,
        errors: Errors,
        delete: Callable[[str], None],
    ) -> None:
        self._client, self._bucket, self._key, self._full = client, bucket, key, full_key
        self._blocking, self._errors, self._delete = blocking, errors, delete

    async def get(self) -> objectlock.Stored | None:
        return await self._blocking.run(self._get)

    def _get(self) -> objectlock.Stored | None:
        with self._errors("lock", self._key):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=self._full)
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            return objectlock.Stored(response["Body"].read(), response["LastModified"].timestamp())

    async def put(self, body: bytes, *, create_only: bool) -> None:
        await self._blocking.run(self._put, body, create_only)

    def _put(self, body: bytes, create_only: bool) -> None:
        args: dict[str, Any] = {"IfNoneMatch": "*"} if create_only else {}
        with self._errors("lock", self._key):
            try:
                self._client.put_object(Bucket=self._bucket, Key=self._full, Body=body, **args)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                # 409 ConditionalRequestConflict: AWS saw a concurrent conditional write to the same key.
                if create_only and (status in {409, 412} or code(exc) == "PreconditionFailed"):
                    raise objectlock.CreateConflict from None
                if create_only and (status == 501 or code(exc) == "NotImplemented"):
                    raise objectlock.ConditionalUnsupported from None
                raise

    async def delete(self) -> None:
        await self._blocking.run(self._delete, self._full)
