"""An image as the API renders it and what the API accepts to create, edit, restore or
render one."""

from django.conf import settings
from rest_framework import serializers

from images.api.serializers.fields import CodedIntegerField, Link, MetadataField, TagsField
from images.api.serializers.rendering import RenderedFast
from images.errors import InvalidRendition
from images.imaging import resize
from images.models import Image, ImageRevision
from images.services.edits import MAX_BULK

# An image's metadata, as every endpoint returns it, in this order: the model's fields and
# properties by name, and `<view>_url`, the absolute URL of the image's view `image-<view>`
# (`thumbnail_url`: of its rendition THUMBNAIL_SPEC).
# The serializer, its schema and its fast rendering all follow this list.
IMAGE_FIELDS = [
    "id",
    "name",
    "description",
    "tags",
    "metadata",
    "format",
    "content_type",
    "width",
    "height",
    "file_size",
    "sha256",
    "phash",
    "file_url",
    "original_url",
    "thumbnail_url",
    "source_url",
    "created_at",
    "updated_at",
]


THUMBNAIL_SPEC = "max-256x256"


class ImageSerializer(RenderedFast, serializers.ModelSerializer):
    """An image's metadata, as every endpoint returns it. Never a filesystem path."""

    tags = TagsField(read_only=True)
    metadata = MetadataField(read_only=True)

    class Meta:
        model = Image
        fields = IMAGE_FIELDS
        read_only_fields = IMAGE_FIELDS

    def build_unknown_field(self, field_name, model_class):
        # Each link names the version of the bytes it answers with: a rendition's is that of
        # the current file it is made from.
        if field_name == "thumbnail_url":
            ids, fixed = {"image_id": "id"}, {"spec": THUMBNAIL_SPEC}
            link = {"view_name": "image-rendition", "ids": ids, "fixed": fixed}
            return Link, {**link, "version": "sha256"}
        if field_name.endswith("_url"):
            view = field_name.removesuffix("_url")
            version = "original_sha256" if view == "original" else "sha256"
            link = {"view_name": f"image-{view}", "ids": {"image_id": "id"}}
            return Link, {**link, "version": version}
        return super().build_unknown_field(field_name, model_class)


class TrashedImageSerializer(ImageSerializer):
    """A trashed image: its metadata, when it was trashed and when it will be purged."""

    class Meta(ImageSerializer.Meta):
        fields = [*IMAGE_FIELDS, "deleted_at", "purge_at"]
        read_only_fields = fields


class RestoreSerializer(serializers.Serializer):
    revision = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,  # a database integer: a larger one is no revision, and a 400
        default=1,
        help_text="The revision to make current (1: the original).",
    )


class ImageRevisionSerializer(serializers.ModelSerializer):
    crop = serializers.JSONField(
        allow_null=True,
        help_text=(
            'A crop\'s box, {"left", "top", "width", "height"}, in the pixels of the revision '
            "it was cut from; null for the upload and a restore."
        ),
    )
    file_url = Link(
        "image-revision-file",
        ids={"image_id": "image_id", "revision": "revision"},
        version="sha256",
    )
    current = serializers.BooleanField(help_text="Whether these are the image's current bytes.")

    class Meta:
        model = ImageRevision
        fields = [
            "revision",
            "operation",
            "crop",
            "width",
            "height",
            "format",
            "file_size",
            "sha256",
            "phash",
            "created_at",
            "file_url",
            "current",
        ]
        read_only_fields = fields


class ImageRevisionsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ImageRevisionSerializer(many=True, help_text="Oldest first.")


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True, help_text="The image: JPEG, PNG, TIFF, WebP or HEIC."
    )
    name = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Defaults to the file's name (also when empty).",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = TagsField(required=False, default=list)
    metadata = MetadataField(required=False, default=dict)


class ImageFromUrlSerializer(serializers.Serializer):
    # Not a URLField: the fetcher judges the URL and answers with the `invalid_url` code.
    url = serializers.CharField(
        max_length=2048, allow_blank=True, trim_whitespace=True, help_text="http or https URL."
    )
    name = serializers.CharField(
        max_length=255, required=False, help_text="Defaults to the URL's last path segment."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = TagsField(required=False, default=list)
    metadata = MetadataField(required=False, default=dict)
    dedupe = serializers.BooleanField(
        default=False,
        help_text="Return the stored image with the same sha256, if any, instead of a copy.",
    )


class ImageEditSerializer(serializers.Serializer):
    """The edits that may also come as query parameters."""

    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    width = CodedIntegerField(
        code="invalid_crop",
        min_value=1,
        required=False,
        help_text="Crop width; centre crop unless left/top given.",
    )
    height = CodedIntegerField(
        code="invalid_crop", min_value=1, required=False, help_text="Crop height."
    )
    left = CodedIntegerField(
        code="invalid_crop", min_value=0, required=False, help_text="Left edge of a box crop."
    )
    top = CodedIntegerField(
        code="invalid_crop", min_value=0, required=False, help_text="Top edge of a box crop."
    )

    def validate(self, attrs):
        if ("width" in attrs) != ("height" in attrs):
            raise serializers.ValidationError(
                "A crop needs both width and height.", code="invalid_crop"
            )
        if ("left" in attrs) != ("top" in attrs):
            raise serializers.ValidationError(
                "A box crop needs both left and top.", code="invalid_crop"
            )
        if "left" in attrs and "width" not in attrs:
            raise serializers.ValidationError(
                "left and top need width and height.", code="invalid_crop"
            )
        return attrs


class ImageUpdateSerializer(ImageEditSerializer):
    """The edits, with the tags and metadata a JSON body may carry."""

    tags = TagsField(required=False, help_text="Replaces the image's tags.")
    metadata = MetadataField(
        patch=True,
        required=False,
        help_text=(
            "A JSON Merge Patch (RFC 7396) of the metadata: a key set to null is removed, "
            "the others are set, keys not named stay."
        ),
    )


class BulkEditSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=MAX_BULK, help_text="Up to 1000."
    )
    add_tags = TagsField(required=False, default=list)
    remove_tags = TagsField(required=False, default=list)
    metadata = MetadataField(
        patch=True, required=False, default=dict, help_text="A JSON Merge Patch for each image."
    )


class BulkEditedSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text="How many images were edited.")


class UploadOptionsSerializer(serializers.Serializer):
    dedupe = serializers.BooleanField(
        default=False,
        help_text="Return the stored image with the same sha256, if any, instead of a copy.",
    )


def rendition_request(*, spec: str, accept: str) -> dict:
    """A rendition request: the spec from the path, and the Accept header for ``.auto``;
    a bad spec is the 400 a serializer's field error is (``errors: {"spec": [...]}``).
    A function, not a serializer: the path parameter is one string, and a serializer's
    fields, copied for every instance, cost more than finding a stored rendition."""
    try:
        parsed = resize.parse_spec(spec, max_size=settings.IMAGES_RENDITION_MAX_SIZE)
    except InvalidRendition as exc:
        raise serializers.ValidationError({"spec": [exc.detail]}, code=exc.code) from exc
    return {"spec": parsed, "format": resize.requested_format(parsed, accept=accept)}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
