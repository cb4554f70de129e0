"""Thin HTTP: validate the input with a serializer, call one service, render the result."""

from contextlib import nullcontext

from django.db import transaction
from django.http import HttpResponse, QueryDict
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import ImagesAccess
from access.throttling import ImagesRateThrottle

from . import selectors, services, storage
from .models import Image
from .pagination import ImagePagination
from .serializers import (
    ErrorSerializer,
    ImageDiffSerializer,
    ImageFilterSerializer,
    ImageFromUrlSerializer,
    ImageSearchSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
    SimilarImagesSerializer,
    SimilarQuerySerializer,
    UploadOptionsSerializer,
)
from .uploads import ImageMultiPartParser

# Every error answer is JSON {"detail", "code"} (images.exception_handler).
NOT_FOUND = {404: ErrorSerializer}
# Refused bytes or request, or the object store unavailable (503).
IMAGE_ERRORS = {code: ErrorSerializer for code in (400, 413, 415, 503)}
LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    required=True,
    description="The new image's metadata URL.",
    response=[201],
)


# Every images view: tokens when IMAGES_AUTH=token, rate limits per scope. ``is_costly``
# tells the throttle which requests decode a whole image (scope ``uploads``). (Comments, not
# a docstring: drf-spectacular would make a docstring every operation's description.)
class Guarded:
    permission_classes = [ImagesAccess]
    throttle_classes = [ImagesRateThrottle]
    costly_methods: frozenset[str] = frozenset()

    def is_costly(self, request) -> bool:
        return request.method in self.costly_methods


