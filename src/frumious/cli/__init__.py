"""The command line: the only module that prints or exits."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from frumious import __version__, config
from frumious.errors import ConfigError, ConfigMissing, FrumiousError, resource_error
from frumious.settings import Settings

log = logging.getLogger("frumious")

LOG_FORMAT = "%(asctime)s %(levelname)s: %(message)s (%(filename)s:%(lineno)d)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frumious", description="Mirror a Python package index (PyPI).")
    parser.add_argument("-c", "--config", help="config file (default /etc/frumious.conf, else /etc/bandersnatch.conf)")
    parser.add_argument("--debug", action="store_true", help="log in detail")
    parser.add_argument("--version", action="version", version=f"frumious {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from frumious.cli import commands as table

    table.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        from frumious.cli import commands

        bare = commands.without_config(args.command)
        if bare is not None:  # popular: no config is read, so none need exist (-c is ignored)
            setup_logging(None, args.debug)
            return bare(args)
        settings, problems = load_settings(args.config)
        warnings = check_filters(args, settings, problems)
        if problems:
            raise ConfigError(problems)
        setup_logging(settings, args.debug)
        for warning in (*settings.warnings, *warnings):
            log.warning("%s", warning)
        # What start-up made (modules, classes, the settings) is kept out of the collector from here: the
        # interpreter's last collection at exit walked all of it (callgrind: 38 M instructions, about
        # 10 ms a run, 2.2 % of a 600-project sync's). Called with arguments (the tests, a host
        # process), the collector is given it back after the command.
        gc.freeze()
        try:
            return run_command(args, settings)
        finally:
            if argv is not None:
                gc.unfreeze()
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


def load_settings(path: str | None) -> tuple[Settings, list[str]]:
    """The settings and the problems of their values (a file that cannot be parsed raises)."""
    path = path or config.default_config_path()
    if not Path(path).exists():
        raise ConfigMissing(write_example(path))
    return config.load_with_problems(path)


def check_filters(args: argparse.Namespace, settings: Settings, problems: list[str]) -> tuple[str, ...]:
    """For a command that filters: load the filters now, so their problems join ``problems``
    (one report, exit 2) and their warnings are logged once; the command reuses them."""
    from frumious.cli import commands

    if not commands.uses_filters(args.command):
        return ()
    from frumious.cli import compose  # the sync core and its ports: not for serve

    try:
        return compose.check_filters(settings).warnings
    except ConfigError as exc:
        problems.extend(exc.problems)
        return ()


def write_example(path: str) -> str:
    """Put the example config at ``path`` (or print it) and say what happened."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(config.EXAMPLE_CONFIG, encoding="utf-8")
    except OSError:
        print(config.EXAMPLE_CONFIG)
        return f"no config at {path} and it is not writable; the example config is printed above"
    return f"no config at {path}; wrote an example there. Review it (set [mirror] directory) and run again"


def setup_logging(settings: Settings | None, debug: bool) -> None:
    if settings is not None and settings.mirror.log_config:
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
    import logging.config  # only for log-config: it pulls in logging.handlers, socket, pickle (15-50 ms)

    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    except (OSError, ValueError, LookupError, TypeError, AttributeError, ImportError, SyntaxError, NameError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"[mirror] log-config: {path} is not a usable logging config: {reason}") from exc


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import commands

    return commands.dispatch(args, settings)


if __name__ == "__main__":
    sys.exit(main())
