"""Query parameters an endpoint does not know are refused, not ignored: a typo in a filter
must not read as "every image". And metadata keys may not hold `__`, so that a filter's
`metadata.KEY__OP` reads one way only."""

import io
import json

import pytest

from images import services
from images.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

API = "/api/v1"
PHASH = {"phash": "0" * 16}


@pytest.fixture
def image():
    file = io.BytesIO(image_bytes("PNG", (32, 24)))
    file.name = "plate.png"
    return services.image_create(
        file=file, name="plate", tags=["plate"], metadata={"plate": "P-0042"}
    )


def get(api, image, endpoint: str, query: str):
    """A request to ``endpoint`` (a name) with ``query``."""
    paths = {
        "list": "/images/",
        "facets": "/images/facets?field=tags&",
        "similar": f"/images/{image.pk}/similar",
        "search": "/images/search",
        "trash": "/trash/",
        "history": f"/images/{image.pk}/history",
        "events": "/events",
    }
    path = paths[endpoint]
    url = API + path + ("" if path.endswith("&") else "?") + query
    if endpoint == "search":
        return api.post(url, PHASH, format="json")
    return api.get(url)


ENDPOINTS = ["list", "facets", "similar", "search", "trash", "history", "events"]


@pytest.mark.parametrize(
    ("query", "named", "hint"),
    [
        ("tags=plate", "`tags`", "did you mean `tag`?"),
        ("plate=P-0042", "`plate`", "did you mean `metadata.plate`?"),
        ("formt=PNG", "`formt`", "did you mean `format`?"),
        ("limit=1", "`limit`", "did you mean `page_size`?"),  # other APIs' paging names
        ("offset=20", "`offset`", "did you mean `page`?"),
    ],
)
def test_the_issues_typos_on_the_list_are_400_naming_them_with_the_closest(
    api, image, query, named, hint
):
    # GET /api/v1/images/?tags=plate, ?plate=P-0042, ?formt=PNG: 200 with every image before
    response = api.get(f"{API}/images/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_filter"
    assert body["detail"].startswith(f"Unknown query parameter {named} ({hint})")
    assert (
        "This endpoint takes: `format`, `metadata.KEY`, `metadata.KEY__OP`, `name`, "
        in (body["detail"])
    )
    assert "`page`, `page_size`" in body["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_list_like_endpoint_refuses_an_unknown_parameter(api, image, endpoint):
    response = get(api, image, endpoint, "bogus=1")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_filter"
    assert response.json()["detail"].startswith("Unknown query parameter `bogus`")


def test_the_search_takes_its_image_in_the_body_not_the_query(api):
    response = api.post(f"{API}/images/search?phash={'0' * 16}", PHASH, format="json")

    assert response.json()["detail"] == (
        "Unknown query parameter `phash` (did you mean `metadata.phash`?). This endpoint "
        "takes: `limit`, `max_distance`, `metadata.KEY`, `metadata.KEY__OP`, `tag`."
    )


@pytest.mark.parametrize("endpoint", ["similar", "search", "trash", "history", "events"])
def test_drf_format_parameter_is_refused_where_format_is_no_filter(api, image, endpoint):
    response = get(api, image, endpoint, "format=json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter"
    assert "`format`" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", ["list", "facets"])
def test_format_json_on_the_list_is_refused_as_no_image_format(api, image, endpoint):
    response = get(api, image, endpoint, "format=json")

    assert response.status_code == 400
    assert response.json()["errors"]["format"] == ['"json" is not a valid choice.']


@pytest.mark.parametrize(
    ("endpoint", "query"),
    [
        ("list", "page=1&page_size=5&name=plate&format=PNG&ordering=name&tag=plate"),
        ("list", "metadata.plate=P-0042&metadata.t__gt=1&metadata.t__exists=false"),
        ("facets", "limit=5&name=plate&tag=plate&metadata.plate=P-0042"),
        ("similar", "max_distance=5&limit=3&tag=plate&metadata.plate__exists=true"),
        ("search", "max_distance=5&limit=3&tag=plate&metadata.plate=P-0042"),
        ("trash", "page=1&page_size=5"),
        ("history", "page=1&page_size=5"),
        ("events", "after=0&limit=5"),
    ],
)
def test_the_parameters_each_endpoint_takes_are_accepted(api, image, endpoint, query):
    response = get(api, image, endpoint, query)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("endpoint", ["facets", "similar", "search", "events"])
def test_pagination_parameters_are_refused_where_there_are_no_pages(api, image, endpoint):
    response = get(api, image, endpoint, "page=2")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Unknown query parameter `page`")


@pytest.mark.parametrize("endpoint", ["trash", "history", "events"])
def test_filters_are_refused_where_there_is_nothing_to_filter(api, image, endpoint):
    response = get(api, image, endpoint, "tag=plate")

    assert response.status_code == 400
    assert "Unknown query parameter `tag`." in response.json()["detail"]


def test_several_unknown_parameters_are_all_named(api, image):
    response = api.get(f"{API}/events?limt=5&aftr=3")

    assert response.json()["detail"] == (
        "Unknown query parameters `limt` (did you mean `limit`?), `aftr` (did you mean "
        "`after`?). This endpoint takes: `after`, `limit`."
    )


@pytest.mark.parametrize("endpoint", ["list", "facets", "similar", "search"])
def test_an_unknown_metadata_operator_is_400_naming_the_operators(api, image, endpoint):
    # GET /api/v1/images/?metadata.plate__foo=1: 200 and no image before (a key "plate__foo")
    response = get(api, image, endpoint, "metadata.plate__foo=1")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Unknown operator 'foo' in 'metadata.plate__foo': after `__` comes one of "
        "gt, gte, lt, lte, exists (metadata.KEY__OP), and no key holds `__`.",
        "code": "invalid_filter",
        "errors": {"non_field_errors": [response.json()["detail"]]},
    }


def test_a_key_ending_in_an_underscore_is_still_compared(api):
    services.image_create(file=_png(), name="t", metadata={"t_": 5})

    response = api.get(f"{API}/images/?metadata.t___gt=4")

    assert response.json()["count"] == 1


def _png() -> io.BytesIO:
    file = io.BytesIO(image_bytes("PNG", (16, 16)))
    file.name = "a.png"
    return file


KEY_REFUSED = "A metadata key may not hold two underscores in a row"


def test_upload_with_a_key_holding_two_underscores_is_400_invalid_metadata(api, files):
    response = api.post(
        f"{API}/images/upload",
        {"file": _png(), "metadata": json.dumps({"plate__id": 1})},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_metadata"
    assert KEY_REFUSED in response.json()["detail"]
    assert not Image.all_objects.exists()
    assert files() == []


def test_url_create_with_a_key_holding_two_underscores_is_400_before_any_download(api, origin):
    url = origin.serve("/a.png", image_bytes("PNG"), "image/png")

    response = api.post(f"{API}/images/", {"url": url, "metadata": {"plate__id": 1}}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_metadata"
    assert origin.requests == []


@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_edit_setting_a_key_with_two_underscores_is_400(api, image, method):
    response = getattr(api, method)(
        f"{API}/images/{image.pk}", {"metadata": {"plate__id": 1}}, format="json"
    )

    assert response.status_code == 400
    assert KEY_REFUSED in response.json()["detail"]
    image.refresh_from_db()
    assert image.metadata == {"plate": "P-0042"}


def test_a_bulk_edit_setting_a_key_with_two_underscores_is_400(api, image):
    response = api.post(
        f"{API}/images/bulk", {"ids": [str(image.pk)], "metadata": {"a__b": 1}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_metadata"
    image.refresh_from_db()
    assert image.metadata == {"plate": "P-0042"}


def test_a_key_stored_with_two_underscores_before_the_rule_can_be_removed(api, image):
    Image.objects.filter(pk=image.pk).update(metadata={"plate": "P-0042", "a__b": 1})

    response = api.patch(f"{API}/images/{image.pk}", {"metadata": {"a__b": None}}, format="json")

    assert response.status_code == 200
    assert response.json()["metadata"] == {"plate": "P-0042"}
