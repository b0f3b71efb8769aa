"""The config parser: bandersnatch's INI dialect in, frozen Settings out, every problem at once."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec.structs
import pytest

from frumious import config
from frumious.config import EXAMPLE_CONFIG, default_config_path, load, loads
from frumious.errors import ConfigError, ConfigMissing
from frumious.settings import CompareMethod, MirrorSettings, Settings, SimpleFormat

BASE = "[mirror]\ndirectory = /srv/pypi\n"


def parse(extra: str = "", base: str = BASE) -> Settings:
    return loads(base + extra)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(text)
    return caught.value.problems


# --- defaults and every key -------------------------------------------------------------------


def test_minimal_config_gives_every_default() -> None:
    settings = parse()
    assert settings.mirror == MirrorSettings(directory="/srv/pypi")
    assert settings.plugins == ()
    assert settings.warnings == ()
    assert settings.path == "<string>"


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ("master = https://mirror.example.com/pypi", "master", "https://mirror.example.com/pypi"),
        ("master = https://pypi.org/", "master", "https://pypi.org"),
        ("allow-non-https = true", "allow_non_https", True),
        ("proxy = socks5://127.0.0.1:1080", "proxy", "socks5://127.0.0.1:1080"),
        ("proxy = http://proxy.example.com:3128", "proxy", "http://proxy.example.com:3128"),
        ("download-mirror = https://near.example.com/", "download_mirror", "https://near.example.com"),
        ("json = yes", "json", True),
        ("release-files = off", "release_files", False),
        ("core-metadata = 0", "core_metadata", False),
        ("hash-index = TRUE", "hash_index", True),
        ("simple-format = json", "simple_format", SimpleFormat.JSON),
        ("simple-format = Html", "simple_format", SimpleFormat.HTML),
        ("simple-format = ALL", "simple_format", SimpleFormat.ALL),
        ("compare-method = stat", "compare_method", CompareMethod.STAT),
        ("digest_name =  MD5 ", "digest_name", "md5"),
        ("keep_index_versions = 5", "keep_index_versions", 5),
        ("cleanup = on", "cleanup", True),
        ("stop-on-error = 1", "stop_on_error", True),
        ("timeout = 2.5", "timeout", 2.5),
        ("global-timeout = 3600", "global_timeout", 3600.0),
        ("global-timeout = 0", "global_timeout", 18000.0),
        ("workers = 1", "workers", 1),
        ("workers = 10", "workers", 10),
        ("verifiers = 8", "verifiers", 8),
        ("storage-backend = swift", "storage_backend", "swift"),
        ("storage-filesystem-manage-permissions = false", "manage_permissions", False),
        ("root_uri = https://files.example.com/", "root_uri", "https://files.example.com"),
        ("diff-file = /var/log/diff", "diff_file", "/var/log/diff"),
        ("diff-append-epoch = true", "diff_append_epoch", True),
        ("log-config = /etc/frumious-log.conf", "log_config", "/etc/frumious-log.conf"),
        ("prune-filtered = true", "prune_filtered", True),
        ("keep-removed = yes", "keep_removed", True),
        ("max-delete-share = 0.25", "max_delete_share", 0.25),
        ("max-delete-share = 5%", "max_delete_share", 0.05),
        ("max-delete-share = 100%", "max_delete_share", 1.0),
        ("max-delete-share = 5%%", "max_delete_share", 0.05),
    ],
)
def test_mirror_key_is_parsed(line: str, field: str, expected: object) -> None:
    settings = parse(line + "\n")
    assert getattr(settings.mirror, field) == expected
    # Nothing else moves: the other fields keep their defaults.
    others = {f.name for f in msgspec.structs.fields(MirrorSettings)} - {field, "directory", "root_uri"}
    default = MirrorSettings(directory="/srv/pypi")
    assert {name: getattr(settings.mirror, name) for name in others} == {
        name: getattr(default, name) for name in others
    }


def test_plain_http_master_allowed_only_with_allow_non_https() -> None:
    settings = parse("master = http://127.0.0.1:8080/\nallow-non-https = true\n")
    assert settings.mirror.master == "http://127.0.0.1:8080"
    assert any("not https" in p for p in problems_of(BASE + "master = http://127.0.0.1:8080\n"))


def test_download_mirror_no_fallback_needs_a_download_mirror() -> None:
    assert parse("download-mirror-no-fallback = true\n").mirror.download_mirror_no_fallback is False
    settings = parse("download-mirror = https://near.example.com\ndownload-mirror-no-fallback = true\n")
    assert settings.mirror.download_mirror_no_fallback is True


def test_release_files_off_without_root_uri_links_to_pythonhosted() -> None:
    settings = parse("release-files = false\n")
    assert settings.mirror.root_uri == "https://files.pythonhosted.org"
    assert any(w.startswith("[mirror] root_uri:") for w in settings.warnings)
    kept = parse("release-files = false\nroot_uri = https://files.example.com\n")
    assert kept.mirror.root_uri == "https://files.example.com"
    assert kept.warnings == ()


# --- validation -------------------------------------------------------------------------------

BAD_VALUES = [
    ("master = ftp://pypi.org", "[mirror] master:", "http(s) URL"),
    ("master = pypi.org", "[mirror] master:", "http(s) URL"),
    ("master = http://pypi.org", "[mirror] master:", "allow-non-https = true"),
    ("allow-non-https = maybe", "[mirror] allow-non-https:", "not a boolean"),
    ("proxy = proxy.example.com:3128", "[mirror] proxy:", "socks5"),
    ("download-mirror = near.example.com", "[mirror] download-mirror:", "http"),
    ("json = sometimes", "[mirror] json:", "not a boolean"),
    ("release-files =", "[mirror] release-files:", "not a boolean"),
    ("download-mirror-no-fallback = 2", "[mirror] download-mirror-no-fallback:", "not a boolean"),
    ("core-metadata = nope", "[mirror] core-metadata:", "not a boolean"),
    ("hash-index = nope", "[mirror] hash-index:", "not a boolean"),
    ("cleanup = nope", "[mirror] cleanup:", "not a boolean"),
    ("stop-on-error = nope", "[mirror] stop-on-error:", "not a boolean"),
    ("storage-filesystem-manage-permissions = x", "[mirror] storage-filesystem-manage-permissions:", "boolean"),
    ("diff-append-epoch = x", "[mirror] diff-append-epoch:", "not a boolean"),
    ("prune-filtered = x", "[mirror] prune-filtered:", "not a boolean"),
    ("keep-removed = x", "[mirror] keep-removed:", "not a boolean"),
    ("simple-format = XML", "[mirror] simple-format:", "ALL, HTML, JSON"),
    ("compare-method = mtime", "[mirror] compare-method:", "hash, stat"),
    ("digest_name = sha512", "[mirror] digest_name:", "sha256, md5"),
    ("digest_name = blake2b", "[mirror] digest_name:", "sha256, md5"),
    ("keep_index_versions = -1", "[mirror] keep_index_versions:", "at least 0"),
    ("keep_index_versions = two", "[mirror] keep_index_versions:", "not a whole number"),
    ("timeout = 0", "[mirror] timeout:", "more than 0"),
    ("timeout = -3", "[mirror] timeout:", "more than 0"),
    ("timeout = soon", "[mirror] timeout:", "seconds"),
    ("timeout = nan", "[mirror] timeout:", "seconds"),
    ("timeout = 50%%", "[mirror] timeout:", "seconds"),
    ("global-timeout = -1", "[mirror] global-timeout:", "0 or more"),
    ("global-timeout = inf", "[mirror] global-timeout:", "0 or more"),
    ("workers = 0", "[mirror] workers:", "from 1 to 10"),
    ("workers = 11", "[mirror] workers:", "from 1 to 10"),
    ("workers = 2.5", "[mirror] workers:", "not a whole number"),
    ("verifiers = 0", "[mirror] verifiers:", "at least 1"),
    ("storage-backend = ftp", "[mirror] storage-backend:", "filesystem, s3, swift"),
    ("max-delete-share = 0", "[mirror] max-delete-share:", "5%"),
    ("max-delete-share = 1.5", "[mirror] max-delete-share:", "(0, 1]"),
    ("max-delete-share = 150%", "[mirror] max-delete-share:", "(0, 1]"),
    ("max-delete-share = lots", "[mirror] max-delete-share:", "(0, 1]"),
]


@pytest.mark.parametrize(("line", "prefix", "fragment"), BAD_VALUES)
def test_bad_value_is_one_clear_problem(line: str, prefix: str, fragment: str) -> None:
    problems = problems_of(BASE + line + "\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith(prefix)
    assert fragment in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize(
    "text", ["", "[mirror]\njson = true\n", "[mirror]\ndirectory =\n", "[plugins]\nenabled = all\n"]
)
def test_directory_is_required(text: str) -> None:
    assert problems_of(text) == ["[mirror] directory: required but not set; name the directory the mirror lives in"]


def test_every_problem_is_reported_together() -> None:
    text = "[mirror]\nworkers = 99\njson = perhaps\nmaster = ftp://x\ndigest_name = sha1\n"
    problems = problems_of(text)
    keys = sorted(p.split(":", 1)[0] for p in problems)
    assert keys == [
        "[mirror] digest_name",
        "[mirror] directory",
        "[mirror] json",
        "[mirror] master",
        "[mirror] workers",
    ]
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert str(caught.value) == "\n".join(problems)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not a section\n[mirror]\ndirectory = /x\n", "line 1: cannot parse 'not a section'"),
        (BASE + "just words\n", "line 3: cannot parse 'just words'"),
        (BASE + "[mirror]\n", "section 'mirror' already exists"),
        (BASE + "directory = /again\n", "option 'directory' in section 'mirror' already exists"),
    ],
)
def test_syntax_errors_are_reported_with_line(text: str, fragment: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1
    assert fragment in problems[0]


def test_colon_is_no_delimiter_so_colon_free_line_is_a_syntax_error() -> None:
    # With ":" a delimiter this would quietly set key "workers"; bandersnatch rejects it.
    problems = problems_of(BASE + "workers: 5\n")
    assert problems == ["<string> line 3: cannot parse 'workers: 5'; expected [section], key = value or a comment"]


# --- the INI dialect --------------------------------------------------------------------------


def test_percent_interpolation() -> None:
    settings = parse(
        "root = /srv\nlog-config = %(root)s/log.conf\n[filter_regex]\nreleases = .*%%dev\nmore = %(releases)s$\n",
        base="[mirror]\ndirectory = /srv/pypi\n",
    )
    assert settings.mirror.log_config == "/srv/log.conf"
    assert settings.sections["filter_regex"] == {"releases": ".*%dev", "more": ".*%dev$"}


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("log-config = 100%", "write %% for a literal %"),
        ("log-config = %(nowhere)s/x", "%(nowhere)s names a key that does not exist"),
        ("a = %(b)s\nb = %(a)s", "nest too deeply"),
    ],
)
def test_bad_interpolation_is_a_problem(line: str, fragment: str) -> None:
    problems = problems_of(BASE + line + "\n")
    assert problems
    assert all(fragment in p for p in problems)


def test_interpolation_sees_defaults_and_default_section_once() -> None:
    settings = parse("log-config = %(master)s/log\n")
    assert settings.mirror.log_config == "https://pypi.org/log"
    problems = problems_of("[DEFAULT]\nbad = 5%\n" + BASE + "[plugins]\nenabled = all\n")
    assert problems == ["[DEFAULT] bad: a lone % is not allowed (values use %-interpolation); write %% for a literal %"]


def test_default_section_values_interpolate_in_the_reading_section() -> None:
    settings = loads("[DEFAULT]\nsub = %(directory)s/sub\n[mirror]\ndirectory = /srv\n")
    assert settings.sections["mirror"]["sub"] == "/srv/sub"
    assert settings.warnings == ()


def test_keys_are_case_sensitive() -> None:
    assert problems_of("[mirror]\nDirectory = /srv/pypi\n")[0].startswith("[mirror] directory: required")
    settings = parse("Workers = 9\n")
    assert settings.mirror.workers == 3
    assert settings.warnings == ("[mirror] Workers: unknown key, ignored (did you mean workers?)",)


def test_colon_inside_keys_is_a_plain_character() -> None:
    settings = parse("[regex_project_metadata]\nnot-null:info.classifiers =\n    .*Python :: 3\n")
    assert settings.sections["regex_project_metadata"] == {"not-null:info.classifiers": "\n.*Python :: 3"}


def test_no_inline_comments() -> None:
    settings = parse("log-config = /etc/log.conf ; the log setup\nroot_uri = https://x.example # no\n")
    assert settings.mirror.log_config == "/etc/log.conf ; the log setup"
    assert settings.mirror.root_uri == "https://x.example # no"


def test_full_line_comments_are_skipped() -> None:
    text = "# top\n; also\n[mirror]\n# c\ndirectory = /srv/pypi\n  ; indented\n"
    text += "[plugins]\nenabled =\n    a\n# gone\n    b\n"
    settings = loads(text)
    assert settings.plugins == ("a", "b")


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load(str(path)).mirror.directory == "/srv/pypi"


# --- warnings for dead and unknown keys -------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ("delete-packages = true\n", "[mirror] delete-packages: obsolete key, ignored"),
        ("api-method = xmlrpc\n", "[mirror] api-method: obsolete key, ignored"),
        ("keep-index-versions = 4\n", "[mirror] keep-index-versions: ignored"),
        ("digest-name = md5\n", "[mirror] digest-name: unknown key, ignored (did you mean digest_name?)"),
        ("root-uri = https://x\n", "[mirror] root-uri: unknown key, ignored (did you mean root_uri?)"),
        ("colour = blue\n", "[mirror] colour: unknown key, ignored"),
        ("prune-filterd = true\n", "[mirror] prune-filterd: unknown key, ignored (did you mean prune-filtered?)"),
        ("[blacklist]\npackages = foo\n", "[blacklist]: obsolete section, ignored; rename it to [blocklist]"),
        ("[whitelist]\npackages = foo\n", "[whitelist]: obsolete section, ignored; rename it to [allowlist]"),
        ("[blocklist]\nplugins = blocklist_project\n", "[blocklist] plugins: obsolete key, ignored"),
        ("[whitelist]\nplugins = whitelist_project\n", "[whitelist] plugins: obsolete key, ignored"),
    ],
)
def test_dead_and_unknown_keys_warn_without_failing(extra: str, warning: str) -> None:
    settings = parse(extra)
    assert any(w.startswith(warning) for w in settings.warnings), settings.warnings
    assert settings.mirror == MirrorSettings(directory="/srv/pypi")


def test_dashed_keep_index_versions_does_nothing() -> None:
    assert parse("keep-index-versions = 4\n").mirror.keep_index_versions == 0


def test_default_section_keys_are_not_unknown_keys() -> None:
    settings = loads("[DEFAULT]\nbase = /srv\n[mirror]\ndirectory = %(base)s/pypi\n")
    assert settings.mirror.directory == "/srv/pypi"
    assert settings.warnings == ()


# --- diff-file references ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{mirror_directory}}/diff", "/srv/pypi/diff"),
        ("{{ mirror_directory }}/diff", "/srv/pypi/diff"),
        ("/logs/{{ mirror_master }}.txt", "/logs/https://pypi.org.txt"),
        ("{{paths_diff-dir}}/files", "/var/diffs/files"),
        ("{{ paths_nested_key }}", "nested"),
        ("/plain/{{braces}}", "/plain/{{braces}}"),
        ("/plain/path", "/plain/path"),
        # bandersnatch's grammar substitutes only the last reference; so do we.
        ("{{a_b}}{{mirror_directory}}", "{{a_b}}/srv/pypi"),
        ("x{{ mirror_directory}}y{{mirror_master }}z", "x{{ mirror_directory}}yhttps://pypi.orgz"),
    ],
)
def test_diff_file_references(value: str, expected: str) -> None:
    settings = parse(f"diff-file = {value}\n[paths]\ndiff-dir = /var/diffs\nnested_key = nested\n")
    assert settings.mirror.diff_file == expected
    assert settings.warnings == ()


@pytest.mark.parametrize(
    "value",
    [
        "{{nosuch_section}}/x",
        "{{mirror_nosuchkey}}",
        "{{x_directory}}",
        "{{ _directory }}",
        "{{under_score_x}}",
        "{{mirror_directory}}}}",
    ],
)
def test_bad_diff_file_reference_falls_back_with_warning(value: str) -> None:
    settings = parse(f"diff-file = {value}\n")
    assert settings.mirror.diff_file == "/srv/pypi/mirrored-files"
    assert len(settings.warnings) == 1
    assert settings.warnings[0].startswith("[mirror] diff-file: cannot resolve")


# --- [plugins], sections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", ()),
        ("[plugins]\n", ()),
        ("[plugins]\nenabled =\n", ()),
        ("[plugins]\nenabled = blocklist_project\n", ("blocklist_project",)),
        ("[plugins]\nenabled =\n    b_one\n\n    a_two\n    b_one\n", ("b_one", "a_two")),
        ("[plugins]\nenabled =\n    latest_release\n    all\n", ("all",)),
    ],
)
def test_plugins_enabled(extra: str, expected: tuple[str, ...]) -> None:
    assert parse(extra).plugins == expected


def test_sections_hold_every_section_after_interpolation() -> None:
    settings = parse("[allowlist]\npackages =\n    foo\n    bar>=1\n[latest_release]\nkeep = 3\n")
    assert settings.sections["allowlist"] == {"packages": "\nfoo\nbar>=1"}
    assert settings.sections["latest_release"] == {"keep": "3"}
    assert settings.sections["mirror"]["directory"] == "/srv/pypi"
    with pytest.raises(TypeError):
        settings.sections["latest_release"]["keep"] = "4"  # type: ignore[index]


# --- files, the example, bandersnatch's own configs -------------------------------------------


def test_load_reads_a_file_and_records_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bandersnatch.conf"
    path.write_text(BASE + "workers = 5\n")
    settings = load(str(path))
    assert settings.mirror.workers == 5
    assert settings.path == str(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigMissing):
        load(str(tmp_path / "absent.conf"))


def test_load_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(str(tmp_path))  # a directory
    assert caught.value.problems[0].startswith(f"{tmp_path}: cannot read the config file")
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b"[mirror]\ndirectory = /\xff\n")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load(str(binary))


def test_load_reports_problems_from_file(tmp_path: Path) -> None:
    path = tmp_path / "c.conf"
    path.write_text("[mirror]\nworkers = 50\n")
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    assert len(caught.value.problems) == 2


def test_default_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = tmp_path / "frumious.conf", tmp_path / "bandersnatch.conf"
    monkeypatch.setattr(config, "_CONFIG_CANDIDATES", (str(ours), str(theirs)))
    assert default_config_path() == str(ours)
    theirs.write_text(BASE)
    assert default_config_path() == str(theirs)
    ours.write_text(BASE)
    assert default_config_path() == str(ours)


def test_default_config_path_real_candidates() -> None:
    assert default_config_path() in ("/etc/frumious.conf", "/etc/bandersnatch.conf")


def test_example_config_parses_cleanly() -> None:
    settings = loads(EXAMPLE_CONFIG)
    assert settings.mirror == MirrorSettings(directory="/srv/pypi")
    assert settings.warnings == ()
    filled = re.sub(r"(?m)^directory = .*$", "directory = /data/mirror", EXAMPLE_CONFIG)
    assert loads(filled).mirror.directory == "/data/mirror"


def test_example_config_documents_every_mirror_key_and_section() -> None:
    for key in config._MIRROR_KEYS:
        assert re.search(rf"(?m)^;? ?{re.escape(key)} =", EXAMPLE_CONFIG), key
    for section in ("[plugins]", "[s3]", "[swift]"):
        assert f"; {section}" in EXAMPLE_CONFIG
    # The commented sections are real config once uncommented.
    uncommented = re.sub(
        r"(?m)^; (\[(?:plugins|blocklist|wheel_tags|allowlist|closure|s3|swift)\])", r"\1", EXAMPLE_CONFIG
    )
    uncommented = re.sub(r"(?m)^; (\S+ =.*|    \S+)$", r"\1", uncommented)
    settings = loads(uncommented)
    assert settings.plugins == ("blocklist_project", "prerelease_release", "exclude_platform")
    assert settings.sections["s3"]["config_param_ServerSideEncryption"] == "aws:kms"
    assert settings.sections["swift"]["region"] == "RegionOne"
    assert settings.sections["closure"]["environments"] == "cp312-manylinux_2_28_x86_64, cp311-win_amd64"


BANDERSNATCH_STYLE = """\
; an old bandersnatch 4 era config
[mirror]
directory = /srv/pypi
json = false
master = https://pypi.org
timeout = 10
global-timeout = 18000
workers = 3
hash-index = false
stop-on-error = false
delete-packages = true
storage-backend = filesystem
verifiers = 3
keep_index_versions = 0
compare-method = hash

