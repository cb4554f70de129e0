"""GET /api/v1/events: every committed change, exactly once, in commit order."""

import io
import random
import threading
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from access.models import ApiToken
from images import services
from images.models import Image, ImageEvent
from images.services import edits as labels
from tests.factories import image_bytes, pattern

pytestmark = pytest.mark.django_db


def feed(api, **query) -> dict:
    response = api.get("/api/v1/events", query)
    assert response.status_code == 200, response.content
    return response.json()


def stored(variant: int = 0) -> Image:
    picture = io.BytesIO()
    pattern((40 + variant, 30)).save(picture, "PNG")
    picture.seek(0)
    return services.image_create(file=picture, name=f"plate {variant}")


def test_without_after_the_feed_starts_at_the_first_event(api, upload):
    image_id = upload(image_bytes("PNG")).json()["id"]
    api.patch(f"/api/v1/images/{image_id}", {"name": "plate 7"}, format="json")

    body = feed(api)

    first, second = body["results"]
    assert set(first) == {"cursor", "at", "image_id", "action", "actor", "changes"}
    assert (first["image_id"], first["action"]) == (image_id, "created")
    assert (second["action"], second["changes"]) == ("updated", {"name": ["photo", "plate 7"]})
    assert second["actor"] == {"kind": "anonymous", "name": None, "address": "127.0.0.1"}
    assert isinstance(first["cursor"], int)
    assert first["cursor"] < second["cursor"] == body["next_cursor"]


def test_polling_with_next_cursor_pages_through_every_event_once_and_then_waits(api):
    images = [stored(n) for n in range(5)]

    seen, after = [], 0
    for _ in range(4):
        body = feed(api, after=after, limit=2)
        seen += [event["cursor"] for event in body["results"]]
        after = body["next_cursor"]
    idle = feed(api, after=after)

    assert seen == sorted(ImageEvent.objects.values_list("cursor", flat=True))
    assert len(seen) == len(images)
    assert idle == {"results": [], "next_cursor": after}


def test_an_empty_feed_answers_the_start_or_the_after_given_as_next_cursor(api):
    assert feed(api) == {"results": [], "next_cursor": 0}
    assert feed(api, after=12345) == {"results": [], "next_cursor": 12345}


def test_the_default_limit_is_100_and_at_most_1000_are_given(api):
    image = stored()
    labels.image_bulk_edit(image_ids=[image.pk], add_tags=["x"])
    for n in range(104):
        services.image_rename(image_id=image.pk, name=f"renamed {n}")

    assert len(feed(api)["results"]) == 100
    assert len(feed(api, limit=1000)["results"]) == 106


def test_a_purged_images_events_stay_in_the_feed(api, upload):
    image_id = upload(image_bytes("PNG")).json()["id"]
    api.delete(f"/api/v1/images/{image_id}")

    actions = [(e["image_id"], e["action"]) for e in feed(api)["results"]]

    assert actions == [(image_id, "created"), (image_id, "deleted")]
    assert api.get(f"/api/v1/images/{image_id}/history").status_code == 404


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"after": "soon"}, "invalid_cursor"),
        ({"after": "-1"}, "invalid_cursor"),
        ({"after": "1.5"}, "invalid_cursor"),
        ({"after": str(2**63)}, "invalid_cursor"),
        ({"limit": "0"}, "min_value"),
        ({"limit": "1001"}, "max_value"),
        ({"limit": "many"}, "invalid"),
    ],
)
def test_a_bad_after_or_limit_is_400_with_a_stable_code(api, query, code):
    response = api.get("/api/v1/events", query)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert list(body["errors"]) == list(query)


def test_in_token_mode_the_feed_needs_a_token_and_a_read_only_one_may_read(api, settings):
    settings.IMAGES_AUTH = "token"
    token = ApiToken(name="pipeline", read_only=True)
    key = token.set_new_key()
    token.save()

    refused = api.get("/api/v1/events")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert refused.status_code == 401
    assert feed(api) == {"results": [], "next_cursor": 0}


WRITERS = 8
CHANGES_PER_WRITER = 50  # 400 in all


