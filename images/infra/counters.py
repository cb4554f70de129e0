"""One-row counters that number changes in the order their transactions commit.

A writer adds to a counter with an UPDATE inside its own transaction, so the row stays
locked until that transaction ends: other writers wait for it, and values are handed out
in commit order, on PostgreSQL as on SQLite. A reader that has seen value V has therefore
seen every change numbered V or less. Take a value as late as possible in the transaction:
the lock is held until it commits. Two counters do this: the similarity revision
(``RevisionCounter``, images/similarity.py) and the change feed's cursor (``EventCounter``,
images/history.py).
"""

from collections.abc import Callable

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model

_ROW = 1  # each counter's one row


def take(counter: type[Model], *, count: int = 1, highest: Callable[[], int | None]) -> int:
    """Add ``count`` to ``counter`` and return its new value. If its row is gone (a flushed
    database), count on from ``highest()``, the highest value already handed out."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"{counter.__name__} must be taken inside the writing transaction.")
    row = counter.objects.filter(pk=_ROW)
    if row.update(value=F("value") + count):
        return row.values_list("value", flat=True).get()
    value = (highest() or 0) + count
    try:
        with transaction.atomic():
            counter.objects.create(pk=_ROW, value=value)
        return value
    except IntegrityError:  # another writer made it first; wait for its lock, as usual
        row.update(value=F("value") + count)
        return row.values_list("value", flat=True).get()


def current(counter: type[Model]) -> int:
    """The last value handed out (0 if none)."""
    values = counter.objects.filter(pk=_ROW).values_list("value", flat=True)
    return next(iter(values), 0)  # one row by primary key: no ordering, no limit to build
