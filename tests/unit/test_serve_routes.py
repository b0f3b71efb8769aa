"""The route labels of ``/metrics``: a fixed few, whatever the path (never one series per project)."""

from __future__ import annotations

import pytest

from frumious.serve.metrics import ROUTES, route_of


@pytest.mark.parametrize(
    ("path", "root_path", "route"),
    [
        ("/", "/", "status"),
        ("/-/status", "/", "status"),
        ("/-/status.json", "/", "status"),
        ("/simple/", "/", "root"),
        ("/simple", "/", "root"),
        ("/simple/foo-bar/", "/", "project"),
        ("/simple/Foo_Bar", "/", "project"),
        ("/packages/ab/cd/ef/foo-1.0-py3-none-any.whl", "/", "file"),
        ("/packages/ab/cd/ef/foo-1.0-py3-none-any.whl.metadata", "/", "metadata"),
        ("/json/foo", "/", "json"),
        ("/pypi/foo/json", "/", "json"),
        ("/-/health", "/", "health"),
        ("/metrics", "/", "metrics"),
        ("/metrics?x=1", "/", "metrics"),
        ("/last-modified", "/", "other"),
        ("/simple/../etc/passwd", "/", "other"),
        ("/wp-admin/setup.php", "/", "other"),
        ("/pypi-mirror/metrics", "/pypi-mirror/", "metrics"),
        ("/pypi-mirror/simple/foo/", "/pypi-mirror", "project"),
        ("/metrics", "/pypi-mirror/", "other"),  # outside the root path
    ],
)
def test_route_of(path: str, root_path: str, route: str) -> None:
    assert route_of(path, root_path) == route
    assert route in ROUTES
