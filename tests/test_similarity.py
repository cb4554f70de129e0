"""The phash index and its change feed (images/similarity.py)."""

import threading
import time

import pytest
from django.db import connection, transaction

from images import services, similarity
from images.imaging import hashing
from images.models import Image, RevisionCounter
from tests.synthetic import brute_force, store_rows

pytestmark = pytest.mark.django_db(transaction=True)


def found(phash_value: int, max_distance: int = 0) -> list[tuple[int, str]]:
    matches = similarity.search(phash_value=phash_value, max_distance=max_distance, limit=100)
    return [(match.distance, str(match.image.pk)) for match in matches.results]


def held(value: int) -> bool:
    values, _ = similarity.index.refresh()
    return bool((values == (value & 0xFFFF_FFFF_FFFF_FFFF)).any())


def test_revisions_grow_with_every_write():
    with transaction.atomic():
        a = similarity.next_revision()
    with transaction.atomic():
        b = similarity.next_revision()

    assert b == a + 1
    assert similarity.current_revision() == b


def test_next_revision_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError):
        similarity.next_revision()


def test_a_writer_waits_for_the_one_holding_the_counter_until_it_commits():
    """Revisions are handed out in commit order: the counter stays locked until the
    transaction that took a revision ends, so a reader that saw N saw everything below."""
    with transaction.atomic():
        similarity.next_revision()  # the counter row exists
    taken, release = threading.Event(), threading.Event()
    got: dict[str, float] = {}

    def first():
        with transaction.atomic():
            got["first"] = similarity.next_revision()
            taken.set()
            release.wait(10)
            got["committed"] = time.monotonic()
        connection.close()

    def second():
        with transaction.atomic():
            got["second"] = similarity.next_revision()
        got["second_done"] = time.monotonic()
        connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert taken.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting for the counter
    release.set()
    one.join(10)
    two.join(10)

    assert got["second"] == got["first"] + 1
    assert got["second_done"] >= got["committed"]


def test_the_counter_is_made_again_after_the_last_stored_revision_when_missing():
    store_rows([1, 2, 3])
    highest = Image.objects.order_by("-revision").first().revision
    RevisionCounter.objects.all().delete()

    with transaction.atomic():
        assert similarity.next_revision() == highest + 1
    with transaction.atomic():
        assert similarity.next_revision() == highest + 2


def test_rows_written_after_the_index_loaded_are_found():
    store_rows([0xAAAA])
    assert found(0xBBBB) == []

    [row] = store_rows([0xBBBB])

    assert found(0xBBBB) == [(0, str(row.pk))]


def test_deleted_images_are_never_found_and_their_values_are_dropped():
    rows = store_rows([0xF0, 0xF1, 0xF3])
    assert len(found(0xF0, 2)) == 3

    services.image_delete(image_id=rows[2].pk)

    assert found(0xF0, 2) == brute_force(0xF0, 2)
    assert not held(0xF3)
    assert held(0xF1)


def test_a_value_still_stored_by_another_image_is_kept():
    rows = store_rows([0x77, 0x77])

    services.image_delete(image_id=rows[0].pk)

    assert found(0x77) == [(0, str(rows[1].pk))]
    assert held(0x77)


def test_a_search_inside_a_transaction_that_rolls_back_keeps_nothing_of_it():
    store_rows([0x10])
    found(0x10)  # loaded, and current

    with transaction.atomic():
        [ghost] = store_rows([0x20])
        assert found(0x20) == [(0, str(ghost.pk))]  # this transaction sees its own row
        transaction.set_rollback(True)

    # The next writer is handed the revision the rolled-back one had taken.
    [real] = store_rows([0x30])
    assert found(0x30) == [(0, str(real.pk))]
    assert found(0x20) == []


def test_a_database_that_went_back_is_loaded_again():
    [row] = store_rows([0x40])
    found(0x40)
    with transaction.atomic():
        for _ in range(5):
            similarity.next_revision()
    found(0x40)  # the index is at the counter's revision
    RevisionCounter.objects.update(value=1)  # as after restoring an older backup
    Image.objects.filter(pk=row.pk).update(phash=hashing.int_to_phash(0x41), phash_value=0x41)

    assert found(0x41) == [(0, str(row.pk))]
