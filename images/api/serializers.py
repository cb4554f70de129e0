import functools
from collections.abc import Callable

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from images.errors import ImageServiceError, InvalidMetadata, InvalidRendition, InvalidTags
from images.imaging import resize
from images.infra import versions
from images.labels import rules as lab_metadata
from images.models import Image, ImageRevision
from images.services.edits import MAX_BULK
from images.similarity import MAX_DISTANCE

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


_DATETIME = serializers.DateTimeField()
THUMBNAIL_SPEC = "max-256x256"
# What a malformed hash is told, instead of "does not match the required pattern".
SHA256_EXPECTED = "Must be 64 hexadecimal digits (0-9, a-f)."
PHASH_EXPECTED = "Must be 16 hexadecimal digits (0-9, a-f)."


@extend_schema_field(OpenApiTypes.STR)
class Link(serializers.Field):
    """The absolute URL (a path without a request) of ``view_name`` for the object; ``ids``
    maps each URL argument to the object's attribute that fills it (a uuid: it needs no
    escaping, which the fast rendering relies on); ``fixed`` gives arguments that are the
    same for every object. ``version``: the object's attribute holding the sha256 of the
    bytes the URL answers with, which the URL then names (images/infra/versions.py)."""

    def __init__(
        self,
        view_name: str,
        ids: dict[str, str],
        fixed: dict[str, str] | None = None,
        *,
        version: str | None = None,
        **kwargs,
    ) -> None:
        self.view_name, self.ids, self.fixed = view_name, ids, fixed or {}
        self.version = version
        kwargs.setdefault("read_only", True)
        super().__init__(source="*", **kwargs)

    def to_representation(self, obj) -> str:
        kwargs = {arg: str(getattr(obj, attr)) for arg, attr in self.ids.items()}
        path = reverse(self.view_name, kwargs={**self.fixed, **kwargs})
        request = self.context.get("request")
        url = request.build_absolute_uri(path) if request else path
        return versions.link(url, getattr(obj, self.version)) if self.version else url


# Renders exactly what DRF's generic to_representation does (a test compares the two, field
# by field and in order), from fields built once per class instead of once per serializer:
# building them costs more than the database query of a lookup. What depends on the request
# (absolute URLs, the time zone) is looked up once per serializer, which a list shares among
# its rows. The fields must not depend on the request otherwise: no nested serializers.
# (A comment, not a docstring: drf-spectacular would make it every schema's description.)
class RenderedFast:
    def to_representation(self, instance) -> dict:
        renderers = self.__dict__.get("_renderers")
        if renderers is None:
            renderers = self.__dict__["_renderers"] = _renderers(self)
        return {name: render(instance) for name, render in renderers}


def _renderers(serializer) -> list[tuple[str, Callable[[object], object]]]:
    """Each field's name and what renders it, for this serializer's request."""
    prefix, urlconf = get_script_prefix(), get_urlconf()
    request = serializer.context.get("request")
    in_zone = _datetime_field(_DATETIME.default_timezone()).to_representation
    renderers = []
    for name, render in _plan(type(serializer)):
        if isinstance(render, Link):
            ids, fixed = tuple(render.ids), tuple(render.fixed.items())
            path = _path_template(
                render.view_name, ids, fixed, prefix, urlconf, settings.ROOT_URLCONF
            )
            url = request.build_absolute_uri(path) if request else path
            render = _link(url, render.ids, render.version)
        elif isinstance(render, serializers.DateTimeField):
            render = _value(render.source, in_zone)
        renderers.append((name, render))
    return renderers


@functools.cache
def _plan(serializer_class) -> tuple[tuple[str, object], ...]:
    """Each field's name and its renderer; a link or a datetime field itself, as what
    renders those depends on the request."""
    plan = []
    for name, field in serializer_class().fields.items():
        if isinstance(field, serializers.BaseSerializer) or "." in (field.source or ""):
            raise TypeError(f"{serializer_class.__name__}.{name} cannot be rendered fast.")
        if isinstance(field, Link | serializers.DateTimeField):
            plan.append((name, field))
        else:
            plan.append((name, _value(field.source, field.to_representation)))
    return tuple(plan)


def _value(source: str, to_representation: Callable) -> Callable[[object], object]:
    def render(instance):
        value = getattr(instance, source)
        return None if value is None else to_representation(value)

    return render


def _link(url: str, ids: dict[str, str], version: str | None) -> Callable[[object], str]:
    slots = [(f"{arg}-slot", attr) for arg, attr in ids.items()]
    query = f"?{versions.PARAMETER}="

    def render(instance) -> str:
        filled = url
        for slot, attr in slots:
            filled = filled.replace(slot, str(getattr(instance, attr)), 1)
        if version:
            filled += query + versions.of(getattr(instance, version))
        return filled

    return render


@functools.lru_cache(maxsize=64)
def _datetime_field(zone) -> serializers.DateTimeField:
    """DRF's datetime field rendering in ``zone`` (made once per zone: a field costs more
    to make than to use)."""
    return serializers.DateTimeField(default_timezone=zone)


@functools.lru_cache(maxsize=64)
def _path_template(
    view_name: str,
    ids: tuple[str, ...],
    fixed: tuple[tuple[str, str], ...],
    script_prefix: str,
    urlconf,
    root_urlconf,
) -> str:
    """The view's path with ``<id>-slot`` where each id goes, reversed once per view,
    script prefix and URLconf."""
    return reverse(view_name, kwargs={**dict(fixed), **{name: f"{name}-slot" for name in ids}})


