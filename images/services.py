"""What the service does with images; views and the admin call these and nothing else.

Every write follows one rule: the database row is the truth. Bytes are stored under a new
generated name first (images/storage.py), the row is switched to them in a transaction, and
only once that transaction has committed are the files it no longer names removed. A
failure removes whatever the operation wrote, so nothing is left behind.
"""

import functools
import hashlib
import tempfile
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.db import connections, router, transaction

from . import fetch, imaging, similarity, storage, visual_diff
from .errors import ImageServiceError, ImageTooLarge
from .models import Image

_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ImageDiff:
    source_image_id: uuid.UUID
    target_image_id: uuid.UUID
    diff: int
    similarity: float
    identical: bool
    algorithm: str = "phash"


def image_create(
    *,
    file: BinaryIO,
    name: str,
    description: str = "",
    source_url: str | None = None,
    sha256: str | None = None,
) -> Image:
    """Validate, hash and store an image; ``sha256`` may be given if already computed."""
    image, _ = _create(
        file=file,
        name=name,
        description=description,
        source_url=source_url,
        sha256=sha256,
        dedupe=False,
    )
    return image


def image_get_or_create(
    *,
    file: BinaryIO,
    name: str,
    description: str = "",
    source_url: str | None = None,
    sha256: str | None = None,
) -> tuple[Image, bool]:
    """The stored image with exactly these bytes (the oldest, if several), else a new one
    as ``image_create`` makes it; the flag says whether it was created."""
    return _create(
        file=file,
        name=name,
        description=description,
        source_url=source_url,
        sha256=sha256,
        dedupe=True,
    )


def _create(
    *,
    file: BinaryIO,
    name: str,
    description: str,
    source_url: str | None,
    sha256: str | None,
    dedupe: bool,
) -> tuple[Image, bool]:
    size, digest = _measure(file, sha256=sha256)
    _check_size(size)
    if dedupe and (existing := _same_bytes(digest)):
        return existing, False  # nothing decoded, nothing written
    info = imaging.analyze(file, max_pixels=settings.IMAGES_MAX_PIXELS)
    with storage.cleanup_on_failure() as written:
        stored = storage.save(file, info.format, written=written)
        image = Image(
            name=name[:255],
            description=description,
            source_url=source_url,
            original=stored,
            original_format=info.format,
            original_file_size=size,
            original_sha256=digest,
        )
        _set_current(image, name=stored, info=info, size=size, sha256=digest)
        with transaction.atomic():
            image.revision = similarity.next_revision()
            # Writers queue on the revision counter's lock, so a twin upload that won the
            # race is committed and visible here: it is returned, and our copy removed.
            if dedupe and (existing := _same_bytes(digest)):
                storage.delete([stored])
                return existing, False
            image.save(force_insert=True)
    return image, True


def _same_bytes(sha256: str) -> Image | None:
    return Image.objects.filter(sha256=sha256).order_by("created_at", "id").first()


def _check_size(size: int) -> None:
    if size > settings.IMAGES_MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"The image is larger than {settings.IMAGES_MAX_UPLOAD_BYTES} bytes.")


def image_create_from_url(*, url: str, name: str | None = None, description: str = "") -> Image:
    """Download ``url`` safely (images/fetch.py), then store it exactly as an upload."""
    image, _ = _create_from_url(url=url, name=name, description=description, dedupe=False)
    return image


def image_get_or_create_from_url(
    *, url: str, name: str | None = None, description: str = ""
) -> tuple[Image, bool]:
    """Download ``url``; the stored image with exactly those bytes, else a new one."""
    return _create_from_url(url=url, name=name, description=description, dedupe=True)


def _create_from_url(
    *, url: str, name: str | None, description: str, dedupe: bool
) -> tuple[Image, bool]:
    download = fetch.download(url, policy=url_fetch_policy())
    with download.file:
        return _create(
            file=download.file,
            name=name or download.filename or "image",
            description=description,
            source_url=url,
            sha256=download.sha256,
            dedupe=dedupe,
        )


