"""Thin HTTP: validate the input with a serializer, call one service, render the result."""

from contextlib import nullcontext

from django.core.files import File
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

from access.actors import actor_from_request
from access.permissions import ImagesAccess
from access.throttling import ImagesRateThrottle, charge_costly
from images import selectors, services
from images.api.pagination import ImagePagination
from images.api.parsers import ImageMultiPartParser
from images.api.query_params import UNKNOWN_PARAMETERS, check_query_params
from images.api.serializers import (
    BulkEditedSerializer,
    BulkEditSerializer,
    ErrorSerializer,
    FacetQuerySerializer,
    FacetsSerializer,
    ImageDiffSerializer,
    ImageEditSerializer,
    ImageFromUrlSerializer,
    ImageListQuerySerializer,
    ImageSearchSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
    LabelFilterSerializer,
    RestoreSerializer,
    SimilarImagesSerializer,
    SimilarQuerySerializer,
    UploadOptionsSerializer,
)
from images.imaging import decode as imaging
from images.infra import storage, versions
from images.models import Image
from images.services import edits as labels

# Every error answer is JSON {"detail", "code"} (images.exception_handler).
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


# Every images view: tokens when IMAGES_AUTH=token, rate limits per scope. The methods in
# ``costly_methods`` decode a whole image and count against the ``uploads`` scope; a request
# found costly by its input (a crop) is charged to it with ``charge_costly``. (Comments, not
# a docstring: drf-spectacular would make a docstring every operation's description.)
class Guarded:
    permission_classes = [ImagesAccess]
    throttle_classes = [ImagesRateThrottle]
    costly_methods: frozenset[str] = frozenset()


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
        summary="Upload a JPEG, PNG, TIFF, WebP or HEIC image",
        description=(
            "With `?dedupe=true`, an upload whose bytes are already stored (same sha256) "
            "answers 200 with that image and stores nothing (the tags and metadata sent "
            "included). `tags` may repeat, and each value may be comma-separated; "
            "`metadata` is a JSON object as text."
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
            "tags": serializer.validated_data["tags"],
            "metadata": serializer.validated_data["metadata"],
            "actor": actor_from_request(request),
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
        parameters=[ImageListQuerySerializer, *LABEL_FILTERS],
        responses={200: ImageSerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="List images, newest first",
        description="Every filter given must hold." + FILTERED,
        request=None,
    )
    def get(self, request):
        check_query_params(self, ImageListQuerySerializer)
        query = ImageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        images = selectors.image_list(**query.validated_data)
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
        fields = {**serializer.validated_data, "actor": actor_from_request(request)}
        if fields.pop("dedupe"):
            image, new = services.image_get_or_create_from_url(**fields)
        else:
            image, new = services.image_create_from_url(**fields), True
        return created(request, image, new=new)


CROP_BOX = ("width", "height", "left", "top")
# The edits but tags and metadata may also come as query parameters, with the same rules.
UPDATE_PARAMETERS = [ImageEditSerializer]
UPDATE_DESCRIPTION = (
    "Fields come as JSON or as query parameters. `width` and `height` crop the "
    'centre of the current image, on PUT and on PATCH alike (`{"width": "100", '
    '"height": "100"}` cuts the centre 100x100); with `left` and `top` they crop that '
    "box. A box that is the whole current image (`width` and `height` its size, as GET "
    "gives them, `left` and `top` 0 or absent) is no crop: nothing is decoded or stored and "
    "no revision or event is recorded, while the other fields apply. Read-only fields sent "
    "back (`id`, `sha256`, `phash`, `format`, `content_type`, `file_size`, `created_at`, "
    "`updated_at`, `source_url`, the URLs) are ignored, so a PUT of what GET gave with a "
    "new `name` renames the image and changes no bytes. `tags` replaces the tags; "
    "`metadata` is a JSON Merge Patch (RFC 7396) of the metadata. All the changes of one "
    "request apply, or none."
)
UPDATE_EXAMPLES = [
    OpenApiExample("Rename", value={"name": "plate 7", "description": "re-imaged"}),
    OpenApiExample("Centre crop", value={"width": 20, "height": 10}),
    OpenApiExample("Box crop", value={"width": 20, "height": 10, "left": 4, "top": 2}),
    OpenApiExample(
        "Tags and metadata",
        value={"tags": ["plate", "re-imaged"], "metadata": {"well": "B7", "timepoint": None}},
    ),
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

    @extend_schema(
        responses={204: None, **NOT_FOUND},
        summary="Move an image to the trash",
        description=(
            "From then on it is not found, listed or matched (404 everywhere but the trash); "
            "its files stay until it is purged, IMAGES_TRASH_DAYS later (0: at once), or "
            "restored with `POST /api/v1/trash/{id}/restore`."
        ),
    )
    def delete(self, request, image_id):
        services.image_delete(image_id=image_id, actor=actor_from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, image_id):
        serializer = ImageUpdateSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        edits = dict(serializer.validated_data)
        crop = {field: edits.pop(field) for field in CROP_BOX if field in edits}
        if crop:
            charge_costly(request, self)  # a crop decodes and encodes the image
        actor = actor_from_request(request)
        # A crop alone decodes outside any transaction (see image_crop); with other edits
        # too, all apply or none, and the crop decodes inside the transaction. The edits
        # are one `updated` event of the history, the crop a `cropped` one.
        with transaction.atomic() if edits else nullcontext():
            image = services.image_crop(image_id=image_id, actor=actor, **crop) if crop else None
            if edits:
                image = labels.image_edit(image_id=image_id, actor=actor, **edits)
        if image is None:  # nothing to change
            image = selectors.image_get(image_id=image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageRestoreView(Guarded, APIView):
    costly_methods = frozenset({"POST"})  # reads the revision's file again

    @extend_schema(
        request=RestoreSerializer,
        responses={200: ImageSerializer, 400: ErrorSerializer, **NOT_FOUND, 503: ErrorSerializer},
        summary="Make a revision's bytes (default: the original) current again",
        description=(
            'Optional JSON `{"revision": n}` (default 1, the original). A new `"restore"` '
            "revision names the same stored bytes and is the current one; already current: "
            "nothing changes. An unknown revision is 404 `not_found`."
        ),
    )
    def post(self, request, image_id):
        serializer = RestoreSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        image = services.image_restore(
            image_id=image_id, **serializer.validated_data, actor=actor_from_request(request)
        )
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
        parameters=[SimilarQuerySerializer, LabelFilterSerializer, *LABEL_FILTERS],
        responses={200: SimilarImagesSerializer, 400: ErrorSerializer, **NOT_FOUND},
        summary="Stored images that look like this one",
        description=(
            "Every other stored image whose phash is within `max_distance` bits of this "
            "image's (exact, over all images), nearest first, ties newest first. With tag "
            "or metadata filters, only among the images that match them." + FILTERED
        ),
    )
    def get(self, request, image_id):
        check_query_params(self, SimilarQuerySerializer, LabelFilterSerializer)
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        labelled = LabelFilterSerializer(data=request.query_params)
        labelled.is_valid(raise_exception=True)
        matches = selectors.image_similar(
            image_id=image_id, **query.validated_data, **labelled.validated_data
        )
        return Response(SimilarImagesSerializer(matches, context={"request": request}).data)


class ImageSearchView(Guarded, APIView):
    parser_classes = [JSONParser, ImageMultiPartParser]
    costly_methods = frozenset({"POST"})  # decodes a file, or fetches and decodes a URL

    @extend_schema(
        parameters=[SimilarQuerySerializer, LabelFilterSerializer, *LABEL_FILTERS],
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
            "come as query parameters or body fields; tag and metadata filters as query "
            "parameters, and then only the images that match them are searched." + FILTERED
        ),
    )
    def post(self, request):
        check_query_params(self, SimilarQuerySerializer, LabelFilterSerializer)
        serializer = ImageSearchSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        labelled = LabelFilterSerializer(data=request.query_params)
        labelled.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.get("file")
        matches = selectors.image_search(
            max_distance=data["max_distance"],
            limit=data["limit"],
            file=upload,
            url=data.get("url"),
            phash=data.get("phash"),
            **labelled.validated_data,
        )
        return Response(SimilarImagesSerializer(matches, context={"request": request}).data)


class ImageFacetsView(Guarded, APIView):
    @extend_schema(
        parameters=[FacetQuerySerializer, *LABEL_FILTERS],
        responses={200: FacetsSerializer, 400: ErrorSerializer},
        summary="How many images have each tag, or each value of a metadata key",
        description=(
            "Among the images that match the filters (the list's), the most frequent values "
            "first, then by value (numbers, strings, false, true)." + FILTERED
        ),
    )
    def get(self, request):
        check_query_params(self, FacetQuerySerializer)
        query = FacetQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = dict(query.validated_data)
        field = options.pop("field")
        values = selectors.image_facets(**options)
        body = {"field": field, "values": values}
        return Response(FacetsSerializer(body).data)


class ImageBulkView(Guarded, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=BulkEditSerializer,
        responses={200: BulkEditedSerializer, 400: ErrorSerializer, **NOT_FOUND},
        summary="Tag and annotate many images at once",
        description=(
            "Adds `add_tags`, removes `remove_tags` and applies the merge patch `metadata` to "
            "every image in `ids` (up to 1000), all or none: an unknown id is 404 and "
            "changes nothing, and so does an image that would get too many tags or keys "
            "(400)."
        ),
    )
    def post(self, request):
        serializer = BulkEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        updated = labels.image_bulk_edit(
            image_ids=data["ids"],
            add_tags=data["add_tags"],
            remove_tags=data["remove_tags"],
            metadata=data["metadata"],
            actor=actor_from_request(request),
        )
        return Response(BulkEditedSerializer({"updated": updated}).data)


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
        versions.PARAMETER,
        str,
        OpenApiParameter.QUERY,
        description=(
            "The version the metadata's links name: the first 16 hex digits of the bytes' "
            "sha256 (a rendition's: of the current file it is made from). The answer is then "
            "`Cache-Control: public, max-age=31536000, immutable` (`private` with token "
            "auth); 404 `version_gone` once those are not the bytes this URL answers with. "
            "Without it: the current bytes, `no-cache`."
        ),
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


class ImageFileView(Guarded, APIView):
    content_negotiation_class = AnyAccept
    original = False

    @extend_schema(
        parameters=DOWNLOAD_HEADERS, responses=BINARY, summary="The current image's bytes"
    )
    def get(self, request, image_id):
        image = selectors.image_get(image_id=image_id)

        def reopen() -> tuple[storage.StoredFile, File]:
            opened, file = selectors.image_open(
                image_id=image_id, original=self.original, seen=image
            )
            return storage.StoredFile.of(opened, original=self.original), file

        stored = storage.StoredFile.of(image, original=self.original)
        return storage.download(request, stored, stem=image.pk, reopen=reopen)


class ImageOriginalView(ImageFileView):
    original = True

    @extend_schema(
        parameters=DOWNLOAD_HEADERS, responses=BINARY, summary="The bytes as first received"
    )
    def get(self, request, image_id):
        return super().get(request, image_id)
