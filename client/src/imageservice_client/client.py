"""``Client``: a typed method for every operation of the service's public API.

``OPERATIONS`` maps each operationId of the service's OpenAPI schema to the method that
calls it; a test compares it with the schema of a running service, so the two cannot drift.
"""

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .feed import EventStream
from .models import (
    Diff,
    Download,
    Event,
    EventPage,
    Facet,
    HistoryEntry,
    Image,
    Page,
    Revision,
    Similar,
    TrashedImage,
    Upload,
)
from .query import _dropping_none, label_filters
from .retries import Retries
from .transport import Transport

OPERATIONS: dict[str, str] = {
    "images_upload": "upload",
    "api_v1_images_create": "create_from_url",
    "api_v1_images_list": "images",
    "api_v1_images_retrieve": "get",
    "api_v1_images_update": "update",
    "api_v1_images_partial_update": "edit",
    "api_v1_images_destroy": "delete",
    "api_v1_images_file_retrieve": "file",
    "api_v1_images_original_retrieve": "original",
    "api_v1_images_renditions_retrieve": "rendition",
    "api_v1_images_revisions_retrieve": "revisions",
    "api_v1_images_revisions_file_retrieve": "revision_file",
    "api_v1_images_restore_create": "restore_revision",
    "api_v1_images_history_list": "history",
    "api_v1_images_similar_retrieve": "similar",
    "api_v1_images_search_create": "search",
    "api_v1_images_diff_retrieve": "diff",
    "api_v1_images_diff_image_retrieve": "diff_picture",
    "api_v1_images_bulk_create": "bulk_edit",
    "api_v1_images_facets_retrieve": "facets",
    "api_v1_trash_list": "trash",
    "api_v1_trash_destroy": "purge",
    "api_v1_trash_restore_create": "restore",
    "api_v1_events_retrieve": "events",
    "api_v1_images_renditions_list": "renditions",
    "api_v1_webhooks_create": "create_webhook",
    "api_v1_webhooks_list": "webhooks",
    "api_v1_webhooks_retrieve": "webhook",
    "api_v1_webhooks_partial_update": "edit_webhook",
    "api_v1_webhooks_destroy": "delete_webhook",
    "api_v1_webhooks_deliveries_list": "webhook_deliveries",
    "api_v1_webhooks_redeliver_create": "redeliver",
}

Source = str | Path | bytes | BinaryIO  # a file's path, its bytes, or an open binary file


