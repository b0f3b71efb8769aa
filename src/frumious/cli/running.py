"""Run one job on the event loop: the live progress line, a clean stop on SIGINT/SIGTERM, the summary."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TextIO, TypeVar

import msgspec

from frumious.cli import progress, runfile
from frumious.errors import FrumiousError, LockHeld, resource_error
from frumious.record import history as run_history
from frumious.stats import Progress, Report, RunStopped, partial_report

# A run stopped by a signal exits as shells report a death by that signal (128 + its number).
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}


R = TypeVar("R", bound=Report)


def run_with_progress(
    job: Callable[[Progress], Coroutine[Any, Any, R]],
    summarize: Callable[[R], list[str]],
    request: runfile.Request | None = None,
) -> int:
    """Run a sync-like job, with a live progress line on a terminal, then the summary (``summarize(report)``).

    With ``request`` (``--report``, ``report-file``, ``--json``) the run report is written however the run
    ends; ``--json`` prints it on stdout in place of the summary.
    """
    counters = Progress()
    run = _Run(request or runfile.Request(""), counters, time.time())
    try:
        code = _run(job, summarize, run)
    except FrumiousError as exc:  # the run could not start (the lock held, a filter config...): no report
        # Another run holding the lock is that run's story, not a run of this mirror worth a history row.
        run.finish(exc.exit_code, "error", str(exc), history=not isinstance(exc, LockHeld))
        raise
    return run.finish(code, run.outcome(code), run.error)


class _Run(msgspec.Struct):
    """One run as the report sees it: the core's report once there is one, and how the run ended."""

    request: runfile.Request
    counters: Progress
    started: float
    report: Report | None = None
    error: str | None = None
    stopped: bool = False

    def outcome(self, code: int) -> runfile.Outcome:
        if self.stopped:
            return "stopped"
        return "ok" if code == 0 else "failed" if self.report is not None else "error"

    def finish(self, code: int, outcome: runfile.Outcome, error: str | None, *, history: bool = True) -> int:
        """Add the run to the mirror's history and write the run report where asked; a report that
        cannot be written fails the run with one line (a history that cannot be written is a warning)."""
        keep = history and bool(self.request.history)
        if not (self.request.wanted or keep):
            return code
        finished = time.time()
        doc = runfile.document(
            self.request.command,
            self.report,
            self.counters,
            exit_status=code,
            outcome=outcome,
            started=self.started,
            finished=finished,
            error=error,
        )
        if keep:
            run_history.append(self.request.history, runfile.history_row(doc, self.started, finished))
        if self.request.json:
            sys.stdout.write(runfile.render(doc))
        written = True
        if self.request.path:
            written = _written("run report", self.request.path, lambda path: runfile.write(path, doc))
        if self.request.metrics:
            from frumious.cli import metricsfile  # prometheus-client: 30-40 ms of start-up, for metrics-file only

            label = self.request.label or self.request.command
            found = metricsfile.samples(
                doc, label, started=self.started, finished=finished, size=self.counters.mirror_size
            )

            def write_metrics(path: str) -> None:
                metricsfile.write(path, metricsfile.merged(found, metricsfile.read_previous(path), label))

            written = _written("metrics file", self.request.metrics, write_metrics) and written
        return code if written else code or 1


