"""Start-up: what only some commands or configs use is imported when they run, not by every run.

Every ``frumious mirror`` (most often a no-op: one 304) pays its imports before any work; each module
below cost 5-50 ms of CPU at every start-up before it was made lazy (benchmarks/README.md, "Issue 12
(session 5): startup"). A fresh interpreter does what a mirror run does before its first request
(the CLI's parser, the config read and its filters checked, the composition root, the sync core and
the filesystem store imported), then lists what it imported: a module-level import of one of these would bring it back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import frumious

SOURCE = str(Path(frumious.__file__).parent.parent)

# Each with the command or config that needs it.
LAZY = {
    "frumious.verify": "verify",
    "frumious.delete": "delete",
    "frumious.shardorphans": "publish --orphans",
    "frumious.cli.metricsfile": "metrics-file",
    "prometheus_client": "metrics-file",
    "logging.config": "log-config",
    "importlib.metadata": "a storage or filter plugin",
    "importlib.resources": "the example config, when there is no config",
    "packaging.metadata": "[closure]",
    "packaging.requirements": "a requirement more than a name ([allowlist] six>=1), [closure], lock files",
    "packaging.markers": "the same",
    "tomllib": "lock files",
    "ctypes.util": "syncfs, when a run has written something",
    "aiohttp": "proxies, .netrc, serve",
    "urllib.request": "a proxy in the environment",
    "email": "a Retry-After date",
    "frumious.serve": "serve",
}

SCRIPT = """
import json, sys
from frumious import cli, config
from frumious.cli import commands, compose
from frumious import sync
from frumious.storage import filesystem  # what open_store imports for the filesystem backend
from frumious.http.choose import pick_proxy

assert pick_proxy("") == ""

parser = cli.build_parser()
args = parser.parse_args(["-c", sys.argv[1], "mirror"])
settings, problems = cli.load_settings(args.config)
assert not problems, problems
warnings = cli.check_filters(args, settings, problems)
assert not problems, problems
print(json.dumps(sorted(sys.modules)))
"""


def imported(tmp_path: Path, conf: str) -> set[str]:
    path = tmp_path / "frumious.conf"
    path.write_text(textwrap.dedent(conf).replace("DIR", str(tmp_path / "mirror")), encoding="utf-8")
    # No proxy in the environment, as on most mirror hosts (one would need urllib.request and aiohttp).
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(PYTHONPATH=SOURCE, no_proxy="localhost")
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout))


def loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


PLAIN = """
    [mirror]
    directory = DIR
    master = https://pypi.org
    workers = 3
    json = true
"""

# The README's main job: an allowlist and latest_release.
FILTERED = """
    [mirror]
    directory = DIR
    master = https://pypi.org
    prune-filtered = true

    [plugins]
    enabled =
        allowlist_project
        latest_release

    [allowlist]
    packages =
        six
        idna

    [latest_release]
    keep = 2
"""


# Enabled filters are checked against the installed filter plugins (one shadowing a built-in is
# warned about), so importlib.metadata loads for them (and importlib.resources.abc and email with it).
PLUGIN_SCAN = frozenset({"importlib.metadata", "importlib.resources", "email"})


@pytest.mark.parametrize(
    ("conf", "needed"), [(PLAIN, frozenset()), (FILTERED, PLUGIN_SCAN)], ids=["plain", "allowlist"]
)
def test_a_mirror_run_does_not_import_what_only_other_commands_or_configs_use(tmp_path, conf, needed) -> None:
    modules = imported(tmp_path, conf)
    assert "frumious.sync" in modules  # the script did reach the mirror run's own core
    crept = {name: why for name, why in LAZY.items() if name not in needed and loaded(modules, name)}
    assert crept == {}, f"imported at start-up, though only these need them: {crept}"


def test_a_proxy_in_the_environment_is_still_found(monkeypatch) -> None:
    from frumious.http.choose import pick_proxy

    for name in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    assert pick_proxy("") == ""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert pick_proxy("") == ""
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")
    assert pick_proxy("") == "http://127.0.0.1:3128"
    monkeypatch.setenv("all_proxy", "")  # set but empty: not a proxy, as for urllib
    assert pick_proxy("") == "http://127.0.0.1:3128"


SERVE_SCRIPT = """
import json, sys
from frumious import cli
from frumious.cli import commands, serving
from frumious.serve import workers

args = cli.build_parser().parse_args(["-c", sys.argv[1], "serve"])
settings, problems = cli.load_settings(args.config)
assert not problems, problems
cli.check_filters(args, settings, problems)
print(json.dumps(sorted(sys.modules)))
"""


def test_serve_does_not_import_the_sync_core(tmp_path) -> None:
    path = tmp_path / "frumious.conf"
    path.write_text(textwrap.dedent(PLAIN).replace("DIR", str(tmp_path / "mirror")), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SOURCE},
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    modules = set(json.loads(run.stdout))
    assert "frumious.serve.app" in modules
    assert {"frumious.cli.compose", "frumious.sync", "frumious.plan", "frumious.upstream"} & modules == set()
