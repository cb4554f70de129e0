"""Writing an image's tags and metadata: replace the tags, patch the metadata, edit many
images at once. Each write changes the image rows and their index rows
(images/metadata_index.py) in one transaction; the rules are images/lab_metadata.py's.
"""

import uuid
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from . import lab_metadata, metadata_index
from .errors import InvalidTags
from .models import Image

MAX_BULK = 1000  # images one bulk edit may name


def checked(tags: list[str] | None, metadata: dict | None) -> tuple[list[str], dict]:
    """A new image's tags and metadata, cleaned; ``InvalidTags``/``InvalidMetadata``."""
    return lab_metadata.clean_tags(tags or []), lab_metadata.clean_metadata(metadata or {})


def index_new(image: Image) -> None:
    """The index rows of an image just inserted, inside its transaction."""
    metadata_index.apply_changes([_change(image, tags=[], metadata={})])


def image_retag(*, image_id: uuid.UUID, tags: list[str]) -> Image:
    """Replace the image's tags."""
    tags = lab_metadata.clean_tags(tags)
    return _relabel([image_id], lambda image: (tags, image.metadata))[0]


def image_annotate(*, image_id: uuid.UUID, metadata: dict) -> Image:
    """Change the image's metadata by a JSON Merge Patch (RFC 7396): a key set to null is
    removed, the others are set, keys the patch does not name stay."""
    patch = lab_metadata.check_patch(metadata)
    return _relabel(
        [image_id], lambda image: (image.tags, lab_metadata.merge_patch(image.metadata, patch))
    )[0]


def image_bulk_edit(
    *,
    image_ids: list[uuid.UUID],
    add_tags: list[str] = (),
    remove_tags: list[str] = (),
    metadata: dict | None = None,
) -> int:
    """Add and remove tags and apply one metadata merge patch to up to MAX_BULK images,
    all or none: an unknown id (``Image.DoesNotExist``), or an image the edit would give
    too many tags or keys, changes nothing. Returns how many images were edited."""
    if len(set(image_ids)) > MAX_BULK:
        raise ValueError(f"A bulk edit names at most {MAX_BULK} images.")
    added = lab_metadata.clean_tags(add_tags)
    removed = set(lab_metadata.clean_tags(remove_tags))
    if both := removed.intersection(added):
        raise InvalidTags(f"Tags both added and removed: {', '.join(sorted(both))}.")
    patch = lab_metadata.check_patch(metadata or {})

    def edit(image: Image) -> tuple[list[str], dict]:
        tags = [tag for tag in image.tags if tag not in removed]
        tags += [tag for tag in added if tag not in tags]
        lab_metadata.check_tag_count(tags)
        return tags, lab_metadata.merge_patch(image.metadata, patch)

    return len(_relabel(image_ids, edit))


def _relabel(
    image_ids: list[uuid.UUID], edit: Callable[[Image], tuple[list[str], dict]]
) -> list[Image]:
    """Give each image the tags and metadata ``edit`` returns for it, in one transaction."""
    wanted = set(image_ids)
    with transaction.atomic():
        # Locked in one order, so two bulk edits of overlapping images queue, not deadlock.
        images = list(Image.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
        if len(images) != len(wanted):
            raise Image.DoesNotExist("No image with this id.")
        now, changes = timezone.now(), []
        for image in images:
            tags, metadata = image.tags, image.metadata
            image.tags, image.metadata = edit(image)
            image.updated_at = now
            changes.append(_change(image, tags=tags, metadata=metadata))
        Image.objects.bulk_update(images, ["tags", "metadata", "updated_at"])
        metadata_index.apply_changes(changes)
    return images


def _change(image: Image, *, tags: list[str], metadata: dict) -> metadata_index.Change:
    """From ``tags`` and ``metadata`` to what the image holds now."""
    return metadata_index.Change(
        image.pk, image.created_at, tags, image.tags, metadata, image.metadata
    )
