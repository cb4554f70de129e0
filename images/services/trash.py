"""The trash: a deleted image is kept for IMAGES_TRASH_DAYS, then purged for good.

A trashed image has ``deleted_at`` and ``purge_at`` set (fixed when it is trashed) and is
invisible to everything but the trash, the purge and images_check: ``Image.objects`` leaves
it out. Its files all stay. Trashing and restoring keep the rest of the service right in
the same transaction:

- its tag and metadata index rows are removed (and put back), with their facet counts, so
  no filter matches it and no facet counts it (images/labels/index.py);
- its row is stamped with the next similarity revision, so that every worker's phash index
  (images/similarity.py) catches up: a restored image's value is added again even where a
  search dropped it as stale meanwhile.

A purge deletes the row with its revisions, renditions and index rows, and removes every
file they named once that commit is done, so a reader never finds a file gone under a row
it can still see (it re-reads the row: 404).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from images import similarity
from images.history import ANONYMOUS, Action, Actor, event_record
from images.infra import serving_cache, storage
from images.labels import index as metadata_index
from images.models import Image
from images.services import edits as labels
from images.services import renditions, revisions


def image_delete(*, image_id: uuid.UUID, actor: Actor = ANONYMOUS) -> None:
    """Move the image to the trash; with IMAGES_TRASH_DAYS 0, purge it at once."""
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image_id)
        _unindex(image)
        serving_cache.forget_on_commit(image.pk)  # its renditions stay, unserved
        if settings.IMAGES_TRASH_DAYS == 0:
            _purge(image)
        else:
            image.deleted_at = timezone.now()
            image.purge_at = image.deleted_at + timedelta(days=settings.IMAGES_TRASH_DAYS)
            similarity.save_with_revision(image, update_fields=["deleted_at", "purge_at"])
        event_record(image_id=image_id, action=Action.DELETED, actor=actor)


def image_undelete(*, image_id: uuid.UUID, actor: Actor = ANONYMOUS) -> Image:
    """Bring a trashed image back, as it was: ``Image.DoesNotExist`` unless it is trashed."""
    with transaction.atomic():
        image = _trashed_image(image_id)
        image.deleted_at = image.purge_at = None
        labels.index_new(image)
        similarity.save_with_revision(image, update_fields=["deleted_at", "purge_at"])
        event_record(image_id=image_id, action=Action.UNDELETED, actor=actor)
    return image


def image_purge(*, image_id: uuid.UUID) -> None:
    """Purge a trashed image now: ``Image.DoesNotExist`` unless it is trashed."""
    with transaction.atomic():
        _purge(_trashed_image(image_id))


@dataclass(frozen=True)
class Purged:
    image_id: uuid.UUID
    name: str
    deleted_at: datetime
    purge_at: datetime


def images_purge_due(*, now: datetime | None = None) -> list[Purged]:
    """Purge every trashed image whose ``purge_at`` has passed, one transaction each (a
    restore or another purge meanwhile wins: that image is skipped). The images purged."""
    now = now or timezone.now()
    due = _trashed().filter(purge_at__lte=now).order_by("purge_at", "pk")
    purged = []
    for image_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            image = _trashed().select_for_update().filter(pk=image_id, purge_at__lte=now).first()
            if image is not None:
                purged.append(Purged(image.pk, image.name, image.deleted_at, image.purge_at))
                _purge(image)
    return purged


def _trashed_image(image_id: uuid.UUID) -> Image:
    """The trashed image, locked; ``Image.DoesNotExist`` (404) unless it is in the trash."""
    try:
        return _trashed().select_for_update().get(pk=image_id)
    except Image.DoesNotExist:
        raise Image.DoesNotExist(f"image {image_id} is not in the trash") from None


def _trashed():
    return Image.all_objects.filter(deleted_at__isnull=False)


def _purge(image: Image) -> None:
    """Delete the row (its revisions, renditions and index rows with it); its files once
    committed. If storage fails then, they stay as orphans for ``images_check --fix``."""
    names = {
        image.file.name,
        image.original.name,
        *revisions.files_of(image),
        *renditions.rendition_files(image),
    }
    image.delete()
    storage.delete_on_commit(sorted(names))


def _unindex(image: Image) -> None:
    """Remove the image's tag and metadata index rows and their facet counts."""
    metadata_index.apply_changes(
        [metadata_index.Change(image.pk, image.created_at, image.tags, [], image.metadata, {})]
    )
