"""The chain of issue 13: fake PyPI -> frumious A (filtered, feed on) -> serve -> frumious B -> serve -> pip, uv.

A and B run docs/recipes.md's "A mirror of a frumious mirror" configs as written, their hosts
replaced by the test's servers. B holds exactly A's files, fetched from A; pip and uv install from
B's server alone (A and the fake PyPI see no request meanwhile); B's run with nothing new costs one
request (the feed's head), and after a change upstream and a run of A, only the changed projects'.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakepypi import FakeIndex, make_wheel, run_fake_pypi

from .helpers import mirror_dir, run, tree
from .recipes import recipe, runnable
from .test_clients import clean_env, installed
from .test_clients import run as run_tool
from .test_feed import Chain, served_by_frumious

TOO_NEW = f">={sys.version_info.major}.{sys.version_info.minor + 1}"  # published later, never chosen
RECIPE = "A mirror of a frumious mirror"
EXPECTED = {"requests": "2.32.3", "idna": "3.10", "certifi": "2024.8.30", "charset-normalizer": "3.4.0",
            "urllib3": "2.2.3"}  # fmt: skip


def pypi_index() -> FakeIndex:
    index = FakeIndex()
    deps = ["charset-normalizer>=2,<4", "idna>=2.5,<4", "urllib3>=1.21.1,<3", "certifi>=2017.4.17"]
    for version in ("2.31.0", "2.32.3"):
        index.add("requests", version, make_wheel("requests", version, requires=deps))
    for name, version in EXPECTED.items():
        if name != "requests":
            index.add(name, version, make_wheel(name, version))
    index.add("urllib3", "1.26.20", make_wheel("urllib3", "1.26.20"))
    index.add("flask", "3.0.3", make_wheel("flask", "3.0.3"))  # not in A's allowlist
    return index


@dataclass
class Mirrors:
    chain: Chain  # the fake PyPI, A's and B's configs, A's server's access log
    b_url: str
    b_log: Path


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirrors]:
    work = tmp_path_factory.mktemp("chain")
    for name in ("a", "b", "a-serve", "b-serve"):
        (work / name).mkdir()
    with run_fake_pypi(pypi_index()) as pypi:
        a = runnable(recipe(RECIPE, 0), work / "a", {"https://pypi.org": pypi.url})
        assert run(a, "mirror") == 0
        with served_by_frumious(a, work / "a-serve") as (a_url, a_log):
            pypi.reset_log()
            b = runnable(recipe(RECIPE, 1), work / "b", {"https://pypi.uni.example.org": a_url})
            assert run(b, "mirror") == 0
            assert pypi.requests == []  # B asked A only
            with served_by_frumious(b, work / "b-serve") as (b_url, b_log):
                yield Mirrors(Chain(pypi, a, b, a_log), b_url, b_log)


def assert_b_holds_exactly_as_files(chain: Chain) -> None:
    a_files, b_files = mirror_dir(chain.a) / "web" / "packages", mirror_dir(chain.b) / "web" / "packages"
    held = tree(a_files)
    assert tree(b_files) == held
    assert all((b_files / key).read_bytes() == (a_files / key).read_bytes() for key in held)


def test_b_holds_exactly_the_filtered_as_files(mirrors: Mirrors) -> None:
    chain = mirrors.chain
    names = {key.rsplit("/", 1)[1].split("-")[0] for key in tree(mirror_dir(chain.a) / "web" / "packages")}
    assert names == {"requests", "idna", "certifi", "charset_normalizer", "urllib3"}  # A is filtered: no flask
    assert_b_holds_exactly_as_files(chain)
    assert (mirror_dir(chain.b) / "status").read_text() == (mirror_dir(chain.a) / "status").read_text()


@pytest.mark.parametrize("tool", ["pip", "uv"])
def test_pip_and_uv_install_from_b_alone(mirrors: Mirrors, tool: str, tmp_path: Path) -> None:
    chain, index = mirrors.chain, f"{mirrors.b_url}/simple/"
    chain.pypi.reset_log()
    since = chain.mark()
    env, venv = clean_env(tmp_path), tmp_path / "venv"
    if tool == "pip":
        run_tool([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
        pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
        run_tool([*pip, "--isolated", "--index-url", index, "requests"], env)
    else:
        uv = str(Path(sys.executable).parent / "uv")
        run_tool([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env)
        run_tool([uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--no-cache",
                  "--default-index", index, "requests"], env)  # fmt: skip
    assert installed(venv / "bin" / "python") == EXPECTED
    assert chain.paths(since) == [] and chain.pypi.requests == []  # from B alone


def test_b_follows_a_through_the_feed(mirrors: Mirrors, tmp_path: Path) -> None:
    chain, report = mirrors.chain, tmp_path / "run.json"
    since = chain.mark()
    assert run(chain.b, "mirror", "--report", str(report)) == 0
    assert json.loads(report.read_text())["requests"] == 1  # nothing new: the feed's head
    assert chain.paths(since) == ["/feed/head.json"]

    added = {name: make_wheel(name, "9.0", requires_python=TOO_NEW) for name in ("urllib3", "certifi")}
    for name, wheel in added.items():
        chain.pypi.index.add(name, "9.0", wheel)
    assert run(chain.a, "mirror") == 0
    since = chain.mark()
    assert run(chain.b, "mirror") == 0
    paths = chain.paths(since)
    assert chain.projects_asked(since) == {"urllib3", "certifi"}
    assert "/simple/" not in paths  # no listing
    files = [p for p in paths if p.startswith("/packages/")]
    assert {p.rsplit("/", 1)[1].removesuffix(".metadata") for p in files} == {w.filename for w in added.values()}
    assert all(p.startswith(("/feed/", "/simple/urllib3/", "/simple/certifi/", "/packages/")) for p in paths), paths
    assert_b_holds_exactly_as_files(chain)
