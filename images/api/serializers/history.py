"""The history and change feed as the API renders them, and the feed's query."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from images.api.serializers.fields import CodedIntegerField
from images.models import ImageEvent

# Cursors are BIGINT; a larger ``after`` must be refused here, not overflow in the query.
MAX_CURSOR = 2**63 - 1


class ActorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ImageEvent.ActorKind.choices, source="actor_kind")
    name = serializers.CharField(
        source="actor_name",
        allow_null=True,
        help_text="The token's name, the admin user's name or the command's; null if anonymous.",
    )
    address = serializers.CharField(
        source="actor_address",
        allow_null=True,
        help_text="The client's address as the rate limits see it; null for a command.",
    )


CHANGES = (
    "`updated`: each changed field (name, description, tags, metadata) mapped to "
    "`[old, new]`; `cropped`: `crop` (`{left, top, width, height}` in the pixels of the "
    "file cut from) and `width`, `height` as `[old, new]`; `restored`: `revision` (the one "
    "brought back) and `width`, `height` as `[old, new]`; `created`: the new image's name, "
    "description, tags, metadata, format, width, height, sha256 and source_url; otherwise "
    "`{}`."
)


@extend_schema_field({"type": "object", "additionalProperties": True, "description": CHANGES})
class ChangesField(serializers.JSONField):
    pass


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="When the change was made.")
    action = serializers.ChoiceField(choices=ImageEvent.Action.choices)
    actor = ActorSerializer(source="*")
    changes = ChangesField()


class EventSerializer(serializers.Serializer):
    cursor = serializers.IntegerField(
        help_text="The event's place in commit order: an integer, from 1, increasing."
    )
    at = serializers.DateTimeField(help_text="When the change was made.")
    image_id = serializers.UUIDField(help_text="The image; it may have been purged since.")
    action = serializers.ChoiceField(choices=ImageEvent.Action.choices)
    actor = ActorSerializer(source="*")
    changes = ChangesField()


class EventFeedSerializer(serializers.Serializer):
    results = EventSerializer(many=True, help_text="In cursor (commit) order.")
    next_cursor = serializers.IntegerField(
        help_text=(
            "The `after` of the next poll: the last result's cursor, or the `after` given "
            "(0 without one) when there are no results."
        )
    )


class EventQuerySerializer(serializers.Serializer):
    after = CodedIntegerField(
        code="invalid_cursor",
        min_value=0,
        max_value=MAX_CURSOR,
        required=False,
        default=0,
        help_text=(
            "The events after this cursor (an integer: the `next_cursor` of the last poll); "
            "0 or none: from the start."
        ),
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=1000, default=100, help_text="Most events returned (≤ 1000)."
    )
