"""GET /api/v1/images/{id}/history and GET /api/v1/events, as thin as images/api/views.py."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from images import selectors
from images.api.history_serializers import (
    EventFeedSerializer,
    EventQuerySerializer,
    HistoryEntrySerializer,
)
from images.api.pagination import ImagePagination
from images.api.query_params import UNKNOWN_PARAMETERS, check_query_params
from images.api.serializers import ErrorSerializer
from images.api.views import NOT_FOUND, Guarded


class ImageHistoryView(Guarded, GenericAPIView):
    serializer_class = HistoryEntrySerializer
    pagination_class = ImagePagination

    @extend_schema(
        responses={200: HistoryEntrySerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="What happened to an image, newest first",
        description=(
            "Every change of the image (`created`, `updated`, `cropped`, `restored`, "
            "`deleted`, `undeleted`), with who made it: `actor.kind` is `token`, `user` "
            "(an admin login), `anonymous` or `command` (e.g. `import_images`)."
            + UNKNOWN_PARAMETERS
        ),
    )
    def get(self, request, image_id):
        check_query_params(self)
        events = selectors.image_history(image_id=image_id)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class EventFeedView(Guarded, APIView):
    @extend_schema(
        parameters=[EventQuerySerializer],
        responses={200: EventFeedSerializer, 400: ErrorSerializer},
        summary="Every change of every image, in commit order",
        description=(
            "Poll with `after` set to the last answer's `next_cursor`: every committed "
            "change comes exactly once, in the order the changes committed, none before its "
            "transaction committed. `cursor` is an integer, increasing from 1. The events of "
            "purged images stay. A malformed `after` is 400 `invalid_cursor`; a `limit` "
            "outside 1-1000, 400 `min_value`, `max_value` or `invalid`." + UNKNOWN_PARAMETERS
        ),
    )
    def get(self, request):
        check_query_params(self, EventQuerySerializer)
        query = EventQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        feed = selectors.event_feed(**query.validated_data)
        return Response(EventFeedSerializer(feed).data)
