"""The OpenAPI schema says what access control adds to the images operations."""

from django.conf import settings

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
ACCESS_RESPONSES = {
    "401": "No token (with IMAGES_AUTH=token), or a token that is not valid.",
    "403": "A read-only token on a write, or a login that is not staff.",
    "429": "Too many requests; the Retry-After header says how many seconds to wait.",
}


def document_access(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: 401, 403 and 429 on every guarded operation (one
    whose security has no anonymous ``{}`` alternative); in open mode, anonymous access."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security")
            if not security or {} in security:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ACCESS_RESPONSES.items():
                responses.setdefault(status, {"content": ERROR, "description": description})
            if settings.IMAGES_AUTH == "open":
                security.append({})
    return result