def url_fetch_policy() -> fetch.FetchPolicy:
    return fetch.FetchPolicy(
        max_bytes=settings.IMAGES_MAX_UPLOAD_BYTES,
        timeout=settings.IMAGES_URL_TIMEOUT,
        connect_timeout=settings.IMAGES_URL_CONNECT_TIMEOUT,
        allow_private=settings.IMAGES_ALLOW_PRIVATE_URLS,
        allowed_hosts=frozenset(host.lower() for host in settings.IMAGES_URL_ALLOWED_HOSTS),
    )


def image_get(*, image_id: uuid.UUID) -> Image:
    """The image with this id (``Image.DoesNotExist`` if there is none)."""
    return _image_by_id(image_id)


def _image_by_id(image_id: uuid.UUID, *, for_update: bool = False) -> Image:
    """``Image.objects.get(pk=image_id)`` (``select_for_update()`` first if ``for_update``,
    inside a transaction), with the query prepared once (``_ImageById``)."""
    database = (router.db_for_write if for_update else router.db_for_read)(Image)
    connection = connections[database]
    query = _ImageById.of(database, connection, for_update=for_update)
    with connection.cursor() as cursor:
        cursor.execute(query.sql, [_db_id(image_id, connection)])
        row = cursor.fetchone()
    if row is None:
        raise Image.DoesNotExist("No image with this id.")
    return query.image(database, connection, row)


def image_list(
    *,
    name: str | None = None,
    sha256: str | None = None,
    phash: str | None = None,
    format: str | None = None,
):
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


# Crops made outside a transaction that lost the race, before one is made under the lock.
_UNLOCKED_CROP_TRIES = 2


def image_update(
    *,
    image_id: uuid.UUID,
    name: str | None = None,
    description: str | None = None,
    width: int | None = None,
    height: int | None = None,
    left: int | None = None,
    top: int | None = None,
) -> Image:
    """Rename, describe and/or crop (centred, or a box with ``left``/``top``) an image.

    Concurrent crops of one image apply one after the other, each to the result of the one
    before. A crop decodes and encodes outside any transaction (on SQLite a write
    transaction locks the whole database, so a long crop would stall every other write),
    then switches the row to its result under the row lock only if the row still names the
    file it cropped; if another crop or a restore switched it meanwhile, it starts again
    from the new current file. After a few lost races it crops with the row locked.
    """
    crop = None
    if width is not None or height is not None:
        crop = {"width": width or 0, "height": height or 0, "left": left, "top": top}
    for attempt in range(_UNLOCKED_CROP_TRIES + 1):
        try:
            return _update(
                image_id,
                name=name,
                description=description,
                crop=crop,
                crop_locked=attempt == _UNLOCKED_CROP_TRIES,
            )
        except _StaleCrop:
            continue
    raise AssertionError("unreachable: the last attempt crops under the row lock")


class _StaleCrop(Exception):
    """The row was switched to another file while a crop of the former one was made."""


def _update(
    image_id: uuid.UUID,
    *,
    name: str | None,
    description: str | None,
    crop: dict | None,
    crop_locked: bool,
) -> Image:
    with storage.cleanup_on_failure() as written:
        cropped = None
        if crop and not crop_locked:
            seen = _image_by_id(image_id)
            try:
                cropped = _crop(seen, crop=crop, written=written)
            except ImageServiceError:
                raise
            except Exception as exc:
                # Most likely the file was replaced and removed meanwhile (another crop won
                # the race). Start again; the last try, under the lock, shows a real fault.
                raise _StaleCrop() from exc
        with transaction.atomic():
            image = _image_by_id(image_id, for_update=True)
            replaced = None
            if crop:
                if cropped is None:
                    cropped = _crop(image, crop=crop, written=written)
                elif cropped.source != image.file.name:
                    raise _StaleCrop()  # removes the file it wrote, on the way out
                replaced = image.file.name
                _set_current(
                    image,
                    name=cropped.name,
                    info=cropped.info,
                    size=cropped.size,
                    sha256=cropped.sha256,
                )
                image.revision = similarity.next_revision()
            if name is not None:
                image.name = name
            if description is not None:
                image.description = description
            image.save()
            _delete_after_commit(image, replaced)
    return image


