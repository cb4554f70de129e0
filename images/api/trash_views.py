"""The trash (/api/v1/trash/) and an image's revisions: as thin as images/api/views.py."""

from django.core.files import File
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from access.actors import actor_from_request
from images import selectors, services
from images.api.pagination import ImagePagination
from images.api.query_params import UNKNOWN_PARAMETERS, check_query_params
from images.api.serializers import (
    ErrorSerializer,
    ImageRevisionsSerializer,
    ImageSerializer,
    TrashedImageSerializer,
)
from images.api.views import BINARY, DOWNLOAD_HEADERS, NOT_FOUND, AnyAccept, Guarded
from images.infra import storage


class TrashListView(Guarded, GenericAPIView):
    serializer_class = TrashedImageSerializer
    pagination_class = ImagePagination

    @extend_schema(
        responses={200: TrashedImageSerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="The images in the trash, the latest deleted first",
        description=(
            "Paginated as the image list. Each is purged at its `purge_at` (IMAGES_TRASH_DAYS "
            "after its deletion) by `manage.py images_purge`, unless restored before."
            + UNKNOWN_PARAMETERS
        ),
    )
    def get(self, request):
        check_query_params(self)
        page = self.paginate_queryset(selectors.trash_list())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class TrashDetailView(Guarded, APIView):
    @extend_schema(
        responses={204: None, **NOT_FOUND},
        summary="Purge a trashed image now: its row, revisions, renditions and files",
        description="404 `not_found` for an id that is not in the trash.",
    )
    def delete(self, request, image_id):
        services.image_purge(image_id=image_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrashRestoreView(Guarded, APIView):
    @extend_schema(
        request=None,
        responses={200: ImageSerializer, **NOT_FOUND},
        summary="Take an image out of the trash, as it was",
        description=(
            "The same id, bytes, name, tags, metadata and revisions; it is found, listed and "
            "matched again. 404 `not_found` for an id that is not in the trash."
        ),
    )
    def post(self, request, image_id):
        image = services.image_undelete(image_id=image_id, actor=actor_from_request(request))
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageRevisionsView(Guarded, APIView):
    @extend_schema(
        responses={200: ImageRevisionsSerializer, **NOT_FOUND},
        summary="Every revision of an image's bytes, oldest first",
        description=(
            'Revision 1 is the upload; each crop adds a `"crop"` revision, each restore a '
            '`"restore"` one naming the bytes it brought back. The last is `current`. At most '
            "IMAGES_MAX_REVISIONS are kept: the oldest go first, never revision 1."
        ),
    )
    def get(self, request, image_id):
        rows = selectors.revision_list(image_id=image_id)
        body = {"count": len(rows), "results": rows}
        return Response(ImageRevisionsSerializer(body, context={"request": request}).data)


class ImageRevisionFileView(Guarded, APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        parameters=DOWNLOAD_HEADERS, responses=BINARY, summary="The bytes of one revision"
    )
    def get(self, request, image_id, revision):
        row = selectors.revision_get(image_id=image_id, revision=revision)

        def reopen() -> tuple[storage.StoredFile, File]:
            opened, file = selectors.revision_open(image_id=image_id, revision=revision, seen=row)
            return _stored(opened), file

        return storage.download(request, _stored(row), stem=image_id, reopen=reopen)


def _stored(row) -> storage.StoredFile:
    return storage.StoredFile(row.file.name, row.format, row.file_size, row.sha256)
