"""Webhooks and their deliveries as the API takes and renders them; and the stored
renditions of an image (made ahead by the worker, or on request)."""

from rest_framework import serializers

from images.api.serializers.fields import MetadataField, TagsField
from images.api.serializers.history import MAX_CURSOR
from images.models import ImageEvent, Rendition, Webhook, WebhookDelivery

FIELDS = ["id", "url", "actions", "tags", "metadata", "active", "paused_reason", "created_at"]


class WebhookSerializer(serializers.ModelSerializer):
    url = serializers.URLField(
        max_length=2048,
        help_text="Where events are POSTed: http(s), a public address unless the service "
        "allows private ones (IMAGES_ALLOW_PRIVATE_URLS), a host of IMAGES_URL_ALLOWED_HOSTS "
        "when set.",
    )
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=ImageEvent.Action.choices),
        allow_empty=False,
        required=False,
        help_text="The actions sent; default all.",
    )
    tags = TagsField(required=False, help_text="Only images with all these tags.")
    metadata = MetadataField(
        required=False, help_text="Only images with these metadata values (`{KEY: value}`)."
    )
    active = serializers.BooleanField(
        required=False,
        help_text="false: paused (events wait). true again: resumed where it stopped.",
    )
    paused_reason = serializers.CharField(
        read_only=True, help_text="Why the worker paused it (empty if it did not)."
    )

    class Meta:
        model = Webhook
        fields = FIELDS
        read_only_fields = ["id", "paused_reason", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["actions"] = instance.actions or list(ImageEvent.Action.values)
        return data


class NewWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="`whsec_` + base64 of the signing key: shown in this answer only.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*FIELDS, "secret"]


class RedeliverSerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0,
        max_value=MAX_CURSOR,
        help_text="Deliver again every matching event after this cursor, in order.",
    )


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.IntegerField(source="cursor", help_text="The event's cursor.")
    status = serializers.CharField(
        source="outcome", help_text="delivered, rejected, retrying or refused."
    )
    response_code = serializers.IntegerField(allow_null=True, help_text="null: no answer.")
    duration_ms = serializers.IntegerField()

    class Meta:
        model = WebhookDelivery
        fields = ["event", "attempt", "at", "status", "response_code", "duration_ms", "error"]


class StoredRenditionSerializer(serializers.ModelSerializer):
    bytes = serializers.IntegerField(source="file_size", help_text="Its size in bytes.")
    format = serializers.CharField(help_text="JPEG, PNG, WEBP or AVIF.")

    class Meta:
        model = Rendition
        fields = ["spec", "format", "width", "height", "bytes", "sha256", "created_at"]


class StoredRenditionListSerializer(serializers.Serializer):
    results = StoredRenditionSerializer(many=True, help_text="By spec, then format.")
