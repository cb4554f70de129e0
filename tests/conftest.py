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
