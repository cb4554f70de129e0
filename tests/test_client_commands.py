"""``imgsvc``'s commands other than upload (client/), against the service under gunicorn:
what each prints, ``--json`` for scripts, files written, and exit statuses."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from imageservice_client import Client
from PIL import Image as PILImage

from tests.factories import encode, pattern
from tests.service import Gunicorn


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with Gunicorn(tmp_path_factory.mktemp("commands-service")) as running:
        yield running
    assert "Traceback" not in running.log()


@pytest.fixture
def imgsvc(service, tmp_path):
    env = {**os.environ, "IMGSVC_URL": service.base}

    def imgsvc(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "imageservice_client", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout, done.stderr

    return imgsvc


@pytest.fixture
def images(service):
    """Two stored images of one batch, alike (the second a JPEG of the first)."""
    batch = uuid.uuid4().hex[:12]
    picture = pattern((120, 90), variant=1)
    picture.putpixel((0, 0), tuple(uuid.uuid4().bytes[:3]))
    with Client(service.base) as client:
        return [
            client.upload(
                encode(picture, fmt), filename=f"p{n}.{fmt.lower()}", tags=[batch],
                metadata={"batch": batch, "t": n},
            ).image
            for n, fmt in enumerate(["PNG", "JPEG"])
        ]  # fmt: skip


def test_ls_get_and_json_lines(imgsvc, images):
    first, second = images
    batch = first.tags[0]
    code, out, _ = imgsvc("ls", "--tag", batch, "--metadata", "t__gte=1")
    assert code == 0
    assert out.splitlines() == [f"{second.id}  p1  120x90  {batch}  batch={batch} t=1"]
    code, out, _ = imgsvc("ls", "--tag", batch, "--json", "--ordering", "metadata.t")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [first.id, second.id]
    code, out, _ = imgsvc("get", first.id)
    assert (code, json.loads(out)["sha256"]) == (0, first.sha256)


def test_download_of_files_originals_and_thumbnails(imgsvc, images, tmp_path):
    ids = [image.id for image in images]
    code, out, _ = imgsvc("download", *ids, "--rendition", "max-40x40", "-o", "thumbs")
    assert code == 0
    written = [tmp_path / line for line in out.splitlines()]
    assert [path.name for path in written] == [f"{ids[0]}-max-40x40.png", f"{ids[1]}-max-40x40.jpg"]
    assert max(PILImage.open(written[0]).size) == 40
    code, out, _ = imgsvc("download", ids[0], "--original")
    assert (tmp_path / out.strip()).read_bytes().startswith(b"\x89PNG")


def test_label_rm_trash_restore_and_history(imgsvc, images):
    image = images[0]
    code, out, _ = imgsvc(
        "label", image.id, "--add-tag", "checked", "--metadata", "well=B7",
        "--remove-metadata", "t",
    )  # fmt: skip
    assert (code, out) == (0, "Labelled 1 images.\n")
    code, out, _ = imgsvc("get", image.id)
    shown = json.loads(out)
    assert shown["tags"] == [image.tags[0], "checked"]
    assert shown["metadata"] == {"batch": image.metadata["batch"], "well": "B7"}
    assert imgsvc("rm", image.id)[:2] == (0, f"trashed {image.id}\n")
    code, _, err = imgsvc("get", image.id)
    assert (code, err) == (1, f"imgsvc: not_found: image {image.id} does not exist\n")
    code, out, _ = imgsvc("trash", "--json")
    assert image.id in [json.loads(line)["id"] for line in out.splitlines()]
    code, out, _ = imgsvc("restore", image.id)
    assert (code, out.split()[0]) == (0, image.id)
    code, out, _ = imgsvc("history", image.id)
    assert [line.split()[1] for line in out.splitlines()] == [
        "undeleted", "deleted", "updated", "created",
    ]  # fmt: skip


def test_similar_and_diff(imgsvc, images, tmp_path):
    first, second = images
    code, out, _ = imgsvc("similar", first.id, "--json")
    assert code == 0
    assert second.id in [json.loads(line)["image"]["id"] for line in out.splitlines()]
    code, out, _ = imgsvc("diff", first.id, second.id, "-o", "diff.png")
    assert (code, json.loads(out)["identical"]) == (0, False)
    assert (tmp_path / "diff.png").read_bytes().startswith(b"\x89PNG")


def test_follow_keeps_its_cursor_and_goes_on_from_it(imgsvc, images, tmp_path):
    code, out, _ = imgsvc("follow", "--cursor-file", "feed.cursor", "--until-caught-up")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert {(e["image_id"], e["action"]) for e in events} >= {(images[1].id, "created")}
    assert (tmp_path / "feed.cursor").read_text() == f"{events[-1]['cursor']}\n"
    code, out, _ = imgsvc("follow", "--cursor-file", "feed.cursor", "--until-caught-up")
    assert (code, out) == (0, "")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["get"], 2, "the following arguments are required: id"),
        (["download", "x", "--original", "--rendition", "max-9x9"], 2, "not allowed with"),
        (["label", "x", "--metadata", "novalue"], 2, "write KEY=VALUE"),
        (["get", "not-an-id"], 1, "not_found"),
        (["download", str(uuid.UUID(int=0)), "--rendition", "huge"], 1, "invalid_rendition"),
    ],
)
def test_exit_statuses_of_usage_errors_and_refusals(imgsvc, args, code, message):
    got, _, err = imgsvc(*args)
    assert got == code
    assert message in err
