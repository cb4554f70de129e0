"""The database as an outside part that fails (images/infra/database.py): taken away for real
(tests/faults.py), requests answer a quick JSON 503 ``database_unavailable`` with
Retry-After, the admin a 503 page, nothing is left behind, and all is well again once the
database is back, without a restart. A wrong query stays a 500."""

import io
import sqlite3
import time

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from images import incoming
from images.api import exception_handler
from images.infra import database
from tests.factories import image_bytes
from tests.faults import DatabaseOutage, on_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


def bound() -> float:
    """The longest a request may take when the database is away: a refused connection
    fails at once, a silent one within the connect timeout (PostgreSQL's)."""
    return float(settings.DATABASES["default"].get("OPTIONS", {}).get("connect_timeout", 5))


def timed(method: str, url: str, **kwargs) -> tuple[requests.Response, float]:
    # A new TCP connection each time: the live server answers it in a new thread, with a
    # database connection of its own, as a gunicorn thread opens one after an outage.
    started = time.monotonic()
    response = requests.request(method, url, timeout=30, **kwargs)
    return response, time.monotonic() - started


def upload(base: str, data: bytes | None = None) -> tuple[requests.Response, float]:
    data = data or image_bytes("PNG", (40, 30))
    return timed("POST", f"{base}/api/v1/images/upload", files={"file": ("p.png", data)})


def assert_database_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "The database is unavailable; try again later.",
        "code": "database_unavailable",
    }
    assert int(response.headers["Retry-After"]) > 0


def assert_nothing_left_behind() -> None:
    """images_check exits 1 on a missing file or an orphan of any age."""
    out = io.StringIO()
    call_command("images_check", "--min-age", "0", stdout=out)
    assert " 0 missing, 0 orphans" in out.getvalue()


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """Counts the decodes of incoming images (and does them)."""
    counted: list[int] = []
    analyze = incoming.analyze

    def counting(file):
        counted.append(1)
        return analyze(file)

    monkeypatch.setattr(incoming, "analyze", counting)
    return counted


def test_api_requests_while_the_database_is_away_answer_503_and_recover_without_restart(
    live_server, database_outage, files, decodes
):
    base = live_server.url
    created, _ = upload(base)
    assert created.status_code == 201
    image = f"{base}/api/v1/images/{created.json()['id']}"
    stored, decoded = files(), len(decodes)

    database_outage.cut()
    for method, url in [
        ("GET", f"{base}/api/v1/images/"),
        ("GET", image),
        ("GET", f"{image}/file"),
        ("PUT", f"{image}?width=10&height=10"),
        ("DELETE", image),
    ]:
        response, seconds = timed(method, url)
        assert_database_unavailable(response)
        assert seconds < bound()
    response, seconds = upload(base)
    assert_database_unavailable(response)
    assert seconds < bound()
    assert len(decodes) == decoded  # refused before the decode
    assert files() == stored  # and before the file was written

    database_outage.restore()
    assert timed("GET", image)[0].json() == created.json()
    assert upload(base, image_bytes("JPEG"))[0].status_code == 201
    assert_nothing_left_behind()


def test_the_admin_while_the_database_is_away_answers_a_503_page_not_a_500(
    live_server, database_outage, client
):
    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "pw"))
    session = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    page = f"{live_server.url}/admin/images/image/"
    assert requests.get(page, cookies=session, timeout=30).status_code == 200

    database_outage.cut()
    # The session is read in the middleware's lazy user, outside any API view.
    response, seconds = timed("GET", page, cookies=session)

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert "The database is unavailable" in response.text
    assert int(response.headers["Retry-After"]) > 0
    assert seconds < bound()

    database_outage.restore()
    assert requests.get(page, cookies=session, timeout=30).status_code == 200


@pytest.mark.skipif(not on_postgresql(), reason="SQLite has no server that could hang")
def test_a_server_that_answers_nothing_is_given_up_on_within_the_connect_timeout(
    live_server, database_outage, monkeypatch
):
    options = database_outage.settings_dict.setdefault("OPTIONS", {})
    monkeypatch.setitem(options, "connect_timeout", 2)
    base = live_server.url

    database_outage.freeze()
    response, seconds = timed("GET", f"{base}/api/v1/images/")

    assert_database_unavailable(response)
    assert seconds < 2 + 2  # the connect timeout, and the request's own work
    database_outage.thaw()
    assert timed("GET", f"{base}/api/v1/images/")[0].status_code == 200