def image_restore(*, image_id: uuid.UUID) -> Image:
    """Make the original the current image again.

    The original never changes, so it is analysed before the row is locked: the
    transaction (on SQLite, the database's write lock) lasts only for the switch.
    """
    image = Image.objects.get(pk=image_id)
    if image.file.name == image.original.name:
        return image
    with storage.open_file(image.original.name) as original:
        info = imaging.analyze(original, max_pixels=settings.IMAGES_MAX_PIXELS)
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image_id)
        replaced = image.file.name
        if replaced != image.original.name:
            _set_current(
                image,
                name=image.original.name,
                info=info,
                size=image.original_file_size,
                sha256=image.original_sha256,
            )
            image.revision = similarity.next_revision()
            image.save()
            _delete_after_commit(image, replaced)
    return image


def image_delete(*, image_id: uuid.UUID) -> None:
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image_id)
        names = {image.file.name, image.original.name}
        image.delete()
        # The row is gone for good; if storage fails now, the files stay as orphans for
        # `images_check --fix` and the client still hears that the image was deleted.
        storage.delete_on_commit(names)


def image_diff(*, source_id: uuid.UUID, target_id: uuid.UUID) -> ImageDiff:
    """Compare two images by their stored hashes: one query, no file read."""
    database, connection = _reading()
    ids = [_db_id(source_id, connection), _db_id(target_id, connection)]
    with connection.cursor() as cursor:
        cursor.execute(_hashes_sql(database, connection.vendor), ids)
        hashes = {pk: (phash, sha256) for pk, phash, sha256 in cursor.fetchall()}
    if ids[0] not in hashes or ids[1] not in hashes:
        raise Image.DoesNotExist("No image with this id.")
    source_phash, source_sha256 = hashes[ids[0]]
    target_phash, target_sha256 = hashes[ids[1]]
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
    image = Image.objects.only("phash_value").get(pk=image_id)
    return similarity.search(
        phash_value=image.phash_value, max_distance=max_distance, limit=limit, exclude_id=image.pk
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
    upload, with the same limits), a URL (fetched exactly as ``image_create_from_url``
    fetches) or a phash (16 hex digits). Nothing is stored."""
    if url is not None:
        download = fetch.download(url, policy=url_fetch_policy())
        with download.file:
            phash = _phash_of(download.file)
    elif file is not None:
        phash = _phash_of(file)
    if phash is None:
        raise ValueError("image_search needs a file, a URL or a phash.")
    return similarity.search(
        phash_value=imaging.phash_to_int(phash), max_distance=max_distance, limit=limit
    )


def image_default_name(filename: str) -> str:
    """The name an image gets when none is given: its file name without extension."""
    return PurePosixPath(filename).stem[:255] or "image"


@dataclass(frozen=True)
class _Cropped:
    source: str  # the stored file that was cropped
    name: str  # the stored file of the crop
    info: imaging.ImageInfo
    size: int
    sha256: str


def _crop(image: Image, *, crop: dict, written: Callable[[str], str]) -> _Cropped:
    """Crop the image's current file into a new stored file (recorded with ``written``)."""
    box = imaging.crop_box(image_width=image.width, image_height=image.height, **crop)
    with storage.open_file(image.file.name) as current, tempfile.TemporaryFile() as out:
        info = imaging.crop(current, out, box=box, max_pixels=settings.IMAGES_MAX_PIXELS)
        size, digest = _measure(out)
        stored = storage.save(out, info.format, written=written)
    return _Cropped(image.file.name, stored, info, size, digest)


def _reading():
    database = router.db_for_read(Image)
    return database, connections[database]


def _db_id(image_id: uuid.UUID, connection):
    """The id as the database stores it (hex text on SQLite, a uuid on PostgreSQL)."""
    return Image._meta.pk.get_db_prep_value(image_id, connection)


