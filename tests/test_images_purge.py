"""manage.py images_purge: purges the trashed images past their purge_at, and only those."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from images import services
from images.models import Image
from images.services import trash
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def purge() -> list[str]:
    out = io.StringIO()
    call_command("images_purge", stdout=out)
    return out.getvalue().splitlines()


def trashed(name: str, *, due: bool, size: tuple[int, int] = (40, 40)) -> Image:
    image = services.image_create(file=io.BytesIO(image_bytes("PNG", size)), name=name)
    services.image_crop(image_id=image.pk, width=20, height=20)
    services.image_delete(image_id=image.pk)
    if due:  # as if IMAGES_TRASH_DAYS had passed
        past = timezone.now() - timedelta(seconds=1)
        Image.all_objects.filter(pk=image.pk).update(purge_at=past)
    return Image.all_objects.get(pk=image.pk)


def test_purges_only_the_images_past_their_purge_at_and_says_so(files):
    due = trashed("due", due=True)
    waiting = trashed("waiting", due=False, size=(41, 40))
    live = services.image_create(file=io.BytesIO(image_bytes("PNG", (42, 40))), name="live")

    lines = purge()

    assert lines[0].startswith(f"purged {due.pk} 'due' (in the trash since ")
    assert lines[-1] == "1 images purged"
    assert not Image.all_objects.filter(pk=due.pk).exists()
    assert Image.all_objects.get(pk=waiting.pk).deleted_at is not None
    assert Image.objects.get(pk=live.pk)
    assert len(files()) == 3  # the waiting image's original and crop, the live one
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())


def test_running_it_again_purges_nothing_more():
    trashed("due", due=True)
    purge()

    assert purge() == ["0 images purged"]


def test_an_image_restored_from_the_trash_is_never_purged():
    image = trashed("due", due=True)
    services.image_undelete(image_id=image.pk)

    assert purge() == ["0 images purged"]
    assert Image.objects.get(pk=image.pk).purge_at is None


def test_two_runs_at_once_purge_each_image_once(files):
    images = [trashed(f"due-{i}", due=True, size=(40 + i, 40)) for i in range(6)]
    results: list[list] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(trash.images_purge_due())
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    purged = sorted(p.image_id for result in results for p in result)
    assert purged == sorted(image.pk for image in images)
    assert files() == []
