"""GET /metrics (imageservice/metrics.py): what is counted, who may read it, and the counts
of several gunicorn workers added up (prometheus-client's multiprocess mode)."""

import io
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from access.models import ApiToken
from bench.slow_clients import HEADER_START, Tricklers
from tests.factories import image_bytes
from tests.service import Gunicorn

pytestmark = pytest.mark.django_db(transaction=True)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    """A sample's value, 0 if absent (a counter not counted yet); labels need only match
    in part: the values of the other labels are added up."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scraped.items() if n == name and wanted <= ls)


def scrape(api, **extra) -> dict:
    response = api.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


def make_token(*, read_only: bool) -> str:
    token = ApiToken(name=f"scraper-{read_only}", read_only=read_only)
    key = token.set_new_key()
    token.save()
    return key


# --- What is counted -------------------------------------------------------------------


def test_requests_are_counted_by_route_name_method_and_status(api, upload):
    image = upload(image_bytes("JPEG")).json()
    before = scrape(api)

    assert api.get(f"/api/v1/images/{image['id']}").status_code == 200
    assert api.get(f"/api/v1/images/{image['id']}/").status_code == 200  # the slash twin
    assert api.get("/api/v1/images/not-an-id").status_code == 404

    after = scrape(api)
    name = "imageservice_http_request_duration_seconds_count"
    detail = {"route": "image-detail", "method": "GET"}
    assert (
        value(after, name, status="200", **detail) - value(before, name, status="200", **detail)
        == 2
    )
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 1
    assert not any(image["id"] in dict(labels).get("route", "") for _, labels in after)


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (image_bytes("GIF"), "a.gif", "unsupported_image_format"),
        (b"not an image", "a.jpg", "invalid_image"),
    ],
)
def test_refused_uploads_are_counted_by_their_error_code(api, upload, data, filename, code):
    name = "imageservice_uploads_refused_total"
    before = value(scrape(api), name, route="image-upload", code=code)

    assert upload(data, filename).json()["code"] == code

    assert value(scrape(api), name, route="image-upload", code=code) - before == 1


def test_images_and_bytes_stored_are_read_from_the_database(api, upload):
    first = upload(image_bytes("PNG", (60, 40))).json()
    second = upload(image_bytes("JPEG", (80, 60))).json()
    cropped = api.put(f"/api/v1/images/{second['id']}?width=20&height=20").json()

    scraped = scrape(api)

    assert value(scraped, "imageservice_images") == 2
    stored = first["file_size"] + second["file_size"] + cropped["file_size"]  # + the original
    assert value(scraped, "imageservice_image_bytes") == stored


def test_storage_errors_are_counted(api, upload, s3):
    # botocore's class for the answer: a ClientError named after the S3 error code.
    error = ("imageservice_storage_errors_total", {"error": "AccessDenied"})
    refused = (
        "imageservice_uploads_refused_total",
        {"route": "image-upload", "code": "storage_unavailable"},
    )
    before = scrape(api)
    s3.server.refuse_writes = True

    assert upload(image_bytes("PNG"), "a.png").json()["code"] == "storage_unavailable"

    after = scrape(api)
    for name, labels in (error, refused):
        assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_database_errors_are_counted(api, tmp_path):
    """The connection is pointed where no database is (a missing folder for SQLite, a port
    nothing listens on for PostgreSQL): the driver itself fails."""
    name, labels = "imageservice_database_errors_total", {"error": "OperationalError"}
    before = value(scrape(api), name, **labels)
    real = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "missing" / "db.sqlite3")
    else:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
    connection.close()
    api.raise_request_exception = False  # the answer, not the exception
    try:
        response = api.get("/api/v1/images/")
    finally:
        connection.close()
        connection.settings_dict.update(real)

    assert response.status_code >= 500
    assert value(scrape(api), name, **labels) - before == 1


# --- Who may read it -------------------------------------------------------------------

LOCAL, REMOTE, PROXY = "127.0.0.1", "203.0.113.9", "10.0.0.1"


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "num_proxies", "token", "public", "status", "code"),
    [
        (LOCAL, None, 0, None, False, 200, None),
        ("::1", None, 0, None, False, 200, None),
        (REMOTE, None, 0, None, False, 401, "not_authenticated"),
        (REMOTE, None, 0, "full", False, 200, None),
        (REMOTE, None, 0, "read-only", False, 403, "permission_denied"),
        (REMOTE, None, 0, "unknown", False, 401, "authentication_failed"),
        (REMOTE, None, 0, None, True, 200, None),
        # A client cannot pass for the machine itself by saying so...
        (REMOTE, LOCAL, 0, None, False, 401, "not_authenticated"),
        # ... and behind a proxy on this machine, the client is the address it forwarded.
        (LOCAL, REMOTE, 1, None, False, 401, "not_authenticated"),
        (PROXY, LOCAL, 1, None, False, 200, None),
    ],
)
def test_metrics_answer_this_machine_a_full_token_or_anyone_when_public(
    api, settings, remote_addr, forwarded_for, num_proxies, token, public, status, code
):
    settings.METRICS_PUBLIC = public
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded_for:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    if token:
        key = make_token(read_only=token == "read-only") if token != "unknown" else "nope"
        headers["HTTP_AUTHORIZATION"] = f"Token {key}"

    response = api.get("/metrics", **headers)

    assert response.status_code == status
    if code is None:
        assert b"imageservice_http_request_duration_seconds" in response.content
    else:
        assert response.json()["code"] == code
        assert b"imageservice" not in response.content
    if status == 401:
        assert response["WWW-Authenticate"] == "Token"


def test_metrics_answer_whatever_host_the_scraper_names(api):
    assert api.get("/metrics", HTTP_HOST="10.1.2.3:8000").status_code == 200


# --- Several workers -------------------------------------------------------------------


def scrape_server(server) -> dict:
    response = requests.get(f"{server.base}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return samples(response.text)


def worker_pids(scraped: dict) -> set[str]:
    return {
        dict(labels)["pid"]
        for name, labels in scraped
        if name == "imageservice_similarity_index_values"
    }


def test_a_scrape_adds_up_the_counts_of_every_gunicorn_worker(tmp_path):
    metrics_folder = tmp_path / "metrics"
    environment = {"METRICS_DIR": str(metrics_folder), "REQUEST_HEADER_TIMEOUT": "1"}
    name = "imageservice_http_request_duration_seconds_count"
    healthz = {"route": "healthz", "method": "GET", "status": "200"}

    with Gunicorn(tmp_path / "first", **environment) as server:
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            # Both workers answer some, when requests come together (bounded: 400 at most).
            while len(worker_pids(scrape_server(server))) < 2 and sent < 400:
                get = lambda _: requests.get(f"{server.base}/healthz", timeout=10).status_code  # noqa: E731
                assert set(pool.map(get, range(40))) == {200}
                sent += 40
        scraped = scrape_server(server)
        pids = worker_pids(scraped)
        assert len(pids) == 2
        # The master's own readiness polls count too; every one of these is in the sum.
        counted = value(scraped, name, **healthz)
        assert sent <= counted <= sent + 100

        with Tricklers(server.port, 2, HEADER_START, seconds=20) as tricklers:
            deadline = time.monotonic() + 15
            while tricklers.open() and time.monotonic() < deadline:
                time.sleep(0.2)
        assert (
            value(scrape_server(server), "imageservice_slow_requests_cut_total", phase="headers")
            == 2
        )

        # A worker that dies takes its gauge, not its counts.
        gone = int(next(iter(pids)))
        os.kill(gone, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while str(gone) in worker_pids(scraped := scrape_server(server)):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert value(scraped, name, **healthz) >= counted

    # The next master starts counting from zero in the same folder.
    with Gunicorn(tmp_path / "second", **environment) as server:
        scraped = scrape_server(server)
        assert value(scraped, name, **healthz) < 40  # its own readiness polls
        assert value(scraped, "imageservice_slow_requests_cut_total") == 0
    assert "Traceback" not in server.log()


def test_uploads_refused_by_either_worker_are_counted_once_each(tmp_path):
    with Gunicorn(tmp_path) as server:
        gif = image_bytes("GIF")

        def refused(_) -> str:
            answer = requests.post(
                f"{server.base}/api/v1/images/upload",
                files={"file": ("a.gif", io.BytesIO(gif), "image/gif")},
                timeout=30,
            )
            return answer.json()["code"]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(refused, range(24))) == {"unsupported_image_format"}
        scraped = scrape_server(server)
    refused_count = value(
        scraped, "imageservice_uploads_refused_total", code="unsupported_image_format"
    )
    assert refused_count == 24
