"""The client's tests' service: the repo's gunicorn (tests/service.py) with its own token,
and a small origin that serves files over HTTP (for creating images from a URL)."""

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

from tests.service import REPO, Gunicorn


def create_token(service: Gunicorn, name: str, *, read_only: bool = False) -> str:
    """A token of the running service, made as its operator does (manage.py images_token)."""
    args = ["create", name, *(["--read-only"] if read_only else [])]
    done = subprocess.run(
        [sys.executable, "manage.py", "images_token", *args],
        cwd=REPO, env=service.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip()


class FileOrigin:
    """Files of ``folder`` served at http://127.0.0.1:<port>/NAME."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(Quiet, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FileOrigin":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
