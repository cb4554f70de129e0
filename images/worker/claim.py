"""Taking a job's row for one batch, so that two workers never work on the same one."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Model, QuerySet


@contextmanager
def claimed(rows: QuerySet) -> Iterator[Model | None]:
    """The first of ``rows``, or None if another worker holds it. On PostgreSQL the row is
    locked (``FOR UPDATE SKIP LOCKED``) until the block ends, in a transaction the block's
    writes are part of; a killed worker's lock goes with its connection. On SQLite the row
    as it is: a transaction would hold SQLite's only write lock against the web service
    for the whole batch, and one worker is the rule there."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            yield rows.select_for_update(skip_locked=True).first()
    else:
        yield rows.first()
