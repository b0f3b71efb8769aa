"""The S3 backend's settings: ``[s3]`` and the ``/bucket/prefix`` directory, read when the store opens."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec
from msgspec.structs import fields

from frumious.config.reader import Reader
from frumious.settings import Settings
from frumious.storage.sections import read_section

__all__ = ["S3Settings", "read_s3"]

# config_param_<Name> keys carry extra arguments for put/copy calls, as in bandersnatch.
PARAM_PREFIX = "config_param_"


class S3Settings(msgspec.Struct, frozen=True):
    region_name: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    endpoint_url: str = ""
    signature_version: str = ""
    # config_param_<Name> keys, without the prefix, passed to put/copy calls.
    extra_args: Mapping[str, str] = msgspec.field(default_factory=dict)
    verify_concurrency: int = 50
    max_attempts: int = 10


_DEFAULTS = S3Settings()
KEYS = frozenset(f.name for f in fields(S3Settings) if f.name != "extra_args")


def read_s3(settings: Settings) -> S3Settings:
    """``[s3]``, checked with the mirror directory; every problem in one ConfigError."""

    def read(r: Reader) -> S3Settings:
        _check_directory(r, settings.mirror.directory)
        return _read(r)

    return read_section(settings, "s3", read, KEYS, PARAM_PREFIX)


def _check_directory(r: Reader, directory: str) -> None:
    if not directory.startswith("/") or not directory.split("/")[1].strip():
        r.bad("mirror", "directory", f"{directory!r} is not /bucket/prefix, which storage-backend = s3 requires")


def _read(r: Reader) -> S3Settings:
    extra = {
        k.removeprefix(PARAM_PREFIX): v
        for k, v in r.values.get("s3", {}).items()
        if k.startswith(PARAM_PREFIX) and k != PARAM_PREFIX
    }
    return S3Settings(
        region_name=r.text("s3", "region_name"),
        aws_access_key_id=r.text("s3", "aws_access_key_id"),
        aws_secret_access_key=r.text("s3", "aws_secret_access_key"),
        endpoint_url=r.text("s3", "endpoint_url"),
        signature_version=r.text("s3", "signature_version"),
        extra_args=MappingProxyType(extra),
        verify_concurrency=r.integer("s3", "verify_concurrency", _DEFAULTS.verify_concurrency, low=1),
        max_attempts=r.integer("s3", "max_attempts", _DEFAULTS.max_attempts, low=1),
    )
