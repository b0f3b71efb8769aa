"""Filter plugins: which projects, releases and files a mirror carries.

``load_filters(settings)`` builds a ``FilterSet`` from ``[plugins] enabled`` and the plugins'
sections; the sync calls ``allows_project``, ``allows_metadata`` and ``apply`` on it.
Third-party filters subclass one of the four kinds below and register in the
``frumious.filters.v1`` entry-point group (see docs/filters.md).
"""

from frumious.filters.base import (
    Filter,
    FilterContext,
    MetadataFilter,
    ProjectFilter,
    ReleaseFileFilter,
    ReleaseFilter,
)
from frumious.filters.filterset import FilterSet
from frumious.filters.loading import BUILTIN_FILTERS, ENTRY_POINT_GROUP, load_filters

__all__ = [
    "BUILTIN_FILTERS",
    "ENTRY_POINT_GROUP",
    "Filter",
    "FilterContext",
    "FilterSet",
    "MetadataFilter",
    "ProjectFilter",
    "ReleaseFileFilter",
    "ReleaseFilter",
    "load_filters",
]
