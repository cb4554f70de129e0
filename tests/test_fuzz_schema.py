"""The API fuzzed against its own OpenAPI schema with schemathesis.

Every operation of ``/api/v1/schema/`` gets generated requests, valid and invalid, sent to
the WSGI app in this process; each answer must be no 500, have a documented status code,
content type, headers and body, and come within a hang guard. Path ids are sometimes swapped
for images that exist, uploads for real files and URLs for a test origin's, so the success
answers are checked too, not only the 400s and 404s.

CI runs a few examples per operation with a fixed seed; run longer with
``FUZZ_EXAMPLES=2000 make fuzz`` (docs/operating/index.md, "Fuzzing").
"""

import io
import os
import time

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from images import services
from images.models import Image
from tests.factories import image_bytes

# Files sometimes sent in place of the generated `file` (or served for `url`), so the 201,
# 413 and 415 answers are checked as well as the 400s.
UPLOADS = {
    "jpeg": image_bytes("JPEG", (40, 30)),
    "png": image_bytes("PNG", (40, 30)),
    "gif": image_bytes("GIF", (40, 30)),
    "too large": b"\xff\xd8\xff" + bytes(4096),
}

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261124"))
HANG_SECONDS = 10  # a guard against a request that stalls, not a benchmark

# Not run, by design:
# - positive_data_acceptance: bytes valid for the schema (any binary `file`) are rarely a
#   JPEG or PNG, and whether a crop box fits depends on the stored image, so a
#   schema-valid request is rightly refused with 400/413/415.
# - negative_data_rejection: form and query values are strings on the wire, and an empty
#   optional form or query value means "not given" (DRF's rule for forms), so requests the
#   check calls invalid are rightly accepted.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    unsupported_method,
    allow_header_conformance,
]


def load_schema(**phases: bool):
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {phase: {"enabled": on} for phase, on in phases.items()},
        }
    )
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application(), config=config)


# Generated requests; the schema's own examples get a test of their own below, as they
# cannot be combined with the strategies this one draws from.
schema = load_schema(examples=False, coverage=True, fuzzing=True)
documented = load_schema(examples=True, coverage=False, fuzzing=False).include(
    method=["PUT", "PATCH"],  # the operations with request examples: an image's update
    path_regex=r"^/api/v1/images/",  # (a webhook's PATCH has none: zero cases, a skip)
)

# Each operation is one test; a request that hangs outright is stopped here.
pytestmark = pytest.mark.timeout(120 + EXAMPLES)


@pytest.fixture
def urls(transactional_db, settings, origin) -> list[str]:
    """URLs of the test origin on 127.0.0.1, sometimes sent in place of a generated `url`.

    Only 127.0.0.1 may be fetched, so a generated URL is refused before any name is
    resolved: the fuzzer never reaches past this machine.
    """
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    settings.IMAGES_URL_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IMAGES_URL_TIMEOUT = 5.0
    # A small upload limit, so that random bodies also meet the streaming 413.
    settings.IMAGES_MAX_UPLOAD_BYTES = 2048
    return [origin.serve(f"/{kind}", data) for kind, data in UPLOADS.items()] + [
        origin.base + "/missing"
    ]


def new_image() -> str:
    data = io.BytesIO(image_bytes("JPEG", (40, 30)))
    return str(services.image_create(file=data, name="example").pk)


def existing_ids() -> list[str]:
    """Two stored images (one JPEG, one PNG); made again when a DELETE removed them."""
    ids = []
    for fmt in ("JPEG", "PNG"):
        image = Image.objects.filter(name=f"sample-{fmt}").first()
        if image is None:
            data = io.BytesIO(image_bytes(fmt, (40, 30)))
            image = services.image_create(file=data, name=f"sample-{fmt}")
        ids.append(str(image.pk))
    return ids


@schema.parametrize()
@schema.given(data=st.data())
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_answers_as_its_schema_says(case, data, urls):
    known = existing_ids()
    for name in list(case.path_parameters or {}):
        if data.draw(st.booleans(), label=f"existing {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(known))
    if "If-None-Match" in (case.headers or {}) and data.draw(st.booleans(), label="etag *"):
        case.headers["If-None-Match"] = "*"
    body = case.body if isinstance(case.body, dict) else {}
    if case.operation.path == "/api/v1/images/upload" and "file" in body:
        kind = data.draw(st.sampled_from(["generated", *UPLOADS]), label="file")
        if kind != "generated":
            body["file"] = UPLOADS[kind]
    if case.operation.path == "/api/v1/images/" and "url" in body and data.draw(st.booleans()):
        body["url"] = data.draw(st.sampled_from(urls), label="url")

    started = time.monotonic()
    case.call_and_validate(checks=CHECKS)
    assert time.monotonic() - started < HANG_SECONDS, "the request stalled"


@documented.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_schema_examples_are_answered_as_documented(case, transactional_db):
    case.path_parameters["image_id"] = new_image()  # the examples crop a 40x30 image

    response = case.call_and_validate(checks=CHECKS)

    assert response.status_code == 200, response.text
