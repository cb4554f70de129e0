"""GET /api/v1/events: every change of every image, in commit order (a view: the feed has
no objects to route by id)."""

from rest_framework.response import Response

from images import selectors
from images.api import schema
from images.api.query_params import check_query_params
from images.api.serializers.history import EventFeedSerializer, EventQuerySerializer
from images.api.views.base import GuardedView


@schema.EVENTS
class EventFeedView(GuardedView):
    def get(self, request):
        check_query_params(self, EventQuerySerializer)
        query = EventQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        feed = selectors.event_feed(**query.validated_data)
        return Response(EventFeedSerializer(feed).data)
