"""Stored files and renditions found without the database, as Wagtail keeps its renditions in
Django's cache: the database stays the truth, the cache (``CACHE_URL``, shared by every
worker and, configured so, every machine) remembers what a lookup found.

Finding a stored rendition in the database (the row of the image's current file, joined to
the image for its file and its trash state) costs more than streaming a thumbnail, and is
asked on every view of every thumbnail; reading an image's row for its metadata, its
``/file`` or ``/original`` costs as much as the rest of that request (the ORM builds the
query and the model: about 0.28 ms on SQLite, the query itself 0.04 ms). An entry is
trusted only while nothing changed:

- Each image has a *generation*, a random token in the cache beside its entries; every entry
  names the generation it was read in. A write that changes the image's row (any ``save()``
  or delete of it: ``connect`` hooks Django's signals; a bulk update calls
  ``forget_on_commit`` itself), or what its renditions are (a rendition found missing or
  marked used) deletes the generation once it commits (``forget_on_commit``), so no older
  entry is served again. (A rendition's eviction need not: what it removed was of the
  current file.)
- A reader takes the generation before it reads the database. An entry stored from a read
  that a write overtook names a generation that write deleted: it is never served.
- An entry lives IMAGES_RENDITION_CACHE_SECONDS at most: if a generation could not be
  deleted (the cache failed just then), its entries are served for that long at most.
- The cache unavailable, a lookup reads the database, as with the cache off (``0``).
"""

import hashlib
import logging
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import router, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_save

from images.models import Image, Rendition

logger = logging.getLogger(__name__)

# (generation, pk, file, format, file_size, sha256, last_used_at, source_sha256): plain
# values, so that an entry outlives a change of the model's fields. (The key's prefix names
# this shape: an entry of another shape is never read.)
Entry = tuple[str, int, str, str, int, str, datetime, str]


def lookup(
    *, image_id: uuid.UUID, spec: str, format: str | None
) -> tuple[str | None, Rendition | None]:
    """The image's generation (None: do not remember what the database says now) and the
    rendition remembered for ``spec`` in ``format`` (None: the image's own format), if any."""
    generation, entry = _read(image_id, _key(image_id, spec, format))
    if entry is None:
        return generation, None
    _, pk, name, fmt, size, sha256, last_used_at, source_sha256 = entry
    rendition = Rendition(
        pk=pk,
        image_id=image_id,
        spec=spec,
        format=fmt,
        file=name,
        file_size=size,
        sha256=sha256,
        last_used_at=last_used_at,
    )
    rendition.source_sha256 = source_sha256
    return generation, rendition


def remember(
    *, generation: str | None, spec: str, format: str | None, rendition: Rendition
) -> None:
    """Remember ``rendition`` (with its ``source_sha256``) as what ``spec`` in ``format`` is
    in ``generation``, the generation taken before the database was read."""
    if generation is None:
        return
    entry: Entry = (
        generation,
        rendition.pk,
        rendition.file.name,
        rendition.format,
        rendition.file_size,
        rendition.sha256,
        rendition.last_used_at,
        rendition.source_sha256,
    )
    _store(_key(rendition.image_id, spec, format), entry)


# An image's row: its concrete fields' values in the model's order (a file field's: the
# stored name). The key names the field list: a migration that changes it reads no old entry.
_ROW_FIELDS = tuple(field.attname for field in Image._meta.concrete_fields)
_ROW_SHAPE = hashlib.sha256(",".join(_ROW_FIELDS).encode()).hexdigest()[:8]


def lookup_image(*, image_id: uuid.UUID) -> tuple[str | None, Image | None]:
    """The image's generation (as ``lookup``) and its row as remembered, if it is: a model
    instance as the ORM would have read it, to render, not to save."""
    generation, entry = _read(image_id, _row_key(image_id))
    if entry is None:
        return generation, None
    return generation, Image.from_db(router.db_for_read(Image), _ROW_FIELDS, entry[1])


def remember_image(*, generation: str | None, image: Image) -> None:
    """Remember the image's row, read after ``generation`` was taken."""
    if generation is None:
        return
    values = []
    for attname in _ROW_FIELDS:
        value = getattr(image, attname)
        values.append(value.name if isinstance(value, FieldFile) else value)
    _store(_row_key(image.pk), (generation, tuple(values)))


def connect() -> None:
    """Forget an image's entries whenever its row is saved or deleted (ImagesConfig.ready)."""
    post_save.connect(_forget_changed, sender=Image, dispatch_uid="serving-cache-save")
    post_delete.connect(_forget_changed, sender=Image, dispatch_uid="serving-cache-delete")


def _forget_changed(sender, instance: Image, **kwargs) -> None:
    forget_on_commit(instance.pk)


def _read(image_id: uuid.UUID, key: str) -> tuple[str | None, tuple | None]:
    """The image's generation and the entry under ``key`` if it was stored in it: one read
    of the cache."""
    if not settings.IMAGES_RENDITION_CACHE_SECONDS:
        return None, None
    try:
        found = cache.get_many([_generation_key(image_id), key])
        generation = _generation(image_id, found.get(_generation_key(image_id)))
    except Exception:  # any backend's error: the database answers
        logger.warning("serving cache unavailable; reading the database", exc_info=True)
        return None, None
    entry = found.get(key)
    if generation is None or entry is None or entry[0] != generation:
        return generation, None
    return generation, entry


def _store(key: str, entry: tuple) -> None:
    try:
        cache.set(key, entry, settings.IMAGES_RENDITION_CACHE_SECONDS)
    except Exception:  # not remembered: the next lookup reads the database
        logger.warning("serving cache unavailable; not remembered", exc_info=True)


def forget_on_commit(image_id: uuid.UUID) -> None:
    """Once the current transaction commits, serve none of the image's remembered files and
    renditions."""
    transaction.on_commit(lambda: _forget(image_id))


def _forget(image_id: uuid.UUID) -> None:
    try:
        cache.delete(_generation_key(image_id))
    except Exception:  # the write has committed: say what may be served
        logger.error(
            "serving cache unavailable: image %s's former files and renditions may be served "
            "from it "
            "for up to %s s",
            image_id,
            settings.IMAGES_RENDITION_CACHE_SECONDS,
            exc_info=True,
        )


def _generation(image_id: uuid.UUID, found: str | None) -> str | None:
    """``found``, or a new generation if the image had none (None if another request gave
    it one meanwhile: what this one read is not remembered)."""
    if found is not None:
        return found
    fresh = secrets.token_hex(8)
    added = cache.add(_generation_key(image_id), fresh, settings.IMAGES_RENDITION_CACHE_SECONDS)
    return fresh if added else None


def _generation_key(image_id: uuid.UUID) -> str:
    return f"rendition-generation:{image_id}"


def _key(image_id: uuid.UUID, spec: str, format: str | None) -> str:
    return f"rendition-v2:{image_id}:{spec}:{format or ''}"


def _row_key(image_id: uuid.UUID) -> str:
    return f"image-{_ROW_SHAPE}:{image_id}"
