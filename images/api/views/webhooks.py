"""/api/v1/webhooks: subscriptions to the change feed, pushed by the worker
(images/worker/delivery.py); as thin as the other viewsets."""

from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from access.permissions import WebhooksAccess
from access.throttling import ImagesRateThrottle
from images import selectors
from images.api import schema
from images.api.pagination import ImagePagination
from images.api.serializers.webhooks import (
    DeliverySerializer,
    NewWebhookSerializer,
    RedeliverSerializer,
    WebhookSerializer,
)
from images.services import webhooks


@schema.WEBHOOKS
class WebhookViewSet(GenericViewSet):
    permission_classes = [WebhooksAccess]
    throttle_classes = [ImagesRateThrottle]
    pagination_class = ImagePagination
    serializer_class = WebhookSerializer
    lookup_url_kwarg = "webhook_id"
    lookup_value_converter = "image_id"  # a UUID; anything else is a JSON 404

    def list(self, request):
        page = self.paginate_queryset(selectors.webhook_list())
        return self.get_paginated_response(WebhookSerializer(page, many=True).data)

    def create(self, request):
        serializer = WebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = webhooks.webhook_create(**serializer.validated_data)
        return Response(NewWebhookSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, webhook_id):
        return Response(WebhookSerializer(webhooks.webhook_get(webhook_id=webhook_id)).data)

    def partial_update(self, request, webhook_id):
        serializer = WebhookSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = webhooks.webhook_update(webhook_id=webhook_id, **serializer.validated_data)
        return Response(WebhookSerializer(webhook).data)

    def destroy(self, request, webhook_id):
        webhooks.webhook_delete(webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["get"])
    def deliveries(self, request, webhook_id):
        page = self.paginate_queryset(selectors.webhook_deliveries(webhook_id=webhook_id))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @action(detail=True, methods=["post"])
    def redeliver(self, request, webhook_id):
        serializer = RedeliverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = webhooks.webhook_redeliver(webhook_id=webhook_id, **serializer.validated_data)
        return Response(WebhookSerializer(webhook).data, status=status.HTTP_202_ACCEPTED)
