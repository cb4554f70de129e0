"""An image and everything under it, as one viewset: validate with a serializer, call one
service or selector, render. What each action answers is declared in images/api/schema.py."""

from contextlib import nullcontext

from django.core.files import File
from django.db import transaction
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from access.actors import actor_from_request
from access.throttling import charge_costly
from images import selectors, services
from images.api import schema
from images.api.parsers import ImageMultiPartParser
from images.api.query_params import check_query_params
from images.api.serializers.history import HistoryEntrySerializer
from images.api.serializers.images import (
    BulkEditedSerializer,
    BulkEditSerializer,
    ImageFromUrlSerializer,
    ImageRevisionsSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
    RestoreSerializer,
    UploadOptionsSerializer,
    rendition_request,
)
from images.api.serializers.queries import (
    FacetQuerySerializer,
    FacetsSerializer,
    ImageDiffSerializer,
    ImageListQuerySerializer,
    ImageSearchSerializer,
    LabelFilterSerializer,
    SimilarImagesSerializer,
    SimilarQuerySerializer,
)
from images.api.serializers.webhooks import StoredRenditionListSerializer
from images.api.views.base import AnyAccept, GuardedViewSet, created, merged_input
from images.infra import storage, versions
from images.services import edits as labels
from images.services import renditions

CROP_BOX = ("width", "height", "left", "top")


