"""Reading images: lookups, lists, comparisons and similarity searches. Nothing here writes.

Each function takes keyword-only arguments and raises ``Image.DoesNotExist`` for an id
that is not stored or is in the trash (the API's 404): ``Image.objects`` leaves trashed
images out, so nothing here can find one but ``trash_list``.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Case, F, QuerySet, Sum, Value, When

from images import incoming, similarity
from images.errors import WebhookNotFound
from images.imaging import hashing, visual_diff
from images.imaging.resize import SOURCE_RENDITION_FORMATS, Spec
from images.infra import serving_cache, storage
from images.labels import facets as label_facets
from images.labels import queries as label_queries
from images.labels.rules import DEFAULT_ORDERING, NO_FILTERS, Filters, Ordering, key_is_allowed
from images.models import (
    FacetCount,
    Image,
    ImageEvent,
    ImageRevision,
    Rendition,
    Webhook,
    WebhookDelivery,
    image_not_found,
)
from images.services import revisions


@dataclass(frozen=True)
class ImageDiff:
    source_image_id: uuid.UUID
    target_image_id: uuid.UUID
    diff: int
    similarity: float
    identical: bool
    algorithm: str = "phash"


def image_get(*, image_id: uuid.UUID) -> Image:
    try:
        return Image.objects.get(pk=image_id)
    except Image.DoesNotExist:
        raise image_not_found(image_id) from None


def image_read(*, image_id: uuid.UUID) -> Image:
    """The image as ``image_get`` reads it, or as the cache remembers it
    (images/infra/serving_cache.py): for an answer that renders it, never to write."""
    generation, image = serving_cache.lookup_image(image_id=image_id)
    if image is None:
        image = image_get(image_id=image_id)
        serving_cache.remember_image(generation=generation, image=image)
    return image


def image_file(*, image_id: uuid.UUID, original: bool = False) -> storage.StoredFile:
    """The image's current file (or its original) as its row describes it (``image_read``)."""
    return storage.StoredFile.of(image_read(image_id=image_id), original=original)


# Opens that found the file gone because a write committed meanwhile, before one under the
# row lock.
_UNLOCKED_OPEN_TRIES = 3


def image_open(
    *, image_id: uuid.UUID, original: bool = False, seen: Image | None = None
) -> tuple[Image, File]:
    """The image's row and the file it names (the current file, or the original), opened
    for reading: the two agree. ``seen`` is the row if the caller has just read it.

    A crop or restore keeps the file it replaced (a revision), but a purge, or a revision
    dropped past IMAGES_MAX_REVISIONS, that commits between reading the row and opening its
    file removes the file the row named: the row is read again and its new file opened (or
    ``Image.DoesNotExist``: the image is trashed or gone, 404). A row that still names a
    missing file is a fault of ours (``FileNotFoundError``: a 500; ``images_check`` finds
    it). After a few such lost races the file is opened with the row locked, when no write
    can remove it (a file is removed only after the write that stops naming it commits).
    """
    field = "original" if original else "file"
    image = seen or image_get(image_id=image_id)
    for _ in range(_UNLOCKED_OPEN_TRIES):
        name = getattr(image, field).name
        try:
            return image, storage.open_file(name)
        except FileNotFoundError:
            image = image_get(image_id=image_id)
            if getattr(image, field).name == name:
                raise
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image_id)
        return image, storage.open_file(getattr(image, field).name)


def image_list(
    *,
    name: str | None = None,
    sha256: str | None = None,
    phash: str | None = None,
    format: str | None = None,
    filters: Filters = NO_FILTERS,
    ordering: Ordering = DEFAULT_ORDERING,
) -> "QuerySet[Image] | label_queries.Listing":
    """The images that match, in order: something a paginator counts and slices."""
    within = _matching(name=name, sha256=sha256, phash=phash, format=format)
    return label_queries.listing(filters, ordering, within=within)


def image_facets(
    *,
    key: str | None,
    limit: int = 100,
    name: str | None = None,
    sha256: str | None = None,
    phash: str | None = None,
    format: str | None = None,
    filters: Filters = NO_FILTERS,
) -> list[label_facets.Facet]:
    """The most frequent tags (``key`` None) or values of a metadata key among the images
    that match, most frequent first, then by value."""
    within = _matching(name=name, sha256=sha256, phash=phash, format=format)
    return label_facets.facets(filters, within=within, key=key, limit=limit)


def metadata_keys(*, limit: int) -> list[str]:
    """The metadata keys most images have, most first, then by key: from the counts the
    facets keep, never a count over the images."""
    keys = (
        FacetCount.objects.filter(field__startswith="metadata.", count__gt=0)
        .values("field")
        .annotate(images=Sum("count"))
        .order_by("-images", "field")
    )
    return [row["field"].removeprefix("metadata.") for row in keys[:limit]]


