"""What Swagger UI and ReDoc show beside the schema itself: the operations grouped by task,
in the order a newcomer meets them, and request bodies with real-looking examples.

A drf-spectacular postprocessing hook, keyed by operationId, so that the views keep their
own ``extend_schema`` declarations and the schema's paths, operationIds and component
properties stay as they are. An operation left out of ``OPERATIONS`` keeps the tag
drf-spectacular gave it (tests/test_openapi.py fails on it).
"""

import copy

# The groups, in the order of SPECTACULAR_SETTINGS["TAGS"]; each group's operations in the
# order they are shown (paths follow the first operation of theirs listed here).
OPERATIONS: dict[str, list[str]] = {
    "images": [
        "images_upload",
        "api_v1_images_create",
        "api_v1_images_list",
        "api_v1_images_retrieve",
        "api_v1_images_partial_update",
        "api_v1_images_update",
        "api_v1_images_destroy",
    ],
    "files and renditions": [
        "api_v1_images_file_retrieve",
        "api_v1_images_original_retrieve",
        "api_v1_images_renditions_retrieve",
        "api_v1_images_renditions_list",
    ],
    "labels": ["api_v1_images_facets_retrieve", "api_v1_images_bulk_create"],
    "similar and diff": [
        "api_v1_images_similar_retrieve",
        "api_v1_images_search_create",
        "api_v1_images_diff_retrieve",
        "api_v1_images_diff_image_retrieve",
    ],
    "trash and revisions": [
        "api_v1_trash_list",
        "api_v1_trash_restore_create",
        "api_v1_trash_destroy",
        "api_v1_images_revisions_retrieve",
        "api_v1_images_revisions_file_retrieve",
        "api_v1_images_restore_create",
    ],
    "history and events": ["api_v1_images_history_list", "api_v1_events_retrieve"],
    "webhooks": [
        "api_v1_webhooks_create",
        "api_v1_webhooks_list",
        "api_v1_webhooks_retrieve",
        "api_v1_webhooks_partial_update",
        "api_v1_webhooks_destroy",
        "api_v1_webhooks_deliveries_list",
        "api_v1_webhooks_redeliver_create",
    ],
}

TAGS = [
    {"name": "images", "description": "Upload an image or fetch one from a URL; list, "
     "read, rename, relabel, crop and delete images."},
    {"name": "files and renditions", "description": "The bytes: the current file, the "
     "original as first received, and resized copies made on request (thumbnails)."},
    {"name": "labels", "description": "Tags and metadata across images: counts of each "
     "value (facets) and one edit applied to many images."},
    {"name": "similar and diff", "description": "Near-duplicates by perceptual hash, and "
     "what differs between two images, in numbers or as a picture."},
    {"name": "trash and revisions", "description": "A deleted image waits in the trash "
     "(IMAGES_TRASH_DAYS) until restored or purged; every crop and restore is a revision "
     "that can be made current again."},
    {"name": "history and events", "description": "Who changed what: one image's history, "
     "and the feed of every change for systems that follow them."},
    {"name": "webhooks", "description": "The same changes pushed: each matching event "
     "POSTed to a URL, signed (Standard Webhooks), retried until delivered."},
]  # fmt: skip

# Values a lab would really send. The form fields Swagger UI fills from the property's
# example, so these become what "Try it out" pre-fills, and what Execute stores.
METADATA = {"plate": "P-0042", "well": "B7", "timepoint": 3}
TAGS_EXAMPLE = ["P-0042", "brightfield"]
IMAGE_ID = "6f1c2a4e-8b0d-4a57-9c3e-2d5b7f9a1c08"
OTHER_ID = "0b9e7d3c-51a2-4f68-b4d0-7c1e9a2f3b65"
SOURCE_URL = "https://imaging.lab.example/plates/P-0042/B7-t3.jpg"

# Per property of a request body: the example Swagger UI's form starts from. ``name`` is
# empty on purpose: an empty name is the file's own (the upload's documented default).
FORM_EXAMPLES = {
    "ImageUploadRequest": {"name": "", "tags": TAGS_EXAMPLE, "metadata": METADATA},
    "ImageFromUrlRequest": {
        "url": SOURCE_URL,
        "name": "P-0042 B7 t3",
        "tags": TAGS_EXAMPLE,
        "metadata": METADATA,
    },
    # Its form is for a file: an example url or phash would be sent beside it.
    "ImageSearchRequest": {"url": "", "phash": ""},
}

