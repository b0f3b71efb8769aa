"""A stop signal that lands while the event loop closes, after the job is over, ends the process quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# The job returns at once, leaving a default-executor thread busy; while asyncio.Runner's close
# waits for that thread, the thread sends the process a SIGTERM.
SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, threading, time
    from frumious.cli.running import _loop_factory, _raise_stopped, _stoppable

    signal.signal(signal.SIGTERM, _raise_stopped)  # as _run installs it while the loop starts
    started = threading.Event()

    def late() -> None:
        started.set()
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)

    async def job() -> int:
        asyncio.get_running_loop().run_in_executor(None, late)
        started.wait()
        return 1

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_stoppable(job()))
    print("closed")
    """
)


def test_a_sigterm_while_the_loop_closes_ends_the_process_without_a_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    # Before: the restored Python handler raised inside the Runner's close; the executor's shutdown
    # thread then called into a closed loop ("Exception in thread ... Event loop is closed").
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == -signal.SIGTERM