class Client:
    """The service at ``url`` (e.g. ``http://127.0.0.1:8000``; ``/api/v1`` is added), with
    an API token if the service asks for one. Thread-safe: threads may share one client.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: Retries | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base = url.rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        self.url = base
        self._sleep = sleep
        self._http = Transport(
            base + "/", token=token, timeout=timeout, retries=retries or Retries(), sleep=sleep
        )

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- Creating images ----------------------------------------------------------------

    def upload(
        self,
        source: Source,
        *,
        filename: str | None = None,
        name: str | None = None,
        description: str = "",
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        dedupe: bool = True,
    ) -> Upload:
        """Store a JPEG, PNG, TIFF, WebP or HEIC image. With ``dedupe`` (the default), bytes
        already stored answer the stored image (``created`` False), so a retry of an upload
        whose answer was lost stores nothing twice: only then are lost connections retried."""
        if isinstance(source, str | Path):
            path = Path(source)
            filename = filename or path.name

            def opened():
                return path.open("rb")
        elif isinstance(source, bytes):

            def opened():
                return source
        else:
            start = source.tell()

            def opened():
                source.seek(start)
                return source.read()

        fields = {"description": description, "tags": list(tags or [])}
        if name is not None:
            fields["name"] = name
        if metadata:
            fields["metadata"] = json.dumps(metadata)
        response = self._http.request(
            "POST",
            "images/upload",
            params={"dedupe": "true" if dedupe else "false"},
            idempotent=dedupe,
            make_body=lambda: {
                "files": {"file": (filename or "upload", opened(), "application/octet-stream")},
                "data": fields,
            },
        )
        return Upload(Image.from_json(response.json()), created=response.status_code == 201)

    def create_from_url(
        self,
        url: str,
        *,
        name: str | None = None,
        description: str = "",
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        dedupe: bool = True,
    ) -> Upload:
        """Have the service fetch ``url`` and store it as an upload."""
        body = _dropping_none(url=url, name=name, description=description, dedupe=dedupe)
        body.update(tags=list(tags or []), metadata=metadata or {})
        response = self._http.request("POST", "images/", json=body, idempotent=dedupe)
        return Upload(Image.from_json(response.json()), created=response.status_code == 201)

    # --- Reading images -----------------------------------------------------------------

    def get(self, image_id: str) -> Image:
        return Image.from_json(self._json("GET", f"images/{image_id}"))

    def images_page(
        self,
        *,
        page: int = 1,
        page_size: int = 100,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        sha256: str | None = None,
        phash: str | None = None,
        format: str | None = None,
        ordering: str | None = None,
    ) -> Page[Image]:
        """One page of the list: every filter given must hold (``metadata`` keys may end
        in ``__gt``, ``__gte``, ``__lt``, ``__lte`` or ``__exists``)."""
        params = {
            **label_filters(tags, metadata),
            **_dropping_none(
                name=name, sha256=sha256, phash=phash, format=format, ordering=ordering
            ),
            "page": page,
            "page_size": page_size,
        }
        return self._page("images/", params, Image.from_json)

    def images(self, **filters: Any) -> Iterator[Image]:
        """Every image that matches the filters (those of ``images_page``), page by page."""
        return self._every(self.images_page, **filters)

    def facets(
        self,
        field: str,
        *,
        limit: int = 100,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[Facet]:
        """How many images have each tag (``field="tags"``) or value (``metadata.KEY``)."""
        params = {"field": field, "limit": limit, **label_filters(tags, metadata)}
        body = self._json("GET", "images/facets", params=params)
        return [Facet(row["value"], row["count"]) for row in body["values"]]

    def revisions(self, image_id: str) -> list[Revision]:
        body = self._json("GET", f"images/{image_id}/revisions")
        return [Revision.from_json(row) for row in body["results"]]

    def history(self, image_id: str) -> Iterator[HistoryEntry]:
        """What happened to the image, newest first."""

        def page_of(*, page: int, page_size: int = 100) -> Page[HistoryEntry]:
            params = {"page": page, "page_size": page_size}
            return self._page(f"images/{image_id}/history", params, HistoryEntry.from_json)

        return self._every(page_of)

    # --- Downloads ----------------------------------------------------------------------

    def file(self, image_id: str) -> Download:
        """The current bytes."""
        return self._download(f"images/{image_id}/file")

    def original(self, image_id: str) -> Download:
        """The bytes as first uploaded (before any crop)."""
        return self._download(f"images/{image_id}/original")

    def rendition(self, image_id: str, spec: str = "max-256x256") -> Download:
        """The image resized: ``max-WxH``, ``fill-WxH``, ``width-W`` or ``height-H``,
        optionally ``.jpg``, ``.png``, ``.webp``, ``.avif``."""
        return self._download(f"images/{image_id}/renditions/{spec}")

    def revision_file(self, image_id: str, revision: int) -> Download:
        return self._download(f"images/{image_id}/revisions/{revision}/file")

    def diff_picture(self, source_id: str, target_id: str) -> Download:
        """A PNG of both images side by side and where they differ."""
        return self._download(f"images/{source_id}/diff/{target_id}/image")

    # --- Changing images ----------------------------------------------------------------

    def edit(self, image_id: str, **changes: Any) -> Image:
        """PATCH: any of ``name``, ``description``, ``tags`` (replaces them), ``metadata``
        (a JSON Merge Patch: None removes a key), ``width``/``height`` (a centre crop) with
        ``left``/``top`` (a box crop). All apply, or none."""
        return Image.from_json(self._json("PATCH", f"images/{image_id}", json=changes))

    def update(self, image_id: str, **changes: Any) -> Image:
        """PUT: the same fields and rules as ``edit``."""
        return Image.from_json(self._json("PUT", f"images/{image_id}", json=changes))

    def rename(self, image_id: str, name: str) -> Image:
        return self.edit(image_id, name=name)

    def describe(self, image_id: str, description: str) -> Image:
        return self.edit(image_id, description=description)

    def crop(
        self, image_id: str, *, width: int, height: int, left: int | None = None,
        top: int | None = None,
    ) -> Image:  # fmt: skip
        box = _dropping_none(width=width, height=height, left=left, top=top)
        return self.edit(image_id, **box)

    def label(
        self,
        image_id: str,
        *,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Image:
        """Add and remove tags, merge ``metadata`` (None removes a key), keeping the rest."""
        self.bulk_edit([image_id], add_tags=add_tags, remove_tags=remove_tags, metadata=metadata)
        return self.get(image_id)

    def bulk_edit(
        self,
        image_ids: list[str],
        *,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """The same label changes to up to 1000 images, all or none; how many were edited.
        Sent again after a lost connection: applying it twice is applying it once."""
        body = {
            "ids": list(image_ids),
            "add_tags": list(add_tags or []),
            "remove_tags": list(remove_tags or []),
            "metadata": metadata or {},
        }
        return self._json("POST", "images/bulk", json=body, idempotent=True)["updated"]

    def restore_revision(self, image_id: str, revision: int = 1) -> Image:
        """Make a revision's bytes current again (1: the original)."""
        body = self._json("POST", f"images/{image_id}/restore", json={"revision": revision})
        return Image.from_json(body)

    def delete(self, image_id: str) -> None:
        """Move the image to the trash."""
        self._http.request("DELETE", f"images/{image_id}")

    # --- The trash ----------------------------------------------------------------------

    def trash(self) -> Iterator[TrashedImage]:
        """The trashed images, the latest deleted first."""

        def page_of(*, page: int, page_size: int = 100) -> Page[TrashedImage]:
            params = {"page": page, "page_size": page_size}
            return self._page("trash/", params, TrashedImage.from_json)

        return self._every(page_of)

    def restore(self, image_id: str) -> Image:
        """Take an image out of the trash, as it was."""
        return Image.from_json(self._json("POST", f"trash/{image_id}/restore"))

    def purge(self, image_id: str) -> None:
        """Purge a trashed image now, files and all."""
        self._http.request("DELETE", f"trash/{image_id}")

    # --- Similarity ---------------------------------------------------------------------

    def similar(
        self,
        image_id: str,
        *,
        max_distance: int = 10,
        limit: int = 20,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Similar:
        params = {"max_distance": max_distance, "limit": limit, **label_filters(tags, metadata)}
        return Similar.from_json(self._json("GET", f"images/{image_id}/similar", params=params))

    def search(
        self,
        *,
        file: Source | None = None,
        url: str | None = None,
        phash: str | None = None,
        max_distance: int = 10,
        limit: int = 20,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Similar:
        """Stored images that look like a file, a URL's image or a phash (one of them);
        nothing is stored."""
        params = {"max_distance": max_distance, "limit": limit, **label_filters(tags, metadata)}
        if file is not None:
            content = Path(file).read_bytes() if isinstance(file, str | Path) else file
            if not isinstance(content, bytes):
                content = content.read()
            body = self._json(
                "POST", "images/search", params=params, idempotent=True,
                files={"file": ("search", content, "application/octet-stream")},
            )  # fmt: skip
        else:
            fields = _dropping_none(url=url, phash=phash)
            body = self._json("POST", "images/search", params=params, json=fields, idempotent=True)
        return Similar.from_json(body)

    def diff(self, source_id: str, target_id: str) -> Diff:
        return Diff(**self._json("GET", f"images/{source_id}/diff/{target_id}"))

    # --- The event feed -----------------------------------------------------------------

    def events(self, *, after: int = 0, limit: int = 100) -> EventPage:
        """One poll of the feed: the events after cursor ``after``, in commit order."""
        body = self._json("GET", "events", params={"after": after, "limit": limit})
        return EventPage([Event.from_json(e) for e in body["results"]], body["next_cursor"])

    def follow(
        self, *, after: int = 0, poll_interval: float = 2.0, until_caught_up: bool = False
    ) -> "EventStream":
        """Every event after ``after``, for ever (or until none are left): an iterator whose
        ``cursor`` is the last event's, to keep for the next run."""
        return EventStream(self, after, poll_interval, until_caught_up)

    # --- Stored renditions and webhooks (JSON as the service answers it) -----------------

    def renditions(self, image_id: str) -> list[dict]:
        """The renditions stored for the image's current file (spec, format, size, ...)."""
        return self._json("GET", f"images/{image_id}/renditions")["results"]

    def create_webhook(self, url: str, **fields: Any) -> dict:
        """Subscribe ``url`` (``actions``, ``tags``, ``metadata``, ``active``); the answer
        holds the signing ``secret``, shown this once."""
        return self._json("POST", "webhooks/", json={"url": url, **fields})

    def webhooks(self) -> list[dict]:
        return self._json("GET", "webhooks/", params={"page_size": 100})["results"]

    def webhook(self, webhook_id: str) -> dict:
        return self._json("GET", f"webhooks/{webhook_id}")

    def edit_webhook(self, webhook_id: str, **fields: Any) -> dict:
        return self._json("PATCH", f"webhooks/{webhook_id}", json=fields)

    def delete_webhook(self, webhook_id: str) -> None:
        self._http.request("DELETE", f"webhooks/{webhook_id}")

    def webhook_deliveries(self, webhook_id: str) -> list[dict]:
        """The recent delivery attempts, newest first."""
        return self._json("GET", f"webhooks/{webhook_id}/deliveries")["results"]

    def redeliver(self, webhook_id: str, *, after: int) -> dict:
        """Deliver again every matching event after cursor ``after``."""
        return self._json("POST", f"webhooks/{webhook_id}/redeliver", json={"after": after})

    # --- Helpers ------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._http.request(method, path, **kwargs).json()

    def _page(self, path: str, params: dict, make: Callable[[dict], Any]) -> Page:
        body = self._json("GET", path, params=params)
        results = [make(row) for row in body["results"]]
        return Page(body["count"], results, body.get("next"), body.get("previous"))

    def _every(self, page_of: Callable[..., Page], **filters: Any) -> Iterator:
        number = 1
        while True:
            page = page_of(page=number, **filters)
            yield from page.results
            if not page.next:
                return
            number += 1

    def _download(self, path: str) -> Download:
        response = self._http.request("GET", path, headers={"Accept": "*/*"}, follow_redirects=True)
        disposition = response.headers.get("Content-Disposition", "")
        found = re.search(r'filename="?([^";]+)"?', disposition)
        return Download(
            response.content,
            response.headers.get("Content-Type", "application/octet-stream"),
            found.group(1) if found else None,
            response.headers.get("ETag"),
        )
