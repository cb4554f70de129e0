"""Mutated JPEG and PNG files fed through the upload, checked case by case.

Each case is a real file from ``tests.mutations.corpus()`` with one to three mutations
(bytes flipped, truncated, parts repeated, dropped or swapped, dimensions rewritten,
markers and chunks inserted, PNG CRCs fixed up). Every upload must end in 201, or in 400
``invalid_image``, 413 ``image_too_large`` or 415 ``unsupported_image_format``; within a
hang guard; and a refused one must leave no row, no stored file and no temporary file.
An accepted one must be stored unchanged and be croppable.

CI runs FUZZ_CASES (400) cases from FUZZ_SEED; run longer with ``FUZZ_CASES=20000 make
fuzz`` (docs/operating/index.md). A failing case is written to a file named in the failure.
"""

import hashlib
import math
import os
import random
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from images.models import Image
from tests import mutations
from tests.conftest import stored_files

CASES = int(os.environ.get("FUZZ_CASES", "400"))
SEED = int(os.environ.get("FUZZ_SEED", "20261124"))
HANG_SECONDS = 10  # a guard against a decoder that stalls, not a benchmark
MAX_PIXELS = 1_000_000  # rewritten dimensions land under the limit too, and stay cheap
REFUSALS = {
    400: "invalid_image",
    413: "image_too_large",
    415: "unsupported_image_format",
}

CORPUS = mutations.corpus()
PER_FILE = math.ceil(CASES / len(CORPUS))

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60 + PER_FILE * HANG_SECONDS),
]


@pytest.fixture
def api() -> APIClient:
    """A client that hands back a 500 as an answer to report, not as an exception."""
    return APIClient(raise_request_exception=False)


@pytest.fixture
def upload_tmp(settings, tmp_path) -> Path:
    """Uploads stream into this folder, so a temporary file left behind is seen."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.IMAGES_MAX_PIXELS = MAX_PIXELS
    return folder


def test_corpus_files_are_all_accepted(upload, upload_tmp):
    for name, data in CORPUS.items():
        response = upload(data, f"{name}.bin")

        assert response.status_code == 201, (name, response.json())


@pytest.mark.parametrize("name", list(CORPUS))
def test_mutated_uploads_end_in_201_or_the_right_refusal(
    name, api, upload, upload_tmp, media_root, tmp_path
):
    rng = random.Random(f"{SEED}:{name}")
    failures = []
    for index in range(PER_FILE):
        mutant = mutations.mutate(rng, CORPUS[name])
        problem = check_case(mutant, api, upload, upload_tmp, media_root)
        if problem:
            saved = tmp_path / f"{name}-{index}.bin"
            saved.write_bytes(mutant.data)
            failures.append(f"{name} case {index} [{mutant.describe()}]: {problem} ({saved})")

    assert not failures, f"FUZZ_SEED={SEED}\n" + "\n".join(failures[:20])


def check_case(mutant, api, upload, upload_tmp: Path, media_root: Path) -> str | None:
    """What is wrong with how the service answered this upload, or None."""
    data = mutant.data
    rows, files = Image.objects.count(), len(stored_files(media_root))
    started = time.monotonic()
    response = upload(data, "fuzz.bin")
    elapsed = time.monotonic() - started
    if elapsed > HANG_SECONDS:
        return f"took {elapsed:.1f} s"
    if leftovers := list(upload_tmp.iterdir()):
        return f"temporary files left: {leftovers}"
    status = response.status_code
    expected = expected_status(mutant.claimed_pixels)
    if expected and status != expected:
        claimed = mutant.claimed_pixels
        return f"the header claims {claimed} pixels: answered {status}, not {expected}"
    if status == 201:
        return check_accepted(data, response.json(), api, media_root, rows, files)
    body = response.json() if response["Content-Type"] == "application/json" else {}
    if REFUSALS.get(status) != body.get("code"):
        return f"answered {status} {body or response.content[:200]!r}{raised(response)}"
    if (Image.objects.count(), len(stored_files(media_root))) != (rows, files):
        return f"refused with {status}, but a row or a file was left behind"
    return None


def expected_status(claimed_pixels: int | None) -> int | None:
    """Only rewritten dimensions: more pixels than the limit are refused from the header
    alone (413, before any decoding); no pixels at all is not an image (400)."""
    if claimed_pixels is None:
        return None
    if claimed_pixels > MAX_PIXELS:
        return 413
    return 400 if claimed_pixels == 0 else None


def check_accepted(data: bytes, body: dict, api, media_root: Path, rows: int, files: int):
    if (Image.objects.count(), len(stored_files(media_root))) != (rows + 1, files + 1):
        return "accepted, but not exactly one row and one file were added"
    image = Image.objects.get(pk=body["id"])
    if (media_root / image.file.name).read_bytes() != data:
        return "accepted, but the stored bytes differ from the bytes sent"
    if body["sha256"] != hashlib.sha256(data).hexdigest():
        return "accepted with a wrong sha256"
    response = api.put(f"/api/v1/images/{image.pk}", {"width": 1, "height": 1}, format="json")
    if response.status_code != 200:
        return (
            f"accepted, but a 1x1 crop answered {response.status_code} "
            f"{response.content[:200]!r}{raised(response)}"
        )
    return None


def raised(response) -> str:
    """The exception behind a 500, if there was one."""
    exc_info = getattr(response, "exc_info", None)
    return f", raised {exc_info[1]!r}" if exc_info else ""
