"""Recording what happens to images: one ``ImageEvent`` per change, for the image's history
(``GET /api/v1/images/{id}/history``) and the change feed (``GET /api/v1/events``).

Every write service records its events with ``event_record`` (or ``events_record`` for many
images at once) inside its own transaction, after its last write: a write that rolls back
leaves no event, and the event's cursor is taken as late as possible. Cursors come from
``EventCounter`` (images/infra/counters.py), whose row stays locked until the transaction
ends, so they are handed out in the order the writes commit: a consumer that has seen
cursor C has seen every event below C, and no event is visible before its transaction committed.
"""

import json
import uuid
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone

from images.infra import counters
from images.models import EventCounter, ImageEvent

_ADDRESS_LENGTH = 255  # a forwarded address is whatever a trusted proxy wrote

Action = ImageEvent.Action


@dataclass(frozen=True)
class Actor:
    """Who made a change: ``kind`` token, user, anonymous or command; ``name`` the token's
    name, the admin user's name, the command's name (None for anonymous); ``address`` the
    client's address as the rate limits see it (None for a command)."""

    kind: str
    name: str | None = None
    address: str | None = None

    def as_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "address": self.address}


# Who a service call without an actor is recorded as: code that is neither a request nor a
# command (a shell, a migration). Every view, the admin and the commands pass their actor.
ANONYMOUS = Actor(ImageEvent.ActorKind.ANONYMOUS)


def command_actor(name: str) -> Actor:
    """A management command, e.g. ``command_actor("import_images")``."""
    return Actor(ImageEvent.ActorKind.COMMAND, name)


def field_changes(before: dict, after: dict) -> dict[str, list]:
    """``{field: [old, new]}`` for each field whose value differs, in ``after``'s order."""
    return {
        field: [before[field], new] for field, new in after.items() if not _same(before[field], new)
    }


def _same(old, new) -> bool:
    """Equal as JSON: Python's ``True == 1`` and ``1 == 1.0`` are changes of a metadata
    value (the facets count true and 1 apart); a metadata object's key order is not."""
    return json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True)


# What a ``created`` event says of the new image.
CREATED_FIELDS = (
    "name",
    "description",
    "tags",
    "metadata",
    "format",
    "width",
    "height",
    "sha256",
    "source_url",
)


def created_changes(image) -> dict:
    """``{field: value}`` of the image just created, for its ``created`` event."""
    return {field: getattr(image, field) for field in CREATED_FIELDS}


def size_changes(before: tuple[int, int], image) -> dict[str, list]:
    """``{"width": [old, new], "height": [old, new]}`` of a crop or restore."""
    return {"width": [before[0], image.width], "height": [before[1], image.height]}


def event_record(
    *, image_id: uuid.UUID, action: str, actor: Actor, changes: dict | None = None
) -> ImageEvent:
    """Record one change of one image. Call it inside the writing transaction, after its
    last write: the event commits, or rolls back, with the change. After the transaction's
    last row lock too: it holds the counter until the commit, and a writer waiting for the
    counter while holding a row this transaction then asked for would be a deadlock.

    E.g. an undelete: ``event_record(image_id=image.pk, action=Action.UNDELETED,
    actor=actor)`` as the last statement of its ``transaction.atomic()`` block."""
    return events_record(changes={image_id: changes or {}}, action=action, actor=actor)[0]


def events_record(*, changes: dict[uuid.UUID, dict], action: str, actor: Actor) -> list[ImageEvent]:
    """Record the same action on many images (a bulk edit): ``changes`` per image id, in
    the order their cursors are given."""
    if not changes:
        return []
    first, at, who = _take_cursors(len(changes)), timezone.now(), _actor_columns(actor)
    events = [
        ImageEvent(cursor=first + n, at=at, image_id=image_id, action=action, changes=c, **who)
        for n, (image_id, c) in enumerate(changes.items())
    ]
    return ImageEvent.objects.bulk_create(events)


def _actor_columns(actor: Actor) -> dict:
    address = actor.address[:_ADDRESS_LENGTH] if actor.address else None
    return {"actor_kind": actor.kind, "actor_name": actor.name, "actor_address": address}


def _take_cursors(count: int) -> int:
    """Take ``count`` consecutive cursors; return the first. The counter row stays locked
    until the transaction ends: other writers wait here, so cursors follow commits."""
    last = counters.take(
        EventCounter,
        count=count,
        highest=lambda: ImageEvent.objects.aggregate(top=Max("cursor"))["top"],
    )
    return last - count + 1
