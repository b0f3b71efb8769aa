"""Start-up of the CLI: CPU of short commands and their import time, source trees alternating (run by hand).

Every ``frumious`` run pays interpreter start-up and imports before any work; this compares two
(or more) source trees on the commands given, round by round, the trees' order reversed every
other round (a shared machine's load drifts). Per command and tree it reports:

* CPU (user + sys) of the whole process, from ``launch.py`` as in ``run.py``;
* the import time ``python -X importtime`` reports (the sum of the top-level imports, so each
  module counted once) and how many modules were imported.

Commands are ``help`` (``frumious --help``), ``mirror`` (``-c CONF mirror``: with a mirror already
synced against an unchanged upstream this is the no-op run, one 304) and ``serve`` (``-c CONF serve``
started, then stopped with SIGTERM once it answers ``/simple/``)::

    git archive main src | tar -x -C /tmp/base
    python benchmarks/startup_bench.py --config /dev/shm/m.conf --rounds 10 /tmp/base/src src
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import child_env, run_child


def argv_of(command: str, config: str | None, port: int) -> list[str]:
    base = [sys.executable, "-m", "frumious"]
    if command == "help":
        return [*base, "--help"]
    if config is None:
        raise SystemExit(f"{command} needs --config")
    if command == "serve":
        return [*base, "-c", config, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return [*base, "-c", config, command]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_cpu(argv: list[str], port: int, log: Path) -> float:
    """Start the server, wait for its first answer, stop it: the CPU to get there (and to stop)."""
    result = log.with_suffix(".rusage")
    launcher = Path(__file__).resolve().parent / "launch.py"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(launcher), str(result), *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/simple/", timeout=5).close()
            break
        except OSError:
            time.sleep(0.02)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        raise SystemExit(f"serve did not answer (see {log})")
    # The server, not the launcher (which writes its CPU once the server is gone): the launcher's child.
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text(encoding="ascii").split()
    for child in children:
        os.kill(int(child), signal.SIGTERM)
    proc.wait(timeout=60)
    _, _, user, sys_, _ = result.read_text(encoding="ascii").split()
    return float(user) + float(sys_)


def import_time(argv: list[str]) -> tuple[float, int]:
    """Seconds of imports (the top-level entries of ``-X importtime``) and how many modules."""
    run = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, env=child_env(), check=False
    )
    total, count = 0, 0
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        count += 1
        if not name[1:].startswith(" "):  # depth 0: its cumulative holds its children
            total += int(cumulative)
    return total / 1e6, count


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="frumious source trees (directories holding frumious/)")
    parser.add_argument("--config", help="the config of a mirror in sync with its upstream (mirror, serve)")
    parser.add_argument("--commands", default="help,mirror,serve")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    sources = [str(Path(s).resolve()) for s in args.sources]
    for src in sources:  # what a pip install does; this machine sets PYTHONDONTWRITEBYTECODE
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{src}/frumious"], check=False, capture_output=True)
    commands = args.commands.split(",")
    cpu: dict[tuple[str, str], list[float]] = {}
    imports: dict[tuple[str, str], list[float]] = {}
    modules: dict[tuple[str, str], int] = {}
    log = Path(tempfile.mkdtemp(prefix="startup-bench-")) / "log.txt"
    for round_ in range(args.rounds):
        order = sources if round_ % 2 == 0 else sources[::-1]
        for command in commands:
            for src in order:
                os.environ["PYTHONPATH"] = src  # child_env() copies the environment
                port = free_port()
                argv = argv_of(command, args.config, port)
                if command == "serve":
                    seconds = serve_cpu(argv, port, log)
                else:
                    run = run_child(argv, log, 120)
                    seconds = run.user + run.sys
                cpu.setdefault((command, src), []).append(seconds)
                if command != "serve":  # the server runs until stopped: its imports are timed by cpu only
                    took, count = import_time(argv)
                    imports.setdefault((command, src), []).append(took)
                    modules[(command, src)] = count
        print(f"round {round_ + 1} done", file=sys.stderr)
    print("| command | tree | CPU s, median (range) | imports s, median (range) | modules |")
    print("|---|---|---|---|---|")
    for command in commands:
        for src in sources:
            key = (command, src)
            timed = spread(imports[key]) if key in imports else ""
            print(f"| {command} | {src} | {spread(cpu[key])} | {timed} | {modules.get(key, '')} |")
    if len(sources) == 2:
        for command in commands:
            ratios = [b / a for a, b in zip(cpu[(command, sources[0])], cpu[(command, sources[1])], strict=True)]
            print(f"{command}: CPU second/first per round, median {spread(ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
