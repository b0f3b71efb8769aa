"""Reopening the log files on SIGHUP, for logrotate: ``postrotate`` sends it after moving a file away.

Each ``logging.FileHandler`` (the access log's, or any other a ``log-config`` names) closes its
stream; the next line opens the path again, so it lands in the new file, not the moved one.
"""

from __future__ import annotations

import logging


def file_handlers() -> list[logging.FileHandler]:
    """Every file handler of every logger in this process (root first), each once."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict))]
    found: dict[int, logging.FileHandler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                found.setdefault(id(handler), handler)
    return list(found.values())


def reopen() -> int:
    """Close every file handler's stream so its next record reopens the path; how many there were."""
    handlers = file_handlers()
    for handler in handlers:
        handler.acquire()
        try:
            if handler.stream is not None:
                handler.flush()
                handler.stream.close()
                # FileHandler.emit opens the file again when its stream is None (mode "a": appended).
                handler.stream = None
        finally:
            handler.release()
    return len(handlers)