def _refused(exc: ImageServiceError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.detail, code=exc.code)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": lab_metadata.MAX_TAG_LENGTH},
        "maxItems": lab_metadata.MAX_TAGS,
        "description": (
            "Tags: 1-64 letters, digits, spaces and -_.:/ each, trimmed, repeats collapse, "
            "compared exactly; at most 32. A form repeats the field, and each value may "
            "also be comma-separated."
        ),
    }
)
class TagsField(serializers.Field):
    """A list of tags (``invalid_tags``). In a form, the field repeated and each value
    comma-separated; in JSON, a list of strings."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):
            if self.field_name not in dictionary:
                return empty
            return lab_metadata.split_form_tags(dictionary.getlist(self.field_name))
        return dictionary.get(self.field_name, empty)

    def run_validation(self, data=empty):
        if data is None:  # not "no tags": a client that sends null meant something else
            raise _refused(InvalidTags("tags must be a list, not null."))
        return super().run_validation(data)

    def to_internal_value(self, data) -> list[str]:
        try:
            return lab_metadata.clean_tags(data)
        except ImageServiceError as exc:
            raise _refused(exc) from None

    def to_representation(self, value) -> list[str]:
        return value


class _FormText(str):
    """A form field's text, to be read as JSON (a JSON body's strings are not)."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "maxLength": lab_metadata.MAX_TEXT_LENGTH},
                {"type": "number"},
                {"type": "boolean"},
            ]
        },
        "maxProperties": lab_metadata.MAX_KEYS,
        "description": (
            "Key-value metadata: keys of 1-64 characters [A-Za-z0-9][A-Za-z0-9_.:-]*, never "
            "two underscores in a row (`__` starts a filter's operator), values a string (at "
            "most 1024 characters), a finite number or a boolean; at most 64 keys. In a form, "
            "a JSON object as text."
        ),
    }
)
class MetadataField(serializers.Field):
    """A flat metadata object (``invalid_metadata``), or with ``patch`` a JSON Merge
    Patch of one (a key set to null is removed). In a form, the object as JSON text."""

    def __init__(self, *, patch: bool = False, **kwargs) -> None:
        self.patch = patch
        super().__init__(**kwargs)

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and isinstance(value, str):
            return _FormText(value)
        return value

    def run_validation(self, data=empty):
        if data is None:
            raise _refused(InvalidMetadata("metadata must be an object, not null."))
        return super().run_validation(data)

    def to_internal_value(self, data) -> dict:
        try:
            if isinstance(data, _FormText):
                data = lab_metadata.parse_json_text(data)
            if self.patch:
                return lab_metadata.check_patch(data)
            return lab_metadata.clean_metadata(data)
        except ImageServiceError as exc:
            raise _refused(exc) from None

    def to_representation(self, value) -> dict:
        # In key order: PostgreSQL's jsonb keeps keys in an order of its own.
        return dict(sorted(value.items()))


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


class CropField(serializers.IntegerField):
    """A crop coordinate; any problem with it is reported as ``invalid_crop``."""

    def __init__(self, *, min_value: int, **kwargs) -> None:
        super().__init__(min_value=min_value, required=False, **kwargs)

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            messages = [str(message) for message in exc.detail]
            raise serializers.ValidationError(messages, code="invalid_crop") from exc


class ImageEditSerializer(serializers.Serializer):
    """The edits that may also come as query parameters."""

    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    width = CropField(min_value=1, help_text="Crop width; centre crop unless left/top given.")
    height = CropField(min_value=1, help_text="Crop height.")
    left = CropField(min_value=0, help_text="Left edge of a box crop.")
    top = CropField(min_value=0, help_text="Top edge of a box crop.")

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
    (views.LABEL_FILTERS documents them), into ``filters``."""

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
            raise _refused(exc) from None
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
            raise _refused(exc) from None
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
            raise _refused(exc) from None
        return attrs


class FacetValueSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text="A tag, or a metadata value (string, number, boolean).")
    count = serializers.IntegerField(help_text="Images with this value.")


class FacetsSerializer(serializers.Serializer):
    field = serializers.CharField()
    values = FacetValueSerializer(many=True, help_text="Most frequent first, then by value.")


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


class ImageDiffSerializer(RenderedFast, serializers.Serializer):
    source_image_id = serializers.UUIDField()
    target_image_id = serializers.UUIDField()
    diff = serializers.IntegerField(min_value=0, max_value=64, help_text="Hamming distance.")
    similarity = serializers.FloatField(help_text="1 - diff / 64")
    algorithm = serializers.CharField()
    identical = serializers.BooleanField(help_text="Whether the sha256s are equal.")
    image_url = Link(
        "image-diff-image",
        ids={"source_id": "source_image_id", "target_id": "target_image_id"},
        help_text="A PNG for people: both images side by side and where they differ.",
    )


class UploadOptionsSerializer(serializers.Serializer):
    dedupe = serializers.BooleanField(
        default=False,
        help_text="Return the stored image with the same sha256, if any, instead of a copy.",
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


def rendition_request(*, spec: str, accept: str) -> dict:
    """A rendition request: the spec from the path, and the Accept header for ``.auto``;
    a bad spec is the 400 a serializer's field error is (``errors: {"spec": [...]}``).
    A function, not a serializer: the path parameter is one string, and a serializer's
    fields, copied for every instance, cost more than a stored rendition's lookup."""
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