@functools.lru_cache(maxsize=16)
def _hashes_sql(database: str, vendor: str) -> str:
    """The ORM's own SQL for (id, phash_value, sha256) of the rows with id IN (%s, %s),
    compiled once per database: for diff, compiling the query cost more than running it
    (py-spy on the bench). Parameters are ids as ``_db_id`` gives them."""
    query = Image.objects.filter(pk__in=[uuid.UUID(int=1), uuid.UUID(int=2)])
    query = query.values_list("pk", "phash_value", "sha256").using(database).order_by()
    sql, params = query.query.sql_with_params()
    assert len(params) == 2, sql
    return sql


@dataclass(frozen=True)
class _ImageById:
    """The ORM's query for one image by id, and what it does with the row, prepared once
    per database connection: the SQL, and the converters that turn the row's values into
    the model's (SQLite stores datetimes and uuids as text). Preparing them was most of
    a get's cost beyond a trivial request (py-spy on the bench); a test compares the
    result with the ORM's own, field by field, on each database."""

    sql: str
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple, object], ...]  # position, functions, expression

    @staticmethod
    def of(database: str, connection, *, for_update: bool) -> "_ImageById":
        # Per connection (each thread has its own): converters are methods of its backend.
        prepared = _IMAGE_BY_ID.setdefault(connection, {})
        if for_update not in prepared:
            prepared[for_update] = _ImageById.prepare(database, for_update=for_update)
        return prepared[for_update]

    @staticmethod
    def prepare(database: str, *, for_update: bool) -> "_ImageById":
        query = Image.objects.using(database).filter(pk=uuid.UUID(int=1)).order_by()
        if for_update:
            query = query.select_for_update()
        compiler = query.query.get_compiler(database)
        sql, params = compiler.as_sql()
        assert len(params) == 1, sql
        columns = [column for column, _, _ in compiler.select]
        converters = compiler.get_converters(columns)
        return _ImageById(
            sql=sql,
            attnames=tuple(column.target.attname for column in columns),
            converters=tuple(
                (position, tuple(functions), expression)
                for position, (functions, expression) in converters.items()
            ),
        )

    def image(self, database: str, connection, row: tuple) -> Image:
        values = list(row)
        for position, functions, expression in self.converters:
            value = values[position]
            for convert in functions:
                value = convert(value, expression, connection)
            values[position] = value
        return Image.from_db(database, self.attnames, values)


_IMAGE_BY_ID: "weakref.WeakKeyDictionary[object, dict[bool, _ImageById]]" = (
    weakref.WeakKeyDictionary()
)


def _set_current(
    image: Image, *, name: str, info: imaging.ImageInfo, size: int, sha256: str
) -> None:
    image.file.name = name
    image.format = info.format
    image.width = info.width
    image.height = info.height
    image.file_size = size
    image.sha256 = sha256
    image.phash = info.phash
    image.phash_value = imaging.phash_to_int(info.phash)


def _phash_of(file: BinaryIO) -> str:
    _check_size(_size(file))
    return imaging.analyze(file, max_pixels=settings.IMAGES_MAX_PIXELS).phash


def _label(image: Image) -> str:
    return f"{image.name} ({image.width}x{image.height})"


def _size(file: BinaryIO) -> int:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    return size


def _measure(file: BinaryIO, *, sha256: str | None = None) -> tuple[int, str]:
    """Size and sha256 of a file; only the size when the hash is already known."""
    size = _size(file)
    if sha256 is None:
        file.seek(0)
        hasher = hashlib.sha256()
        while block := file.read(_READ_CHUNK):
            hasher.update(block)
        sha256 = hasher.hexdigest()
    file.seek(0)
    return size, sha256


def _delete_after_commit(image: Image, replaced: str | None) -> None:
    """Once committed, remove a file the row no longer names (never the original)."""
    if replaced and replaced not in (image.file.name, image.original.name):
        storage.delete_on_commit([replaced])
