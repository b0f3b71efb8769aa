"""A listed project whose JSON answers 404: a glitch to retry, or a project with no releases.

PyPI answers 404 on ``/pypi/<name>/json`` for a project without releases, and lists many
such projects. Its PEP 691 page tells the two apart: answering with no files and a serial
at least the listing's, it shows the project exists with nothing to mirror. That is not a
failure (else every full mirror would fail every run), and like bandersnatch the mirror
writes nothing for it. Files the mirror already holds for such a project are never removed
on this signal alone: they are kept and reported (``frumious delete`` removes them).
Anything else (a 404 there too, an error, files listed, an older page or one without a
serial) stays a failure.
"""

from __future__ import annotations

import logging

from frumious.errors import UpstreamError
from frumious.models import ListingEntry, canonicalize_name
from frumious.project import Context
from frumious.runreport import Kind, Outcome

log = logging.getLogger("frumious.sync")

NOT_FOUND = "not found upstream (404)"


async def listed_404(ctx: Context, entry: ListingEntry) -> Outcome:
    """A project with NO_RELEASES (and the files it still holds), else a failure to retry and why."""
    reason = await _why_failed(ctx, entry)
    if reason is not None:
        return Outcome(entry.name, Kind.FAILED, reason)
    return Outcome(entry.name, Kind.NO_RELEASES, kept=await _no_releases(ctx, entry))


async def empty_page(ctx: Context, entry: ListingEntry) -> Outcome:
    """A project whose page, read as the source and as new as the listing, lists no files: NO_RELEASES."""
    return Outcome(entry.name, Kind.NO_RELEASES, kept=await _no_releases(ctx, entry))


async def _why_failed(ctx: Context, entry: ListingEntry) -> str | None:
    """Why this 404 is a failure to retry; None when the project merely has no releases."""
    try:
        page = await ctx.upstream.project_page(entry.name)
    except UpstreamError as exc:
        return f"{NOT_FOUND}; its simple page: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    if page is None:
        return f"{NOT_FOUND}, nor its simple page"
    if page.listed is None:
        return f"{NOT_FOUND}; its simple page is not a PEP 691 JSON page"
    if page.listed:
        return f"{NOT_FOUND} though its simple page lists {page.listed} file(s)"
    if page.serial is None:
        # Without a serial nothing says the page is as new as the listing: it may predate a release.
        return f"{NOT_FOUND}; its simple page gives no serial"
    if page.serial < entry.serial:
        # A cached page older than the listing may predate a new release.
        return f"{NOT_FOUND}; its simple page (serial {page.serial}) is older than the listing ({entry.serial})"
    return None


async def _no_releases(ctx: Context, entry: ListingEntry) -> int:
    """How many files the mirror keeps for a project listed with no releases (logged)."""
    held = await ctx.mirror.held_keys(canonicalize_name(entry.name))
    if not held:
        log.info("%s is listed upstream with no releases; nothing to mirror", entry.name)
        return 0
    log.warning(
        "%s is listed upstream with no releases; keeping the %d file(s) the mirror holds for it"
        " (`frumious delete %s` removes them)",
        entry.name,
        len(held),
        entry.name,
    )
    return len(held)
