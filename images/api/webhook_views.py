"""/api/v1/webhooks: subscriptions to the change feed, pushed by the worker
(images/worker/delivery.py); as thin as the other views."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from access.permissions import WebhooksAccess
from access.throttling import ImagesRateThrottle
from images import selectors
from images.api.pagination import ImagePagination
from images.api.serializers import ErrorSerializer
from images.api.webhook_serializers import (
    DeliverySerializer,
    NewWebhookSerializer,
    RedeliverSerializer,
    WebhookSerializer,
)
from images.services import webhooks

NOT_FOUND = {404: ErrorSerializer}
REFUSED = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="`invalid_url`, `url_not_allowed`, "
        "`download_failed` (the host does not resolve), or a field's code",
    )
}


@extend_schema_view(
    list=extend_schema(
        operation_id="api_v1_webhooks_list",
        summary="The webhooks",
        responses={200: WebhookSerializer(many=True)},
    ),
    create=extend_schema(
        operation_id="api_v1_webhooks_create",
        summary="Subscribe a URL to the changes (its secret is in this answer only)",
        request=WebhookSerializer,
        responses={201: NewWebhookSerializer, **REFUSED},
    ),
    retrieve=extend_schema(
        operation_id="api_v1_webhooks_retrieve",
        summary="A webhook",
        responses={200: WebhookSerializer, **NOT_FOUND},
    ),
    partial_update=extend_schema(
        operation_id="api_v1_webhooks_partial_update",
        summary="Change a webhook; `active: true` resumes a paused one",
        request=WebhookSerializer,
        responses={200: WebhookSerializer, **REFUSED, **NOT_FOUND},
    ),
    destroy=extend_schema(
        operation_id="api_v1_webhooks_destroy",
        summary="Remove a webhook",
        responses={204: None, **NOT_FOUND},
    ),
    deliveries=extend_schema(
        operation_id="api_v1_webhooks_deliveries_list",
        summary="A webhook's recent delivery attempts, newest first",
        responses={200: DeliverySerializer(many=True), **NOT_FOUND},
    ),
    redeliver=extend_schema(
        operation_id="api_v1_webhooks_redeliver_create",
        summary="Deliver again the matching events after a cursor (resumes a paused webhook)",
        request=RedeliverSerializer,
        responses={202: WebhookSerializer, 400: ErrorSerializer, **NOT_FOUND},
    ),
)
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
