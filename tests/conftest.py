import io
from pathlib import Path

import pytest
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """SQLite tests use a file, not a shared in-memory database, so that concurrent
    requests in tests lock and wait as they do under several gunicorn workers."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def files(media_root):
    """The files in storage right now."""
    return lambda: stored_files(media_root)


@pytest.fixture
def upload(api):
    def upload(data: bytes, filename: str = "photo.jpg", **fields):
        payload = {"file": io.BytesIO(data), **fields}
        payload["file"].name = filename
        return api.post("/api/v1/images/upload", payload, format="multipart")

    return upload
