"""The command line: the only module that prints or exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO

from frumious import __version__, config, progress
from frumious.errors import ConfigError, ConfigMissing, FrumiousError, resource_error
from frumious.settings import Settings

log = logging.getLogger("frumious")

LOG_FORMAT = "%(asctime)s %(levelname)s: %(message)s (%(filename)s:%(lineno)d)"

# A run stopped by a signal exits as shells report a death by that signal (128 + its number).
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frumious", description="Mirror a Python package index (PyPI).")
    parser.add_argument("-c", "--config", help="config file (default /etc/frumious.conf, else /etc/bandersnatch.conf)")
    parser.add_argument("--debug", action="store_true", help="log in detail")
    parser.add_argument("--version", action="version", version=f"frumious {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    mirror = commands.add_parser("mirror", help="sync the mirror with upstream")
    mirror.add_argument("--force-check", action="store_true", help="re-check every project, not just changed ones")
    mirror.add_argument(
        "--allow-mass-delete", action="store_true", help="remove more than max-delete-share of the mirror if needed"
    )
    from frumious import commands as extra

    extra.register(commands)
    serve = commands.add_parser("serve", help="serve the mirror over HTTP (PEP 691 content negotiation)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--root-path", default="/", help="URL prefix the mirror is served under (default /)")
    serve.add_argument("--workers", type=_positive, default=1, help="server processes sharing the port (default 1)")
    return parser


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (1-65535)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        settings = load_settings(args.config)
        setup_logging(settings, args.debug)
        for warning in settings.warnings:
            log.warning("%s", warning)
        return run_command(args, settings)
    except ConfigMissing as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return exc.exit_code
    except FrumiousError as exc:
        print(f"frumious: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # A full or read-only disk, or missing permissions, outside a run (creating the mirror directory...).
        refused = resource_error(exc)
        if refused is None:
            raise
        print(f"frumious: {refused}", file=sys.stderr)
        return refused.exit_code
    except KeyboardInterrupt:
        print("frumious: interrupted; the next run resumes where this one stopped", file=sys.stderr)
        return 130


def load_settings(path: str | None) -> Settings:
    path = path or config.default_config_path()
    if not Path(path).exists():
        raise ConfigMissing(write_example(path))
    return config.load(path)


def write_example(path: str) -> str:
    """Put the example config at ``path`` (or print it) and say what happened."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(config.EXAMPLE_CONFIG, encoding="utf-8")
    except OSError:
        print(config.EXAMPLE_CONFIG)
        return f"no config at {path} and it is not writable; the example config is printed above"
    return f"no config at {path}; wrote an example there. Review it (set [mirror] directory) and run again"


def setup_logging(settings: Settings, debug: bool) -> None:
    if settings.mirror.log_config:
        _file_config(settings.mirror.log_config)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
    if debug:
        logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _file_config(path: str) -> None:
    """logging's own loader; what config could not check (a handler class, its args) fails here."""
    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    except (OSError, ValueError, LookupError, TypeError, AttributeError, ImportError, SyntaxError, NameError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"[mirror] log-config: {path} is not a usable logging config: {reason}") from exc


def setup_access_log(settings: Settings) -> None:
    """Access lines in plain Combined Log Format, not behind the run-log prefix."""
    if settings.mirror.log_config:
        return
    access = logging.getLogger("frumious.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.handlers[:] = [handler]
    access.propagate = False
    access.setLevel(logging.INFO)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "mirror":
        from frumious import runner, sync

        options = sync.Options(force_check=args.force_check, allow_mass_delete=args.allow_mass_delete)
        return run_with_progress(lambda stats: runner.run_mirror(settings, stats, options))
    if args.command == "serve":
        from frumious.serve_workers import serve_main

        setup_access_log(settings)
        return serve_main(settings, args.host, args.port, args.root_path, args.workers)
    from frumious import commands

    return commands.dispatch(args, settings)


def run_with_progress(
    job: Callable[[Any], Coroutine[Any, Any, Any]], summarize: Callable[[Any], list[str]] | None = None
) -> int:
    """Run a sync-like job, with a live progress line on a terminal, then the summary (``summarize(report)``)."""
    from frumious.pipeline import RunStats

    stats = RunStats()
    stream = sys.stderr
    live = stream.isatty() and os.environ.get("TERM") != "dumb"
    if live:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_ClearLine(stream))
    started = time.monotonic()
    # While the event loop starts, a SIGTERM stops the same way; once the run finished it just ends the process.
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as loop_runner:
                report = loop_runner.run(_stoppable(_with_ticker(job(stats), stats, stream if live else None)))
        except (FrumiousError, OSError, BaseExceptionGroup) as exc:
            if (refused := resource_error(exc)) is None:
                raise
            _clear_line(stream, live)
            return _refused(refused, stats, time.monotonic() - started)
        _clear_line(stream, live)
        # The run finished: a late SIGTERM just ends the process, not "stopped... resumes" and 143.
        signal.signal(signal.SIGTERM, previous)
        if summarize is not None:
            lines = summarize(report)
        else:
            lines = progress.summary(report.stats, report.seconds, report.serial, stopped_early=report.stopped_early)
        for line in lines:
            print(line, file=sys.stdout)
    except _Stopped as stop:
        _clear_line(stream, live)
        print(f"frumious: stopped by {stop.signum.name}; the next run resumes where this one stopped", file=sys.stderr)
        return STOP_SIGNALS[stop.signum]
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if report.ok else 1


def _clear_line(stream: TextIO, live: bool) -> None:
    if live:
        stream.write("\r\033[K")


def _refused(refused: FrumiousError, stats: Any, seconds: float) -> int:
    """The disk refused a write: one line, then what the run did before it stopped."""
    print(f"frumious: {refused}", file=sys.stderr)
    for line in progress.stopped_summary(stats, seconds):
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
    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: object) -> None:
    raise _Stopped(signal.Signals(signum))


async def _stoppable(job: Coroutine[Any, Any, Any]) -> Any:
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

    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await job
    except asyncio.CancelledError:
        if received:
            raise _Stopped(received[0]) from None
        raise
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)  # which resets it to the default, not to ``handler``
            signal.signal(signum, handler)


async def _with_ticker(job: Coroutine[Any, Any, Any], stats: Any, stream: TextIO | None) -> Any:
    if stream is None:
        return await job
    started = time.monotonic()

    async def tick() -> None:
        while True:
            stream.write("\r\033[K" + progress.progress_line(stats, time.monotonic() - started))
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


if __name__ == "__main__":
    sys.exit(main())
