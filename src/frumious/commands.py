"""Subcommands beyond ``mirror``: registered on the parser and dispatched here."""

from __future__ import annotations

import argparse
from typing import Any

from frumious.settings import Settings


def register(commands: Any) -> None:
    """Add the subcommands' parsers to ``commands`` (an argparse subparsers action)."""


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    raise SystemExit(f"frumious: unknown command {args.command}")
