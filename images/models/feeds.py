"""The change feeds: every change of an image as an event (its history, GET /api/v1/events)
and the counters that hand out cursors and similarity revisions in commit order."""

from django.db import models


class RevisionCounter(models.Model):
    """One row: the last revision handed out to an image's phash change.

    A writer takes the next value with an UPDATE inside its own transaction, so the row stays
    locked until that transaction ends: revisions are handed out in the order the writes
    commit, on PostgreSQL as on SQLite. A reader that has seen revision R has therefore seen
    every change numbered R or less.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"revision {self.value}"


class ImageEvent(models.Model):
    """One change of one image, as its history and the change feed show it.

    ``cursor`` numbers the events in the order their transactions committed (see
    ``EventCounter``); ``image_id`` is a plain UUID, not a foreign key, so that an image's
    events outlive it: an audit trail must still say what happened to a purged image.
    """

    class Action(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        CROPPED = "cropped"
        RESTORED = "restored"
        DELETED = "deleted"
        UNDELETED = "undeleted"

    class ActorKind(models.TextChoices):
        TOKEN = "token"
        USER = "user"
        ANONYMOUS = "anonymous"
        COMMAND = "command"

    cursor = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    image_id = models.UUIDField()
    action = models.CharField(max_length=16, choices=Action.choices)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_name = models.CharField(max_length=150, null=True)  # noqa: DJ001 (null: no name)
    actor_address = models.CharField(max_length=255, null=True)  # noqa: DJ001 (null: none)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["cursor"]
        indexes = [models.Index(fields=["image_id", "-cursor"], name="image_event_history")]

    def __str__(self) -> str:
        return f"{self.cursor}: {self.action} {self.image_id}"


class EventCounter(models.Model):
    """One row: the last cursor handed out to an ``ImageEvent``.

    Taken as ``RevisionCounter`` is, with an UPDATE inside the writer's transaction that
    keeps the row locked until the transaction ends, so cursors follow the order of commits:
    a reader that sees cursor C has every event numbered below C too. Its own row, not the
    similarity revision: a tag edit is no phash change, and every worker's similarity index
    would otherwise look for new phash values after each one.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"cursor {self.value}"
