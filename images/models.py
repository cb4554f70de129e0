import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from images.imaging.decode import CONTENT_TYPES
from images.imaging.resize import CONTENT_TYPES as RENDITION_CONTENT_TYPES


class LiveImageManager(models.Manager):
    """The images that are not in the trash: what every images endpoint, the admin and the
    similarity index see. ``Image.all_objects`` sees trashed ones too (trash, purge,
    images_check)."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class AnyImageManager(models.Manager):
    """Every image, trashed ones too."""


class Image(models.Model):
    """A stored image. The row is the truth: it names the current file and the original.

    ``file`` is the current image (cropped or not); ``original`` the bytes as first received,
    kept for the life of the image. Right after creation both name the same stored object.
    Files are written under generated names and never overwritten in place.
    """

    class Format(models.TextChoices):
        JPEG = "JPEG"
        PNG = "PNG"
        TIFF = "TIFF"
        WEBP = "WEBP"
        HEIF = "HEIF"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    # null, not "": the API reports uploads with `"source_url": null`.
    source_url = models.URLField(max_length=2048, null=True, blank=True)  # noqa: DJ001

    # The current image and what was computed from it.
    file = models.FileField(max_length=255)
    format = models.CharField(max_length=4, choices=Format.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    phash = models.CharField(max_length=16, db_index=True)
    # The same 64 bits as a signed integer, for comparisons inside the database.
    phash_value = models.BigIntegerField()
    # When the phash last changed or the image left or came back from the trash (create,
    # crop, restore, delete, undelete), in the order those writes
    # committed: the similarity index of every worker reads what changed since the revision
    # it has seen (images/similarity.py).
    revision = models.BigIntegerField(default=0, db_index=True, editable=False)

    # The bytes as first received, and what a download of them needs without reading them.
    original = models.FileField(max_length=255)
    original_format = models.CharField(max_length=4, choices=Format.choices)
    original_file_size = models.PositiveBigIntegerField()
    original_sha256 = models.CharField(max_length=64)

    # A lab's own labels (images/labels/rules.py has the rules). These columns are what the
    # API renders; ImageTag and ImageMetadataValue hold the same values again, one row
    # each, indexed for finding, ordering and counting. The services write both together.
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # In the trash since then (null: live), and purged at ``purge_at`` by images_purge; the
    # date is fixed when it is trashed, so a later change of IMAGES_TRASH_DAYS keeps the
    # date the trash listing promised.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    purge_at = models.DateTimeField(null=True, blank=True, editable=False)

    # ``objects`` is the default manager (the admin's, forms', related managers'); Django's
    # own lookups (a revision's ``image``, cascades) use a plain base manager: every row.
    objects = LiveImageManager()
    all_objects = AnyImageManager()

    # Not a column: true on the stored image a create with ``dedupe`` answered with instead
    # of storing the same bytes again (services.image_create), false on every other.
    deduplicated = False

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The trash, newest deletion first; images_purge's due images. Partial: only
            # trashed rows are in them.
            models.Index(
                fields=["-deleted_at", "-id"],
                condition=Q(deleted_at__isnull=False),
                name="image_trash",
            ),
            models.Index(
                fields=["purge_at"], condition=Q(purge_at__isnull=False), name="image_purge_at"
            ),
            models.Index(fields=["format", "-created_at"], name="image_format_created"),
            # Who owns a stored file (images_check asks in batches) and whether some bytes
            # are already stored, cropped since (import_images' skip), without table scans.
            models.Index(fields=["file"], name="image_file"),
            models.Index(fields=["original"], name="image_original"),
            models.Index(fields=["original_sha256"], name="image_original_sha256"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def trashed(self) -> bool:
        return self.deleted_at is not None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def original_content_type(self) -> str:
        return CONTENT_TYPES[self.original_format]


class TrashedImageManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=False)


class TrashedImage(Image):
    """The images in the trash, as the admin's trash lists them (no table of its own)."""

    objects = TrashedImageManager()

    class Meta:
        proxy = True
        default_manager_name = "objects"
        ordering = ["-deleted_at", "-id"]
        verbose_name = "image in the trash"
        verbose_name_plural = "trash"


