"""Finding, ordering and counting by tags and metadata over HTTP: the list, the facets,
and /similar and /search restricted to the matching images, each compared with plain
Python over a few hundred images with random tags and metadata."""

import pytest
from django.db import transaction

from tests.lab_synthetic import (
    QUERIES,
    facet_counts,
    in_order,
    matching,
    parse,
    store_labelled,
)
from tests.synthetic import brute_force

pytestmark = pytest.mark.django_db

API = "/api/v1/images"


@pytest.fixture(scope="module")
def rows(django_db_setup, django_db_blocker):
    """300 labelled images for the whole module, rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield store_labelled(300, seed=8)
        transaction.set_rollback(True)


def listed(api, query: str) -> tuple[int, list[str]]:
    """Every page of the list for ``query``: the count and the ids in order."""
    ids, page, count = [], 1, None
    while True:
        response = api.get(f"{API}/?{query}&page_size=100&page={page}")
        assert response.status_code == 200, response.content
        body = response.json()
        count = body["count"]
        ids += [image["id"] for image in body["results"]]
        if not body["next"]:
            return count, ids
        page += 1


@pytest.mark.parametrize("query", QUERIES)
def test_the_list_is_the_brute_force_answer(api, rows, query):
    filters, ordering = parse(query)
    expected = [str(pk) for pk in in_order(matching(rows, filters), ordering)]

    assert listed(api, query) == (len(expected), expected)


def test_list_filters_combine_with_the_other_filters(api, rows):
    body = api.get(f"{API}/", {"tag": "plate", "name": "plat", "page_size": 100}).json()

    expected = [r for r in matching(rows, parse("tag=plate")[0]) if "plat" in r.name.lower()]
    assert body["count"] == len(expected)
    assert {image["id"] for image in body["results"]} == {str(r.id) for r in expected}


INVALID_FILTERS = [
    "tag=",
    "tag=a,b",
    "metadata.=x",
    "metadata.a b=x",
    "metadata.t__gt=soon",
    "metadata.t__lte=nan",
    "metadata.t__exists=maybe",
]
INVALID_ORDERINGS = ["ordering=size", "ordering=metadata.", "ordering=--name", "ordering=Name"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        *((path, query) for path in ("/", "/facets?field=tags&", "/{id}/similar?")
          for query in INVALID_FILTERS),
        *(("/", query) for query in INVALID_ORDERINGS),
    ],
)  # fmt: skip
def test_a_malformed_filter_or_ordering_is_400_invalid_filter(api, rows, path, query):
    url = API + path.replace("{id}", str(rows[0].id))
    response = api.get(f"{url}?{query}" if path == "/" else f"{url}{query}")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_filter"


def test_search_refuses_a_malformed_filter_too(api):
    response = api.post(f"{API}/search?tag=a,b", {"phash": "0" * 16}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter"


FACET_CASES = [
    ("tags", ""),
    ("tags", "metadata.plate=P1"),
    ("metadata.plate", ""),
    ("metadata.mixed", ""),
    ("metadata.mixed", "tag=plate"),
    ("metadata.timepoint", "metadata.ok__exists=false"),
    ("metadata.ok", "metadata.timepoint__gte=3"),
    ("metadata.nokey", ""),
]


@pytest.mark.parametrize(("field", "query"), FACET_CASES)
@pytest.mark.parametrize("limit", [2, None])
def test_facets_are_the_brute_force_counts(api, rows, field, query, limit):
    params = f"field={field}&{query}" + (f"&limit={limit}" if limit else "")

    response = api.get(f"{API}/facets?{params}")

    assert response.status_code == 200, response.content
    key = None if field == "tags" else field.removeprefix("metadata.")
    expected = facet_counts(matching(rows, parse(query)[0]), key, limit or 100)
    assert response.json() == {
        "field": field,
        "values": [{"value": value, "count": count} for value, count in expected],
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ("", "required"),
        ("field=name", "invalid_filter"),
        ("field=metadata.", "invalid_filter"),
        ("field=tags&limit=0", "min_value"),
        ("field=tags&limit=1001", "max_value"),
        ("field=tags&limit=many", "invalid"),
    ],
)
def test_facets_need_a_field_and_at_most_1000_values(api, params, code):
    response = api.get(f"{API}/facets?{params}")

    assert response.status_code == 400
    assert response.json()["code"] == code


SIMILAR_FILTERS = ["tag=plate", "metadata.plate=P2", "metadata.timepoint__lt=3&tag=control"]


def among(rows, query: str) -> set[str]:
    return {str(row.id) for row in matching(rows, parse(query)[0])}


def answer(body: dict) -> list[tuple[int, str]]:
    return [(result["distance"], result["image"]["id"]) for result in body["results"]]


@pytest.mark.parametrize("query", SIMILAR_FILTERS)
def test_similar_searches_only_among_the_matching_images(api, rows, query):
    allowed = among(rows, query)
    for pk, phash_value in stored_hashes()[:6]:
        response = api.get(f"{API}/{pk}/similar?max_distance=20&limit=100&{query}")

        assert response.status_code == 200, response.content
        expected = [(d, i) for d, i in brute_force(phash_value, 20, exclude=pk) if i in allowed]
        assert response.json()["count"] == len(expected)
        assert answer(response.json()) == expected[:100]


def stored_hashes() -> list:
    from images.models import Image

    return list(Image.objects.order_by("created_at", "id").values_list("pk", "phash_value"))


@pytest.mark.parametrize("query", SIMILAR_FILTERS)
def test_search_by_phash_searches_only_among_the_matching_images(api, rows, query):
    allowed = among(rows, query)
    for _, phash_value in stored_hashes()[10:15]:
        phash = f"{phash_value & (2**64 - 1):016x}"
        response = api.post(
            f"{API}/search?max_distance=20&limit=100&{query}", {"phash": phash}, format="json"
        )

        assert response.status_code == 200, response.content
        expected = [(d, pk) for d, pk in brute_force(phash_value, 20) if pk in allowed]
        assert response.json()["count"] == len(expected)
        assert answer(response.json()) == expected[:100]
