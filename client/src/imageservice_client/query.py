"""The query parameters of the list, facets, similar and search filters."""

from typing import Any


def label_filters(
    tags: list[str] | None = None, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The query of tag and metadata filters: ``metadata={"plate": "P1", "t__gt": 3}``
    becomes ``metadata.plate=P1&metadata.t__gt=3``."""
    params: dict[str, Any] = {}
    if tags:
        params["tag"] = list(tags)
    for key, value in (metadata or {}).items():
        params[f"metadata.{key}"] = _query_value(value)
    return params


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dropping_none(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}
