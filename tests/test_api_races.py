"""Downloads, restores and deletes racing crops, deletes and purges of the same images, on
a real threaded server: every answer is the bytes of a state that existed, or 404 once
gone."""

import concurrent.futures
import hashlib
import io
import random
import threading

import pytest
import requests
from django.core.management import call_command

from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

IMAGES = 3
# Crop-and-restore rounds per image before it is deleted: enough that, without the fix,
# reads and restores hit removed files every run (S3 opens take longer: a wider window).
CYCLES = {"local": 40, "s3": 6}
READERS = 8


class Race:
    """What the clients saw, for checking once they are all done."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.lock = threading.Lock()
        self.states: set[str] = set()  # sha256 of every state the writers made
        self.deleting: set[str] = set()  # ids whose DELETE has been sent
        self.purged: set[str] = set()  # ids whose purge has been answered, whatever it said
        self.reads: list[tuple[str, int, str, str | None]] = []  # (id, status, body, etag)
        self.answers: list[tuple[str, int, str]] = []  # (request, status, body) of writers
        self.done = threading.Event()

    def state(self, response: requests.Response) -> None:
        if response.status_code == 200:
            with self.lock:
                self.states.add(response.json()["sha256"])

    def write(self, session: requests.Session, method: str, path: str) -> requests.Response:
        response = session.request(method, self.base + path, timeout=60)
        with self.lock:
            self.answers.append((f"{method} {path}", response.status_code, response.text[:200]))
        return response


def reader(race: Race, ids: list[str]) -> None:
    session = requests.Session()
    while not race.done.is_set():
        image_id = random.choice(ids)
        which = random.choice(["file", "file", "file", "original"])
        response = session.get(f"{race.base}/api/v1/images/{image_id}/{which}", timeout=60)
        digest = hashlib.sha256(response.content).hexdigest()
        etag = response.headers.get("ETag")
        with race.lock:  # a 404 seen here came after its DELETE was sent
            gone = image_id in race.deleting
            race.reads.append((image_id, response.status_code, digest, etag))
        if response.status_code == 404:
            assert gone, f"404 for {image_id} before it was deleted"


def cropper(race: Race, image_id: str, cycles: int) -> None:
    """Crop to a random box and restore, again and again; crop once more, delete and purge
    (the purge removes the files readers may still be opening)."""
    session = requests.Session()
    path = f"/api/v1/images/{image_id}"
    for _ in range(cycles):
        size = random.randint(8, 40)
        race.state(race.write(session, "PUT", f"{path}?width={size}&height={size}"))
        race.state(race.write(session, "POST", f"{path}/restore"))
    race.state(race.write(session, "PUT", f"{path}?width=20&height=20"))
    with race.lock:
        race.deleting.add(image_id)
    race.write(session, "DELETE", path)
    race.write(session, "DELETE", f"/api/v1/trash/{image_id}")
    with race.lock:
        race.purged.add(image_id)


def restorer(race: Race, image_id: str) -> None:
    """Restore the same image until it is gone: restores race crops and the delete."""
    session = requests.Session()
    # Also stops if the delete failed (then the answers' check below says how), not hangs.
    while race.write(session, "POST", f"/api/v1/images/{image_id}/restore").status_code == 200:
        if image_id in race.purged:
            break


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_downloads_racing_crops_and_deletes_answer_a_state_that_existed_or_404(
    live_server, request, storage, files
):
    s3 = request.getfixturevalue("s3") if storage == "s3" else None
    race = Race(live_server.url)
    ids = []
    for variant in range(IMAGES):
        data = image_bytes("PNG", (48 + variant, 48))
        response = requests.post(
            f"{race.base}/api/v1/images/upload", files={"file": ("p.png", data)}, timeout=60
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        race.states.add(response.json()["sha256"])

    with concurrent.futures.ThreadPoolExecutor(READERS + 2 * IMAGES) as pool:
        readers = [pool.submit(reader, race, ids) for _ in range(READERS)]
        writers = [pool.submit(cropper, race, image_id, CYCLES[storage]) for image_id in ids]
        writers += [pool.submit(restorer, race, image_id) for image_id in ids]
        for writer in writers:
            writer.result()
        race.done.set()
        for read in readers:
            read.result()

    assert [answer for answer in race.answers if answer[1] not in (200, 204, 404)] == []
    assert {status for _, status, _, _ in race.reads} <= {200, 404}
    ok = [(digest, etag) for _, status, digest, etag in race.reads if status == 200]
    assert len(ok) > 50  # the readers really overlapped the writers
    assert [(d, e) for d, e in ok if e != f'"{d}"'] == []  # the bytes are the ETag's
    assert {digest for digest, _ in ok} <= race.states  # and a state that existed
    for image_id in ids:
        for which in ("file", "original"):
            response = requests.get(f"{race.base}/api/v1/images/{image_id}/{which}", timeout=10)
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"
    assert (s3.stored_keys() if s3 else files()) == []  # nothing left behind
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())  # exits 1 on trouble
