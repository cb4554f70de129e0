"""Local file storage on a disk that fills up, for real (a tiny tmpfs): a write that hits
ENOSPC answers 503 storage_unavailable and leaves no file and no row behind."""

import io
import os

import pytest
import requests
from django.core.management import call_command
from PIL import Image as PILImage

from images.models import Image
from tests.conftest import stored_files

pytestmark = pytest.mark.django_db(transaction=True)


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 * side * side bytes."""
    buffer = io.BytesIO()
    PILImage.frombytes("RGB", (side, side), os.urandom(3 * side * side)).save(buffer, "PNG")
    return buffer.getvalue()


def test_writes_to_a_full_media_disk_answer_503_and_leave_nothing(live_server, tiny_disk, settings):
    disk = tiny_disk(size=2 * 1024 * 1024)
    media = disk.path / "media"
    settings.MEDIA_ROOT = str(media)
    base = f"{live_server.url}/api/v1/images"
    first = requests.post(f"{base}/upload", files={"file": ("a.png", noise_png(200))}, timeout=30)
    assert first.status_code == 201
    image = first.json()
    stored = stored_files(media)

    disk.fill(room=16 * 1024)  # less than any of these writes needs
    for response in (
        requests.post(f"{base}/upload", files={"file": ("b.png", noise_png(200))}, timeout=30),
        requests.put(f"{base}/{image['id']}?width=150&height=150", timeout=30),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "storage_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert stored_files(media) == stored  # no partial file of the failed writes
    assert Image.objects.count() == 1
    assert requests.get(f"{base}/{image['id']}", timeout=30).json() == image

    disk.empty()
    again = requests.post(f"{base}/upload", files={"file": ("b.png", noise_png(200))}, timeout=30)
    assert again.status_code == 201
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())  # exits 1 on trouble
