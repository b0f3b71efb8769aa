"""The Swift backend's settings: ``[swift]``, with bandersnatch 6's OS_* environment fallbacks."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from frumious.config.reader import Reader
from frumious.settings import Settings
from frumious.storage.sections import read_section

__all__ = ["SwiftSettings", "read_swift"]


class SwiftSettings(msgspec.Struct, frozen=True):
    default_container: str = "bandersnatch"
    auth_url: str = ""
    username: str = ""
    password: str = ""
    project_name: str = ""
    user_domain_name: str = ""
    project_domain_name: str = ""
    object_storage_url: str = ""
    region: str = ""
    project_id: str = ""


# The environment variables bandersnatch 6's swift backend consulted, in its order, for
# keys absent from [swift]; then its hard defaults.
ENVIRONMENT: Mapping[str, tuple[str, ...]] = {
    "default_container": (),
    "auth_url": ("OS_AUTH_URL", "OS_AUTHENTICATION_URL"),
    "username": ("OS_USER_ID", "OS_USERNAME"),
    "password": ("OS_PASSWORD",),
    "project_name": ("OS_PROJECT_NAME", "OS_TENANT_NAME"),
    "user_domain_name": ("OS_USER_DOMAIN_NAME",),
    "project_domain_name": ("OS_PROJECT_DOMAIN_NAME",),
    "object_storage_url": ("OS_STORAGE_URL",),
    "region": ("OS_REGION_NAME",),
    "project_id": ("OS_PROJECT_ID",),
}
_FALLBACK: Mapping[str, str] = {
    "default_container": "bandersnatch",
    "user_domain_name": "default",
    "project_domain_name": "default",
}


def read_swift(settings: Settings, environ: Mapping[str, str] | None = None) -> SwiftSettings:
    """``[swift]``; keys it lacks come from ``environ`` (the process environment when None)."""
    env = os.environ if environ is None else environ
    return read_section(settings, "swift", lambda r: _read(r, env), ENVIRONMENT)


def _read(r: Reader, environ: Mapping[str, str]) -> SwiftSettings:
    # A key present in [swift] wins even when empty, as it did in bandersnatch 6.
    section = r.values.get("swift", {})
    found: dict[str, str] = {}
    for key, env_names in ENVIRONMENT.items():
        from_env = next((environ[name] for name in env_names if name in environ), None)
        found[key] = section.get(key, from_env if from_env is not None else _FALLBACK.get(key, ""))
    return SwiftSettings(**found)