class AnyAccept(BaseContentNegotiation):
    """Downloads answer with the image whatever the client's Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def created(request, image: Image, *, new: bool = True) -> Response:
    """201 for a new image; 200 for the stored one a deduplicated upload resolved to."""
    location = request.build_absolute_uri(reverse("image-detail", kwargs={"image_id": image.pk}))
    body = ImageSerializer(image, context={"request": request}).data
    code = status.HTTP_201_CREATED if new else status.HTTP_200_OK
    return Response(body, status=code, headers={"Location": location})


def merged_input(request) -> dict:
    """Query parameters and body fields (JSON or form) in one dict; the body wins."""
    body = request.data
    if not isinstance(body, dict):
        raise ParseError("The body must be a JSON object.")
    if isinstance(body, QueryDict):  # form bodies: one value per field
        body = body.dict()
    return {**request.query_params.dict(), **body}


class ImageUploadView(Guarded, APIView):
    parser_classes = [ImageMultiPartParser]
    costly_methods = frozenset({"POST"})

    @extend_schema(
        operation_id="images_upload",
        parameters=[UploadOptionsSerializer, LOCATION],
        request={"multipart/form-data": ImageUploadSerializer},
        responses={
            201: ImageSerializer,
            200: OpenApiResponse(ImageSerializer, description="dedupe: the stored twin."),
            **IMAGE_ERRORS,
        },
        summary="Upload a JPEG or PNG image",
        description=(
            "With `?dedupe=true`, an upload whose bytes are already stored (same sha256) "
            "answers 200 with that image and stores nothing."
        ),
    )
    def post(self, request):
        options = UploadOptionsSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        serializer = ImageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        fields = {
            "file": upload,
            "name": serializer.validated_data.get("name")
            or services.image_default_name(upload.name or ""),
            "description": serializer.validated_data["description"],
            "sha256": getattr(upload, "sha256", None) or None,
        }
        if options.validated_data["dedupe"]:
            image, new = services.image_get_or_create(**fields)
        else:
            image, new = services.image_create(**fields), True
        return created(request, image, new=new)


class ImageListView(Guarded, GenericAPIView):
    serializer_class = ImageSerializer
    pagination_class = ImagePagination
    costly_methods = frozenset({"POST"})  # creating an image from a URL

    @extend_schema(
        parameters=[ImageFilterSerializer],
        responses={200: ImageSerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="List images, newest first",
        request=None,
    )
    def get(self, request):
        filters = ImageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        images = selectors.image_list(**filters.validated_data)
        page = self.paginate_queryset(images)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=ImageFromUrlSerializer,
        parameters=[LOCATION],
        responses={
            201: ImageSerializer,
            200: OpenApiResponse(ImageSerializer, description="dedupe: the stored twin."),
            **IMAGE_ERRORS,
        },
        summary="Create an image from a URL the service downloads",
        description=(
            "The service fetches the URL (http or https, public addresses only unless "
            "configured otherwise, at most 3 redirects, a total deadline, the byte limit "
            "counted while streaming) and stores the bytes exactly as an upload. With "
            '`"dedupe": true`, bytes already stored (same sha256) answer 200 with that image '
            "and store nothing."
        ),
    )
    def post(self, request):
        serializer = ImageFromUrlSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if fields.pop("dedupe"):
            image, new = services.image_get_or_create_from_url(**fields)
        else:
            image, new = services.image_create_from_url(**fields), True
        return created(request, image, new=new)


CROP_FIELDS = ("width", "height")
CROP_BOX = ("width", "height", "left", "top")
# The update fields may also come as query parameters, with the same rules as in the body.
UPDATE_PARAMETERS = [ImageUpdateSerializer]
UPDATE_DESCRIPTION = (
    "Fields come as JSON or as query parameters. `width` and `height` crop the "
    "centre of the current image; with `left` and `top` they crop that box."
)
UPDATE_EXAMPLES = [
    OpenApiExample("Rename", value={"name": "plate 7", "description": "re-imaged"}),
    OpenApiExample("Centre crop", value={"width": 20, "height": 10}),
    OpenApiExample("Box crop", value={"width": 20, "height": 10, "left": 4, "top": 2}),
]


UPDATE_SCHEMA = {
    "request": ImageUpdateSerializer,
    "parameters": UPDATE_PARAMETERS,
    "responses": {200: ImageSerializer, **IMAGE_ERRORS, **NOT_FOUND},
    "summary": "Rename, describe or crop an image",
    "description": UPDATE_DESCRIPTION,
    "examples": UPDATE_EXAMPLES,
}


class ImageDetailView(Guarded, APIView):
    def is_costly(self, request) -> bool:
        """A crop (width or height, in the query or the body) decodes and encodes."""
        if request.method not in ("PUT", "PATCH"):
            return False
        body = request.data if isinstance(request.data, dict) else {}
        return any(field in request.query_params or field in body for field in CROP_FIELDS)

    @extend_schema(responses={200: ImageSerializer, **NOT_FOUND}, summary="An image's metadata")
    def get(self, request, image_id):
        image = selectors.image_get(image_id=image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)

    @extend_schema(**UPDATE_SCHEMA)
    def put(self, request, image_id):
        return self._update(request, image_id)

    @extend_schema(**UPDATE_SCHEMA)
    def patch(self, request, image_id):
        return self._update(request, image_id)

    @extend_schema(responses={204: None, **NOT_FOUND}, summary="Delete an image and its files")
    def delete(self, request, image_id):
        services.image_delete(image_id=image_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, image_id):
        serializer = ImageUpdateSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        edits = dict(serializer.validated_data)
        crop = {field: edits.pop(field) for field in CROP_BOX if field in edits}
        # A crop alone decodes outside any transaction (see image_crop); with a new name or
        # description too, all apply or none, and the crop decodes inside the transaction.
        with transaction.atomic() if edits else nullcontext():
            image = services.image_crop(image_id=image_id, **crop) if crop else None
            if "name" in edits:
                image = services.image_rename(image_id=image_id, name=edits["name"])
            if "description" in edits:
                image = services.image_describe(image_id=image_id, description=edits["description"])
        if image is None:  # nothing to change
            image = selectors.image_get(image_id=image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageRestoreView(Guarded, APIView):
    costly_methods = frozenset({"POST"})  # decodes the original again

    @extend_schema(
        request=None,
        responses={200: ImageSerializer, **NOT_FOUND, 503: ErrorSerializer},
        summary="Make the original the current image again",
    )
    def post(self, request, image_id):
        image = services.image_restore(image_id=image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageDiffView(Guarded, APIView):
    @extend_schema(
        responses={200: ImageDiffSerializer, **NOT_FOUND},
        summary="Compare two images by perceptual hash",
    )
    def get(self, request, source_id, target_id):
        diff = selectors.image_diff(source_id=source_id, target_id=target_id)
        return Response(ImageDiffSerializer(diff, context={"request": request}).data)


class ImageSimilarView(Guarded, APIView):
    @extend_schema(
        parameters=[SimilarQuerySerializer],
        responses={200: SimilarImagesSerializer, 400: ErrorSerializer, **NOT_FOUND},
        summary="Stored images that look like this one",
        description=(
            "Every other stored image whose phash is within `max_distance` bits of this "
            "image's (exact, over all images), nearest first, ties newest first."
        ),
    )
    def get(self, request, image_id):
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        matches = selectors.image_similar(image_id=image_id, **query.validated_data)
        return Response(SimilarImagesSerializer(matches, context={"request": request}).data)


class ImageSearchView(Guarded, APIView):
    parser_classes = [JSONParser, ImageMultiPartParser]
    costly_methods = frozenset({"POST"})  # decodes a file, or fetches and decodes a URL

    @extend_schema(
        parameters=[SimilarQuerySerializer],
        request={
            "multipart/form-data": ImageSearchSerializer,
            "application/json": ImageSearchSerializer,
        },
        responses={200: SimilarImagesSerializer, **IMAGE_ERRORS},
        summary="Stored images that look like an image that is not stored",
        description=(
            "Send one of: a multipart `file` (decoded as an upload is, with the same limits "
            'and errors), JSON `{"url"}` (fetched as `POST /images/` fetches), or JSON '
            '`{"phash"}` (16 hex digits). Nothing is stored. `max_distance` and `limit` '
            "come as query parameters or body fields."
        ),
    )
    def post(self, request):
        serializer = ImageSearchSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.get("file")
        matches = selectors.image_search(
            max_distance=data["max_distance"],
            limit=data["limit"],
            file=upload,
            url=data.get("url"),
            phash=data.get("phash"),
        )
        return Response(SimilarImagesSerializer(matches, context={"request": request}).data)


class ImageDiffPictureView(Guarded, APIView):
    content_negotiation_class = AnyAccept
    costly_methods = frozenset({"GET"})  # decodes both images

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY, **NOT_FOUND},
        summary="A picture of where two images differ",
        description=(
            "A PNG for people: the two current images side by side at one scale, and a "
            "heatmap of where they differ over the larger one (a crop is located in it)."
        ),
    )
    def get(self, request, source_id, target_id):
        png = selectors.image_diff_picture(source_id=source_id, target_id=target_id)
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "no-cache"
        response["X-Content-Type-Options"] = "nosniff"
        return response


BINARY = {
    (200, "image/jpeg"): OpenApiTypes.BINARY,
    (200, "image/png"): OpenApiTypes.BINARY,
    302: OpenApiResponse(
        description="With presigned downloads on: Location is a short-lived URL of the bytes."
    ),
    304: OpenApiResponse(description="Not modified: If-None-Match matched the ETag."),
    **NOT_FOUND,
    503: ErrorSerializer,
}
DOWNLOAD_HEADERS = [
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
        description="A generated file name: `<id>.jpg` or `<id>.png`.",
        response=[200],
    ),
]


class ImageFileView(Guarded, APIView):
    content_negotiation_class = AnyAccept
    original = False

    @extend_schema(
        parameters=DOWNLOAD_HEADERS, responses=BINARY, summary="The current image's bytes"
    )
    def get(self, request, image_id):
        image = selectors.image_get(image_id=image_id)
        if self.original:
            stored, fmt = image.original, image.original_format
            size, sha256 = image.original_file_size, image.original_sha256
        else:
            stored, fmt, size, sha256 = image.file, image.format, image.file_size, image.sha256
        return storage.download(
            request, stored.name, fmt=fmt, size=size, sha256=sha256, stem=image.pk
        )


class ImageOriginalView(ImageFileView):
    original = True

    @extend_schema(
        parameters=DOWNLOAD_HEADERS, responses=BINARY, summary="The bytes as first received"
    )
    def get(self, request, image_id):
        return super().get(request, image_id)
