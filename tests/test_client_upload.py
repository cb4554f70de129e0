"""``imgsvc upload`` (client/) against the service under gunicorn: a lab's folder with a
CSV, killed in the middle and run again, files already stored, refusals and exit codes, and
the progress bar on a terminal."""

import hashlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from imageservice_client import Client

from tests.factories import encode, image_bytes, pattern, plate_photo
from tests.service import Gunicorn

PLATES = 16


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with Gunicorn(tmp_path_factory.mktemp("upload-service")) as running:
        yield running
    assert "Traceback" not in running.log()


@pytest.fixture
def client(service):
    with Client(service.base) as client:
        yield client


def imgsvc(service, *args: str, cwd: Path | None = None, **popen) -> subprocess.Popen:
    env = {**os.environ, "IMGSVC_URL": service.base, "PYTHONUNBUFFERED": "1"}
    env.pop("IMGSVC_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "imageservice_client", *args],
        cwd=cwd, env=env, text=True, **popen,
    )  # fmt: skip


def run(service, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    process = imgsvc(service, *args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lab_folder(root: Path, batch: str, *, plates: int = PLATES) -> Path:
    """A lab's folder: plate photos (some in a subfolder), a semicolon CSV of their labels
    kept inside it, and a note: files that are not images."""
    folder = root / "plates"
    (folder / "day2").mkdir(parents=True)
    rows = ["file;plate;well;timepoint;batch"]
    for n in range(plates):
        name = f"plate-{n:02d}.png" if n < plates // 2 else f"day2/plate-{n:02d}.jpg"
        # Photos of their own: the same bytes as another test's would be that image.
        photo = plate_photo((320, 240), seed=int(batch, 16) * 64 + n)
        (folder / name).write_bytes(encode(photo, "PNG" if name.endswith("png") else "JPEG"))
        rows.append(f"{name};P-{n // 4};{'ABCD'[n % 4]}{n % 3 + 1};{n % 3};{batch}")
    (folder / "plates.csv").write_text("\n".join(rows) + "\n")
    (folder / "notes.txt").write_text("imaged on the new scope\n")
    return folder


def sha256s(folder: Path) -> set[str]:
    return {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.suffix in (".png", ".jpg") and p.stat().st_size
    }


def stored(client: Client, batch: str) -> list:
    return list(client.images(metadata={"batch": batch}))


def test_a_folder_with_its_csv_is_stored_once_each_with_its_labels(service, client, tmp_path):
    batch = uuid.uuid4().hex[:12]
    folder = lab_folder(tmp_path, batch, plates=6)
    (folder / "ghost.png").write_bytes(b"")  # an empty file: not an image, skipped
    with (folder / "plates.csv").open("a") as sheet:
        sheet.write(f"missing.png;P-9;A1;0;{batch}\n")
    code, out, err = run(
        service, "upload", "--recursive", str(folder), "--metadata-csv",
        str(folder / "plates.csv"), "--tag", "scope-2", "--metadata", "operator=kim",
    )  # fmt: skip
    assert code == 0, out + err
    images = stored(client, batch)
    assert len(images) == 6
    assert {image.sha256 for image in images} == sha256s(folder)
    by_name = {image.name: image for image in images}
    assert by_name["plate-04"].metadata == {
        "batch": batch, "operator": "kim", "plate": "P-1", "timepoint": 1, "well": "A2",
    }  # fmt: skip
    assert {tuple(image.tags) for image in images} == {("scope-2",)}
    assert f"skipped   {folder / 'notes.txt'}" in err
    assert f"skipped   {folder / 'plates.csv'}" in err
    assert "plates.csv, line 8: no file missing.png" in err
    assert "Stored 6, already stored 0" in out
    assert "skipped 3 other files" in out
    assert (folder / ".imgsvc-journal").read_text().count("\n") == 6


def test_killed_in_the_middle_then_run_again_stores_every_file_once(service, client, tmp_path):
    batch = uuid.uuid4().hex[:12]
    folder = lab_folder(tmp_path, batch)
    args = ["upload", "-r", str(folder), "--metadata-csv", str(folder / "plates.csv")]
    process = imgsvc(service, *args, "--jobs", "2", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stored_lines = 0
    while stored_lines < PLATES // 2:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        stored_lines += line.startswith("stored")
    assert process.poll() is None  # still uploading: the kill lands in the middle
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    process.stderr.close()
    journal = folder / ".imgsvc-journal"
    done_before = journal.read_text().splitlines()
    assert PLATES // 2 <= len(done_before) < PLATES
    # The kill may also land after a file is stored and before its journal line: as if so.
    journal.write_text("\n".join(done_before[:-1]) + "\n" + done_before[-1][:25])

    code, out, err = run(service, *args)
    assert code == 0, out + err
    summary = re.search(
        r"Stored (\d+), already stored (\d+) \(labels applied\), done before (\d+)", out
    )
    new, existing, before = map(int, summary.groups())
    assert before == len(done_before) - 1
    # Those the killed run had sent whose answer it did not live to journal: the service
    # answers the image it stored, and nothing is stored twice.
    assert existing >= 1
    assert new + existing + before == PLATES
    assert "(already stored; labels applied)" in out
    images = stored(client, batch)
    assert len(images) == PLATES
    assert {image.sha256 for image in images} == sha256s(folder)
    for image in images:
        n = int(image.name.removeprefix("plate-"))
        assert (image.metadata["plate"], image.metadata["timepoint"]) == (f"P-{n // 4}", n % 3)

    code, out, _ = run(service, *args)  # a third run: nothing left to send
    assert (code, f"done before {PLATES}") == (0, out.split(", ")[2])
    assert len(stored(client, batch)) == PLATES


def test_a_file_already_stored_gets_the_labels_of_this_run(service, client, tmp_path):
    batch = uuid.uuid4().hex[:12]
    folder = tmp_path / "again"
    folder.mkdir()
    photo = encode(plate_photo((200, 150), seed=int(batch, 16) * 64), "JPEG")
    (folder / "scan.jpg").write_bytes(photo)
    first = client.upload(photo, filename="first.jpg", tags=["old"], metadata={"a": 1}).image
    (folder / "sheet.tsv").write_text(f"file\tbatch\tplate\nscan.jpg\t{batch}\tP-7\n")
    code, out, _ = run(
        service, "upload", str(folder), "--metadata-csv", str(folder / "sheet.tsv"),
        "--tag", "rescanned",
    )  # fmt: skip
    assert code == 0
    assert f"existing  {folder / 'scan.jpg'} -> {first.id} (already stored; labels applied)" in out
    image = client.get(first.id)
    assert image.tags == ["old", "rescanned"]
    assert image.metadata == {"a": 1, "batch": batch, "plate": "P-7"}
    assert len(stored(client, batch)) == 1


def test_tiff_webp_and_heic_files_are_sent_and_other_files_skipped(service, client, tmp_path):
    import pillow_heif

    from tests.instrument_files import plate16, tif

    pillow_heif.register_heif_opener()
    folder = tmp_path / "instruments"
    folder.mkdir()
    seed = uuid.uuid4().int % 1000
    (folder / "scan.tif").write_bytes(tif(plate16(seed=seed)))
    (folder / "web.webp").write_bytes(encode(pattern((60, 40), variant=seed + 1), "WEBP"))
    (folder / "phone.heic").write_bytes(encode(plate_photo((64, 48), seed=seed), "HEIF"))
    (folder / "notes.txt").write_text("not an image")
    code, out, err = run(service, "upload", str(folder), "--jobs", "1")
    assert code == 0, out + err
    assert f"skipped   {folder / 'notes.txt'}" in out + err
    assert "Stored 3" in out
    stored_formats = {
        name: [image.format for image in client.images(sha256=digest(folder / name))]
        for name in ("scan.tif", "web.webp", "phone.heic")
    }
    assert stored_formats == {"scan.tif": ["TIFF"], "web.webp": ["WEBP"], "phone.heic": ["HEIF"]}


def test_a_refused_file_is_listed_with_the_services_code_and_exits_1(service, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.png").write_bytes(encode(pattern((50, 40), variant=3), "PNG"))
    (folder / "cut.jpg").write_bytes(image_bytes("JPEG")[:3] + b"not a picture")
    code, out, err = run(service, "upload", str(folder), "--jobs", "1")
    assert code == 1, out + err
    assert f"refused   {folder / 'cut.jpg'}: invalid_image:" in out
    assert "Stored 1" in out or "already stored 1" in out
    assert "refused 1" in out


@pytest.mark.parametrize(
    ("args", "sheet", "message"),
    [
        (["--metadata-csv", "{sheet}"], "file,plate,bad key\n", "sheet.csv, line 1: 'bad key'"),
        (
            ["--metadata-csv", "{sheet}"],
            'file;note;plate\n\na.png;"two\nlines";P-1\nb.png;x;P-2;extra\n',
            "sheet.csv, line 5: a file name first",
        ),
        (["--metadata-csv", "{sheet}"], "file,plate\na.png,1\na.png,2\n", "a.png is on line 2"),
        (["--metadata-csv", "{folder}/absent.csv"], "", "absent.csv"),
        (["--metadata", "plate"], "", "--metadata 'plate': write KEY=VALUE."),
        (["--jobs", "0"], "", "--jobs is at least 1"),
        (["{folder}/absent"], "", "no such file or folder"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_sent(service, tmp_path, args, sheet, message):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(pattern((30, 20), variant=2), "PNG"))
    (folder / "sheet.csv").write_text(sheet)
    args = [arg.format(sheet=folder / "sheet.csv", folder=folder) for arg in args]
    code, out, err = run(service, "upload", str(folder), *args)
    assert code == 2, out + err
    assert message in err
    assert not (folder / ".imgsvc-journal").exists()


def test_no_url_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("IMGSVC_URL", "IMGSVC_TOKEN")}
    done = subprocess.run(
        [sys.executable, "-m", "imageservice_client", "ls"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--url or IMGSVC_URL" in done.stderr


def test_an_unreachable_service_exits_1(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "imageservice_client", "--url", "http://127.0.0.1:9",
         "--retries", "1", "get", "x"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "unreachable" in done.stderr


def test_on_a_terminal_the_upload_shows_a_progress_bar(service, client, tmp_path):
    batch = uuid.uuid4().hex[:12]
    folder = lab_folder(tmp_path, batch, plates=4)
    primary, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.update(IMGSVC_URL=service.base)
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "imageservice_client", "upload", "-r", str(folder),
         "--metadata-csv", str(folder / "plates.csv")],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    shown = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(timeout=30) == 0
    text = shown.decode(errors="replace")
    assert "\x1b[" in text  # drawn in place, with the terminal's escapes
    assert "upload" in text
    assert "4/4 files" in text
    assert "━" in text  # the bar
    assert "stored    " not in text  # a line per stored file is for logs, not the terminal
    assert "Stored 4, already stored 0" in text
    assert len(stored(client, batch)) == 4