# Per operation: named examples of its JSON body, where the view declares none (the
# update's are the view's own: the schema tests answer them against a small image).
BODY_EXAMPLES: dict[str, dict[str, dict]] = {
    "api_v1_images_create": {
        "from a URL": {
            "summary": "Fetch an image from a URL and label it",
            "value": FORM_EXAMPLES["ImageFromUrlRequest"],
        },
        "deduplicated": {
            "summary": "The stored image if these bytes are already stored",
            "value": {"url": SOURCE_URL, "dedupe": True},
        },
    },
    "api_v1_images_bulk_create": {
        "review": {
            "summary": "Tag two images as reviewed and record who did",
            "value": {
                "ids": [IMAGE_ID, OTHER_ID],
                "add_tags": ["reviewed"],
                "remove_tags": ["to-check"],
                "metadata": {"reviewer": "jdoe"},
            },
        }
    },
    "api_v1_images_search_create": {
        "by phash": {
            "summary": "Images within 6 bits of a phash",
            "value": {"phash": "c3a5f0e1d2b49687", "max_distance": 6, "limit": 20},
        },
        "by URL": {
            "summary": "Images like the one at a URL",
            "value": {"url": SOURCE_URL, "max_distance": 10},
        },
    },
    "api_v1_images_restore_create": {
        "original": {"summary": "Make the original current again", "value": {"revision": 1}},
        "revision": {"summary": "Make revision 3 current again", "value": {"revision": 3}},
    },
}

# Whole objects Swagger UI and ReDoc show as a response's sample, instead of one made up
# of "string", 0 and additionalProp1..3.
_FILES = f"http://127.0.0.1:8000/api/v1/images/{IMAGE_ID}"
COMPONENT_EXAMPLES = {
    "Image": {
        "id": IMAGE_ID,
        "name": "P-0042-B7",
        "description": "Brightfield, 10x objective",
        "tags": TAGS_EXAMPLE,
        "metadata": METADATA,
        "format": "JPEG",
        "content_type": "image/jpeg",
        "width": 1600,
        "height": 1200,
        "file_size": 412367,
        "sha256": "9f2b6c1e4d8a7b3c0e5f1a2d6c9b8e7f4a3d2c1b0e9f8a7d6c5b4a3f2e1d0c9b",
        "phash": "c3a5f0e1d2b49687",
        "file_url": f"{_FILES}/file",
        "original_url": f"{_FILES}/original",
        "thumbnail_url": f"{_FILES}/renditions/max-256x256",
        "source_url": None,
        "created_at": "2026-03-12T09:41:07.512Z",
        "updated_at": "2026-03-12T09:41:07.512Z",
    },
    "Error": {
        "detail": "metadata is not valid JSON: Expecting ',' delimiter: line 1 column 18",
        "code": "invalid_metadata",
    },
}

# Properties of other objects that drf-spectacular's samples would show as ["string"]
# and additionalProp1..3.
RESPONSE_EXAMPLES = {"tags": TAGS_EXAMPLE, "metadata": METADATA}
EXAMPLE_TYPES = {"tags": "array", "metadata": "object"}


def document_for_people(result, generator, request, public):
    """drf-spectacular postprocessing hook: tags, order and examples (see the module)."""
    rank = {
        operation_id: (group, position)
        for group, operation_ids in enumerate(OPERATIONS.values())
        for position, operation_id in enumerate(operation_ids)
    }
    tag_of = {
        operation_id: tag
        for tag, operation_ids in OPERATIONS.items()
        for operation_id in operation_ids
    }
    unknown = (len(OPERATIONS), 0)
    order = {}
    for path, operations in result["paths"].items():
        ranks = [unknown]
        for operation in _operations(operations):
            operation_id = operation.get("operationId")
            if operation_id in tag_of:
                operation["tags"] = [tag_of[operation_id]]
                ranks.append(rank[operation_id])
            _add_body_examples(operation)
        order[path] = min(ranks)
    result["paths"] = dict(sorted(result["paths"].items(), key=lambda item: order[item[0]]))
    _add_property_examples(result.get("components", {}).get("schemas", {}))
    return result


def _operations(operations: dict) -> list[dict]:
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    return [operations[method] for method in methods if method in operations]


# Operations whose JSON body Swagger UI should offer first (it opens the first media type):
# a search by phash runs as it stands; its form needs a file picked first.
JSON_FIRST = {"api_v1_images_search_create"}


def _add_body_examples(operation: dict) -> None:
    content = operation.get("requestBody", {}).get("content", {})
    if operation.get("operationId") in JSON_FIRST and "application/json" in content:
        operation["requestBody"]["content"] = {
            "application/json": content["application/json"]
        } | content
    examples = BODY_EXAMPLES.get(operation.get("operationId"))
    if not examples:
        return
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        if media_type == "application/json" and not ({"example", "examples"} & set(content)):
            content["examples"] = copy.deepcopy(examples)


def _add_property_examples(schemas: dict) -> None:
    for name, schema in schemas.items():
        if name in COMPONENT_EXAMPLES and "example" not in schema:
            schema["example"] = copy.deepcopy(COMPONENT_EXAMPLES[name])
        properties = schema.get("properties", {})
        # A request body's properties keep the examples of their operation alone: the
        # schema tests send each documented example of an update as it stands.
        responses = {} if name.endswith("Request") else RESPONSE_EXAMPLES
        examples = FORM_EXAMPLES.get(name, {}) | {
            field: example
            for field, example in responses.items()
            if properties.get(field, {}).get("type") == EXAMPLE_TYPES[field]
        }
        for field, example in examples.items():
            if field in properties and "example" not in properties[field]:
                properties[field]["example"] = copy.deepcopy(example)
