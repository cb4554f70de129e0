"""Reading images: lookups, lists, comparisons and similarity searches. Nothing here writes.

Each function takes keyword-only arguments and raises ``Image.DoesNotExist`` for an id
that is not stored (the API's 404).
"""

import uuid
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db.models import F, QuerySet

from . import imaging, incoming, similarity, storage, visual_diff
from .models import Image, Rendition
from .resize import Spec


@dataclass(frozen=True)
class ImageDiff:
    source_image_id: uuid.UUID
    target_image_id: uuid.UUID
    diff: int
    similarity: float
    identical: bool
    algorithm: str = "phash"


def image_get(*, image_id: uuid.UUID) -> Image:
    return Image.objects.get(pk=image_id)


def image_list(
    *,
    name: str | None = None,
    sha256: str | None = None,
    phash: str | None = None,
    format: str | None = None,
) -> QuerySet[Image]:
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
    if source_id not in hashes or target_id not in hashes:
        raise Image.DoesNotExist("No image with this id.")
    (source_phash, source_sha256), (target_phash, target_sha256) = (
        hashes[source_id],
        hashes[target_id],
    )
    diff = imaging.hamming(source_phash, target_phash)
    return ImageDiff(
        source_image_id=source_id,
        target_image_id=target_id,
        diff=diff,
        similarity=1 - diff / 64,
        identical=source_sha256 == target_sha256,
    )


def image_diff_picture(*, source_id: uuid.UUID, target_id: uuid.UUID) -> bytes:
    """A PNG of the two current images side by side with a heatmap of where they differ."""
    source = Image.objects.get(pk=source_id)
    target = source if target_id == source_id else Image.objects.get(pk=target_id)
    distance = imaging.hamming(source.phash_value, target.phash_value)
    with storage.open_file(source.file.name) as fp_a, storage.open_file(target.file.name) as fp_b:
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
    *, image_id: uuid.UUID, max_distance: int = 10, limit: int = 20
) -> similarity.Matches:
    """The other stored images whose phash is within ``max_distance`` bits of this one's."""
    phash_value = Image.objects.values_list("phash_value", flat=True).get(pk=image_id)
    return similarity.search(
        phash_value=phash_value, max_distance=max_distance, limit=limit, exclude_id=image_id
    )


def image_search(
    *,
    max_distance: int = 10,
    limit: int = 20,
    file: BinaryIO | None = None,
    url: str | None = None,
    phash: str | None = None,
) -> similarity.Matches:
    """The stored images near an image that is not stored: a file (decoded exactly as an
    upload, with the same limits), a URL (fetched exactly as a create from URL fetches) or
    a phash (16 hex digits). Nothing is stored."""
    if url is not None:
        download = incoming.download(url)
        with download.file:
            phash = incoming.phash_of(download.file)
    elif file is not None:
        phash = incoming.phash_of(file)
    if phash is None:
        raise ValueError("image_search needs a file, a URL or a phash.")
    return similarity.search(
        phash_value=imaging.phash_to_int(phash), max_distance=max_distance, limit=limit
    )


def rendition_stored(*, image_id: uuid.UUID, spec: Spec, format: str | None) -> Rendition | None:
    """The stored rendition of the image's current file, if there is one, in one query;
    ``format`` None: in the image's own format. None for an unknown image too."""
    rows = Rendition.objects.filter(image_id=image_id, spec=spec.name, source=F("image__file"))
    rows = rows.filter(format=format) if format else rows.filter(format=F("image__format"))
    try:
        return rows.get()  # one at most (the unique constraint): no ORDER BY needed
    except Rendition.DoesNotExist:
        return None


def _label(image: Image) -> str:
    return f"{image.name} ({image.width}x{image.height})"
