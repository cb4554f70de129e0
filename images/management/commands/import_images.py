import hashlib
import os
import signal
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db.models import Q

from images import services
from images.errors import ImageServiceError
from images.history import command_actor
from images.imaging.decode import ACCEPTED, HEAD_BYTES, starts_as_image
from images.labels.csv_rows import ImportLabels
from images.models import Image
from images.services.edits import image_bulk_edit

_READ_CHUNK = 1024 * 1024
IMPORT_ACTOR = command_actor("import_images")  # who the history says created the images


@dataclass(frozen=True)
class Outcome:
    kind: str  # "imported", "skipped" (already stored), "refused" or "other" (not an image)
    detail: str
    code: str = ""  # why a file was refused: an error code of the service, or "unreadable"


class Command(BaseCommand):
    help = (
        "Import every JPEG, PNG, TIFF, WebP and HEIC image under the given files and folders "
        "(recursive) through the "
        "same code as uploads, as `imgsvc upload` does from a lab's machine. Files whose "
        "bytes are already stored are skipped, so an interrupted import continues where it "
        "stopped when run again; they get this run's --tag, --metadata and CSV row all the "
        "same. Every regular file that is not hidden and starts as one of those formats does is "
        "imported and checked by decoding, not by its name; other files (a CSV, notes) are "
        "listed and left alone. --pattern narrows the choice by name. Exits 1 when some "
        "files were refused, 130 when interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Files and folders.")
        parser.add_argument(
            "--pattern",
            action="append",
            default=[],
            metavar="GLOB",
            help=(
                "Only files in folders whose name matches, ignoring case, e.g. --pattern '*.jpg' "
                "--pattern '*.png' (repeatable). Files named as PATH are always tried."
            ),
        )
        parser.add_argument(
            "--tag",
            action="append",
            default=[],
            metavar="TAG",
            help="A tag for every imported image (repeatable).",
        )
        parser.add_argument(
            "--metadata",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=(
                "A metadata value for every imported image (repeatable); a VALUE that is a "
                "JSON number (3, -2.5, 1e3, not 007) becomes that number."
            ),
        )
        parser.add_argument(
            "--metadata-csv",
            metavar="FILE",
            help=(
                "A CSV file: a header row of keys, then one row per file, its path first "
                "(relative to a PATH folder, or absolute), then its values (numbers become "
                "numbers; an empty cell gives no value). Comma, semicolon or tab, as the "
                "header has it. A row's values win over --metadata."
            ),
        )

    def handle(self, *, paths: list[str], pattern: list[str], verbosity: int, **options):
        roots = [Path(path) for path in paths]
        if absent := [str(root) for root in roots if not root.exists()]:
            raise CommandError(f"No such file or folder: {', '.join(absent)}")
        self.labels = ImportLabels.read(
            tags=options.get("tag") or [],
            metadata=options.get("metadata") or [],
            csv_file=options.get("metadata_csv"),
            roots=roots,
        )
        patterns = [glob.lower() for glob in pattern]
        counts: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        progress = None
        interrupted = False
        with _first_ctrl_c_finishes_the_current_file(self.stderr) as stop:
            try:
                if verbosity and self.stderr.isatty():
                    progress = Progress(self.stderr, sum(1 for _ in _candidates(roots, patterns)))
                for item in _candidates(roots, patterns):
                    if stop.is_set():
                        raise KeyboardInterrupt
                    outcome = self._import(item, show_traceback=options.get("traceback", False))
                    counts[outcome.kind] += 1
                    if outcome.kind == "refused":
                        reasons[outcome.code] += 1
                    if outcome.kind in ("refused", "other") or verbosity >= 2:
                        if progress:
                            progress.clear()
                        path = item.filename if isinstance(item, OSError) else item
                        self.stdout.write(f"{outcome.kind:<8} {path}: {outcome.detail}")
                    if progress:
                        progress.show(counts)
            except KeyboardInterrupt:
                interrupted = True
            if progress:
                progress.clear()

        self._summarize(counts, reasons, interrupted=interrupted)

    def _summarize(self, counts: Counter[str], reasons: Counter[str], *, interrupted: bool):
        done = sum(counts.values()) - counts["other"]
        self.stdout.write(
            f"Imported {counts['imported']}, skipped {counts['skipped']} (already stored), "
            f"refused {counts['refused']} of {done} files."
        )
        if counts["other"]:
            self.stdout.write(f"Not {ACCEPTED}, left alone: {counts['other']} other files.")
        if counts["refused"]:
            by_reason = ", ".join(f"{n} {code}" for code, n in sorted(reasons.items()))
            self.stdout.write(f"Refused: {by_reason}.")
        if (unused := self.labels.unused_lines()) and not interrupted:
            lines = ", ".join(str(line) for line in unused)
            self.stdout.write(f"Lines of {self.labels.csv_name} that named no file: {lines}.")
        if interrupted:
            raise CommandError(
                f"Interrupted after {sum(counts.values())} files; run the same command again "
                "to import the rest.",
                returncode=130,
            )
        if counts["refused"]:
            raise CommandError(f"{counts['refused']} files were refused.", returncode=1)

    def _import(self, item: Path | OSError, *, show_traceback: bool) -> Outcome:
        if isinstance(item, OSError):  # a folder that could not be listed
            return _unreadable(item)
        if not item.is_file():  # a FIFO or device would block or never end
            return Outcome("refused", "unreadable: not a regular file", "unreadable")
        try:
            file = item.open("rb")
        except OSError as exc:
            return _unreadable(exc)
        with file:
            try:
                if not starts_as_image(file.read(HEAD_BYTES)):
                    return Outcome("other", f"not {ACCEPTED} (by its first bytes); left alone")
                file.seek(0)
                digest = _sha256(file)
            except OSError as exc:
                return _unreadable(exc)
            tags, metadata = self.labels.of(item)
            try:
                if stored := _stored_as(digest):
                    if not (tags or metadata):
                        return Outcome("skipped", f"already stored as {stored}")
                    image_bulk_edit(
                        image_ids=[stored], add_tags=tags, metadata=metadata, actor=IMPORT_ACTOR
                    )
                    return Outcome("skipped", f"already stored as {stored}; labels applied")
                image = services.image_create(
                    file=file,
                    name=services.image_default_name(item.name),
                    sha256=digest,
                    tags=tags,
                    metadata=metadata,
                    actor=IMPORT_ACTOR,
                )
            except ImageServiceError as exc:
                return Outcome("refused", f"{exc.code}: {exc.detail}", exc.code)
            except Exception as exc:  # storage or database trouble: the next file may work
                if show_traceback:
                    traceback.print_exc()
                return Outcome("refused", f"error: {type(exc).__name__}: {exc}", "error")
        return Outcome("imported", f"as {image.pk}")


