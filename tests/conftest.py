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
    elif database["ENGINE"].endswith("postgresql"):
        # Commits of the throw-away test database need not wait for the disk: transactional
        # tests empty every table after each test, which is most of their time otherwise.
        # Locking and transactions behave exactly the same.
        database.setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"


@pytest.fixture(autouse=True)
def _fresh_similarity_index():
    """Each test starts with an unloaded phash index: the database under it is rolled back
    or flushed between tests, which no running service ever sees."""
    from images.similarity import index

    index.reset()
    yield
    index.reset()


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
def temp_folder(settings, tmp_path, monkeypatch) -> Path:
    """Every temporary file the service makes goes here (uploads spooled to disk, crops),
    so a test sees one left behind: ``list(temp_folder.iterdir())``."""
    import tempfile

    folder = tmp_path / "temp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def files(media_root):
    """The files in storage right now."""
    return lambda: stored_files(media_root)


@pytest.fixture
def broken_cache(settings, tmp_path):
    """Django's cache in a folder that cannot be made, a file standing where it goes: every
    call to the cache fails, as on a broken disk."""
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(not_a_folder / "cache"),
        }
    }


@pytest.fixture
def upload(api):
    def upload(data: bytes, filename: str = "photo.jpg", **fields):
        payload = {"file": io.BytesIO(data), **fields}
        payload["file"].name = filename
        return api.post("/api/v1/images/upload", payload, format="multipart")

    return upload


class Origin:
    """A real HTTP server on 127.0.0.1 serving canned answers, recording what it was asked."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                origin.requests.append((self.path, dict(self.headers)))
                status, headers, body = origin.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path: str, body: bytes, content_type: str = "application/octet-stream",
              status: int = 200, **headers: str) -> str:  # fmt: skip
        self.routes[path] = (status, {"Content-Type": content_type, **headers}, body)
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1, for the whole session (each test has its own bucket)."""
    import logging

    from tests.servers import S3Server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per S3 request
    server = S3Server().start()
    yield server
    server.stop()


class S3Bucket:
    """The bucket the service stores into, seen from outside the service."""

    def __init__(self, server, name: str, prefix: str) -> None:
        self.server, self.name, self.prefix = server, name, prefix
        self.client = server.client()

    def stored_keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def use_s3(s3_server, settings, monkeypatch):
    """Switch the service to S3 storage in a new bucket, configured as in production: the
    environment variables, read by imageservice/settings.py. Extra variables may be given."""
    import runpy
    import uuid

    import imageservice.settings

    def use_s3(**environment: str) -> S3Bucket:
        bucket = S3Bucket(s3_server, f"images-{uuid.uuid4().hex[:16]}", prefix="lab-a/")
        bucket.client.create_bucket(Bucket=bucket.name)
        environment = {
            "IMAGES_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": bucket.name,
            "AWS_S3_ENDPOINT_URL": s3_server.url,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_LOCATION": bucket.prefix.rstrip("/"),
            **environment,
        }
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        loaded = runpy.run_path(imageservice.settings.__file__)
        for name in (
            "IMAGES_STORAGE",
            "IMAGES_S3_PRESIGNED_DOWNLOADS",
            "IMAGES_S3_PRESIGNED_TTL",
            "IMAGES_STORAGE_TIMEOUT",
        ):
            setattr(settings, name, loaded[name])
        settings.STORAGES = loaded["STORAGES"]  # resets default_storage
        return bucket

    yield use_s3
    s3_server.refuse_writes = False


@pytest.fixture
def s3(use_s3) -> S3Bucket:
    return use_s3()


@pytest.fixture
def database_outage(transactional_db, tmp_path):
    """The database, ready to be taken away for real (tests/faults.py)."""
    from tests.faults import DatabaseOutage

    outage = DatabaseOutage(tmp_path / "database")
    yield outage
    outage.close()


@pytest.fixture
def tiny_disk(tmp_path):
    """Mount a filesystem of ``size`` bytes to fill up for real (tests/faults.py)."""
    from tests.faults import TinyDisk

    mounted = []

    def tiny_disk(size: int) -> TinyDisk:
        disk = TinyDisk(tmp_path / f"disk-{len(mounted)}", size)
        mounted.append(disk)
        return disk

    yield tiny_disk
    for disk in mounted:
        disk.unmount()
