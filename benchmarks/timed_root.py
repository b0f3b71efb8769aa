"""``frumious`` with the time spent writing the root index printed to stderr (run by hand).

The same command line as ``frumious`` (``python benchmarks/timed_root.py -c CONF mirror``);
``rootindex.write`` is wrapped, and each call prints one line ``rootindex.write wall=S cpu=S``
(CPU of the whole process during the call: the loop does nothing else meanwhile). Used for the
"root index incremental update" figure of issue 12.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from frumious import rootindex
from frumious.cli import main

_write = rootindex.write


async def _timed(*args: Any, **kwargs: Any) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    await _write(*args, **kwargs)
    took = time.perf_counter() - wall, time.process_time() - cpu
    print(f"rootindex.write wall={took[0]:.3f} cpu={took[1]:.3f}", file=sys.stderr, flush=True)


rootindex.write = _timed

if __name__ == "__main__":
    sys.exit(main())
