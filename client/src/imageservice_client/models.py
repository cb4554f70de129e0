"""The service's answers as typed objects (the schema's components), made from JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    description: str
    tags: list[str]
    metadata: dict[str, Any]
    format: str
    content_type: str
    width: int
    height: int
    file_size: int
    sha256: str
    phash: str
    file_url: str
    original_url: str
    thumbnail_url: str
    source_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, data: dict) -> Image:
        known = {f.name for f in fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        for name in ("created_at", "updated_at", "deleted_at", "purge_at"):
            if name in values:
                values[name] = _time(values[name])
        values.setdefault("source_url", None)
        return cls(**values)


@dataclass(frozen=True)
class TrashedImage(Image):
    deleted_at: datetime | None = None
    purge_at: datetime | None = None


@dataclass(frozen=True)
class Upload:
    """An upload's answer: the image, and whether it is new (201) or the stored image
    with the same bytes (200, with ``dedupe``)."""

    image: Image
    created: bool


@dataclass(frozen=True)
class Page(Generic[T]):
    count: int
    results: list[T]
    next: str | None
    previous: str | None


@dataclass(frozen=True)
class Revision:
    revision: int
    operation: str
    crop: dict | None
    width: int
    height: int
    format: str
    file_size: int
    sha256: str
    phash: str
    created_at: datetime
    file_url: str
    current: bool

    @classmethod
    def from_json(cls, data: dict) -> Revision:
        return cls(**{**data, "created_at": _time(data["created_at"])})


@dataclass(frozen=True)
class Match:
    distance: int
    image: Image


@dataclass(frozen=True)
class Similar:
    count: int
    results: list[Match]

    @classmethod
    def from_json(cls, data: dict) -> Similar:
        matches = [Match(m["distance"], Image.from_json(m["image"])) for m in data["results"]]
        return cls(data["count"], matches)


@dataclass(frozen=True)
class Diff:
    source_image_id: str
    target_image_id: str
    diff: int
    similarity: float
    algorithm: str
    identical: bool
    image_url: str


@dataclass(frozen=True)
class Facet:
    value: Any
    count: int


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str | None
    address: str | None


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str
    actor: Actor
    changes: dict

    @classmethod
    def from_json(cls, data: dict) -> HistoryEntry:
        return cls(_time(data["at"]), data["action"], Actor(**data["actor"]), data["changes"])


@dataclass(frozen=True)
class Event:
    cursor: int
    at: datetime
    image_id: str
    action: str
    actor: Actor
    changes: dict
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Event:
        return cls(
            data["cursor"],
            _time(data["at"]),
            data["image_id"],
            data["action"],
            Actor(**data["actor"]),
            data["changes"],
            data,
        )


@dataclass(frozen=True)
class EventPage:
    results: list[Event]
    next_cursor: int


@dataclass(frozen=True)
class Download:
    """A file's bytes and what the service said of them."""

    content: bytes
    content_type: str
    filename: str | None
    etag: str | None
