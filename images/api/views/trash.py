"""/api/v1/trash/: the images moved to the trash, until they are purged or restored."""

from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from access.actors import actor_from_request
from images import selectors, services
from images.api import schema
from images.api.query_params import check_query_params
from images.api.serializers.images import ImageSerializer, TrashedImageSerializer
from images.api.views.base import GuardedViewSet


@schema.TRASH
class TrashViewSet(GuardedViewSet):
    def list(self, request):
        check_query_params(self)
        return self.paginated(selectors.trash_list(), TrashedImageSerializer)

    def destroy(self, request, image_id):
        services.image_purge(image_id=image_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def restore(self, request, image_id):
        image = services.image_undelete(image_id=image_id, actor=actor_from_request(request))
        return Response(ImageSerializer(image, context={"request": request}).data)
