"""The client (client/) through real trouble: rate limits (429), the service's database
taken away (503), the service going away, and an answer lost after the upload was stored.
Each is survived: the calls succeed once the trouble is over, and nothing is stored twice.
"""

import hashlib
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid

import pytest
from imageservice_client import Client, RateLimited, Retries, Unreachable

from tests.factories import encode, pattern
from tests.servers import TcpProxy
from tests.service import Gunicorn


def unique_png() -> bytes:
    image = pattern((60, 40), variant=2)
    image.putpixel((0, 0), tuple(uuid.uuid4().bytes[:3]))
    return encode(image, "PNG")


class Pauses:
    """The client's sleep: really sleeps, and keeps each pause for the test to see."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        time.sleep(seconds)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The service as it runs normally, for the tests that put trouble in front of it."""
    with Gunicorn(tmp_path_factory.mktemp("service")) as running:
        yield running
    assert "Traceback" not in running.log()


@pytest.fixture
def retried(caplog):
    """The statuses the client retried after, from its log."""
    caplog.set_level(logging.INFO, logger="imageservice_client")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "imageservice_client"]


def test_uploads_over_the_rate_limit_wait_and_all_get_through(tmp_path, retried):
    with Gunicorn(tmp_path / "service", IMAGES_THROTTLE_RATE_UPLOAD="2/s") as service:
        pauses = Pauses()
        with Client(service.base, retries=Retries(attempts=20), sleep=pauses) as client:
            results = [client.upload(unique_png()) for _ in range(7)]
            assert all(result.created for result in results)
            assert len({result.image.id for result in results}) == 7
            assert client.images_page().count == 7
        assert any(" 429 (Retry-After " in message for message in retried())
        assert pauses.taken
        assert max(pauses.taken) <= 1.2 * Retries.max_wait

        # The command, 4 files at a time, under the same limit.
        folder = tmp_path / "lab"
        folder.mkdir()
        for n in range(6):
            (folder / f"{n}.png").write_bytes(unique_png())
        env = {**os.environ, "IMGSVC_URL": service.base}
        done = subprocess.run(
            [sys.executable, "-m", "imageservice_client", "upload", str(folder), "--jobs", "4"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Stored 6," in done.stdout
        with Client(service.base) as client:
            assert client.images_page().count == 13
    assert "Traceback" not in service.log()


def test_with_too_few_retries_the_rate_limit_is_an_error_with_its_code(tmp_path):
    with (
        Gunicorn(tmp_path / "service", IMAGES_THROTTLE_RATE_READ="1/min") as service,
        Client(service.base, retries=Retries(attempts=2, max_wait=0.1)) as client,
    ):
        client.images_page()
        with pytest.raises(RateLimited) as limited:
            client.images_page()
    assert (limited.value.status, limited.value.code) == (429, "throttled")
    assert 0 < limited.value.retry_after <= 60


def test_a_database_outage_is_waited_out(tmp_path, retried):
    database = tmp_path / "database"
    database.mkdir()
    with Gunicorn(
        tmp_path / "service",
        DATABASE_URL=f"sqlite:///{database / 'db.sqlite3'}",
        CONN_MAX_AGE="0",  # each request opens the file: the outage is met at once
    ) as service:
        retries = Retries(attempts=30, max_wait=0.5)
        with Client(service.base, retries=retries) as client:
            before = client.upload(unique_png()).image
            database.rename(tmp_path / "moved-away")
            back = threading.Timer(2.0, (tmp_path / "moved-away").rename, args=[database])
            back.start()
            try:
                started = time.monotonic()
                during = client.upload(unique_png(), tags=["outage"]).image
                assert time.monotonic() - started >= 1.5  # it waited for the database
                assert client.get(before.id).id == before.id
            finally:
                back.join()
            assert [image.id for image in client.images(tags=["outage"])] == [during.id]
        messages = retried()
        assert any(" 503 (Retry-After 5)" in message for message in messages), messages


def test_the_service_going_away_and_back_is_waited_out(service, retried):
    proxy = TcpProxy(("127.0.0.1", service.port)).start()
    try:
        with Client(proxy.url, retries=Retries(attempts=30, max_wait=0.5)) as client:
            image = client.upload(unique_png()).image
            proxy.stop()
            threading.Timer(1.5, proxy.start).start()
            assert client.get(image.id).id == image.id  # refused, then answered
            assert client.images_page(sha256=image.sha256).count == 1
    finally:
        time.sleep(1.6)
        proxy.stop()
    assert any("ConnectError" in message for message in retried())


def test_without_the_service_the_error_says_unreachable(service):
    proxy = TcpProxy(("127.0.0.1", service.port)).start()
    proxy.stop()  # nothing listens on its port any more
    with (
        Client(proxy.url, retries=Retries(attempts=2, backoff=0.1)) as client,
        pytest.raises(Unreachable) as unreachable,
    ):
        client.get(str(uuid.uuid4()))
    assert unreachable.value.code == "unreachable"


class AnswerLosingProxy(TcpProxy):
    """Forwards requests, but cuts the first ``lose`` connections as their answer comes
    back: the service did the work, the client never hears of it."""

    def __init__(self, target, *, lose: int) -> None:
        super().__init__(target)
        self.lose = lose

    def _pipe(self, client, upstream) -> None:
        with self._lock:
            losing, self.lose = self.lose > 0, self.lose - 1
        if not losing:
            return super()._pipe(client, upstream)
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 5)
                if upstream in ready or not ready:
                    return  # the answer starts (or nothing happens): cut both
                data = client.recv(65536)
                if not data:
                    return
                upstream.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


def test_an_upload_whose_answer_was_lost_is_sent_again_and_stored_once(service):
    proxy = AnswerLosingProxy(("127.0.0.1", service.port), lose=1).start()
    try:
        with Client(proxy.url, retries=Retries(backoff=0.1)) as client:
            sent = unique_png()
            upload = client.upload(sent, filename="plate.png", tags=["once"])
            assert upload.created is False  # the first try stored it: this is that image
            assert client.images_page(sha256=upload.image.sha256).count == 1
            assert client.images_page(tags=["once"]).results == [upload.image]
    finally:
        proxy.stop()


def test_an_upload_without_dedupe_is_not_sent_again_after_a_lost_answer(service):
    proxy = AnswerLosingProxy(("127.0.0.1", service.port), lose=1).start()
    sent = unique_png()
    try:
        with Client(proxy.url, retries=Retries(backoff=0.1)) as client:
            with pytest.raises(Unreachable):
                client.upload(sent, dedupe=False)
            stored = client.images_page(sha256=hashlib.sha256(sent).hexdigest())
            assert stored.count == 1  # stored once, by the request whose answer was lost
    finally:
        proxy.stop()