@pytest.mark.skipif(on_postgresql(), reason="SQLite's own disk; PostgreSQL's is its server's")
def test_sqlite_on_a_full_disk_answers_writes_503_and_readyz_names_the_database(
    live_server, tiny_disk, files, settings
):
    disk = tiny_disk(size=4 * 1024 * 1024)
    on_disk = DatabaseOutage(disk.path / "database")  # the service's database lives there
    settings.IMAGES_MIN_FREE_BYTES = 512 * 1024
    try:
        base = live_server.url
        created, _ = upload(base)
        assert created.status_code == 201
        image = f"{base}/api/v1/images/{created.json()['id']}"
        stored = files()

        disk.fill()
        response, seconds = upload(base, image_bytes("JPEG"))
        assert_database_unavailable(response)  # "database or disk is full"
        assert seconds < bound()
        assert files() == stored
        assert_database_unavailable(timed("PATCH", image, json={"name": "plate 2"})[0])
        assert timed("GET", image)[0].json() == created.json()  # reads still answer
        ready = requests.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "low_space", "storage": "ok"}

        disk.empty()
        assert upload(base, image_bytes("JPEG"))[0].status_code == 201
        assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
        assert_nothing_left_behind()
    finally:
        on_disk.close()


class MidwayLoss:
    """Takes the database away while an upload is being decoded, after it was found
    reachable: PostgreSQL's connections are cut; SQLite's write lock is taken by another
    connection, held past the service's busy timeout ("database is locked")."""

    def __init__(self, outage, monkeypatch) -> None:
        self.outage = outage
        self.holder: sqlite3.Connection | None = None
        if not on_postgresql():  # the service's next connections wait this long for a lock
            options = outage.settings_dict.setdefault("OPTIONS", {})
            monkeypatch.setitem(options, "timeout", 0.5)
        analyze = incoming.analyze

        def losing(file):
            self.lose()
            return analyze(file)

        monkeypatch.setattr(incoming, "analyze", losing)

    def lose(self) -> None:
        if on_postgresql():
            self.outage.cut()
        else:
            self.holder = sqlite3.connect(
                self.outage.settings_dict["NAME"], isolation_level=None, check_same_thread=False
            )
            self.holder.execute("BEGIN IMMEDIATE")

    def end(self) -> None:
        if self.holder:
            self.holder.execute("ROLLBACK")
            self.holder.close()
        else:
            self.outage.restore()


def test_an_upload_that_loses_the_database_after_its_decode_removes_its_file(
    live_server, database_outage, files, monkeypatch
):
    loss = MidwayLoss(database_outage, monkeypatch)

    response, _ = upload(live_server.url)

    assert_database_unavailable(response)
    assert files() == []  # written, then removed without asking the lost database
    loss.end()
    monkeypatch.undo()
    assert upload(live_server.url)[0].status_code == 201
    assert_nothing_left_behind()


def real_error(sql: str) -> Exception:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except Exception as error:
        return error
    raise AssertionError(f"{sql} did not fail")


def test_a_wrong_query_is_no_outage_and_is_left_to_the_500_handler():
    error = real_error("SELECT * FROM no_such_table")  # Programming-, or SQLite's Operational-

    assert not database.is_outage(error)
    assert exception_handler.api_exception_handler(error, {}) is None


def test_a_refused_connection_is_an_outage(database_outage):
    database_outage.cut()

    error = real_error("SELECT 1")

    assert database.is_outage(error)
    assert exception_handler.api_exception_handler(error, {}).status_code == 503


def test_an_outage_outside_an_api_view_answers_the_api_json_and_other_pages_html(
    rf, database_outage
):
    database_outage.cut()
    error = real_error("SELECT 1")

    try:
        raise error  # as Django calls handler500: while the exception is handled
    except Exception:
        api = exception_handler.server_error(rf.get("/api/v1/images/"))
        page = exception_handler.server_error(rf.get("/admin/"))

    assert api.status_code == page.status_code == 503
    assert api["Content-Type"] == "application/json"
    assert api["Retry-After"] == page["Retry-After"]
    assert page["Content-Type"].startswith("text/html")