# /api/v1/images/: the list, a create from a URL, one image (read, update, move to the
# trash), its files, revisions, renditions, comparisons and history; the list-level
# upload, search, facets and bulk edits. The costly actions decode a whole image: an
# upload, a create from a URL, a restore (it reads a revision's file again), a search (it
# decodes a file, or fetches and decodes a URL) and the diff picture (it decodes both).
@schema.IMAGES
class ImageViewSet(GuardedViewSet):
    costly_actions = frozenset({"upload", "create", "restore", "search", "diff_image"})
    paginated_actions = frozenset({"list", "history"})

    def list(self, request):
        check_query_params(self, ImageListQuerySerializer)
        query = ImageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self.paginated(selectors.image_list(**query.validated_data), ImageSerializer)

    def create(self, request):
        serializer = ImageFromUrlSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        image = services.image_create(
            **serializer.validated_data, actor=actor_from_request(request)
        )
        return created(request, image, new=not image.deduplicated)

    @action(detail=False, methods=["post"], parser_classes=[ImageMultiPartParser])
    def upload(self, request):
        options = UploadOptionsSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        serializer = ImageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        image = services.image_create(
            file=upload,
            name=serializer.validated_data.get("name"),
            description=serializer.validated_data["description"],
            sha256=getattr(upload, "sha256", None) or None,
            tags=serializer.validated_data["tags"],
            metadata=serializer.validated_data["metadata"],
            dedupe=options.validated_data["dedupe"],
            actor=actor_from_request(request),
        )
        return created(request, image, new=not image.deduplicated)

    def retrieve(self, request, image_id):
        image = selectors.image_read(image_id=image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)

    def update(self, request, image_id):
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

    def partial_update(self, request, image_id):
        return self.update(request, image_id)

    def destroy(self, request, image_id):
        services.image_delete(image_id=image_id, actor=actor_from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def restore(self, request, image_id):
        serializer = RestoreSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        image = services.image_restore(
            image_id=image_id, **serializer.validated_data, actor=actor_from_request(request)
        )
        return Response(ImageSerializer(image, context={"request": request}).data)

    # The custom action of the service's brief: two images compared by their stored phashes.
    @action(detail=True, url_path="diff/<image_id:target_id>")
    def diff(self, request, image_id, target_id):
        diff = selectors.image_diff(source_id=image_id, target_id=target_id)
        return Response(ImageDiffSerializer(diff, context={"request": request}).data)

    @action(
        detail=True,
        url_path="diff/<image_id:target_id>/image",
        content_negotiation_class=AnyAccept,
    )
    def diff_image(self, request, image_id, target_id):
        png = selectors.image_diff_picture(source_id=image_id, target_id=target_id)
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "no-cache"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @action(detail=True)
    def similar(self, request, image_id):
        check_query_params(self, SimilarQuerySerializer, LabelFilterSerializer)
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        labelled = LabelFilterSerializer(data=request.query_params)
        labelled.is_valid(raise_exception=True)
        matches = selectors.image_similar(
            image_id=image_id, **query.validated_data, **labelled.validated_data
        )
        return Response(SimilarImagesSerializer(matches, context={"request": request}).data)

    @action(detail=False, methods=["post"], parser_classes=[JSONParser, ImageMultiPartParser])
    def search(self, request):
        check_query_params(self, SimilarQuerySerializer, LabelFilterSerializer)
        serializer = ImageSearchSerializer(data=merged_input(request))
        serializer.is_valid(raise_exception=True)
        labelled = LabelFilterSerializer(data=request.query_params)
        labelled.is_valid(raise_exception=True)
        data = serializer.validated_data
        matches = selectors.image_search(
            max_distance=data["max_distance"],
            limit=data["limit"],
            file=data.get("file"),
            url=data.get("url"),
            phash=data.get("phash"),
            **labelled.validated_data,
        )
        return Response(SimilarImagesSerializer(matches, context={"request": request}).data)

    @action(detail=False)
    def facets(self, request):
        check_query_params(self, FacetQuerySerializer)
        query = FacetQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = dict(query.validated_data)
        field = options.pop("field")
        values = selectors.image_facets(**options)
        return Response(FacetsSerializer({"field": field, "values": values}).data)

    @action(detail=False, methods=["post"], parser_classes=[JSONParser])
    def bulk(self, request):
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

    @action(detail=True, content_negotiation_class=AnyAccept)
    def file(self, request, image_id):
        return self._download(request, image_id, original=False)

    @action(detail=True, content_negotiation_class=AnyAccept)
    def original(self, request, image_id):
        return self._download(request, image_id, original=True)

    def _download(self, request, image_id, *, original: bool):
        stored = selectors.image_file(image_id=image_id, original=original)

        def reopen() -> tuple[storage.StoredFile, File]:
            try:
                return stored, storage.open_file(stored.name)
            except FileNotFoundError:  # a write removed it meanwhile: the row says what now
                opened, file = selectors.image_open(image_id=image_id, original=original)
                return storage.StoredFile.of(opened, original=original), file

        return storage.download(request, stored, stem=image_id, reopen=reopen)

    @action(detail=True)
    def revisions(self, request, image_id):
        rows = selectors.revision_list(image_id=image_id)
        body = {"count": len(rows), "results": rows}
        return Response(ImageRevisionsSerializer(body, context={"request": request}).data)

    @action(
        detail=True,
        url_path="revisions/<revision:revision>/file",
        content_negotiation_class=AnyAccept,
    )
    def revision_file(self, request, image_id, revision):
        row = selectors.revision_get(image_id=image_id, revision=revision)

        def reopen() -> tuple[storage.StoredFile, File]:
            opened, file = selectors.revision_open(image_id=image_id, revision=revision, seen=row)
            return _stored(opened), file

        return storage.download(request, _stored(row), stem=image_id, reopen=reopen)

    @action(detail=True, url_path="renditions/<str:spec>", content_negotiation_class=AnyAccept)
    def rendition(self, request, image_id, spec):
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

    @action(detail=True, url_path="renditions")
    def stored_renditions(self, request, image_id):
        rows = selectors.image_renditions(image_id=image_id)
        return Response(StoredRenditionListSerializer({"results": rows}).data)

    @action(detail=True)
    def history(self, request, image_id):
        check_query_params(self)
        events = selectors.image_history(image_id=image_id)
        return self.paginated(events, HistoryEntrySerializer)


def _stored(row) -> storage.StoredFile:
    return storage.StoredFile(row.file.name, row.format, row.file_size, row.sha256)
