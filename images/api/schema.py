"""What the API's operations answer, as the OpenAPI schema says: one declaration per
viewset or view (``extend_schema_view``), applied where the viewset is defined; the pieces
several share are in images/api/schema_parts.py.

Each operation's ``operationId`` is set here, as clients generated from the schema know it;
other parts of the schema are keyed by it (tests/test_schema.py pins the set).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)

from images.api.query_params import UNKNOWN_PARAMETERS
from images.api.schema_parts import (
    BINARY,
    CREATED,
    DOWNLOAD_HEADERS,
    FILTERED,
    IMAGE_ERRORS,
    LABEL_FILTERS,
    LOCATION,
    NOT_FOUND,
    RENDITION_HEADERS,
    RENDITION_RESPONSES,
)
from images.api.serializers.history import (
    EventFeedSerializer,
    EventQuerySerializer,
    HistoryEntrySerializer,
)
from images.api.serializers.images import (
    BulkEditedSerializer,
    BulkEditSerializer,
    ErrorSerializer,
    ImageEditSerializer,
    ImageFromUrlSerializer,
    ImageRevisionsSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
    RestoreSerializer,
    TrashedImageSerializer,
    UploadOptionsSerializer,
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
from images.api.serializers.webhooks import (
    DeliverySerializer,
    NewWebhookSerializer,
    RedeliverSerializer,
    StoredRenditionListSerializer,
    WebhookSerializer,
)


def download(operation_id: str, summary: str):
    return extend_schema(
        operation_id=operation_id,
        parameters=DOWNLOAD_HEADERS,
        responses=BINARY,
        summary=summary,
    )


# --- PUT and PATCH of an image -------------------------------------------------------------


def update(operation_id: str):
    return extend_schema(
        operation_id=operation_id,
        request=ImageUpdateSerializer,
        # The edits but tags and metadata may also come as query parameters, same rules.
        parameters=[ImageEditSerializer],
        responses={200: ImageSerializer, **IMAGE_ERRORS, **NOT_FOUND},
        summary="Rename, describe or crop an image",
        description=(
            "Fields come as JSON or as query parameters. `width` and `height` crop the "
            'centre of the current image, on PUT and on PATCH alike (`{"width": "100", '
            '"height": "100"}` cuts the centre 100x100); with `left` and `top` they crop that '
            "box. A box that is the whole current image (`width` and `height` its size, as GET "
            "gives them, `left` and `top` 0 or absent) is no crop: nothing is decoded or stored "
            "and no revision or event is recorded, while the other fields apply. Read-only "
            "fields sent back (`id`, `sha256`, `phash`, `format`, `content_type`, `file_size`, "
            "`created_at`, `updated_at`, `source_url`, the URLs) are ignored, so a PUT of what "
            "GET gave with a new `name` renames the image and changes no bytes. `tags` "
            "replaces the tags; `metadata` is a JSON Merge Patch (RFC 7396) of the metadata. "
            "All the changes of one request apply, or none."
        ),
        examples=[
            OpenApiExample("Rename", value={"name": "plate 7", "description": "re-imaged"}),
            OpenApiExample("Centre crop", value={"width": 20, "height": 10}),
            OpenApiExample("Box crop", value={"width": 20, "height": 10, "left": 4, "top": 2}),
            OpenApiExample(
                "Tags and metadata",
                value={
                    "tags": ["plate", "re-imaged"],
                    "metadata": {"well": "B7", "timepoint": None},
                },
            ),
        ],
    )


# --- The viewsets and views ------------------------------------------------------------------

IMAGES = extend_schema_view(
    list=extend_schema(
        operation_id="api_v1_images_list",
        parameters=[ImageListQuerySerializer, *LABEL_FILTERS],
        responses={200: ImageSerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="List images, newest first",
        description="Every filter given must hold." + FILTERED,
        request=None,
    ),
    create=extend_schema(
        operation_id="api_v1_images_create",
        request=ImageFromUrlSerializer,
        parameters=[LOCATION],
        responses=CREATED,
        summary="Create an image from a URL the service downloads",
        description=(
            "The service fetches the URL (http or https, public addresses only unless "
            "configured otherwise, at most 3 redirects, a total deadline, the byte limit "
            "counted while streaming) and stores the bytes exactly as an upload. With "
            '`"dedupe": true`, bytes already stored (same sha256) answer 200 with that image '
            "and store nothing."
        ),
    ),
    upload=extend_schema(
        operation_id="images_upload",
        parameters=[UploadOptionsSerializer, LOCATION],
        request={"multipart/form-data": ImageUploadSerializer},
        responses=CREATED,
        summary="Upload a JPEG, PNG, TIFF, WebP or HEIC image",
        description=(
            "With `?dedupe=true`, an upload whose bytes are already stored (same sha256) "
            "answers 200 with that image and stores nothing (the tags and metadata sent "
            "included). `tags` may repeat, and each value may be comma-separated; "
            "`metadata` is a JSON object as text."
        ),
    ),
    retrieve=extend_schema(
        operation_id="api_v1_images_retrieve",
        responses={200: ImageSerializer, **NOT_FOUND},
        summary="An image's metadata",
    ),
    update=update("api_v1_images_update"),
    partial_update=update("api_v1_images_partial_update"),
    destroy=extend_schema(
        operation_id="api_v1_images_destroy",
        responses={204: None, **NOT_FOUND},
        summary="Move an image to the trash",
        description=(
            "From then on it is not found, listed or matched (404 everywhere but the trash); "
            "its files stay until it is purged, IMAGES_TRASH_DAYS later (0: at once), or "
            "restored with `POST /api/v1/trash/{id}/restore`."
        ),
    ),
    restore=extend_schema(
        operation_id="api_v1_images_restore_create",
        request=RestoreSerializer,
        responses={200: ImageSerializer, 400: ErrorSerializer, **NOT_FOUND, 503: ErrorSerializer},
        summary="Make a revision's bytes (default: the original) current again",
        description=(
            'Optional JSON `{"revision": n}` (default 1, the original). A new `"restore"` '
            "revision names the same stored bytes and is the current one; already current: "
            "nothing changes. An unknown revision is 404 `not_found`."
        ),
    ),
    diff=extend_schema(
        operation_id="api_v1_images_diff_retrieve",
        responses={200: ImageDiffSerializer, **NOT_FOUND},
        summary="Compare two images by perceptual hash",
    ),
    diff_image=extend_schema(
        operation_id="api_v1_images_diff_image_retrieve",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **NOT_FOUND},
        summary="A picture of where two images differ",
        description=(
            "A PNG for people: the two current images side by side at one scale, and a "
            "heatmap of where they differ over the larger one (a crop is located in it)."
        ),
    ),
    similar=extend_schema(
        operation_id="api_v1_images_similar_retrieve",
        parameters=[SimilarQuerySerializer, LabelFilterSerializer, *LABEL_FILTERS],
        responses={200: SimilarImagesSerializer, 400: ErrorSerializer, **NOT_FOUND},
        summary="Stored images that look like this one",
        description=(
            "Every other stored image whose phash is within `max_distance` bits of this "
            "image's (exact, over all images), nearest first, ties newest first. With tag "
            "or metadata filters, only among the images that match them." + FILTERED
        ),
    ),
    search=extend_schema(
        operation_id="api_v1_images_search_create",
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
    ),
    facets=extend_schema(
        operation_id="api_v1_images_facets_retrieve",
        parameters=[FacetQuerySerializer, *LABEL_FILTERS],
        responses={200: FacetsSerializer, 400: ErrorSerializer},
        summary="How many images have each tag, or each value of a metadata key",
        description=(
            "Among the images that match the filters (the list's), the most frequent values "
            "first, then by value (numbers, strings, false, true)." + FILTERED
        ),
    ),
    bulk=extend_schema(
        operation_id="api_v1_images_bulk_create",
        request=BulkEditSerializer,
        responses={200: BulkEditedSerializer, 400: ErrorSerializer, **NOT_FOUND},
        summary="Tag and annotate many images at once",
        description=(
            "Adds `add_tags`, removes `remove_tags` and applies the merge patch `metadata` to "
            "every image in `ids` (up to 1000), all or none: an unknown id is 404 and "
            "changes nothing, and so does an image that would get too many tags or keys "
            "(400)."
        ),
    ),
    file=download("api_v1_images_file_retrieve", "The current image's bytes"),
    original=download("api_v1_images_original_retrieve", "The bytes as first received"),
    revisions=extend_schema(
        operation_id="api_v1_images_revisions_retrieve",
        responses={200: ImageRevisionsSerializer, **NOT_FOUND},
        summary="Every revision of an image's bytes, oldest first",
        description=(
            'Revision 1 is the upload; each crop adds a `"crop"` revision, each restore a '
            '`"restore"` one naming the bytes it brought back. The last is `current`. At most '
            "IMAGES_MAX_REVISIONS are kept: the oldest go first, never revision 1."
        ),
    ),
    revision_file=download("api_v1_images_revisions_file_retrieve", "The bytes of one revision"),
    rendition=extend_schema(
        operation_id="api_v1_images_renditions_retrieve",
        parameters=RENDITION_HEADERS,
        responses=RENDITION_RESPONSES,
        summary="The current image resized: made on first request, then served as stored",
    ),
    stored_renditions=extend_schema(
        operation_id="api_v1_images_renditions_list",
        responses={200: StoredRenditionListSerializer, **NOT_FOUND},
        summary="The renditions stored for the current file (made ahead or on request)",
        description=(
            "Each stored rendition of the image's current file: made by the worker after an "
            "upload, crop or restore (IMAGES_EAGER_RENDITIONS), or by a first request."
        ),
    ),
    history=extend_schema(
        operation_id="api_v1_images_history_list",
        responses={200: HistoryEntrySerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="What happened to an image, newest first",
        description=(
            "Every change of the image (`created`, `updated`, `cropped`, `restored`, "
            "`deleted`, `undeleted`), with who made it: `actor.kind` is `token`, `user` "
            "(an admin login), `anonymous` or `command` (e.g. `import_images`)."
            + UNKNOWN_PARAMETERS
        ),
    ),
)

TRASH = extend_schema_view(
    list=extend_schema(
        operation_id="api_v1_trash_list",
        responses={200: TrashedImageSerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
        summary="The images in the trash, the latest deleted first",
        description=(
            "Paginated as the image list. Each is purged at its `purge_at` (IMAGES_TRASH_DAYS "
            "after its deletion) by `manage.py images_purge`, unless restored before."
            + UNKNOWN_PARAMETERS
        ),
    ),
    destroy=extend_schema(
        operation_id="api_v1_trash_destroy",
        responses={204: None, **NOT_FOUND},
        summary="Purge a trashed image now: its row, revisions, renditions and files",
        description="404 `not_found` for an id that is not in the trash.",
    ),
    restore=extend_schema(
        operation_id="api_v1_trash_restore_create",
        request=None,
        responses={200: ImageSerializer, **NOT_FOUND},
        summary="Take an image out of the trash, as it was",
        description=(
            "The same id, bytes, name, tags, metadata and revisions; it is found, listed and "
            "matched again. 404 `not_found` for an id that is not in the trash."
        ),
    ),
)

EVENTS = extend_schema_view(
    get=extend_schema(
        operation_id="api_v1_events_retrieve",
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
    ),
)

# The webhooks' errors: a URL the delivery rules refuse, or a field's own code.
WEBHOOK_REFUSED = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="`invalid_url`, `url_not_allowed`, `download_failed` (the host does not "
        "resolve), or a field's code",
    )
}

WEBHOOKS = extend_schema_view(
    list=extend_schema(
        operation_id="api_v1_webhooks_list",
        summary="The webhooks",
        responses={200: WebhookSerializer(many=True), **NOT_FOUND},
    ),
    create=extend_schema(
        operation_id="api_v1_webhooks_create",
        summary="Subscribe a URL to the changes (its secret is in this answer only)",
        request=WebhookSerializer,
        responses={201: NewWebhookSerializer, **WEBHOOK_REFUSED},
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
        responses={200: WebhookSerializer, **WEBHOOK_REFUSED, **NOT_FOUND},
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
