"""The tag and metadata index rows of images, and the facet counts kept with them
(images/labels/)."""

from django.db import models
from django.db.models import Q

from images.models.images import Image


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
