"""The S3 backend: a mirror under ``/bucket/prefix`` in any S3-compatible store.

boto3 is blocking, so every call runs in a bounded thread pool sized like the client's
connection pool. Objects carry bandersnatch's user metadata (``sha256``,
``uploaded-at``), so ``stat`` is one HeadObject and a bucket bandersnatch filled is
continued without downloads.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import S3Transfer, TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from frumious.errors import ObjectMissing, StorageError
from frumious.settings import Settings
from frumious.storage import objectlock
from frumious.storage.base import ObjectInfo, Store
from frumious.storage.objectbase import (
    Blocking,
    PrefixedKeys,
    Spooled,
    SpoolWriter,
    content_type,
    dir_prefix,
    hidden,
    info_from_meta,
    join,
    metadata,
)
from frumious.storage.s3client import (
    MISSING,
    NO_MULTI_DELETE,
    code,
    is_missing,
    make_client,
    parse_directory,
    typed_extra,
)
from frumious.storage.s3lease import S3LeaseIO
from frumious.storage.s3settings import read_s3

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

MIB = 1024 * 1024
# CopyObject refuses sources above 5 GiB; bigger ones need a multipart copy.
COPY_LIMIT = 5 * 1024 * MIB
DELETE_BATCH = 1000
# Content headers that a metadata-replacing copy would otherwise reset.
KEPT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


class S3Store(PrefixedKeys, Store):
    """A Store on S3. ``from_settings`` reads the config; the constructor takes plain values."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        signature_version: str | None = None,
        extra_args: Mapping[str, str] | None = None,
        concurrency: int = 10,
        max_attempts: int = 10,
        multipart_threshold: int = 8 * MIB,
        multipart_chunksize: int = 8 * MIB,
        page_size: int = 1000,
        lock_ttl: float | None = None,  # None: objectlock.DEFAULT_TTL
        lock_settle: float = 1.0,
        spool_dir: str | None = None,
    ) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._endpoint = endpoint_url or "AWS"
        self._client = make_client(
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            signature_version=signature_version,
            max_attempts=max_attempts,
            pool_size=concurrency,
        )
        self._extra = dict(extra_args or {})
        self._blocking = Blocking(concurrency, "frumious-s3")
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize, max_concurrency=4
        )
        self._page_size = page_size
        self._lock_ttl, self._lock_settle = lock_ttl, lock_settle
        self._conditional = objectlock.ConditionalSupport()
        # Every write below calls self._lease.check() first: nothing is written once the lock is lost.
        self._lease = objectlock.LeaseGuard()
        self._multi_delete = True
        self._spool_dir = spool_dir

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        s3 = read_s3(settings)  # first: it checks the directory parse_directory splits
        bucket, prefix = parse_directory(settings.mirror.directory)
        return cls(
            bucket,
            prefix,
            endpoint_url=s3.endpoint_url or None,
            region_name=s3.region_name or None,
            aws_access_key_id=s3.aws_access_key_id or None,
            aws_secret_access_key=s3.aws_secret_access_key or None,
            signature_version=s3.signature_version or None,
            extra_args=s3.extra_args,
            concurrency=max(10, s3.verify_concurrency),
            max_attempts=s3.max_attempts,
        )

    @property
    def description(self) -> str:
        return f"s3://{join(self.bucket, self.prefix)}"

    # -- helpers ---------------------------------------------------------------------------

    @contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        """Turn boto failures into StorageError naming the object and what the server said."""
        try:
            yield
        except ClientError as exc:
            where = f"s3://{self.bucket}/{self._key(key)}"
            if code(exc) == "NoSuchBucket":
                raise StorageError(f"{op} {where}: bucket {self.bucket!r} does not exist at {self._endpoint}") from exc
            message = exc.response.get("Error", {}).get("Message", "")
            raise StorageError(f"{op} {where}: {code(exc)} {message}".rstrip()) from exc
        except BotoCoreError as exc:
            raise StorageError(f"{op} s3://{self.bucket}/{self._key(key)}: {exc}") from exc

    def _extra_for(self, operation: str) -> dict[str, Any]:
        return typed_extra(self._client, operation, self._extra)

    # -- reads -----------------------------------------------------------------------------

    async def read(self, key: str) -> bytes:
        return await self._blocking.run(self._read, key)

    def _read(self, key: str) -> bytes:
        with self._errors("read", key):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if is_missing(exc):
                    raise ObjectMissing(f"{key} is missing from {self.description}") from None
                raise
            return response["Body"].read()

    async def stat(self, key: str) -> ObjectInfo | None:
        head = await self._blocking.run(self._head, key)
        return None if head is None else info_from_meta(head["ContentLength"], head.get("Metadata", {}))

    def _head(self, key: str) -> dict[str, Any] | None:
        with self._errors("stat", key):
            try:
                return dict(self._client.head_object(Bucket=self.bucket, Key=self._key(key)))
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise

    async def exists(self, key: str) -> bool:
        return await self._blocking.run(self._head, key) is not None

    async def digest(self, key: str, algorithm: str) -> str | None:
        return await self._blocking.run(self._digest, key, algorithm)

    def _digest(self, key: str, algorithm: str) -> str | None:
        hasher = hashlib.new(algorithm)
        with self._errors("digest", key):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            for chunk in response["Body"].iter_chunks(MIB):
                hasher.update(chunk)
        return hasher.hexdigest()

    # -- writes ----------------------------------------------------------------------------

    async def write(
        self, key: str, data: bytes, *, mtime: float | None = None, digests: Mapping[str, str] | None = None
    ) -> None:
        self._lease.check()
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        await self._blocking.run(self._put, key, data, md5, metadata(mtime, digests))

    def _put(self, key: str, body: Any, md5: bytes, meta: dict[str, str]) -> None:
        with self._errors("write", key):
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=body,
                # The server checks the body against it, so a corrupted upload never lands.
                ContentMD5=base64.b64encode(md5).decode(),
                ContentType=content_type(key),
                Metadata=meta,
                **self._extra_for("PutObject"),
            )

    async def writer(self, key: str) -> SpoolWriter:
        async def upload(spooled: Spooled, meta: dict[str, str]) -> None:
            self._lease.check()
            await self._blocking.run(self._upload, key, spooled, meta)

        return SpoolWriter(key, self.description, upload, self._spool_dir)

    def _upload(self, key: str, spooled: Spooled, meta: dict[str, str]) -> None:
        if spooled.size <= self._transfer.multipart_threshold:
            with open(spooled.path, "rb") as body:
                self._put(key, body, bytes.fromhex(spooled.md5), meta)
            return
        allowed = set(S3Transfer.ALLOWED_UPLOAD_ARGS)
        extra = {k: v for k, v in self._extra_for("PutObject").items() if k in allowed}
        extra |= {"Metadata": meta, "ContentType": content_type(key)}
        with self._errors("write", key):
            # Multipart: the object appears only when CompleteMultipartUpload succeeds; a failure aborts it.
            self._client.upload_file(spooled.path, self.bucket, self._key(key), ExtraArgs=extra, Config=self._transfer)

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        self._lease.check()
        await self._blocking.run(self._set_meta, key, metadata(mtime, digests))

    def _set_meta(self, key: str, meta: dict[str, str]) -> None:
        head = self._head(key)
        if head is None:
            raise ObjectMissing(f"{key} is missing from {self.description}")
        merged = {**head.get("Metadata", {}), **meta}
        kept = {name: head[name] for name in KEPT_HEADERS if head.get(name)}
        self._copy(key, key, head["ContentLength"], Metadata=merged, MetadataDirective="REPLACE", **kept)

    async def copy(self, src: str, dst: str) -> None:
        self._lease.check()
        await self._blocking.run(self._copy, src, dst, None)

    def _copy(self, src: str, dst: str, size: int | None, **args: Any) -> None:
        source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": self._key(src)}
        with self._errors("copy", dst):
            try:
                if size is None or size <= COPY_LIMIT:
                    self._client.copy_object(
                        CopySource=source,
                        Bucket=self.bucket,
                        Key=self._key(dst),
                        **args | self._extra_for("CopyObject"),
                    )
                    return
            except ClientError as exc:
                if is_missing(exc):
                    raise ObjectMissing(f"{src} is missing from {self.description}") from None
                if code(exc) not in {"InvalidRequest", "EntityTooLarge"}:
                    raise
            allowed = set(S3Transfer.ALLOWED_COPY_ARGS)
            extra = {k: v for k, v in (self._extra_for("CopyObject") | args).items() if k in allowed}
            self._client.copy(source, self.bucket, self._key(dst), ExtraArgs=extra, Config=self._transfer)

    async def link(self, key: str, target: str) -> None:
        # No symlinks in S3, and static website hosting could not follow one anyway.
        await self.copy(target, key)

    # -- deletes ---------------------------------------------------------------------------

    async def delete(self, key: str) -> bool:
        if await self._blocking.run(self._head, key) is None:
            return False
        self._lease.check()
        await self._blocking.run(self._delete_one, self._key(key))
        return True

    def _delete_one(self, full: str) -> None:
        with self._errors("delete", self._relative(full)):
            self._client.delete_object(Bucket=self.bucket, Key=full)

    async def delete_prefix(self, prefix: str) -> int:
        removed = 0
        async for page in self._pages(dir_prefix(self.prefix, prefix)):
            keys = [item["Key"] for item in page.get("Contents", [])]
            # Markers go too, but only mirror content is counted.
            await self._delete_batch(keys)
            removed += sum(1 for full in keys if not hidden(full))
        return removed

    async def _delete_batch(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            self._lease.check()
            batch = keys[start : start + DELETE_BATCH]
            if self._multi_delete:
                try:
                    await self._blocking.run(self._delete_objects, batch)
                    continue
                except _NoMultiDelete:
                    self._multi_delete = False
            for full in batch:
                self._lease.check()
                await self._blocking.run(self._delete_one, full)

    def _delete_objects(self, keys: list[str]) -> None:
        with self._errors("delete", keys[0]):
            try:
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
                )
            except ClientError as exc:
                if code(exc) in NO_MULTI_DELETE:
                    raise _NoMultiDelete from exc
                raise
        failed = [e for e in response.get("Errors", []) if e.get("Code") not in MISSING]
        if failed:
            first = failed[0]
            raise StorageError(
                f"delete of {len(failed)} object(s) in {self.description} failed, "
                f"first {first.get('Key')}: {first.get('Code')} {first.get('Message', '')}"
            )

    # -- listings --------------------------------------------------------------------------

    async def _pages(self, list_prefix: str, delimiter: str = "") -> AsyncIterator[dict[str, Any]]:
        token = ""
        while True:
            page = await self._blocking.run(self._list, list_prefix, delimiter, token)
            yield page
            token = page.get("NextContinuationToken", "")
            if not page.get("IsTruncated") or not token:
                return

    def _list(self, list_prefix: str, delimiter: str, token: str) -> dict[str, Any]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": list_prefix, "MaxKeys": self._page_size}
        if delimiter:
            args["Delimiter"] = delimiter
        if token:
            args["ContinuationToken"] = token
        with self._errors("list", list_prefix):
            return dict(self._client.list_objects_v2(**args))

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        async for page in self._pages(dir_prefix(self.prefix, prefix)):
            for item in page.get("Contents", []):
                if not hidden(item["Key"]):
                    yield self._relative(item["Key"])

    async def children(self, prefix: str) -> list[str]:
        base = dir_prefix(self.prefix, prefix)
        names: set[str] = set()
        async for page in self._pages(base, "/"):
            names.update(p["Prefix"][len(base) :].rstrip("/") for p in page.get("CommonPrefixes", []))
            names.update(o["Key"][len(base) :] for o in page.get("Contents", []) if not hidden(o["Key"]))
        names.discard("")
        return sorted(names)

    # -- lock and lifecycle ----------------------------------------------------------------

    async def lock(self, key: str) -> objectlock.LeaseLock:
        io = S3LeaseIO(
            self._client, self.bucket, key, self._key(key),
            blocking=self._blocking, errors=self._errors, delete=self._delete_one,
        )  # fmt: skip
        self._lease.lock = await objectlock.acquire(
            io, f"s3://{self.bucket}/{self._key(key)}", support=self._conditional,
            ttl=self._lock_ttl or objectlock.DEFAULT_TTL, settle=self._lock_settle,
        )  # fmt: skip
        return self._lease.lock

    async def flush(self) -> None:
        # Every completed PUT is already durable on the server.
        return None

    async def close(self) -> None:
        self._blocking.close()
        self._client.close()


class _NoMultiDelete(Exception):
    pass