class Ledger:
    """What the writers did, for the consumer to check against: each change's cursor, the
    changes not committed yet, and the order commits finished in. ``gate`` is held by a
    writer while it commits and by the consumer while it polls, so a poll never runs
    during a commit: an event a poll returns while its change is still in ``uncommitted``
    was visible before its transaction committed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.gate = threading.Lock()
        self.uncommitted: set[int] = set()
        self.commit_order: list[int] = []
        self.begun: list[tuple[int, int]] = []  # (writer, change), in the order they began
        self.committed: list[tuple[int, int]] = []  # the same, in the order they committed
        self.by_writer: dict[int, list[int]] = {}
        self.errors: list[BaseException] = []


def write(ledger: Ledger, writer: int, image_id, start: threading.Barrier) -> None:
    """Make CHANGES_PER_WRITER changes of one image, each in a transaction that commits
    at a random moment after its event was recorded, so that transactions overlap and
    commit in another order than they began (on PostgreSQL; SQLite runs one at a time)."""
    mine = ledger.by_writer.setdefault(writer, [])
    rng = random.Random(writer)
    try:
        start.wait()
        for n in range(CHANGES_PER_WRITER):
            outer = transaction.atomic()
            outer.__enter__()
            with ledger.lock:
                ledger.begun.append((writer, n))
            try:
                time.sleep(rng.random() / 500)  # begun; others begin and may finish first
                edit = n % 3
                if edit == 0:
                    labels.image_edit(image_id=image_id, name=f"w{writer} #{n}")
                elif edit == 1:
                    labels.image_retag(image_id=image_id, tags=[f"n{n}"])
                else:
                    labels.image_annotate(image_id=image_id, metadata={"n": n})
                cursor = ImageEvent.objects.filter(image_id=image_id).order_by("-cursor")[0]
                with ledger.lock:
                    ledger.uncommitted.add(cursor.cursor)
                time.sleep(rng.random() / 500)  # recorded, not yet committed
            except BaseException as exc:
                outer.__exit__(type(exc), exc, exc.__traceback__)
                raise
            with ledger.gate:
                outer.__exit__(None, None, None)  # the commit
                with ledger.lock:
                    ledger.uncommitted.discard(cursor.cursor)
                    ledger.commit_order.append(cursor.cursor)
                    ledger.committed.append((writer, n))
            mine.append(cursor.cursor)
    except BaseException as exc:
        ledger.errors.append(exc)
    finally:
        connection.close()


def consume(ledger: Ledger, after: int, done: threading.Event, seen: list, early: list) -> None:
    """Poll the feed over HTTP with the last next_cursor until the writers are done and a
    poll brings nothing new."""
    api = APIClient()
    rng = random.Random(0)
    try:
        while True:
            finished = done.is_set()
            with ledger.gate:
                response = api.get("/api/v1/events", {"after": after, "limit": rng.randint(1, 40)})
                with ledger.lock:
                    pending = set(ledger.uncommitted)
            body = response.json()
            early += [e["cursor"] for e in body["results"] if e["cursor"] in pending]
            seen += [e["cursor"] for e in body["results"]]
            after = body["next_cursor"]
            if finished and not body["results"]:
                return
            time.sleep(0.002)  # as a poller waits; and a lock is not fair: writers get the gate
    except BaseException as exc:
        ledger.errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_eight_writers_making_400_changes_are_each_seen_once_in_commit_order_by_a_poller():
    images = [stored(n) for n in range(WRITERS)]
    after = ImageEvent.objects.order_by("-cursor")[0].cursor
    ledger, done, seen, early = Ledger(), threading.Event(), [], []
    start = threading.Barrier(WRITERS)
    writers = [
        threading.Thread(target=write, args=(ledger, n, image.pk, start))
        for n, image in enumerate(images)
    ]
    consumer = threading.Thread(target=consume, args=(ledger, after, done, seen, early))

    consumer.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=90)
    done.set()
    consumer.join(timeout=20)

    assert ledger.errors == []
    assert len(ledger.commit_order) == WRITERS * CHANGES_PER_WRITER
    assert early == []  # nothing was seen before its transaction committed
    assert len(seen) == len(set(seen)) == 400  # each change exactly once
    assert seen == ledger.commit_order  # in the order the transactions committed
    for cursors in ledger.by_writer.values():
        assert cursors == sorted(cursors)
    if connection.vendor == "postgresql":  # SQLite's BEGIN IMMEDIATE runs one at a time
        assert ledger.committed != ledger.begun  # some committed in another order than begun
    stored_cursors = ImageEvent.objects.filter(cursor__gt=after).values_list("cursor", flat=True)
    assert sorted(stored_cursors) == seen
