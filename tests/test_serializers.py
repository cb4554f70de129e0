"""The metadata an image is rendered as."""

import io
import zoneinfo

import pytest
from django.urls import set_script_prefix
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from images import selectors, services
from images.api.serializers.images import ImageSerializer
from images.api.serializers.queries import ImageDiffSerializer
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def images():
    """Images that differ in every rendered field: format, name, description, source URL,
    and a crop (so the current file, size and times differ from the original's)."""
    plain = services.image_create(file=io.BytesIO(image_bytes("PNG", (40, 30))), name="plate")
    fancy = services.image_create(
        file=io.BytesIO(image_bytes("JPEG", (64, 48))),
        name="Zellkern — 7 µm",
        description="line one\nline two",
        source_url="http://images.lab.example/a%20b/plate.jpg?x=1",
    )
    services.image_crop(image_id=fancy.pk, width=20, height=10)
    cropped = services.image_rename(image_id=fancy.pk, name="crop")
    return [plain, fancy, cropped]


def generic(image, context: dict) -> dict:
    """What ModelSerializer's own field-by-field path renders for the image."""
    return dict(
        serializers.ModelSerializer.to_representation(ImageSerializer(context=context), image)
    )


@pytest.mark.parametrize(
    ("script_name", "zone"), [("", "UTC"), ("/lab", "UTC"), ("", "Europe/Paris")]
)
def test_metadata_is_exactly_what_the_model_serializer_fields_render(images, script_name, zone):
    request = Request(
        APIRequestFactory().get("/api/v1/images/", SCRIPT_NAME=script_name, HTTP_HOST="localhost")
    )
    context = {"request": request}
    set_script_prefix(script_name + "/")
    try:
        with timezone.override(zone):
            one_by_one = [ImageSerializer(image, context=context).data for image in images]
            as_list = ImageSerializer(images, many=True, context=context).data
            expected = [generic(image, context) for image in images]
    finally:
        set_script_prefix("/")

    assert one_by_one == expected
    assert as_list == expected
    assert [list(item) for item in as_list] == [list(item) for item in expected]  # field order
    in_zone = images[0].created_at.astimezone(zoneinfo.ZoneInfo(zone)).isoformat()
    assert expected[0]["created_at"] == in_zone.replace("+00:00", "Z")
    assert expected[0]["file_url"] == (
        f"http://localhost{script_name}/api/v1/images/{images[0].pk}/file?v={images[0].sha256[:16]}"
    )


def test_without_a_request_the_urls_are_paths(images):
    rendered = ImageSerializer(images, many=True).data

    assert rendered == [generic(image, {}) for image in images]
    assert rendered[1]["original_url"] == (
        f"/api/v1/images/{images[1].pk}/original?v={images[1].original_sha256[:16]}"
    )


@pytest.mark.parametrize("script_name", ["", "/lab"])
def test_diff_is_exactly_what_its_declared_fields_render(images, script_name):
    source, target = images[0], images[2]
    diff = selectors.image_diff(source_id=source.pk, target_id=target.pk)
    request = Request(
        APIRequestFactory().get("/api/v1/images/", SCRIPT_NAME=script_name, HTTP_HOST="localhost")
    )
    context = {"request": request}
    set_script_prefix(script_name + "/")
    try:
        rendered = ImageDiffSerializer(diff, context=context).data
        expected = serializers.Serializer.to_representation(
            ImageDiffSerializer(context=context), diff
        )
    finally:
        set_script_prefix("/")

    assert rendered == dict(expected)
    assert list(rendered) == list(expected)  # field order
    assert rendered["image_url"] == (
        f"http://localhost{script_name}/api/v1/images/{source.pk}/diff/{target.pk}/image"
    )
