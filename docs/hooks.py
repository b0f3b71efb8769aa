"""mkdocs hook: fills the reference pages from the code when the site is built.

docs/config.md and docs/cli.md hold a marker where the generated tables go (see
``frumious.cli.reference``); a page with a marker the hook does not know, or a marker missing
from its page, fails the build, so the reference can neither drift nor silently vanish.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The checkout's own source, even when another frumious is installed in the environment.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from frumious.cli import build_parser
from frumious.cli.reference import commands_reference, config_reference

MARKERS = {
    "config.md": ("<!-- generated: config keys -->", config_reference),
    "cli.md": ("<!-- generated: commands -->", lambda: commands_reference(build_parser())),
}


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    name = page.file.src_uri
    if name not in MARKERS:
        if "<!-- generated:" in markdown:
            raise ValueError(f"{name}: a generated-content marker on a page the docs hook does not fill")
        return markdown
    marker, generate = MARKERS[name]
    if marker not in markdown:
        raise ValueError(f"{name}: the marker {marker} is missing, so the generated reference would be lost")
    return markdown.replace(marker, generate())