class CodePointCharField(models.CharField):
    """Text compared and sorted by code point on every database, as Python sorts strings.

    SQLite does so already (its BINARY collation compares UTF-8 bytes); PostgreSQL would
    use the database's locale, so the column gets the "C" collation there.
    """

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


# A string is indexed by its first characters: PostgreSQL refuses a B-tree entry over 2,704
# bytes, and a 1,024-character string may take 4,096. A shorter string is indexed whole,
# and that is every string labs use as a label.
TEXT_PREFIX = 256


class ImageTag(models.Model):
    """One tag of one image: the index behind ``?tag=`` and the tag facets.

    ``image_created_at`` is the image's ``created_at`` (which never changes), copied so
    that the index lists an image's tags in the API's order and counts them without
    reading the images table (images/labels/index.py).
    """

    pk = models.CompositePrimaryKey("image", "tag")
    image = models.ForeignKey(
        Image, on_delete=models.CASCADE, related_name="tag_rows", db_index=False
    )
    tag = CodePointCharField(max_length=64)
    image_created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tag", "image_created_at", "image"], name="image_tag_by_tag")
        ]

    def __str__(self) -> str:
        return self.tag


class ImageMetadataValue(models.Model):
    """One metadata value of one image, in the column of its type (the others are null):
    the index behind ``?metadata.KEY...``, ``ordering=metadata.KEY`` and the key facets.
    ``image_created_at`` as in ``ImageTag``: ties in the order the API breaks them."""

    pk = models.CompositePrimaryKey("image", "key")
    image = models.ForeignKey(
        Image, on_delete=models.CASCADE, related_name="metadata_rows", db_index=False
    )
    key = CodePointCharField(max_length=64)
    # A string: ``text`` holds it, or its first TEXT_PREFIX characters when it has that
    # many or more, and then ``long_text`` holds all of it (null otherwise).
    text = CodePointCharField(max_length=TEXT_PREFIX, null=True)
    long_text = CodePointCharField(max_length=1024, null=True)
    number = models.FloatField(null=True)
    boolean = models.BooleanField(null=True)
    image_created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["key", column, "image_created_at", "image"],
                condition=Q(**{f"{column}__isnull": False}),
                name=f"image_metadata_{column}",
            )
            for column in ("text", "number", "boolean")
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(text__isnull=False, number__isnull=True, boolean__isnull=True)
                    | Q(text__isnull=True, number__isnull=False, boolean__isnull=True)
                    | Q(text__isnull=True, number__isnull=True, boolean__isnull=False)
                ),
                name="image_metadata_one_value",
            )
        ]

    def __str__(self) -> str:
        return self.key


class FacetCount(models.Model):
    """How many images have each tag (``field`` "tags") and each value of each metadata
    key (``field`` "metadata.KEY"): the facets of all images, read without counting a
    million index rows. The services change it with the index rows, in one transaction.

    A value is in the column of its type; ``digest`` identifies it within its field (a
    string may be too long for a unique index to hold whole).
    """

    field = CodePointCharField(max_length=80)
    digest = models.CharField(max_length=32)
    text = CodePointCharField(max_length=1024, null=True)  # null: not a string
    number = models.FloatField(null=True)
    boolean = models.BooleanField(null=True)
    count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["field", "digest"], name="facet_count_value")
        ]
        indexes = [models.Index(fields=["field", "-count"], name="facet_count_by_count")]

    def __str__(self) -> str:
        return f"{self.field}: {self.count}"


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


