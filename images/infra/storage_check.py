"""Find where the database and the storage disagree, streaming (``manage.py images_check``).

Two kinds of trouble, both left by a crash between the two halves of a write:

- a row names a file (current, original or a revision's) that is not in storage;
- a file under the images folder that no row names (an orphan): neither an image's (in the
  trash or not), nor a revision's, nor a rendition's. A rendition whose file is missing
  is no trouble: it is made again when next asked for.

Nothing is ever loaded whole: rows are read with a database cursor in chunks, the storage
is listed one directory at a time (256 fan-out folders), and the owners of listed files are
asked for in batches. Only the Storage API is used, so it works on local files and on S3.
"""

import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.db.models import F
from django.utils import timezone

from images.infra import storage
from images.models import Image, ImageRevision

BATCH = 1000


@dataclass(frozen=True)
class MissingFile:
    image_id: uuid.UUID
    field: str  # "file" (the current image), "original" or "revision N"
    name: str


@dataclass(frozen=True)
class UnownedFile:
    name: str
    modified: datetime | None  # None when the storage cannot tell

    def older_than(self, age: timedelta) -> bool:
        return self.modified is not None and timezone.now() - self.modified >= age


class StorageCheck:
    """Walks rows and files; counts what it saw in ``rows`` and ``files``."""

    def __init__(self, *, jobs: int = 8) -> None:
        self.storage = storage.backend()
        self.jobs = jobs
        self.rows = 0
        self.files = 0

    def missing_files(self) -> Iterator[MissingFile]:
        """Rows whose current file or original is not in storage.

        ``exists`` is one request per file on object storage, so a chunk of names is checked
        by ``jobs`` threads at once. A file found missing is confirmed against the row as it
        is now: a revision dropped or a purge that committed meanwhile is not a missing file.
        """
        rows = (
            Image.all_objects.order_by()
            .values_list("pk", "file", "original")
            .iterator(chunk_size=BATCH)
        )
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for chunk in _chunks(rows, BATCH):
                self.rows += len(chunk)
                named = [
                    (pk, field, name)
                    for pk, file, original in chunk
                    for field, name in (("file", file), ("original", original))
                    if field == "file" or original != file
                ]
                yield from self._confirmed_missing(pool, named)
            # Revisions naming a file that their image's row does not (those were checked).
            revisions = (
                ImageRevision.objects.exclude(file=F("image__file"))
                .exclude(file=F("image__original"))
                .order_by()
                .values_list("image_id", "revision", "file")
                .iterator(chunk_size=BATCH)
            )
            for chunk in _chunks(revisions, BATCH):
                named = [(pk, f"revision {number}", name) for pk, number, name in chunk]
                yield from self._confirmed_missing(pool, named)

    def _confirmed_missing(self, pool, named: list[tuple]) -> Iterator[MissingFile]:
        found = pool.map(self._exists, [name for _, _, name in named])
        for (pk, field, _name), exists in zip(named, found, strict=True):
            if not exists and (missing := self._still_missing(pk, field)):
                yield missing

    def unowned_files(self) -> Iterator[UnownedFile]:
        """Files under the images folder that no row names, with their modification time.

        A young one may belong to an upload or crop whose row is not committed yet; the
        caller decides what age makes a file an orphan.
        """
        for directory, names in self._walk(storage.STORAGE_DIR):
            self.files += len(names)
            for batch in _chunks((f"{directory}/{name}" for name in names), BATCH):
                owned = self._owned(batch)
                for name in batch:
                    if name not in owned and (unowned := self._unowned(name)):
                        yield unowned

    def remove(self, orphan: UnownedFile) -> bool:
        """Remove an orphan, unless a row has come to name it since it was found."""
        if self._owned([orphan.name]):
            return False
        self.storage.delete(orphan.name)
        return True

    def _exists(self, name: str) -> bool:
        # An empty name would ask whether the storage's root exists.
        return bool(name) and self.storage.exists(name)

    def _still_missing(self, pk: uuid.UUID, field: str) -> MissingFile | None:
        if field.startswith("revision "):
            number = int(field.removeprefix("revision "))
            rows = ImageRevision.objects.filter(image_id=pk, revision=number)
            name = rows.values_list("file", flat=True).first()
        else:
            name = Image.all_objects.filter(pk=pk).values_list(field, flat=True).first()
        if name is None or self._exists(name):
            return None
        return MissingFile(image_id=pk, field=field, name=name)

    def _walk(self, top: str) -> Iterator[tuple[str, list[str]]]:
        """Each directory under ``top`` with its file names, listed one directory at a time."""
        pending = [top]
        while pending:
            directory = pending.pop()
            try:
                directories, names = self.storage.listdir(directory)
            except FileNotFoundError:  # nothing stored yet, or removed while walking
                continue
            pending.extend(f"{directory}/{d}" for d in sorted(directories, reverse=True))
            yield directory, sorted(names)

    def _owned(self, names: list[str]) -> set[str]:
        return storage.owned(names)

    def _unowned(self, name: str) -> UnownedFile | None:
        try:
            modified = self.storage.get_modified_time(name)
        except FileNotFoundError:  # removed since it was listed
            return None
        except NotImplementedError:
            modified = None
        return UnownedFile(name=name, modified=modified)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