def _matching(
    *, name: str | None, sha256: str | None, phash: str | None, format: str | None
) -> QuerySet[Image] | None:
    """The images matching the filters on their own columns; None when there are none."""
    if not (name or sha256 or phash or format):
        return None
    images = Image.objects.all()
    if name:
        images = images.filter(name__icontains=name)
    if sha256:
        images = images.filter(sha256=sha256.lower())
    if phash:
        images = images.filter(phash=phash.lower())
    if format:
        images = images.filter(format=format.upper())
    return images


def image_diff(*, source_id: uuid.UUID, target_id: uuid.UUID) -> ImageDiff:
    """Compare two images by their stored hashes: one query, no file read."""
    rows = Image.objects.filter(pk__in=[source_id, target_id]).order_by()
    hashes = {
        pk: (phash, sha256) for pk, phash, sha256 in rows.values_list("pk", "phash_value", "sha256")
    }
    if missing := [pk for pk in dict.fromkeys([source_id, target_id]) if pk not in hashes]:
        raise Image.DoesNotExist(" and ".join(f"image {pk}" for pk in missing) + " does not exist")
    (source_phash, source_sha256), (target_phash, target_sha256) = (
        hashes[source_id],
        hashes[target_id],
    )
    diff = hashing.hamming(source_phash, target_phash)
    return ImageDiff(
        source_image_id=source_id,
        target_image_id=target_id,
        diff=diff,
        similarity=1 - diff / 64,
        identical=source_sha256 == target_sha256,
    )


def image_diff_picture(*, source_id: uuid.UUID, target_id: uuid.UUID) -> bytes:
    """A PNG of the two current images side by side with a heatmap of where they differ."""
    source, fp_a = image_open(image_id=source_id)
    with fp_a:
        target, fp_b = image_open(image_id=target_id)
        with fp_b:
            distance = hashing.hamming(source.phash_value, target.phash_value)
            return visual_diff.render(
                fp_a,
                fp_b,
                size_a=(source.width, source.height),
                size_b=(target.width, target.height),
                max_pixels=settings.IMAGES_MAX_PIXELS,
                labels=(_label(source), _label(target)),
                caption=f"phash distance {distance} of 64 bits",
            )


def image_similar(
    *, image_id: uuid.UUID, max_distance: int = 10, limit: int = 20, filters: Filters = NO_FILTERS
) -> similarity.Matches:
    """The other stored images whose phash is within ``max_distance`` bits of this one's,
    among those that match ``filters``."""
    try:
        phash_value = Image.objects.values_list("phash_value", flat=True).get(pk=image_id)
    except Image.DoesNotExist:
        raise image_not_found(image_id) from None
    return similarity.search(
        phash_value=phash_value,
        max_distance=max_distance,
        limit=limit,
        exclude_id=image_id,
        within=_labelled(filters),
    )


def image_search(
    *,
    max_distance: int = 10,
    limit: int = 20,
    file: BinaryIO | None = None,
    url: str | None = None,
    phash: str | None = None,
    filters: Filters = NO_FILTERS,
) -> similarity.Matches:
    """The stored images near an image that is not stored, among those that match
    ``filters``: a file (decoded exactly as an upload, with the same limits), a URL
    (fetched exactly as a create from URL fetches) or a phash (16 hex digits). Nothing is
    stored."""
    if url is not None:
        download = incoming.download(url)
        with download.file:
            phash = incoming.phash_of(download.file)
    elif file is not None:
        phash = incoming.phash_of(file)
    if phash is None:
        raise ValueError("image_search needs a file, a URL or a phash.")
    return similarity.search(
        phash_value=hashing.phash_to_int(phash),
        max_distance=max_distance,
        limit=limit,
        within=_labelled(filters),
    )


def _labelled(filters: Filters) -> QuerySet[Image] | None:
    return label_queries.filtered(Image.objects.all(), filters) if filters else None


def trash_list() -> QuerySet[Image]:
    """The trashed images, the latest deleted first (read by the partial index of them)."""
    return Image.all_objects.filter(deleted_at__isnull=False).order_by("-deleted_at", "-id")


def revision_list(*, image_id: uuid.UUID) -> list[ImageRevision]:
    """The image's revisions, oldest first; the last is ``current``."""
    image = image_get(image_id=image_id)
    rows = list(image.revisions.order_by("revision"))
    for row in rows:
        row.current = row is rows[-1]
    return rows


def revision_get(*, image_id: uuid.UUID, revision: int) -> ImageRevision:
    """Revision ``revision`` of a live image; ``ImageRevision.DoesNotExist`` (404)."""
    return revisions.revision_of(image_id=image_id, revision=revision)


