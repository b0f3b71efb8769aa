"""Peak memory and bytes sent while frumious refuses hostile bodies (issue 10, item 4).

    PYTHONPATH=src .venv/bin/python benchmarks/bounded_bodies.py

Each scenario serves the fake PyPI of the test suite with one fault, runs ``frumious mirror``
in a child process and prints its exit code, its peak RSS (``VmHWM``) and how many body
bytes the fault got to send. Point PYTHONPATH at another checkout's ``src`` to compare.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakepypi import default_index, run_fake_pypi, write_config

WHEEL = "/packages/*dep_lib-0.1-py3-none-any.whl"
# VmHWM, not ru_maxrss: after fork and exec, ru_maxrss can still count the parent's pages.
MEASURED = (
    "import sys; from frumious.cli import main; code = main(sys.argv[1:]); "
    "hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')]; "
    "print('peak-rss-kib', hwm[0], file=sys.stderr); sys.exit(code)"
)
SCENARIOS = {
    "no fault": lambda pypi: None,
    "file streams 1 GiB (advertised 921 B)": lambda pypi: pypi.oversize(WHEEL, times=None),
    "file: 1 MiB gzip bomb (1 GiB decoded)": lambda pypi: pypi.gzip_bomb(WHEEL, times=None),
    "project JSON: 1 MiB gzip bomb": lambda pypi: pypi.gzip_bomb("/pypi/yanky/json", times=None),
    "project JSON streams 1 GiB": lambda pypi: pypi.oversize("/pypi/yanky/json", times=None),
}


def measure(name: str) -> tuple[int, int, int]:
    with tempfile.TemporaryDirectory() as tmp, run_fake_pypi(default_index()) as pypi:
        fault = SCENARIOS[name](pypi)
        config = write_config(Path(tmp), pypi)
        done = subprocess.run(
            [sys.executable, "-c", MEASURED, "-c", str(config), "mirror"], capture_output=True, text=True
        )
        peak = int(done.stderr.rsplit("peak-rss-kib ", 1)[1].split()[0])
        return done.returncode, peak, fault.sent if fault is not None else 0


def main() -> None:
    print("| scenario | exit | peak RSS | body bytes sent |")
    print("|---|---|---|---|")
    for name in SCENARIOS:
        code, peak, sent = measure(name)
        shown = f"{sent / 2**20:.1f} MiB" if "streams" in name else "-"
        print(f"| {name} | {code} | {peak / 1024:.0f} MiB | {shown} |", flush=True)


if __name__ == "__main__":
    main()
