"""One line of help for every key of the built-in backends' sections, ``[s3]`` and ``[swift]``:
the source of docs/config.md's storage tables (storage.md has the longer story).

Defaults come from the settings dataclasses, and Swift's environment fallbacks from its
``ENVIRONMENT`` table; a test holds these tables to the keys those readers accept.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["S3_KEY_HELP", "SWIFT_KEY_HELP"]

S3_KEY_HELP: Mapping[str, str] = {
    "region_name": "The bucket's region (unset: `AWS_REGION`, then `~/.aws/config`).",
    "aws_access_key_id": "Static credentials (unset: boto3's usual chain of environment, profile and roles).",
    "aws_secret_access_key": "The secret of `aws_access_key_id`.",
    "endpoint_url": "A non-AWS endpoint (MinIO, Ceph, ...), addressed path-style.",
    "signature_version": "For stores that need an older signature, e.g. `s3v4`.",
    "config_param_<Name>": "Passed as `<Name>` to the S3 calls that take it (server-side encryption, `StorageClass`).",
    "verify_concurrency": "Threads and HTTP connections for S3 calls, at least 10 used.",
    "max_attempts": "How many times a throttled or failed call is retried (botocore's adaptive mode).",
}

SWIFT_KEY_HELP: Mapping[str, str] = {
    "default_container": "The container; it must exist.",
    "auth_url": "Keystone v3 URL; one ending in `/auth/v1.0` means TempAuth.",
    "username": "User name (TempAuth: `account:user`).",
    "password": "Password (TempAuth: the key).",
    "project_name": "Keystone project.",
    "user_domain_name": "Keystone user domain.",
    "project_domain_name": "Keystone project domain.",
    "object_storage_url": "Use this storage URL instead of the catalogue's.",
    "region": "Catalogue region.",
    "project_id": "Keystone project id.",
}
