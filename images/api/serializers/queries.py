"""The queries of the API: filters of the list, facets, similar images, a search by an image
that is not stored, and the comparison of two."""

from rest_framework import serializers

from images.api.serializers.fields import Link, refused
from images.api.serializers.images import ImageSerializer
from images.api.serializers.rendering import RenderedFast
from images.errors import ImageServiceError
from images.labels import rules as lab_metadata
from images.models import Image
from images.similarity import MAX_DISTANCE

# What a malformed hash is told, instead of "does not match the required pattern".
SHA256_EXPECTED = "Must be 64 hexadecimal digits (0-9, a-f)."
PHASH_EXPECTED = "Must be 16 hexadecimal digits (0-9, a-f)."


class ImageFilterSerializer(serializers.Serializer):
    name = serializers.CharField(
        required=False, allow_blank=True, help_text="Name contains (case-insensitive)."
    )
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        error_messages={"invalid": SHA256_EXPECTED},
        help_text="Current file's sha256: 64 hexadecimal digits.",
    )
    phash = serializers.RegexField(
        r"^[0-9a-fA-F]{16}$",
        required=False,
        error_messages={"invalid": PHASH_EXPECTED},
        help_text="phash: 16 hexadecimal digits.",
    )
    format = serializers.ChoiceField(
        choices=[name for fmt in Image.Format.values for name in (fmt, fmt.lower())],
        required=False,
        help_text="JPEG, PNG, TIFF, WEBP or HEIF.",
    )


class LabelFilterSerializer(serializers.Serializer):
    """The tag and metadata filters of a query (``invalid_filter``). Only ``tag`` is a
    declared field; ``metadata.KEY[__op]`` parameters are read from the query itself
    (images/api/schema_parts.py documents them), into ``filters``."""

    query_prefixes = (lab_metadata.METADATA_PREFIX,)  # the parameters it takes (query_params)

    tag = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="Only images with this tag; repeat for images with every tag named.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        params = self.initial_data.lists() if hasattr(self.initial_data, "lists") else []
        try:
            attrs["filters"] = lab_metadata.parse_filters(params)
        except ImageServiceError as exc:
            raise refused(exc) from None
        attrs.pop("tag", None)
        return attrs


class ImageListQuerySerializer(LabelFilterSerializer, ImageFilterSerializer):
    ordering = serializers.CharField(
        required=False,
        help_text=(
            "created_at, -created_at (the default), name, -name, metadata.KEY or "
            "-metadata.KEY (numbers numerically, then strings, then false and true; images "
            "without the key last). Ties by creation time, in the same direction."
        ),
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        try:
            attrs["ordering"] = lab_metadata.parse_ordering(attrs.get("ordering"))
        except ImageServiceError as exc:
            raise refused(exc) from None
        return attrs


class FacetQuerySerializer(LabelFilterSerializer, ImageFilterSerializer):
    field = serializers.CharField(help_text="tags, or metadata.KEY.")
    limit = serializers.IntegerField(
        min_value=1, max_value=1000, default=100, help_text="Most values returned (≤ 1000)."
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        try:
            attrs["key"] = lab_metadata.parse_facet_field(attrs["field"])
        except ImageServiceError as exc:
            raise refused(exc) from None
        return attrs


class FacetValueSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text="A tag, or a metadata value (string, number, boolean).")
    count = serializers.IntegerField(help_text="Images with this value.")


class FacetsSerializer(serializers.Serializer):
    field = serializers.CharField()
    values = FacetValueSerializer(many=True, help_text="Most frequent first, then by value.")


class ImageDiffSerializer(RenderedFast, serializers.Serializer):
    source_image_id = serializers.UUIDField()
    target_image_id = serializers.UUIDField()
    diff = serializers.IntegerField(min_value=0, max_value=64, help_text="Hamming distance.")
    similarity = serializers.FloatField(help_text="1 - diff / 64")
    algorithm = serializers.CharField()
    identical = serializers.BooleanField(help_text="Whether the sha256s are equal.")
    image_url = Link(
        "image-diff-image",
        ids={"image_id": "source_image_id", "target_id": "target_image_id"},
        help_text="A PNG for people: both images side by side and where they differ.",
    )


class SimilarQuerySerializer(serializers.Serializer):
    max_distance = serializers.IntegerField(
        min_value=0, max_value=MAX_DISTANCE, default=10, help_text="Most phash bits that differ."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=100, default=20, help_text="Most results returned (≤ 100)."
    )


SEARCH_SOURCES = ("file", "url", "phash")


class ImageSearchSerializer(SimilarQuerySerializer):
    file = serializers.FileField(
        required=False,
        allow_empty_file=True,
        help_text="A JPEG, PNG, TIFF, WebP or HEIC (multipart).",
    )
    url = serializers.CharField(
        max_length=2048, required=False, allow_blank=True, help_text="An image to fetch."
    )
    phash = serializers.RegexField(
        r"^[0-9a-fA-F]{16}$",
        required=False,
        error_messages={"invalid": PHASH_EXPECTED},
        help_text="A phash: 16 hexadecimal digits.",
    )

    def validate(self, attrs):
        given = [source for source in SEARCH_SOURCES if source in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                "Send exactly one of file, url or phash.", code="invalid_search"
            )
        return attrs


class SimilarImageSerializer(serializers.Serializer):
    distance = serializers.IntegerField(min_value=0, max_value=64, help_text="Bits that differ.")
    image = ImageSerializer()


class SimilarImagesSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="All the images within max_distance.")
    results = SimilarImageSerializer(many=True, help_text="Nearest first, ties newest first.")
