"""frumious: a PyPI mirror client, the drop-in successor to bandersnatch."""

__version__ = "0.1.0"
