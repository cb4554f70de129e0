"""manage.py images_check: rows whose files are missing, files no row owns, and --fix."""

import io
import os
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from images import services
from images.infra import storage_check
from images.models import Image
from tests.commandline import manage
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = 3600


def check(*args: str) -> tuple[int, list[str]]:
    """Run the command; its exit code and its output lines."""
    out = io.StringIO()
    try:
        call_command("images_check", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue().splitlines()
    return 0, out.getvalue().splitlines()


def create(fmt: str = "PNG", size: tuple[int, int] = (40, 40)) -> Image:
    return services.image_create(file=io.BytesIO(image_bytes(fmt, size)), name="x")


def cropped() -> Image:
    """An image whose current file and original are two different stored files."""
    image = create()
    return services.image_crop(image_id=image.pk, width=20, height=20)


def orphan(name: str = "images/ab/" + "ab" * 16 + ".png") -> str:
    """A file under images/ that no row names, as a crash between file and row leaves."""
    return default_storage.save(name, ContentFile(image_bytes("PNG")))


@pytest.fixture
def age(media_root: Path):
    """Make stored files look as old as a crash an hour or more ago."""

    def age(*names: str, seconds: int = 2 * HOUR) -> None:
        past = time.time() - seconds
        for name in names:
            os.utime(media_root / name, (past, past))

    return age


def test_clean_storage_reports_nothing_and_exits_0():
    create()
    cropped()

    code, lines = check()

    assert code == 0
    assert lines == [
        "Checked 2 images and 3 files: 0 missing, 0 orphans (0 removed), "
        "0 unowned files younger than 3600s left alone."
    ]


def test_empty_storage_is_clean():
    assert check("--fix") == (
        0,
        [
            "Checked 0 images and 0 files: 0 missing, 0 orphans (0 removed), "
            "0 unowned files younger than 3600s left alone."
        ],
    )


def test_stored_metadata_keys_with_two_underscores_are_reported_and_exit_1():
    # Written before such keys were refused (no API, admin or import writes one now).
    live, trashed = create(), create()
    Image.objects.filter(pk=live.pk).update(metadata={"plate": "P1", "a__b": 1, "c__gt": 2})
    Image.objects.filter(pk=trashed.pk).update(metadata={"x__y": True})
    services.image_delete(image_id=trashed.pk)

    code, lines = check()

    assert code == 1
    assert sorted(lines[:-1]) == sorted(
        [f"bad key  {live.pk} a__b", f"bad key  {live.pk} c__gt", f"bad key  {trashed.pk} x__y"]
    )
    assert lines[-1].endswith(" 3 metadata keys with `__`, which filters cannot name.")


@pytest.mark.parametrize("field", ["file", "original"])
def test_a_row_whose_file_is_missing_is_reported_and_exits_1(field):
    image = cropped()
    name = getattr(image, field).name
    default_storage.delete(name)

    code, lines = check()

    assert code == 1
    assert lines[0] == f"missing {field:<8} {image.pk} {name}"
    assert "1 missing, 0 orphans" in lines[-1]


def test_an_image_whose_single_file_is_missing_is_reported_once():
    image = create()
    default_storage.delete(image.file.name)

    code, lines = check()

    assert code == 1
    assert lines[:-1] == [f"missing file     {image.pk} {image.file.name}"]


def test_fix_never_deletes_a_row_whose_file_is_missing():
    image = create()
    default_storage.delete(image.file.name)

    code, lines = check("--fix")

    assert code == 1
    assert lines[0] == f"missing file     {image.pk} {image.file.name}"
    assert Image.objects.filter(pk=image.pk).exists()


def test_orphan_files_are_reported_but_kept_without_fix(age, files):
    create()
    stray = [orphan(), orphan("images/stray.txt"), orphan("images/cd/nested/deeper.jpg")]
    age(*stray)
    before = files()

    code, lines = check()

    assert code == 1
    assert sorted(line.split()[1] for line in lines[:-1]) == sorted(stray)
    assert all(line.startswith("orphan ") for line in lines[:-1])
    assert "0 missing, 3 orphans (0 removed)" in lines[-1]
    assert files() == before


def test_a_young_unowned_file_may_be_an_upload_in_flight_and_is_not_a_problem(files):
    young = orphan()

    code, lines = check("--fix")

    assert code == 0
    assert "0 orphans (0 removed), 1 unowned files younger than 3600s" in lines[-1]
    assert default_storage.exists(young)


def test_fix_removes_only_orphans_older_than_min_age(age):
    old, recent = orphan(), orphan("images/cd/" + "cd" * 16 + ".png")
    age(old)
    age(recent, seconds=10 * 60)

    code, lines = check("--fix", "-v", "2")

    assert code == 0
    assert lines[0].startswith(f"removed  {old} modified ")
    assert lines[1].startswith(f"young    {recent} modified ")
    assert "1 orphans (1 removed), 1 unowned files younger" in lines[-1]
    assert not default_storage.exists(old)
    assert default_storage.exists(recent)
    assert check("--fix", "--min-age", "0")[0] == 0
    assert not default_storage.exists(recent)


def test_fix_never_removes_a_file_a_row_names(age, files, media_root, api):
    plain, crop = create("JPEG"), cropped()
    named = files()
    age(*(path.relative_to(media_root).as_posix() for path in named))
    stray = orphan()
    age(stray)

    code, lines = check("--fix", "--min-age", "0")

    assert code == 0
    assert len(lines) == 2
    assert lines[0].startswith(f"removed  {stray} ")
    assert files() == named
    for image in (plain, crop):
        assert api.get(f"/api/v1/images/{image.pk}/file").status_code == 200
        assert api.get(f"/api/v1/images/{image.pk}/original").status_code == 200


@pytest.mark.parametrize(
    "concurrent",
    [
        lambda image: services.image_delete(image_id=image.pk),
        lambda image: services.image_crop(image_id=image.pk, width=10, height=10),
    ],
    ids=["delete", "crop"],
)
def test_a_file_replaced_by_a_request_during_the_check_is_not_reported_missing(
    monkeypatch, concurrent
):
    image = cropped()
    exists = storage_check.StorageCheck._exists

    def request_commits_first(self, name):
        if name == image.file.name:
            concurrent(image)  # commits, then removes the file the check was about to ask for
        return exists(self, name)

    monkeypatch.setattr(storage_check.StorageCheck, "_exists", request_commits_first)

    assert check()[0] == 0


def test_remove_leaves_a_file_that_a_row_came_to_name_after_it_was_found():
    image = create()
    found = storage_check.UnownedFile(name=image.file.name, modified=None)

    assert storage_check.StorageCheck().remove(found) is False
    assert default_storage.exists(image.file.name)


def test_batches_smaller_than_the_data_find_the_same_problems(monkeypatch, age):
    monkeypatch.setattr(storage_check, "BATCH", 2)
    images = [create() for _ in range(3)] + [cropped() for _ in range(2)]
    gone = images[3].file.name
    default_storage.delete(gone)
    stray = [orphan(), orphan("images/ab/" + "ef" * 16 + ".png"), orphan("images/zz.png")]
    age(*stray)

    code, lines = check("--jobs", "3")

    assert code == 1
    assert lines[0] == f"missing file     {images[3].pk} {gone}"
    assert sorted(line.split()[1] for line in lines[1:-1]) == sorted(stray)
    assert lines[-1].startswith("Checked 5 images and 9 files: 1 missing, 3 orphans")


def test_the_exit_status_tells_a_monitor_whether_storage_is_consistent(media_root, age):
    """The real command line, as cron or a monitoring probe runs it."""
    create()
    age(orphan())

    failed = manage("images_check", media_root=media_root)
    out, err = failed.communicate(timeout=60)
    assert failed.returncode == 1
    assert "1 problems found; --fix removes the orphans." in err

    fixed = manage("images_check", "--fix", media_root=media_root)
    out, err = fixed.communicate(timeout=60)
    assert fixed.returncode == 0, err
    assert "1 orphans (1 removed)" in out


def test_rendition_files_are_never_orphans_and_a_missing_one_is_no_problem(age, files):
    from images.imaging import resize
    from images.services import renditions

    image = create()
    for text in ("max-10x10", "fill-20x20.webp"):
        spec = resize.parse_spec(text, max_size=4096)
        renditions.image_rendition(image_id=image.pk, spec=spec, format=spec.format)
    kept, gone = (row.file.name for row in image.renditions.order_by("spec"))
    age(image.file.name, kept, gone)
    default_storage.delete(gone)  # made again when next asked for, not an error

    code, lines = check("--fix")

    assert code == 0
    assert "Checked 1 images and 2 files: 0 missing, 0 orphans (0 removed)" in lines[-1]
    assert default_storage.exists(kept)
