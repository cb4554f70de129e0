"""IMAGES_X_ACCEL_REDIRECT: behind nginx, a download answers with the row's headers and
``X-Accel-Redirect``, and nginx sends the file (deploy/nginx.conf's internal location).
Tested behind the distribution's nginx, started on 127.0.0.1 with a configuration made
from deploy/nginx.conf's download location."""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.factories import image_bytes
from tests.service import REPO, Gunicorn

PREFIX = "/_stored/"


def nginx_binary() -> str:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    assert binary, "nginx is missing: apt-get install nginx-light (.ci/run does)"
    return binary


def stored_location(media_root: Path) -> str:
    """deploy/nginx.conf's internal location, with this test's media folder."""
    text = (REPO / "deploy" / "nginx.conf").read_text()
    block = re.search(r"    location /_stored/ \{.*?\n    \}\n", text, re.S)
    assert block, "deploy/nginx.conf has no location /_stored/"
    return block.group(0).replace("/var/lib/imageservice/media/", f"{media_root}/")


class Nginx:
    def __init__(self, folder: Path, upstream: int, media_root: Path) -> None:
        folder.mkdir()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.conf = folder / "nginx.conf"
        # As root, nginx's workers would run as nobody, who cannot read pytest's folders.
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"""
daemon off;
{user}
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    types {{ image/png png; image/jpeg jpg; image/webp webp; }}
    server {{
        listen 127.0.0.1:{self.port};
        client_max_body_size 30m;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
        }}
{stored_location(media_root)}
    }}
}}
"""
        )

    def __enter__(self) -> "Nginx":
        self.process = subprocess.Popen(
            [nginx_binary(), "-c", str(self.conf), "-p", str(self.folder)],
            stderr=subprocess.STDOUT,
            stdout=(self.folder / "stdout.log").open("wb"),
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert self.process.poll() is None, (self.folder / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("accel")
    with Gunicorn(folder / "service", IMAGES_X_ACCEL_REDIRECT=PREFIX) as service:
        media_root = Path(service.env["MEDIA_ROOT"]).resolve()
        with Nginx(folder / "nginx", service.port, media_root) as nginx:
            yield service, nginx


@pytest.fixture(scope="module")
def image(behind_nginx) -> dict:
    _, nginx = behind_nginx
    data = image_bytes("PNG", (120, 80))
    answer = requests.post(
        f"{nginx.base}/api/v1/images/upload", files={"file": ("plate.png", data)}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.mark.parametrize("link", ["file_url", "original_url", "thumbnail_url"])
def test_nginx_sends_the_bytes_with_the_services_headers(behind_nginx, image, link):
    service, nginx = behind_nginx
    path = image[link].split("://", 1)[1].split("/", 1)[1]

    requests.get(f"{nginx.base}/{path}", timeout=30)  # a rendition made is sent as made
    proxied = requests.get(f"{nginx.base}/{path}", timeout=30)
    direct = requests.get(f"{service.base}/{path}", timeout=30)

    assert direct.status_code == 200
    assert direct.content == b""  # the service sent headers only
    assert direct.headers["X-Accel-Redirect"].startswith(PREFIX + "images/")
    assert proxied.status_code == 200
    assert "X-Accel-Redirect" not in proxied.headers
    assert hashlib.sha256(proxied.content).hexdigest() == proxied.headers["ETag"].strip('"')
    for header in ("Content-Type", "Content-Disposition", "ETag", "Cache-Control"):
        assert proxied.headers[header] == direct.headers[header], header
    assert proxied.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    if link != "thumbnail_url":
        assert proxied.headers["ETag"] == f'"{image["sha256"]}"'


def test_behind_nginx_a_matching_etag_is_still_304_and_the_stored_names_stay_internal(
    behind_nginx, image
):
    _, nginx = behind_nginx
    url = f"{nginx.base}/api/v1/images/{image['id']}/file"

    again = requests.get(url, headers={"If-None-Match": f'"{image["sha256"]}"'}, timeout=30)
    internal = requests.get(f"{nginx.base}{PREFIX}images/", timeout=30)

    assert again.status_code == 304
    assert internal.status_code == 404  # only the service can send nginx there