class Rendition(models.Model):
    """A resized copy of an image's current file (images/imaging/resize.py), made on first request,
    stored, and served from storage afterwards.

    ``source`` names the image file it was made from: it is served only while the image
    still names that file, so a rendition made from a file that a crop or restore replaced
    meanwhile is never served, whatever the order the two writes committed in.
    """

    class Format(models.TextChoices):
        JPEG = "JPEG"
        PNG = "PNG"
        WEBP = "WEBP"
        AVIF = "AVIF"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="renditions")
    source = models.CharField(max_length=255)
    spec = models.CharField(max_length=32)  # without its format: "max-256x256"
    format = models.CharField(max_length=4, choices=Format.choices)
    file = models.FileField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it was last served, to a minute or so (a write per serve would cost more than
    # the serve): past IMAGES_RENDITIONS_PER_IMAGE, the least recently used go first.
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Concurrent first requests all make it; one row wins, the others serve it.
            models.UniqueConstraint(
                fields=["image", "source", "spec", "format"], name="rendition_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["file"], name="rendition_file"),  # images_check's owners
            models.Index(fields=["image", "last_used_at"], name="rendition_last_used"),
        ]

    def __str__(self) -> str:
        return f"{self.spec}.{self.format.lower()} of {self.image_id}"

    @property
    def content_type(self) -> str:
        return RENDITION_CONTENT_TYPES[self.format]


class ImageRevision(models.Model):
    """One version of an image's bytes: revision 1 the upload (the ``original``), then one per
    crop and per restore, numbered on; the highest is the current one (the row's ``file``).

    A restore points at the stored file of the revision it brings back (no copy), so several
    revisions may name one file; a file is removed only when no revision and no image row
    names it. ``crop`` is the box cut, in the pixels of the revision it was cut from.
    """

    class Operation(models.TextChoices):
        UPLOAD = "upload"
        CROP = "crop"
        RESTORE = "restore"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    operation = models.CharField(max_length=8, choices=Operation.choices)
    crop = models.JSONField(null=True, blank=True)
    file = models.FileField(max_length=255)
    format = models.CharField(max_length=4, choices=Image.Format.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    phash = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["image", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["image", "revision"], name="image_revision_unique")
        ]
        indexes = [models.Index(fields=["file"], name="image_revision_file")]  # images_check

    def __str__(self) -> str:
        return f"revision {self.revision} of {self.image_id}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


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


# What a lookup of a row that is not there raises: the API's 404 (images.exception_handler)
# says the message, so it names what was not found.


def image_not_found(image_id) -> Image.DoesNotExist:
    """An image id that is not stored, or is in the trash (everywhere but the trash)."""
    return Image.DoesNotExist(f"image {image_id} does not exist")


def revision_not_found(image_id, revision: int) -> ImageRevision.DoesNotExist:
    return ImageRevision.DoesNotExist(f"revision {revision} of image {image_id} does not exist")


class WorkerCursor(models.Model):
    """How far a background job has read the change feed (images/worker/): the last event
    it has finished with. It moves only after the work is done, so a worker killed at any
    moment leaves the next one to redo, never to skip."""

    job = models.CharField(max_length=32, unique=True)
    cursor = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.job} at {self.cursor}"


class Webhook(models.Model):
    """A subscription to the change feed, pushed to ``url`` by the worker, signed with
    ``secret`` (Standard Webhooks). ``cursor`` is the last event it is done with (delivered,
    refused by the receiver or left out by its filters); events go out one at a time, in
    cursor order. While an event fails, ``retry_at`` is when it is tried again."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2048)
    actions = models.JSONField(default=list, blank=True)  # empty: every action
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    cursor = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)  # of the event after ``cursor``
    failing_since = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.TextField(blank=True, default="")
    delivered = models.BigIntegerField(default=0)  # attempts by outcome, for /metrics
    failed = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one webhook (the recent ones are kept)."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"  # 2xx
        REJECTED = "rejected"  # another 4xx: the receiver refused it, not retried
        RETRYING = "retrying"  # 5xx, 429, timeout, network error: tried again later
        REFUSED = "refused"  # the address is not allowed: not sent, the webhook paused

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    cursor = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["webhook", "-id"], name="webhook_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.cursor} {self.outcome}"
