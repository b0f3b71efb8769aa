"""Hostile bodies through the CLI: oversized files, gzip bombs, oversized listings and JSON.

Each is refused early with one line naming the URL, nothing reaches the tree, the project (or
run) fails, and the next run against an honest upstream converges.
"""

from __future__ import annotations

import subprocess
import sys

from fakepypi import FakePyPI

from .helpers import failed_names, mirror_dir, packages, read, run, temp_files, tree

WHEEL = "dep_lib-0.1-py3-none-any.whl"
# What the client may take beyond what it refused: its 1 MiB receive buffer and the kernel's
# socket buffers on loopback. The faults below offer a gigabyte.
BOUNDED = 64 << 20


# Peak memory of a bomb run, measured in a child process: the in-process peak holds every test's.
PEAK_LIMIT_KIB = 200 << 10
# VmHWM, not ru_maxrss: after fork and exec, ru_maxrss can still count the parent's pages.
_MEASURED = (
    "import sys; from frumious.cli import main; code = main(sys.argv[1:]); "
    "hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')]; "
    "print('peak-rss-kib', hwm[0], file=sys.stderr); sys.exit(code)"
)


def run_measured(config) -> tuple[int, str, int]:
    """Exit code, stderr and peak RSS (KiB) of ``frumious mirror`` in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, "-c", str(config), "mirror"], capture_output=True, text=True, timeout=300
    )
    peak = int(done.stderr.rsplit("peak-rss-kib ", 1)[1].split()[0])
    return done.returncode, done.stderr, peak


def _converges(fake_pypi: FakePyPI, config) -> None:
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert temp_files(root) == []


def _one_line_naming(text: str, url: str) -> None:
    lines = [line for line in text.splitlines() if url in line]
    assert lines, text
    assert all("Traceback" not in line for line in text.splitlines())


def test_a_file_streaming_a_gigabyte_is_cut_after_its_size(fake_pypi, make_config, tmp_path, capsys) -> None:
    size = fake_pypi.index.file("dep-lib", WHEEL).artifact.size
    fault = fake_pypi.oversize(f"/packages/*{WHEEL}", total=1 << 30, times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    root = mirror_dir(config)
    assert WHEEL not in packages(root) and temp_files(root) == []
    assert "web/simple/yanky/index.html" in tree(root)  # the other projects went on
    # The client stopped reading right after the advertised size, not at the gigabyte.
    assert size < fault.sent // fault.fired < BOUNDED
    _one_line_naming(capsys.readouterr().err, fake_pypi.file_url("dep-lib", WHEEL))
    _converges(fake_pypi, config)


def test_a_gzip_bomb_file_is_refused_in_bounded_memory(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.gzip_bomb(f"/packages/*{WHEEL}", times=None)  # 1 MiB that decodes to 1 GiB
    config = make_config(tmp_path, fake_pypi)
    code, err, peak = run_measured(config)
    assert code == 1 and peak < PEAK_LIMIT_KIB
    root = mirror_dir(config)
    assert WHEEL not in packages(root) and temp_files(root) == []
    _one_line_naming(err, fake_pypi.file_url("dep-lib", WHEEL))
    _converges(fake_pypi, config)


def test_a_gzip_bomb_json_fails_its_project_only(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.gzip_bomb("/pypi/yanky/json", times=None)
    config = make_config(tmp_path, fake_pypi, json=True)
    code, err, peak = run_measured(config)
    assert code == 1 and peak < PEAK_LIMIT_KIB
    root = mirror_dir(config)
    assert "web/simple/yanky/index.html" not in tree(root) and "web/json/yanky" not in tree(root)
    assert "web/simple/dep-lib/index.html" in tree(root)
    assert "decompression bomb" in err
    _one_line_naming(err, f"{fake_pypi.url}/pypi/yanky/json")
    assert "yanky" in failed_names(root)
    _converges(fake_pypi, config)


def test_an_oversized_project_page_is_refused_at_the_limit(fake_pypi, make_config, tmp_path, capsys) -> None:
    fault = fake_pypi.oversize("/simple/yanky/", total=256 << 20, times=None)
    config = make_config(tmp_path, fake_pypi, max_project_size="1M")
    assert run(config, "mirror") == 1
    root = mirror_dir(config)
    assert "web/simple/yanky/index.html" not in tree(root)
    assert "web/simple/dep-lib/index.html" in tree(root)
    assert fault.sent // fault.fired < BOUNDED
    err = capsys.readouterr().err
    assert "max-project-size" in err
    _one_line_naming(err, f"{fake_pypi.url}/simple/yanky/")
    _converges(fake_pypi, config)


def test_an_oversized_listing_stops_the_run_before_any_change(fake_pypi, make_config, tmp_path, capsys) -> None:
    fault = fake_pypi.oversize("/simple/", total=256 << 20, times=None)
    config = make_config(tmp_path, fake_pypi, max_listing_size="1M")
    assert run(config, "mirror") == 1
    root = mirror_dir(config)
    assert packages(root) == set() and not (root / "status").exists()
    assert fault.sent // fault.fired < BOUNDED
    err = capsys.readouterr().err
    assert "max-listing-size" in err
    _one_line_naming(err, f"{fake_pypi.url}/simple/")
    _converges(fake_pypi, config)


def test_a_listing_larger_than_a_small_limit_is_refused(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, max_listing_size=100)
    assert run(config, "mirror") == 1
    assert "max-listing-size" in capsys.readouterr().err
    assert packages(mirror_dir(config)) == set()
