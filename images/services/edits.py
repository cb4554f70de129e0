"""Editing an image's name, description, tags and metadata: one image at once, or the tags
and metadata of many. Each write changes the image rows, their index rows
(images/labels/index.py) and records an ``updated`` event per image it changed
(images/history.py), in one transaction; the rules are images/labels/rules.py's.
"""

import uuid
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from images import history
from images.errors import InvalidTags
from images.history import ANONYMOUS, Actor
from images.infra import serving_cache
from images.labels import index as metadata_index
from images.labels import rules as lab_metadata
from images.models import Image, ImageEvent, image_not_found

MAX_BULK = 1000  # images one bulk edit may name


def checked(tags: list[str] | None, metadata: dict | None) -> tuple[list[str], dict]:
    """A new image's tags and metadata, cleaned; ``InvalidTags``/``InvalidMetadata``."""
    return lab_metadata.clean_tags(tags or []), lab_metadata.clean_metadata(metadata or {})


def index_new(image: Image) -> None:
    """The index rows of an image just inserted, inside its transaction."""
    metadata_index.apply_changes([_change(image, tags=[], metadata={})])


def image_edit(
    *,
    image_id: uuid.UUID,
    name: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    metadata: dict | None = None,
    actor: Actor = ANONYMOUS,
) -> Image:
    """Change what is given, all or none, as one ``updated`` event (none if nothing
    changed): the name, the description, the tags (replaced) and the metadata (a JSON
    Merge Patch, RFC 7396: a key set to null is removed, the others are set, keys the
    patch does not name stay)."""
    tags = None if tags is None else lab_metadata.clean_tags(tags)
    patch = None if metadata is None else lab_metadata.check_patch(metadata)
    given = {"name": name, "description": description, "tags": tags}
    given = {field: value for field, value in given.items() if value is not None}

    def edit(image: Image) -> dict:
        if patch is None:
            return given
        return {**given, "metadata": lab_metadata.merge_patch(image.metadata, patch)}

    return _relabel([image_id], edit, actor=actor)[0]


def image_retag(*, image_id: uuid.UUID, tags: list[str], actor: Actor = ANONYMOUS) -> Image:
    """Replace the image's tags."""
    return image_edit(image_id=image_id, tags=tags, actor=actor)


def image_annotate(*, image_id: uuid.UUID, metadata: dict, actor: Actor = ANONYMOUS) -> Image:
    """Change the image's metadata by a JSON Merge Patch (see ``image_edit``)."""
    return image_edit(image_id=image_id, metadata=metadata, actor=actor)


def image_bulk_edit(
    *,
    image_ids: list[uuid.UUID],
    add_tags: list[str] = (),
    remove_tags: list[str] = (),
    metadata: dict | None = None,
    actor: Actor = ANONYMOUS,
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

    def edit(image: Image) -> dict:
        tags = [tag for tag in image.tags if tag not in removed]
        tags += [tag for tag in added if tag not in tags]
        lab_metadata.check_tag_count(tags)
        return {"tags": tags, "metadata": lab_metadata.merge_patch(image.metadata, patch)}

    return len(_relabel(image_ids, edit, actor=actor))


def _relabel(
    image_ids: list[uuid.UUID], edit: Callable[[Image], dict], *, actor: Actor
) -> list[Image]:
    """Give each image the field values ``edit`` returns for it, in one transaction, and
    record an event for each image whose values changed."""
    wanted = set(image_ids)
    with transaction.atomic():
        # Locked in one order, so two bulk edits of overlapping images queue, not deadlock.
        images = list(Image.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
        if len(images) != len(wanted):
            raise _not_found(image_ids, found={image.pk for image in images})
        now, fields, indexed, changed = timezone.now(), {"updated_at"}, [], {}
        for image in images:
            values = edit(image)
            before = {field: getattr(image, field) for field in values}
            tags, metadata = image.tags, image.metadata
            for field, value in values.items():
                setattr(image, field, value)
            image.updated_at = now
            fields.update(values)
            indexed.append(_change(image, tags=tags, metadata=metadata))
            if changes := history.field_changes(before, values):
                changed[image.pk] = changes
        Image.objects.bulk_update(images, sorted(fields))
        for image in images:  # bulk_update sends no post_save: the cache must forget them
            serving_cache.forget_on_commit(image.pk)
        metadata_index.apply_changes(indexed)
        history.events_record(changes=changed, action=ImageEvent.Action.UPDATED, actor=actor)
    return images


# A bulk edit's 404 names this many of the ids that are not stored, at most.
NAMED_MISSING = 10


def _not_found(image_ids: list[uuid.UUID], *, found: set[uuid.UUID]) -> Image.DoesNotExist:
    if len(image_ids) == 1:  # one image's edit
        return image_not_found(image_ids[0])
    missing = [str(pk) for pk in dict.fromkeys(image_ids) if pk not in found]
    named = ", ".join(missing[:NAMED_MISSING])
    more = f" and {len(missing) - NAMED_MISSING} more" if len(missing) > NAMED_MISSING else ""
    ids = f"{len(missing)} ids name" if len(missing) > 1 else "1 id names"
    return Image.DoesNotExist(f"{ids} no stored image (nothing was changed): {named}{more}.")


def _change(image: Image, *, tags: list[str], metadata: dict) -> metadata_index.Change:
    """From ``tags`` and ``metadata`` to what the image holds now."""
    return metadata_index.Change(
        image.pk, image.created_at, tags, image.tags, metadata, image.metadata
    )
