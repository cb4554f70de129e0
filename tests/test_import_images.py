"""manage.py import_images: a lab's folders in, through the upload path, safe to re-run."""

import hashlib
import io
import os
import re
import signal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from images import services
from images.models import Image, ImageEvent
from tests.commandline import manage
from tests.factories import encode, image_bytes, pattern

pytestmark = pytest.mark.django_db(transaction=True)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: io.StringIO | None = None) -> tuple[int, list[str]]:
    """Run the command; its exit code and its output lines."""
    out = io.StringIO()
    try:
        call_command("import_images", *args, stdout=out, stderr=stderr or io.StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue().splitlines()
    return 0, out.getvalue().splitlines()


def picture(variant: int, fmt: str = "JPEG") -> bytes:
    """A distinct image per variant, so each has its own sha256."""
    return encode(pattern((48 + variant, 32), variant=variant % 2), fmt)


def write(root: Path, tree: dict[str, bytes]) -> Path:
    for name, data in tree.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab folder: JPEGs and PNGs at several depths, a broken one, and things that are not
    them."""
    return write(
        tmp_path / "lab",
        {
            "plate-1.jpg": picture(1),
            "run-2/plate-2.png": picture(2, "PNG"),
            "run-2/deep/plate-3.JPG": picture(3),
            "run-2/deep/really-a-png.jpg": picture(4, "PNG"),
            "run-3/scan.gif": image_bytes("GIF"),
            "run-3/notes.txt": b"exposure 1/60\n",
            "run-3/empty.png": b"",
            "run-3/cut.jpeg": image_bytes("JPEG")[:200],  # starts as a JPEG, cut short
            ".thumbs/plate-1.jpg": picture(5),  # hidden folder: not looked at
            "run-2/.DS_Store": b"\x00\x00\x00\x01Bud1",  # hidden file: not looked at
        },
    )


def test_a_folder_tree_is_imported_other_files_left_alone_and_broken_images_refused(lab, files):
    code, lines = run(str(lab))

    assert code == 1  # a file was refused
    assert [line for line in lines if line.startswith("refused")] == [
        f"refused  {lab}/run-3/cut.jpeg: invalid_image: The file is not a valid JPEG, PNG, "
        "TIFF, WebP or HEIC image.",
    ]
    left_alone = "not JPEG, PNG, TIFF, WebP or HEIC (by its first bytes); left alone"
    assert [line for line in lines if line.startswith("other")] == [
        f"other    {lab}/run-3/{name}: {left_alone}"
        for name in ["empty.png", "notes.txt", "scan.gif"]
    ]
    assert lines[-3:] == [
        "Imported 4, skipped 0 (already stored), refused 1 of 5 files.",
        "Not JPEG, PNG, TIFF, WebP or HEIC, left alone: 3 other files.",
        "Refused: 1 invalid_image.",
    ]
    images = {image.name: image for image in Image.objects.all()}
    assert sorted(images) == ["plate-1", "plate-2", "plate-3", "really-a-png"]
    assert images["really-a-png"].format == "PNG"  # decided by decoding, not by the name
    plate_3 = (lab / "run-2/deep/plate-3.JPG").read_bytes()
    assert images["plate-3"].sha256 == hashlib.sha256(plate_3).hexdigest()
    assert len(files()) == 4


def test_running_again_skips_everything_already_imported(lab, files):
    run(str(lab))
    stored = files()

    code, lines = run(str(lab), "-v", "2")

    assert code == 1  # the same broken file is refused again
    assert lines[-3] == "Imported 0, skipped 4 (already stored), refused 1 of 5 files."
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == 4
    assert all(": already stored as " in line for line in skipped)
    assert Image.objects.count() == 4
    assert files() == stored


def test_an_image_cropped_since_its_import_is_still_recognised(tmp_path):
    write(tmp_path / "lab", {"plate.png": picture(1, "PNG")})
    run(str(tmp_path / "lab"))
    image = Image.objects.get()
    services.image_crop(image_id=image.pk, width=10, height=10)

    code, lines = run(str(tmp_path / "lab"))

    assert (code, lines) == (0, ["Imported 0, skipped 1 (already stored), refused 0 of 1 files."])
    assert Image.objects.count() == 1


def test_the_same_bytes_twice_in_the_folders_are_imported_once(tmp_path):
    write(tmp_path / "a", {"x.jpg": picture(1)})
    write(tmp_path / "b", {"copy of x.jpg": picture(1), "y.jpg": picture(2)})

    code, lines = run(str(tmp_path / "a"), str(tmp_path / "b"))

    assert (code, lines) == (0, ["Imported 2, skipped 1 (already stored), refused 0 of 3 files."])
    assert sorted(Image.objects.values_list("name", flat=True)) == ["x", "y"]


def test_pattern_chooses_files_in_folders_by_name_ignoring_case(lab):
    code, lines = run(str(lab), "--pattern", "*.jpg", "--pattern", "PLATE-2.*")

    assert (code, lines) == (0, ["Imported 4, skipped 0 (already stored), refused 0 of 4 files."])


def test_a_file_named_on_the_command_line_is_always_tried(lab):
    code, lines = run(str(lab / "run-3/cut.jpeg"), str(lab / "plate-1.jpg"), "--pattern", "*.png")

    assert code == 1
    assert lines[-2] == "Imported 1, skipped 0 (already stored), refused 1 of 2 files."


def test_a_csv_and_notes_in_the_folder_are_left_alone_and_the_run_succeeds(tmp_path):
    lab = write(
        tmp_path / "lab",
        {"plate.jpg": picture(1), "plates.csv": b"file,well\nplate.jpg,B7\n", "notes.txt": b"x"},
    )

    code, lines = run(str(lab), "--metadata-csv", str(lab / "plates.csv"))

    assert code == 0
    assert lines[-2:] == [
        "Imported 1, skipped 0 (already stored), refused 0 of 1 files.",
        "Not JPEG, PNG, TIFF, WebP or HEIC, left alone: 2 other files.",
    ]
    assert labels() == {"plate": ([], {"well": "B7"})}


def test_a_file_already_stored_gets_the_labels_of_this_run_and_says_so(tmp_path):
    lab = write(tmp_path / "lab", {"plate.jpg": picture(1)})
    run(str(lab), "--tag", "first", "--metadata", "a=1")
    image = Image.objects.get()
    (tmp_path / "sheet.csv").write_text("file;well;a\nplate.jpg;C3;2\n")

    code, lines = run(str(lab), "--tag", "again", "--metadata-csv", str(tmp_path / "sheet.csv"))

    assert code == 0
    assert lines == ["Imported 0, skipped 1 (already stored), refused 0 of 1 files."]
    code, lines = run(str(lab), "-v", "2", "--tag", "again")
    assert lines[0] == f"skipped  {lab}/plate.jpg: already stored as {image.pk}; labels applied"
    assert labels() == {"plate": (["first", "again"], {"a": 2, "well": "C3"})}
    # One change in the history: the third run's labels were there already.
    assert ImageEvent.objects.filter(image_id=image.pk, action="updated").count() == 1


def test_a_pipe_is_never_opened_so_the_import_cannot_hang_on_it(tmp_path):
    lab = write(tmp_path / "lab", {"plate.jpg": picture(1)})
    os.mkfifo(lab / "camera-feed.jpg")

    code, lines = run(str(lab), str(lab / "camera-feed.jpg"))

    assert code == 1
    assert lines == [
        f"refused  {lab}/camera-feed.jpg: unreadable: not a regular file",
        "Imported 1, skipped 0 (already stored), refused 1 of 2 files.",
        "Refused: 1 unreadable.",
    ]


def test_a_path_that_does_not_exist_stops_before_anything_is_imported(lab):
    with pytest.raises(CommandError, match=r"No such file or folder: .*typo"):
        call_command("import_images", str(lab), str(lab / "typo"), stdout=io.StringIO())

    assert Image.objects.count() == 0


def test_a_failure_on_one_file_does_not_stop_the_run(lab, monkeypatch):
    create = services.image_create

    def storage_fails_on_plate_2(*, file, name, **kwargs):
        if name == "plate-2":
            raise RuntimeError("storage went away")
        return create(file=file, name=name, **kwargs)

    monkeypatch.setattr(services, "image_create", storage_fails_on_plate_2)

    code, lines = run(str(lab), "--pattern", "*.jpg", "--pattern", "*.png")

    assert code == 1
    assert f"refused  {lab}/run-2/plate-2.png: error: RuntimeError: storage went away" in lines
    assert lines[-3:] == [
        "Imported 3, skipped 0 (already stored), refused 1 of 4 files.",
        "Not JPEG, PNG, TIFF, WebP or HEIC, left alone: 1 other files.",
        "Refused: 1 error.",
    ]


def test_an_import_interrupted_mid_write_leaves_nothing_half_done_and_a_rerun_finishes(
    tmp_path, monkeypatch, files
):
    lab = write(tmp_path / "lab", {f"plate-{i}.png": picture(i, "PNG") for i in range(6)})
    save = Image.save
    saved = []

    def ctrl_c_on_the_third_row(image, *args, **kwargs):
        """Ctrl-C at the worst moment: the third file is in storage, its row not yet."""
        if len(saved) == 2:
            raise KeyboardInterrupt
        save(image, *args, **kwargs)
        saved.append(image.name)

    monkeypatch.setattr(Image, "save", ctrl_c_on_the_third_row)

    code, lines = run(str(lab))

    assert code == 130
    assert lines == ["Imported 2, skipped 0 (already stored), refused 0 of 2 files."]
    assert Image.objects.count() == 2
    assert len(files()) == 2  # the interrupted file was removed from storage
    call_command("images_check", "--min-age", "0", stdout=io.StringIO())  # raises if not clean

    monkeypatch.undo()
    code, lines = run(str(lab))

    assert (code, lines) == (0, ["Imported 4, skipped 2 (already stored), refused 0 of 6 files."])
    assert sorted(Image.objects.values_list("name", flat=True)) == [f"plate-{i}" for i in range(6)]
    assert len(files()) == 6


def test_ctrl_c_stops_a_real_import_between_files_and_a_rerun_imports_the_rest_once(
    tmp_path, media_root, files
):
    lab = write(tmp_path / "lab", {f"plate-{i:02}.png": picture(i, "PNG") for i in range(40)})
    child = manage("import_images", str(lab), "-v", "2", media_root=media_root)
    imported = 0
    while imported < 3:
        line = child.stdout.readline()
        assert line, child.stderr.read()
        imported += line.startswith("imported")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)

    assert child.returncode == 130, err
    assert "; run the same command again to import the rest." in err
    assert "Stopping after the current file" in err
    summary = re.search(r"Imported (\d+), skipped 0 \(already stored\), refused 0 of \1 files", out)
    assert summary, out
    first = Image.objects.count()
    assert first == int(summary[1])  # the file being imported at Ctrl-C was finished
    assert 3 <= first < 40
    assert len(files()) == first

    code, lines = run(str(lab))

    assert (code, lines[-1]) == (
        0,
        f"Imported {40 - first}, skipped {first} (already stored), refused 0 of 40 files.",
    )
    assert Image.objects.values("sha256").distinct().count() == Image.objects.count() == 40
    assert len(files()) == 40


def test_progress_is_a_line_rewritten_in_place_on_a_terminal(lab):
    terminal = Terminal()
    run(str(lab), stderr=terminal)

    progress = terminal.getvalue()
    assert "\r[1/8]  12%  imported 1  skipped 0  refused 0  other 0" in progress
    assert "\r[8/8] 100%  imported 4  skipped 0  refused 1  other 3" in progress
    assert progress.endswith("\r\033[K")  # the line is wiped before the summary


def test_no_progress_line_when_stderr_is_not_a_terminal(lab):
    stderr = io.StringIO()
    run(str(lab), stderr=stderr)

    assert stderr.getvalue() == ""


def labels() -> dict[str, tuple[list, dict]]:
    return {image.name: (image.tags, image.metadata) for image in Image.objects.all()}


def test_tags_and_metadata_options_label_every_imported_image(lab):
    code, _ = run(
        str(lab), "--tag", "plate", "--tag", "run 2", "--metadata", "exp=E12", "--metadata", "t=3"
    )

    assert code == 1  # the broken file refused as ever
    assert list(labels().values()) == [(["plate", "run 2"], {"exp": "E12", "t": 3})] * 4
    found = APIClient().get("/api/v1/images/", {"tag": "run 2", "metadata.t": "3"}).json()
    assert found["count"] == 4


def test_a_csv_gives_each_file_its_own_metadata_and_wins_over_the_options(lab, tmp_path):
    sheet = tmp_path / "plates.csv"
    sheet.write_text(
        "\ufefffile,well,timepoint,dose,label,note\n"  # Excel's BOM and all
        "plate-1.jpg,B7,3,2.5,007,\n"
        f"{lab}/run-2/plate-2.png,C1,-1,1e3,x,washed\n"
        "run-2/deep/plate-3.JPG,,0,,,\n"
        "\n"
        "run-9/absent.jpg,A1,1,1,1,\n",
        encoding="utf-8",
    )

    code, lines = run(str(lab), "--metadata-csv", str(sheet), "--metadata", "well=none")

    assert code == 1
    assert labels()["plate-1"] == ([], {"well": "B7", "timepoint": 3, "dose": 2.5, "label": "007"})
    assert labels()["plate-2"][1] == {
        "well": "C1", "timepoint": -1, "dose": 1000.0, "label": "x", "note": "washed"
    }  # fmt: skip
    assert labels()["plate-3"][1] == {"well": "none", "timepoint": 0}  # empty cells: no value
    assert labels()["really-a-png"][1] == {"well": "none"}  # in no row: the options only
    assert lines[-1] == f"Lines of {sheet} that named no file: 6."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "a,b"], "invalid_tags"),
        (["--metadata", "novalue"], "write KEY=VALUE"),
        (["--metadata", "bad key=1"], "invalid_metadata"),
        (["--metadata-csv", "{sheet}"], "line 2: a file name first"),
        (["--metadata", "plate__id=1"], "two underscores in a row"),
        (["--metadata-csv", "{absent}"], "No such file"),
    ],
)
def test_bad_labels_stop_the_import_before_any_file(lab, tmp_path, args, message):
    sheet = tmp_path / "bad.csv"
    sheet.write_text("path,well\n,B7\n")
    args = [arg.format(sheet=sheet, absent=tmp_path / "absent.csv") for arg in args]

    with pytest.raises(CommandError, match=message):
        call_command("import_images", str(lab), *args, stdout=io.StringIO())

    assert not Image.objects.exists()


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        ("path,bad key\nplate-1.jpg,1\n", "line 1: 'bad key' is not a metadata key"),
        ("path,plate__id\nplate-1.jpg,1\n", "line 1: .*two underscores"),
        ("path;a\n\nplate-1.jpg;1;2\n", "line 3: a file name first"),
        (  # 65 keys: too many for an image, found at the row's own line (4, not 3)
            "path," + ",".join(f"k{n}" for n in range(65)) + '\n"plate\n-1.jpg",1\n'
            "plate-2.png," + ",".join("1" * 65) + "\n",
            "line 4: invalid_metadata",
        ),
        ("path,a\nplate-1.jpg,1\n./plate-1.jpg,2\n", "line 3: plate-1.jpg is on line 2 too"),
        ("path,a\nplate-1.jpg," + "x" * 1025 + "\n", "line 2: a: at most 1024 characters"),
        ("", "empty"),
    ],
)
def test_a_bad_csv_names_its_line_and_stops_the_import(lab, tmp_path, sheet, message):
    path = tmp_path / "sheet.csv"
    path.write_text(sheet)

    with pytest.raises(CommandError, match=message):
        call_command("import_images", str(lab), "--metadata-csv", str(path), stdout=io.StringIO())

    assert not Image.objects.exists()
