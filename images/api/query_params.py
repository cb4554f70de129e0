"""The query parameters a list-like endpoint takes; any other one is refused.

A typo in a filter (``?tags=`` for ``?tag=``, ``?plate=`` for ``?metadata.plate=``) must not
read as "no filter": a pipeline that then tags or deletes what the query found would act on
every image. So a parameter the endpoint does not know is 400 ``invalid_filter``, naming it,
listing the ones it takes, and suggesting the closest for a near miss.

A view calls ``check_query_params(self, QuerySerializer, ...)`` first: the parameters it
takes are the fields of its query serializers, the ``metadata.`` ones when a serializer
reads those (``query_prefixes``), and its paginator's ``page`` and ``page_size``.
"""

import difflib
import functools
from collections.abc import Iterable

from rest_framework import serializers

from images.errors import InvalidFilter
from images.labels.rules import KEY_PATTERN, METADATA_PREFIX

# How close a name must be to a known one to be suggested: "tags" for "tag" (0.86) and
# "formt" for "format" (0.91) are; "plate" for "page" (0.67) is not.
CLOSE = 0.75
# Other APIs' names for paging, which no fuzzy match finds: named here so the hint is
# `page_size` (where the endpoint pages), not `metadata.limit`.
PAGING_SYNONYMS = {
    "limit": "page_size",
    "per_page": "page_size",
    "pagesize": "page_size",
    "size": "page_size",
    "offset": "page",
    "cursor": "page",
}
# Said in the schema's descriptions of every endpoint that checks its parameters.
UNKNOWN_PARAMETERS = " An unknown query parameter is 400 `invalid_filter`."


def check_query_params(view, *accepted: type[serializers.Serializer]) -> None:
    """Refuse (``InvalidFilter``) a query parameter that neither ``accepted`` nor the
    view's paginator takes."""
    names, prefixes = taken(accepted, _pagination(view))
    unknown = [
        name
        for name in view.request.query_params
        if name not in names and not name.startswith(prefixes)
    ]
    if unknown:
        raise InvalidFilter(refusal(unknown, names, prefixes))


def _pagination(view) -> tuple[str, ...]:
    paginator = getattr(view, "paginator", None)
    if paginator is None:
        return ()
    params = (paginator.page_query_param, getattr(paginator, "page_size_query_param", None))
    return tuple(param for param in params if param)


@functools.cache
def taken(
    accepted: tuple[type[serializers.Serializer], ...], pagination: tuple[str, ...]
) -> tuple[frozenset[str], tuple[str, ...]]:
    """The names taken, and the prefixes of the families of names taken (``metadata.``)."""
    names = {*pagination}
    prefixes: set[str] = set()
    for serializer in accepted:
        names.update(serializer().fields)
        prefixes.update(getattr(serializer, "query_prefixes", ()))
    return frozenset(names), tuple(sorted(prefixes))


def refusal(unknown: list[str], names: Iterable[str], prefixes: tuple[str, ...]) -> str:
    shown = ", ".join(f"`{name}`{_suggestion(name, names, prefixes)}" for name in unknown)
    plural = "s" if len(unknown) > 1 else ""
    listed = sorted(names)
    if METADATA_PREFIX in prefixes:
        listed += ["metadata.KEY", "metadata.KEY__OP"]
    takes = ", ".join(f"`{name}`" for name in sorted(listed)) or "none"
    return f"Unknown query parameter{plural} {shown}. This endpoint takes: {takes}."


def _suggestion(name: str, names: Iterable[str], prefixes: tuple[str, ...]) -> str:
    if PAGING_SYNONYMS.get(name.lower()) in names:
        return f" (did you mean `{PAGING_SYNONYMS[name.lower()]}`?)"
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=CLOSE)
    if close:
        return f" (did you mean `{close[0]}`?)"
    if METADATA_PREFIX in prefixes and KEY_PATTERN.fullmatch(name.partition("__")[0]):
        return f" (did you mean `{METADATA_PREFIX}{name}`?)"
    return ""
