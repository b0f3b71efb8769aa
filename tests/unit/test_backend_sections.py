"""The built-in object stores read their own sections, [s3] and [swift], as any backend does.

They are parsed from ``settings.sections`` when the store opens: every problem of the section
in one ConfigError (exit 2, one line each, the texts config.load used to give), unknown keys
logged as warnings, and [swift]'s OS_* environment fallbacks.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import msgspec.structs
import pytest

from frumious.cli import main
from frumious.config import EXAMPLE_CONFIG, loads
from frumious.errors import ConfigError
from frumious.storage.s3settings import S3Settings, read_s3
from frumious.storage.swiftsettings import SwiftSettings, read_swift

BASE = "[mirror]\ndirectory = /srv/pypi\n"
S3_BASE = "[mirror]\ndirectory = /bucket/prefix\nstorage-backend = s3\n"
NO_ENV: dict[str, str] = {}


def s3_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_s3(loads(text))
    assert caught.value.exit_code == 2
    return caught.value.problems


def test_defaults() -> None:
    assert read_s3(loads(S3_BASE)) == S3Settings()
    swift = read_swift(loads(BASE), environ=NO_ENV)
    assert swift == SwiftSettings(user_domain_name="default", project_domain_name="default")


def test_config_does_not_read_the_sections() -> None:
    # A bad [s3] value is not config.load's business: it surfaces when the store opens.
    settings = loads(BASE + "[s3]\nmax_attempts = many\nregion = eu\n")
    assert settings.warnings == ()
    assert not hasattr(settings, "s3") and not hasattr(settings, "swift")


# --- [s3] ---------------------------------------------------------------------------------------


def test_s3_section() -> None:
    settings = loads(
        S3_BASE + "[s3]\nregion_name = eu-west-1\naws_access_key_id = AK\naws_secret_access_key = SK\n"
        "endpoint_url = http://127.0.0.1:9000\nsignature_version = s3v4\n"
        "config_param_ServerSideEncryption = aws:kms\nconfig_param_SSEKMSKeyId = key-1\n"
        "verify_concurrency = 7\nmax_attempts = 3\n"
    )
    assert read_s3(settings) == S3Settings(
        region_name="eu-west-1",
        aws_access_key_id="AK",
        aws_secret_access_key="SK",
        endpoint_url="http://127.0.0.1:9000",
        signature_version="s3v4",
        extra_args={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "key-1"},
        verify_concurrency=7,
        max_attempts=3,
    )


@pytest.mark.parametrize(
    ("line", "key"), [("verify_concurrency = 0", "verify_concurrency"), ("max_attempts = x", "max_attempts")]
)
def test_s3_bad_integers(line: str, key: str) -> None:
    problems = s3_problems(S3_BASE + "[s3]\n" + line + "\n")
    assert len(problems) == 1
    assert problems[0].startswith(f"[s3] {key}:")


@pytest.mark.parametrize("directory", ["/bucket/prefix", "/bucket", "/bucket/deep/prefix"])
def test_s3_accepts_bucket_directories(directory: str) -> None:
    settings = loads(f"[mirror]\ndirectory = {directory}\nstorage-backend = s3\n")
    assert settings.mirror.directory == directory
    assert read_s3(settings) == S3Settings()


@pytest.mark.parametrize("directory", ["bucket/prefix", "//prefix", "/"])
def test_s3_needs_bucket_prefix_directory(directory: str) -> None:
    settings = loads(f"[mirror]\ndirectory = {directory}\nstorage-backend = s3\n")  # config lets it through
    assert settings.mirror.directory == directory
    problems = s3_problems(f"[mirror]\ndirectory = {directory}\nstorage-backend = s3\n")
    assert problems == [f"[mirror] directory: {directory!r} is not /bucket/prefix, which storage-backend = s3 requires"]


def test_every_problem_of_the_section_is_reported_together() -> None:
    text = "[mirror]\ndirectory = bucket\nstorage-backend = s3\n[s3]\nmax_attempts = many\nverify_concurrency = 0\n"
    keys = [p.split(":", 1)[0] for p in s3_problems(text)]
    assert keys == ["[mirror] directory", "[s3] verify_concurrency", "[s3] max_attempts"]


# --- unknown keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (S3_BASE + "[s3]\nregion = eu\n", "[s3] region: unknown key, ignored"),
        (S3_BASE + "[s3]\nmax-attempts = 3\n", "[s3] max-attempts: unknown key, ignored (did you mean max_attempts?)"),
        (BASE + "[swift]\ncontainer = x\n", "[swift] container: unknown key, ignored"),
    ],
)
def test_unknown_keys_warn_without_failing(text: str, warning: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        read_s3(loads(text)) if "[s3]" in text else read_swift(loads(text), environ=NO_ENV)
    assert [r.getMessage() for r in caplog.records] == [warning]


def test_keys_from_default_are_not_unknown(caplog: pytest.LogCaptureFixture) -> None:
    text = "[DEFAULT]\nbase = /srv\n" + S3_BASE + "[s3]\nregion_name = eu\n[swift]\nregion = r\n"
    with caplog.at_level(logging.WARNING):
        read_s3(loads(text))
        read_swift(loads(text), environ=NO_ENV)
    assert caplog.records == []


# --- [swift] ------------------------------------------------------------------------------------

SWIFT_KEYS = [f.name for f in msgspec.structs.fields(SwiftSettings)]


def test_swift_section_values() -> None:
    settings = loads(BASE + "[swift]\n" + "".join(f"{key} = v-{key}\n" for key in SWIFT_KEYS))
    assert read_swift(settings, environ=NO_ENV) == SwiftSettings(**{key: f"v-{key}" for key in SWIFT_KEYS})


def test_swift_environment_fallbacks() -> None:
    environ = {
        "OS_AUTH_URL": "https://keystone/v3",
        "OS_USERNAME": "user-name",
        "OS_USER_ID": "user-id",
        "OS_PASSWORD": "pw",
        "OS_TENANT_NAME": "tenant",
        "OS_USER_DOMAIN_NAME": "udom",
        "OS_PROJECT_DOMAIN_NAME": "pdom",
        "OS_STORAGE_URL": "https://swift/v1",
        "OS_REGION_NAME": "r1",
        "OS_PROJECT_ID": "pid",
    }
    assert read_swift(loads(BASE + "[swift]\npassword =\n"), environ=environ) == SwiftSettings(
        default_container="bandersnatch",
        auth_url="https://keystone/v3",
        username="user-id",  # OS_USER_ID wins over OS_USERNAME, as in bandersnatch 6
        password="",  # a key written in the file wins even when empty
        project_name="tenant",
        user_domain_name="udom",
        project_domain_name="pdom",
        object_storage_url="https://swift/v1",
        region="r1",
        project_id="pid",
    )
    env = {"OS_PROJECT_NAME": "proj", "OS_TENANT_NAME": "t", "OS_AUTHENTICATION_URL": "u"}
    both = read_swift(loads(BASE), environ=env)
    assert (both.project_name, both.auth_url) == ("proj", "u")


def test_swift_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_AUTH_URL", "https://keystone.example/v3")
    assert read_swift(loads(BASE)).auth_url == "https://keystone.example/v3"


def test_example_config_sections() -> None:
    uncommented = re.sub(
        r"(?m)^; (\[(?:plugins|blocklist|wheel_tags|allowlist|closure|s3|swift)\])", r"\1", EXAMPLE_CONFIG
    )
    uncommented = re.sub(r"(?m)^; (\S+ =.*|    \S+)$", r"\1", uncommented)
    settings = loads(uncommented.replace("directory = /srv/pypi", "directory = /bucket/pypi"))
    assert read_s3(settings).extra_args == {"ServerSideEncryption": "aws:kms"}
    assert read_swift(settings, environ=NO_ENV).region == "RegionOne"


# --- through the CLI ----------------------------------------------------------------------------


def test_the_cli_reports_section_problems_when_the_store_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("boto3")
    path = tmp_path / "frumious.conf"
    path.write_text("[mirror]\ndirectory = bucket\nstorage-backend = s3\n[s3]\nmax_attempts = many\n")
    assert main(["-c", str(path), "verify"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "config error: [mirror] directory: 'bucket' is not /bucket/prefix, which storage-backend = s3 requires",
        "config error: [s3] max_attempts: 'many' is not a whole number; use a whole number of at least 1",
    ]
