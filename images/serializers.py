import functools
from collections.abc import Callable

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import resize
from .errors import InvalidRendition
from .models import Image
from .similarity import MAX_DISTANCE

# An image's metadata, as every endpoint returns it, in this order: the model's fields and
# properties by name, and `<view>_url`, the absolute URL of the image's view `image-<view>`
# (`thumbnail_url`: of its rendition THUMBNAIL_SPEC).
# The serializer, its schema and its fast rendering all follow this list.
IMAGE_FIELDS = [
    "id",
    "name",
    "description",
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
    same for every object."""

    def __init__(
        self, view_name: str, ids: dict[str, str], fixed: dict[str, str] | None = None, **kwargs
    ) -> None:
        self.view_name, self.ids, self.fixed = view_name, ids, fixed or {}
        kwargs.setdefault("read_only", True)
        super().__init__(source="*", **kwargs)

    def to_representation(self, obj) -> str:
        kwargs = {arg: str(getattr(obj, attr)) for arg, attr in self.ids.items()}
        path = reverse(self.view_name, kwargs={**self.fixed, **kwargs})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


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
            render = _link(request.build_absolute_uri(path) if request else path, render.ids)
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


def _link(url: str, ids: dict[str, str]) -> Callable[[object], str]:
    slots = [(f"{arg}-slot", attr) for arg, attr in ids.items()]

    def render(instance) -> str:
        filled = url
        for slot, attr in slots:
            filled = filled.replace(slot, str(getattr(instance, attr)), 1)
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


class ImageSerializer(RenderedFast, serializers.ModelSerializer):
    """An image's metadata, as every endpoint returns it. Never a filesystem path."""

    class Meta:
        model = Image
        fields = IMAGE_FIELDS
        read_only_fields = IMAGE_FIELDS

    def build_unknown_field(self, field_name, model_class):
        if field_name == "thumbnail_url":
            ids, fixed = {"image_id": "id"}, {"spec": THUMBNAIL_SPEC}
            return Link, {"view_name": "image-rendition", "ids": ids, "fixed": fixed}
        if field_name.endswith("_url"):
            view_name = f"image-{field_name.removesuffix('_url')}"
            return Link, {"view_name": view_name, "ids": {"image_id": "id"}}
        return super().build_unknown_field(field_name, model_class)


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="The JPEG or PNG image.")
    name = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Defaults to the file's name (also when empty).",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ImageFromUrlSerializer(serializers.Serializer):
    # Not a URLField: the fetcher judges the URL and answers with the `invalid_url` code.
    url = serializers.CharField(
        max_length=2048, allow_blank=True, trim_whitespace=True, help_text="http or https URL."
    )
    name = serializers.CharField(
        max_length=255, required=False, help_text="Defaults to the URL's last path segment."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")
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


class ImageUpdateSerializer(serializers.Serializer):
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
        choices=["JPEG", "PNG", "jpeg", "png"], required=False, help_text="JPEG or PNG."
    )


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
        required=False, allow_empty_file=True, help_text="A JPEG or PNG (multipart)."
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


class RenditionRequestSerializer(serializers.Serializer):
    """A rendition request: the spec from the path, and the Accept header for ``.auto``."""

    spec = serializers.CharField(trim_whitespace=False)
    accept = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        try:
            spec = resize.parse_spec(attrs["spec"], max_size=settings.IMAGES_RENDITION_MAX_SIZE)
        except InvalidRendition as exc:
            raise serializers.ValidationError({"spec": [exc.detail]}, code=exc.code) from exc
        return {"spec": spec, "format": resize.requested_format(spec, accept=attrs["accept"])}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
