"""The socket fake's catalogue as a ``frumious.testing.memhttp.MemIndex``: one catalogue for unit
and integration tests.

Each project goes through the JSON the socket fake serves (``render.warehouse_json``) and
frumious's own parser, so the in-memory index holds exactly the ``Project`` values a sync
against the fake would see; the bodies (files and PEP 658 sidecars) are served at the same paths.
"""

from __future__ import annotations

import json

from frumious.models import Project
from frumious.protocol.parse import parse_project
from frumious.testing.memhttp import BASE, MemIndex

from . import render
from .defaults import default_index
from .index import FakeIndex

__all__ = ["mem_index"]


def mem_index(index: FakeIndex | None = None, base: str = BASE) -> MemIndex:
    """A ``MemIndex`` with ``index``'s projects, serials and bodies (the default catalogue when None)."""
    index = default_index() if index is None else index
    memory = MemIndex(base=base)
    with index.lock:
        for fake in index.projects():
            doc = render.warehouse_json(fake, base, base)
            if doc is None:  # no releases: listed, but its JSON is a 404
                project = Project(fake.name, fake.last_serial, {}, {"name": fake.name})
            else:
                project = parse_project(json.dumps(doc).encode(), expected=fake.name)
            bodies = {}
            for f in fake.files():
                bodies[f.path] = f.artifact.content
                if f.artifact.metadata is not None:
                    bodies[f.path + ".metadata"] = f.artifact.metadata
            memory.put(project, bodies)
        memory.serial = index.serial
    return memory