def _unreadable(exc: OSError) -> Outcome:
    return Outcome("refused", f"unreadable: {exc.strerror or exc}", "unreadable")


@contextmanager
def _first_ctrl_c_finishes_the_current_file(out: OutputWrapper) -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a request to stop between files; a second one stops now.

    Stopping between files leaves every file either imported or not started, never cut in
    the middle of a write. Only the main thread receives signals; elsewhere this does nothing.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_ctrl_c(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        out.write("\nStopping after the current file (Ctrl-C again to stop at once).")

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _candidates(roots: list[Path], patterns: list[str]) -> Iterator[Path | OSError]:
    """Files named as roots, then the regular, not hidden files under folders, in order.

    A folder that cannot be listed comes out as its OSError. Symbolic links to folders are
    not followed (no cycles); links to files are.
    """
    errors: list[OSError] = []
    for root in roots:
        if not root.is_dir():
            yield root
            continue
        for directory, folders, names in os.walk(root, onerror=errors.append):
            yield from errors
            errors.clear()
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            for name in sorted(names):
                path = Path(directory, name)
                if not name.startswith(".") and _matches(name, patterns) and path.is_file():
                    yield path
        yield from errors
        errors.clear()


def _matches(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatchcase(name.lower(), glob) for glob in patterns)


def _sha256(file: BinaryIO) -> str:
    hasher = hashlib.sha256()
    while block := file.read(_READ_CHUNK):
        hasher.update(block)
    return hasher.hexdigest()


def _stored_as(sha256: str) -> uuid.UUID | None:
    """The id of an image with these bytes, as current file or as original (cropped since)."""
    # Unordered: an ORDER BY could make the database walk another index to find nothing.
    images = Image.objects.filter(Q(sha256=sha256) | Q(original_sha256=sha256)).order_by()
    found = images.values_list("pk", flat=True)[:1]
    return found[0] if found else None


class Progress:
    """One line on a terminal, rewritten in place after each file."""

    def __init__(self, out: OutputWrapper, total: int) -> None:
        self.out = out
        self.total = total

    def show(self, counts: Counter[str]) -> None:
        done = sum(counts.values())
        percent = min(100, 100 * done // self.total) if self.total else 100
        self._write(
            f"\r[{done}/{self.total}] {percent:3d}%  imported {counts['imported']}  "
            f"skipped {counts['skipped']}  refused {counts['refused']}  other {counts['other']}"
        )

    def clear(self) -> None:
        self._write("\r\033[K")

    def _write(self, text: str) -> None:
        self.out.write(text, style_func=lambda line: line, ending="")
        self.out.flush()
