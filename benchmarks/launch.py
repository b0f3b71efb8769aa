"""Run one command and write its wall time, CPU time and peak RSS to a file (used by run.py).

Why a launcher: on Linux a child's ``ru_maxrss`` starts from the resident size of the process
that forked it (the copy that exists until ``exec``). Forked straight from the harness, a tool
would inherit the harness's peak RSS. This script is started with ``python -I -S`` and imports
nothing beyond ``os``, ``sys`` and ``time``, so the floor it passes on is a few MiB.

Usage: ``python -I -S launch.py RESULT_FILE COMMAND [ARG...]``. RESULT_FILE receives one line:
``wait_status wall_s user_s sys_s maxrss_kib``. The exit code is the command's (128+N for
signal N).
"""

import os
import sys
import time


def main() -> int:
    result_path, argv = sys.argv[1], sys.argv[2:]
    if not argv:
        sys.stderr.write("usage: launch.py RESULT_FILE COMMAND [ARG...]\n")
        return 2
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(2, f"launch.py: cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    with open(result_path, "w", encoding="ascii") as out:
        out.write(f"{status} {wall:.6f} {usage.ru_utime:.6f} {usage.ru_stime:.6f} {usage.ru_maxrss}\n")
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
