"""The pieces of the OpenAPI schema that several operations share: error answers, the
metadata filters, the headers and answers of a download. The operations themselves are
declared in images/api/schema.py."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from images.api.query_params import UNKNOWN_PARAMETERS
from images.api.serializers.images import ErrorSerializer, ImageSerializer
from images.imaging import decode as imaging
from images.imaging import resize

# Every error answer is JSON ``{"detail", "code"}`` (images/api/exception_handler.py).
NOT_FOUND = {404: ErrorSerializer}
# Refused bytes or request, or the object store unavailable (503).
IMAGE_ERRORS = {code: ErrorSerializer for code in (400, 413, 415, 503)}
# The metadata filters: parameters named after the key, so each is documented once with
# KEY standing for it. (``tag`` is a field of the filter serializers.)
LABEL_FILTERS = [
    OpenApiParameter(
        f"metadata.KEY{suffix}",
        str,
        OpenApiParameter.QUERY,
        description=f"{what} KEY is a metadata key, e.g. `metadata.plate=P-0042`; repeatable.",
    )
    for suffix, what in [
        (
            "",
            "Images whose value of KEY equals this: the string, and also the number it reads "
            "as (`3` matches 3 and 3.0), or the boolean (`true`, `false`).",
        ),
        ("__gt", "Images whose value of KEY is a number greater than this."),
        ("__gte", "Images whose value of KEY is a number greater than or equal to this."),
        ("__lt", "Images whose value of KEY is a number less than this."),
        ("__lte", "Images whose value of KEY is a number less than or equal to this."),
        ("__exists", "`true`: images that have KEY; `false`: images that do not."),
    ]
]
FILTERED = (
    " A malformed `tag`, `metadata.KEY` or `ordering` parameter is 400 `invalid_filter`, and "
    "so is a `metadata.KEY__OP` whose OP is not `gt`, `gte`, `lt`, `lte` or `exists` (no "
    "metadata key holds `__`)." + UNKNOWN_PARAMETERS
)
LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    required=True,
    description="The new image's metadata URL.",
    response=[201],
)
CREATED = {
    201: ImageSerializer,
    200: OpenApiResponse(ImageSerializer, description="dedupe: the stored twin."),
    **IMAGE_ERRORS,
}

# --- Downloads: the bytes of an image, a revision or a rendition --------------------------

BINARY = {
    **{(200, content_type): OpenApiTypes.BINARY for content_type in imaging.CONTENT_TYPES.values()},
    302: OpenApiResponse(
        description="With presigned downloads on: Location is a short-lived URL of the bytes."
    ),
    304: OpenApiResponse(description="Not modified: If-None-Match matched the ETag."),
    **NOT_FOUND,
    503: ErrorSerializer,
}
DOWNLOAD_HEADERS = [
    OpenApiParameter(
        "v",
        str,
        OpenApiParameter.QUERY,
        description="The version the link names: the first 16 hex digits of the bytes' sha256, "
        "as the metadata's links carry it. With it the answer is cached for a year "
        "(`Cache-Control: public, max-age=31536000, immutable`; `private` under token auth); a "
        "version no longer current is 404 `version_gone`. Without it: the current bytes, "
        "`no-cache`.",
    ),
    OpenApiParameter(
        "If-None-Match",
        str,
        OpenApiParameter.HEADER,
        description='ETags the client has (`"<sha256>"`, or `*`); a match answers 304.',
    ),
    OpenApiParameter(
        "ETag",
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="The sha256 of the bytes, quoted.",
        response=[200, 304],
    ),
    OpenApiParameter(
        "Content-Disposition",
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="A generated file name: `<id>.jpg`, `.png`, `.tif`, `.webp` or `.heic`.",
        response=[200],
    ),
]
SPEC = OpenApiParameter(
    "spec",
    str,
    OpenApiParameter.PATH,
    description=(
        "`max-{W}x{H}` (fit inside), `fill-{W}x{H}` (cover, centre-cropped to exactly W x H), "
        "`width-{W}` or `height-{H}`; W and H from 1 to IMAGES_RENDITION_MAX_SIZE (4096), never "
        "larger than the source. Optionally `.jpg`, `.png`, `.webp`, `.avif`, or `.auto` "
        "(AVIF or WebP when Accept names them, else the source's format); without one, the "
        "source's format (a TIFF's: PNG, a HEIC's: JPEG)."
    ),
)
RENDITION_HEADERS = [
    SPEC,
    *(p for p in DOWNLOAD_HEADERS if p.name != "Content-Disposition"),
    OpenApiParameter(
        "Content-Disposition",
        str,
        OpenApiParameter.HEADER,
        required=True,
        description='`inline; filename="<id>-<spec>.<ext>"`, the spec without its format.',
        response=[200],
    ),
    OpenApiParameter(
        "Vary",
        str,
        OpenApiParameter.HEADER,
        description="`Accept`, for `.auto`: the format depends on it.",
        response=[200, 304],
    ),
]
RENDITION_RESPONSES = {
    **{(200, content_type): OpenApiTypes.BINARY for content_type in resize.CONTENT_TYPES.values()},
    302: OpenApiResponse(
        description="A stored rendition, with presigned downloads on: Location is a "
        "short-lived URL of the bytes."
    ),
    304: OpenApiResponse(description="Not modified: If-None-Match matched the ETag."),
    400: OpenApiResponse(ErrorSerializer, description="`invalid_rendition`"),
    **NOT_FOUND,
    503: ErrorSerializer,
}