[plugins]
enabled =
    blacklist_project
    whitelist_project

[blacklist]
plugins =
    blacklist_project
packages =
    example1
    example2>=1.4.2,<1.9,!=1.5.*

[whitelist]
packages =
    black
"""


def _installed_bandersnatch_configs() -> list[tuple[str, str]]:
    root = Path("/work/bs-venv/lib")
    found = sorted(root.glob("python3*/site-packages/bandersnatch/*.conf")) if root.is_dir() else []
    return [(path.name, path.read_text()) for path in found if path.name in ("example.conf", "defaults.conf")]


@pytest.mark.parametrize(
    ("name", "text"), [("inline", BANDERSNATCH_STYLE), *_installed_bandersnatch_configs()], ids=lambda v: v[:20]
)
def test_bandersnatch_configs_parse(name: str, text: str) -> None:
    if "\ndirectory" not in text:
        text = text.replace("[mirror]\n", "[mirror]\ndirectory = /srv/pypi\n", 1)  # defaults.conf has none
    settings = loads(text, path=name)
    assert settings.mirror.directory == "/srv/pypi"
    assert settings.mirror.master == "https://pypi.org"
    assert settings.mirror.workers == 3
    assert settings.path == name
    unexpected = [w for w in settings.warnings if not re.search(r"obsolete|keep-index-versions", w)]
    assert unexpected == []


def test_inline_bandersnatch_config_details() -> None:
    settings = loads(BANDERSNATCH_STYLE)
    assert settings.mirror.global_timeout == 18000.0
    assert settings.plugins == ("blacklist_project", "whitelist_project")
    assert settings.sections["blacklist"]["packages"] == "\nexample1\nexample2>=1.4.2,<1.9,!=1.5.*"
    assert len(settings.warnings) == 4  # delete-packages, [blacklist], [whitelist], [blacklist] plugins


# --- guards: values that would write into the system, fetch from nowhere or fail late ----------


@pytest.mark.parametrize(
    "directory",
    [
        "/",
        "/usr",
        "/etc/",
        "/var",
        "/root",
        "/lib64",
        "/usr/local",
        "/srv/../usr",
        "//",
        "/proc/self",
        "/dev/shm",
        "/dev/sda",
    ],
)
def test_system_directories_are_refused(directory: str) -> None:
    problems = problems_of(f"[mirror]\ndirectory = {directory}\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith("[mirror] directory:")
    assert "system directory" in problems[0]


def test_a_symlink_to_a_system_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "innocent").symlink_to("/etc")
    assert "system directory (/etc)" in problems_of(f"[mirror]\ndirectory = {tmp_path}/innocent\n")[0]


@pytest.mark.parametrize(
    "directory", ["/srv/pypi", "/var/pypi", "/home/mirror/pypi", "/mnt", "relative/pypi", "/dev/shm/pypi"]
)
def test_ordinary_directories_pass(directory: str) -> None:
    assert parse(base=f"[mirror]\ndirectory = {directory}\n").mirror.directory == directory


def test_object_store_directories_are_no_system_paths() -> None:
    # On Swift the directory is a prefix inside the container, not a local path.
    assert parse(base="[mirror]\ndirectory = /usr\nstorage-backend = swift\n").mirror.directory == "/usr"


def test_a_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    inside = f"is inside {str(afile)!r}, which is"
    for directory, what in ((afile, "is"), (afile / "mirror", inside)):
        with pytest.raises(ConfigError) as caught:
            loads(f"[mirror]\ndirectory = {directory}\n", check_files=True)
        assert caught.value.problems == [f"[mirror] directory: {str(directory)!r} {what} a file, not a directory"]
    # Only a real run looks at the machine; parsing text alone does not.
    assert loads(f"[mirror]\ndirectory = {afile}\n").mirror.directory == str(afile)


@pytest.mark.parametrize(
    "master",
    [
        "https://pypi .org",
        "https://pypi.org/ simple",
        "https://",
        "https:///simple",
        "https://:443",
        "https://pypi.org:99999",
        "https://pypi.org:port",
        "file:///srv/pypi",
        "javascript:alert(1)",
        "https://py\tpi.org",
    ],
)
def test_master_must_be_a_valid_http_url(master: str) -> None:
    problems = problems_of(BASE + f"master = {master}\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith("[mirror] master:") and "http(s) URL with a host" in problems[0]


@pytest.mark.parametrize("url", ["https://near .example.com", "https://", "ftp://near.example.com", "near"])
def test_download_mirror_must_be_a_valid_http_url(url: str) -> None:
    problems = problems_of(BASE + f"download-mirror = {url}\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith("[mirror] download-mirror:")


LOG_CONFIG = "[loggers]\nkeys=root\n[handlers]\nkeys=\n[formatters]\nkeys=\n[logger_root]\nhandlers=\n"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "does not exist"),
        (b"\xff\xfe[loggers]", "cannot read"),
        (b"just words\n", "is not a logging config file"),
        (b"[loggers]\nkeys=root\n", "it has no [handlers], [formatters] with keys ="),
    ],
)
def test_log_config_must_be_a_readable_logging_config(tmp_path: Path, content: bytes | None, fragment: str) -> None:
    log_config = tmp_path / "logging.conf"
    if content is not None:
        log_config.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        loads(BASE + f"log-config = {log_config}\n", check_files=True)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("[mirror] log-config: ")
    assert fragment in caught.value.problems[0]
    log_config.write_text(LOG_CONFIG)
    assert loads(BASE + f"log-config = {log_config}\n", check_files=True).mirror.log_config


def test_every_guard_is_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "frumious.conf"
    path.write_text(f"[mirror]\ndirectory = /\nmaster = https://pypi .org\nlog-config = {tmp_path}/absent.conf\n")
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    keys = [p.split(":", 1)[0] for p in caught.value.problems]
    assert keys == ["[mirror] directory", "[mirror] master", "[mirror] log-config"]