def revision_open(
    *, image_id: uuid.UUID, revision: int, seen: ImageRevision | None = None
) -> tuple[ImageRevision, File]:
    """A revision's row and its file, opened. A file gone because the revision was dropped
    or the image purged meanwhile: ``ImageRevision.DoesNotExist`` (404) on reading it again;
    a row that still names a missing file is a fault of ours (``FileNotFoundError``)."""
    row = seen or revisions.revision_of(image_id=image_id, revision=revision)
    try:
        return row, storage.open_file(row.file.name)
    except FileNotFoundError:
        row = revisions.revision_of(image_id=image_id, revision=revision)
        return row, storage.open_file(row.file.name)


def rendition_stored(*, image_id: uuid.UUID, spec: Spec, format: str | None) -> Rendition | None:
    """The stored rendition of the image's current file, if there is one: as the cache
    remembers it (images/infra/serving_cache.py), else in one query; ``format`` None: in the
    image's own format (or what stands in for it, ``resize.default_format``). None for an
    unknown or trashed image too. Its ``source_sha256`` is the sha256 of that current file."""
    generation, remembered = serving_cache.lookup(image_id=image_id, spec=spec.name, format=format)
    if remembered is not None:
        return remembered
    rows = Rendition.objects.filter(
        image_id=image_id,
        image__deleted_at__isnull=True,  # a trashed image's renditions stay, unserved
        spec=spec.name,
        source=F("image__file"),
    )
    if not format:  # the image's own format, or what stands in for it in renditions
        format_of_image = Case(
            *(
                When(image__format=source, then=Value(rendition))
                for source, rendition in SOURCE_RENDITION_FORMATS.items()
            ),
            default=F("image__format"),
        )
    rows = rows.filter(format=format or format_of_image)
    # The sha256 of the file it was made from: the version its URL names.
    rows = rows.annotate(source_sha256=F("image__sha256"))
    try:
        row = rows.get()  # one at most (the unique constraint): no ORDER BY needed
    except Rendition.DoesNotExist:
        return None
    serving_cache.remember(generation=generation, spec=spec.name, format=format, rendition=row)
    return row


def metadata_keys_refused() -> Iterator[tuple[uuid.UUID, str]]:
    """Each stored metadata key (of an image in the trash too) that the rules refuse on
    writes now: one with ``__``, which a filter would read as an operator. None should
    exist; ``images_check`` reports them. Streamed: the rows are read in chunks."""
    rows = Image.all_objects.order_by().values_list("pk", "metadata")
    for image_id, metadata in rows.iterator(chunk_size=1000):
        for key in metadata:
            if not key_is_allowed(key):
                yield image_id, key


def _label(image: Image) -> str:
    return f"{image.name} ({image.width}x{image.height})"


def image_history(*, image_id: uuid.UUID, trashed: bool = False) -> QuerySet[ImageEvent]:
    """The image's events, newest (last committed) first; with ``trashed``, of an image in
    the trash too (the admin's trash shows them)."""
    images = Image.all_objects if trashed else Image.objects
    if not images.filter(pk=image_id).exists():
        raise image_not_found(image_id)
    return ImageEvent.objects.filter(image_id=image_id).order_by("-cursor")


@dataclass(frozen=True)
class EventPage:
    results: list[ImageEvent]
    next_cursor: int  # where the next page starts: the last result's cursor, or ``after``


def event_feed(*, after: int = 0, limit: int = 100) -> EventPage:
    """The events after the cursor ``after``, in cursor order: the order they committed
    (images/history.py), so a consumer that goes on from ``next_cursor`` misses none."""
    events = list(ImageEvent.objects.filter(cursor__gt=after).order_by("cursor")[:limit])
    return EventPage(results=events, next_cursor=events[-1].cursor if events else after)


def webhook_list() -> QuerySet[Webhook]:
    """Every webhook, oldest first."""
    return Webhook.objects.order_by("created_at", "id")


def webhook_deliveries(*, webhook_id: uuid.UUID) -> QuerySet[WebhookDelivery]:
    """A webhook's kept delivery attempts, newest first; ``WebhookNotFound`` if unknown."""
    if not Webhook.objects.filter(pk=webhook_id).exists():
        raise WebhookNotFound()
    return WebhookDelivery.objects.filter(webhook_id=webhook_id).order_by("-id")


def image_renditions(*, image_id: uuid.UUID) -> list[Rendition]:
    """The stored renditions of a live image's current file, by spec and format;
    ``Image.DoesNotExist`` for an unknown or trashed image."""
    try:
        image = Image.objects.get(pk=image_id)
    except Image.DoesNotExist:
        raise image_not_found(image_id) from None
    return list(image.renditions.filter(source=image.file.name).order_by("spec", "format"))
