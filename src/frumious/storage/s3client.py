"""boto3 plumbing for the S3 backend: the client, the DeleteObjects Content-MD5 hook, error codes."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from frumious.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


CHECKSUM_OPTIONS = {
    "request_checksum_calculation": "AWS_REQUEST_CHECKSUM_CALCULATION",
    "response_checksum_validation": "AWS_RESPONSE_CHECKSUM_VALIDATION",
}
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
# Answers meaning "this server cannot do DeleteObjects as sent": fall back to one DeleteObject per key.
NO_MULTI_DELETE = frozenset({"NotImplemented", "InvalidRequest", "MissingContentMD5", "MethodNotAllowed"})


def parse_directory(directory: str) -> tuple[str, str]:
    """``/bucket/prefix`` (or ``s3://bucket/prefix``) -> (bucket, prefix)."""
    path = directory.removeprefix("s3://").strip("/")
    bucket, _, prefix = path.partition("/")
    if not bucket:
        raise ConfigError(f"[mirror] directory = {directory!r}: the s3 backend needs /<bucket>/<prefix>")
    return bucket, prefix.strip("/")


def add_content_md5(params: dict[str, Any], **_: Any) -> None:
    """Swift's s3api before 2.35 (and other older servers) require Content-MD5 on DeleteObjects,
    which boto3 >= 1.36 stopped sending; put it back."""
    body = params["body"]
    if isinstance(body, str):
        body = body.encode()
    params["headers"]["Content-MD5"] = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def make_client(
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    signature_version: str | None = None,
    max_attempts: int = 10,
    pool_size: int = 10,
) -> S3Client:
    """A client; anything left None comes from boto3's usual chain (env, ~/.aws, instance roles)."""
    options: dict[str, Any] = {
        "retries": {"max_attempts": max_attempts, "mode": "adaptive"},
        "max_pool_connections": pool_size,
        "connect_timeout": 10,
        "read_timeout": 120,
    }
    if signature_version:
        options["signature_version"] = signature_version
    if endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        # Custom endpoints (MinIO, Swift, Ceph) rarely have wildcard DNS for virtual-hosted buckets.
        options["s3"] = {"addressing_style": "path"}
        # Many S3 look-alikes mishandle the flexible checksums boto3 sends and checks by default
        # (Swift < 2.35.1 cannot parse aws-chunked bodies; moto gets copies of multipart objects
        # wrong). frumious checks digests itself, so ask for checksums only where an API requires
        # them, unless the environment says otherwise.
        for option, variable in CHECKSUM_OPTIONS.items():
            options[option] = os.environ.get(variable, "when_required")
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region_name or None,
        aws_access_key_id=aws_access_key_id or None,
        aws_secret_access_key=aws_secret_access_key or None,
        config=Config(**options),
    )
    client.meta.events.register("before-call.s3.DeleteObjects", add_content_md5)
    return client


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing(exc: ClientError) -> bool:
    return code(exc) in MISSING


def typed_extra(client: S3Client, operation: str, values: Mapping[str, str]) -> dict[str, Any]:
    """config_param_* values for one operation: only its own parameters, typed as it wants."""
    operation_shape = client.meta.service_model.operation_model(operation).input_shape
    members = operation_shape.members if operation_shape is not None else {}
    extra: dict[str, Any] = {}
    for name, value in values.items():
        shape = members.get(name)
        if shape is None:
            continue
        if shape.type_name == "boolean":
            extra[name] = value.strip().lower() in {"1", "true", "yes", "on"}
        elif shape.type_name in {"integer", "long"}:
            extra[name] = int(value)
        else:
            extra[name] = value
    return extra