def _written(what: str, path: str, write: Callable[[str], None]) -> bool:
    """Write one of the run's files; one line on stderr (and False) when the disk refuses it."""
    try:
        write(path)
    except OSError as exc:
        print(f"frumious: cannot write the {what} {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def _run(job: Callable[[Progress], Coroutine[Any, Any, R]], summarize: Callable[[R], list[str]], run: _Run) -> int:
    counters = run.counters
    text = not run.request.json
    stream = sys.stderr
    live = stream.isatty() and os.environ.get("TERM") != "dumb"
    if live:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_ClearLine(stream))
    started = time.monotonic()
    # While the event loop starts, a SIGTERM stops the same way; once the run finished it just ends the process.
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    previous_int = signal.getsignal(signal.SIGINT)
    try:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as loop_runner:
                report = loop_runner.run(_stoppable(_with_ticker(job(counters), counters, stream if live else None)))
        except RunStopped as stopped:
            _clear_line(stream, live)
            run.report, run.error, run.stopped = stopped.report, str(stopped.cause), True
            return _refused(stopped.cause, stopped.report, time.monotonic() - started, text)
        except (FrumiousError, OSError, BaseExceptionGroup) as exc:
            # Refused outside the core's run (opening the mirror, releasing the lock): no report to show.
            if (refused := resource_error(exc)) is None:
                raise
            _clear_line(stream, live)
            run.error, run.stopped = str(refused), True
            return _refused(refused, None, time.monotonic() - started, text)
        _clear_line(stream, live)
        # The run finished: a late SIGTERM just ends the process, not "stopped... resumes" and 143.
        signal.signal(signal.SIGTERM, previous)
        run.report = report
        if text:
            for line in summarize(report):
                print(line, file=sys.stdout)
    except _Stopped as stop:
        _clear_line(stream, live)
        run.report, run.error, run.stopped = stop.report, f"stopped by {stop.signum.name}", True
        print(f"frumious: stopped by {stop.signum.name}; the next run resumes where this one stopped", file=sys.stderr)
        return STOP_SIGNALS[stop.signum]
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    return 0 if report.ok else 1


def _clear_line(stream: TextIO, live: bool) -> None:
    if live:
        stream.write("\r\033[K")


def _refused(refused: FrumiousError, report: Report | None, seconds: float, text: bool = True) -> int:
    """The disk refused a write: one line, then what the run did before it stopped (unless ``--json``)."""
    print(f"frumious: {refused}", file=sys.stderr)
    for line in progress.stopped_summary(report, seconds) if text else []:
        print(line, file=sys.stdout)
    return refused.exit_code


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed: its transports and timers cost far less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Stopped(Exception):
    """A signal stopped the run; ``report`` is the core's report as far as it got (None before it began)."""

    def __init__(self, signum: signal.Signals, report: Report | None = None) -> None:
        super().__init__(signum)
        self.signum, self.report = signum, report


def _raise_stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signal.Signals(signum))


async def _stoppable(job: Coroutine[Any, Any, R]) -> R:
    """Run ``job``; SIGINT or SIGTERM cancels it, which stops it cleanly.

    Cancelling takes no new work and unwinds every task through its cleanup: open downloads
    remove their temp files, ``todo`` is checkpointed, the lock (and with it any temp file
    still there) is released. A second signal ends the process at once, as a kill would; the
    next run removes what that leaves.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        if received:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        if task is not None:
            task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await job
    except asyncio.CancelledError as exc:
        if received:
            raise _Stopped(received[0], partial_report(exc)) from None
        raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
            # The job is over (done or stopped): a signal while the loop closes ends the process, as a
            # kill would (``_run`` restores the handlers after). A Python handler that raised here broke
            # ``asyncio.Runner``'s close midway: the default executor's shutdown thread then met a closed
            # loop and printed a traceback (a SIGTERM just as a run finished, seen under load).
            signal.signal(signum, signal.SIG_DFL)


async def _with_ticker(job: Coroutine[Any, Any, R], counters: Progress, stream: TextIO | None) -> R:
    if stream is None:
        return await job
    started = time.monotonic()

    async def tick() -> None:
        while True:
            stream.write("\r\033[K" + progress.progress_line(counters, time.monotonic() - started))
            stream.flush()
            await asyncio.sleep(0.5)

    ticker = asyncio.create_task(tick())
    try:
        return await job
    finally:
        ticker.cancel()


class _ClearLine(logging.Filter):
    """Clear the progress line before a log line lands on the same terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def filter(self, record: logging.LogRecord) -> bool:
        self.stream.write("\r\033[K")
        return True
