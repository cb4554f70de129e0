"""Images, their revisions and their renditions: the rows that name stored files."""

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


# What a lookup of a row that is not there raises: the API's 404 (images.exception_handler)
# says the message, so it names what was not found.


def image_not_found(image_id) -> Image.DoesNotExist:
    """An image id that is not stored, or is in the trash (everywhere but the trash)."""
    return Image.DoesNotExist(f"image {image_id} does not exist")


def revision_not_found(image_id, revision: int) -> ImageRevision.DoesNotExist:
    return ImageRevision.DoesNotExist(f"revision {revision} of image {image_id} does not exist")
