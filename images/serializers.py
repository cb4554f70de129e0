import functools

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from rest_framework import serializers

from .models import Image
from .similarity import MAX_DISTANCE

_ID_SLOT = "image_id-slot"  # stands for the id in a cached path (matches the id converter)
_DATETIME = serializers.DateTimeField()
# What a malformed hash is told, instead of "does not match the required pattern".
SHA256_EXPECTED = "Must be 64 hexadecimal digits (0-9, a-f)."
PHASH_EXPECTED = "Must be 16 hexadecimal digits (0-9, a-f)."


class ImageSerializer(serializers.ModelSerializer):
    """An image's metadata, as every endpoint returns it. Never a filesystem path."""

    content_type = serializers.CharField(read_only=True)
    file_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
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
            "source_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, image: Image) -> dict:
        """The same dict as ModelSerializer's generic path (a test compares the two), built
        directly: the generic path builds every field by model introspection for each
        serializer, which cost more than the database query of a lookup. What depends on
        the request (absolute URLs, time zone) is looked up once per serializer: a list
        serializes all its rows with one child."""
        urls, when = self._per_request()
        image_id = str(image.id)
        return {
            "id": image_id,
            "name": image.name,
            "description": image.description,
            "format": image.format,
            "content_type": image.content_type,
            "width": image.width,
            "height": image.height,
            "file_size": image.file_size,
            "sha256": image.sha256,
            "phash": image.phash,
            "file_url": urls["image-file"].replace(_ID_SLOT, image_id),
            "original_url": urls["image-original"].replace(_ID_SLOT, image_id),
            "source_url": image.source_url,
            "created_at": when.to_representation(image.created_at),
            "updated_at": when.to_representation(image.updated_at),
        }

    def get_file_url(self, image: Image) -> str:
        return self._per_request()[0]["image-file"].replace(_ID_SLOT, str(image.pk))

    def get_original_url(self, image: Image) -> str:
        return self._per_request()[0]["image-original"].replace(_ID_SLOT, str(image.pk))

    def _per_request(self) -> tuple[dict[str, str], serializers.DateTimeField]:
        """The absolute URLs, with a slot for the id (an id needs no escaping), and the
        datetime field with the current time zone; looking each up (context-local state)
        cost more per row than the rest of it."""
        cached = self.__dict__.get("_per_request_cache")
        if cached is None:
            prefix, urlconf = get_script_prefix(), get_urlconf()
            request = self.context.get("request")
            urls = {}
            for view_name in ("image-file", "image-original"):
                path = _path_template(
                    view_name, ("image_id",), prefix, urlconf, settings.ROOT_URLCONF
                )
                urls[view_name] = request.build_absolute_uri(path) if request else path
            when = _datetime_field(_DATETIME.default_timezone())
            cached = self.__dict__["_per_request_cache"] = (urls, when)
        return cached


@functools.lru_cache(maxsize=64)
def _datetime_field(zone) -> serializers.DateTimeField:
    """DRF's datetime field rendering in ``zone`` (made once per zone: a field costs more
    to make than to use)."""
    return serializers.DateTimeField(default_timezone=zone)


@functools.lru_cache(maxsize=64)
def _path_template(
    view_name: str, ids: tuple[str, ...], script_prefix: str, urlconf, root_urlconf
) -> str:
    """reverse() once per view, prefix and URLconf (it cost more than the rest of a row),
    with ``<id>-slot`` where each id goes."""
    return reverse(view_name, kwargs={name: f"{name}-slot" for name in ids})


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


class ImageDiffSerializer(serializers.Serializer):
    source_image_id = serializers.UUIDField()
    target_image_id = serializers.UUIDField()
    diff = serializers.IntegerField(min_value=0, max_value=64, help_text="Hamming distance.")
    similarity = serializers.FloatField(help_text="1 - diff / 64")
    algorithm = serializers.CharField()
    identical = serializers.BooleanField(help_text="Whether the sha256s are equal.")
    image_url = serializers.SerializerMethodField(
        help_text="A PNG for people: both images side by side and where they differ."
    )

    def to_representation(self, diff) -> dict:
        """What the generic path renders (a test compares the two), built directly: the
        generic path copies every declared field for each serializer, and with reverse()
        that cost more than the diff's query (py-spy on the bench)."""
        return {
            "source_image_id": str(diff.source_image_id),
            "target_image_id": str(diff.target_image_id),
            "diff": int(diff.diff),
            "similarity": float(diff.similarity),
            "algorithm": str(diff.algorithm),
            "identical": bool(diff.identical),
            "image_url": self.get_image_url(diff),
        }

    def get_image_url(self, diff) -> str:
        ids = ("source_id", "target_id")
        path = _path_template(
            "image-diff-image", ids, get_script_prefix(), get_urlconf(), settings.ROOT_URLCONF
        )
        path = path.replace("source_id-slot", str(diff.source_image_id), 1)
        path = path.replace("target_id-slot", str(diff.target_image_id), 1)
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


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


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
