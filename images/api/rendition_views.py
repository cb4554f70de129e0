"""GET /api/v1/images/{id}/renditions/{spec}: as thin as the other views (images/api/views.py)."""

from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from access.throttling import charge_costly
from images import selectors
from images.api.serializers import ErrorSerializer, rendition_request
from images.api.views import DOWNLOAD_HEADERS, NOT_FOUND, AnyAccept, Guarded
from images.imaging import resize
from images.infra import versions
from images.services import renditions

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


class ImageRenditionView(Guarded, APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        parameters=RENDITION_HEADERS,
        responses=RENDITION_RESPONSES,
        summary="The current image resized: made on first request, then served as stored",
    )
    def get(self, request, image_id, spec):
        wanted = rendition_request(spec=spec, accept=request.headers.get("Accept", ""))
        stored = selectors.rendition_stored(image_id=image_id, **wanted)
        if stored is None:
            # Reads are charged by the throttle; making one decodes the image: costly too.
            charge_costly(request, self)
        version = versions.asked(request.GET)
        served = renditions.image_rendition(
            image_id=image_id, **wanted, stored=stored, version=version
        )
        response = served.response(request, stem=f"{image_id}-{wanted['spec'].name}")
        if wanted["spec"].auto:
            patch_vary_headers(response, ["Accept"])
        return response
