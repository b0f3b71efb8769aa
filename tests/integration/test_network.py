"""proxy, timeout and global-timeout: the network options of [mirror]."""

from __future__ import annotations

import pytest

from .helpers import failed_names, mirror_dir, read, run
from .proxies import run_proxy


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_configured_proxy_carries_every_request(kind, fake_pypi, make_config, tmp_path) -> None:
    with run_proxy(kind) as proxy:
        config = make_config(tmp_path, fake_pypi, proxy=f"{kind}://127.0.0.1:{proxy.port}")
        assert run(config, "mirror") == 0
    assert read(mirror_dir(config), "status") == str(fake_pypi.index.serial)
    if kind == "http":
        # One connection per request through this proxy: every request is seen.
        assert sorted(t.split(str(fake_pypi.url.rsplit(":", 1)[1]), 1)[1] for t in proxy.seen) == sorted(
            path for _method, path in fake_pypi.requests
        )
    else:
        # SOCKS tunnels whole connections; each one went to the fake index.
        port = fake_pypi.url.rsplit(":", 1)[1]
        assert proxy.seen and all(target == f"127.0.0.1:{port}" for target in proxy.seen)


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_proxy_from_the_environment(kind, fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    with run_proxy(kind) as proxy:
        variable = "ALL_PROXY" if kind == "socks5" else "HTTP_PROXY"
        monkeypatch.setenv(variable, f"{kind}://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        config = make_config(tmp_path, fake_pypi)
        assert run(config, "mirror") == 0
    assert len(proxy.seen) > 0


def test_timeout_retries_a_stalled_response(fake_pypi, make_config, tmp_path) -> None:
    fault = fake_pypi.delay("/simple/yanky/", 3, times=1)
    config = make_config(tmp_path, fake_pypi, timeout=1)
    assert run(config, "mirror") == 0
    assert fault.fired == 1
    assert len(fake_pypi.paths("/simple/yanky/")) == 2


def test_global_timeout_bounds_each_request(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.delay("/simple/yanky/", 3, times=None)
    config = make_config(tmp_path, fake_pypi, timeout=10, global_timeout=1)
    assert run(config, "mirror") == 1
    assert failed_names(mirror_dir(config)) == {"yanky"}
