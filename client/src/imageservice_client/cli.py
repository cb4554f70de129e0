"""The ``imgsvc`` command: the service from a lab's machine, over its public API.

Exit status: 0 when everything asked was done, 1 when the service refused something or
could not be reached, 2 for a usage error (a bad option, a bad CSV), 130 when interrupted.
"""

import argparse
import dataclasses
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from .client import Client
from .errors import ImageServiceError
from .folder import Labels, parse_options, plan
from .journal import DEFAULT_NAME, Journal
from .labels_csv import CsvError, parse_scalar
from .models import Image
from .report import report_for, shown
from .retries import Retries
from .uploader import Uploader

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    url = args.url or os.environ.get("IMGSVC_URL")
    if not url:
        parser.error("the service's URL: --url or IMGSVC_URL (e.g. http://127.0.0.1:8000)")
    token = args.token or os.environ.get("IMGSVC_TOKEN") or None
    try:
        with Client(url, token, retries=Retries(attempts=max(0, args.retries) + 1)) as client:
            return args.run(client, args)
    except UsageError as exc:
        print(f"imgsvc: {exc}", file=sys.stderr)
        return USAGE
    except ImageServiceError as exc:
        print(f"imgsvc: {exc.code}: {exc.detail}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `imgsvc ls | head`
        return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgsvc",
        description="The image service from a lab's machine: upload folders with their "
        "labels, list, download, label and follow images.",
        epilog="The service's URL and token come from --url and --token, or IMGSVC_URL and "
        "IMGSVC_TOKEN. Exit status: 0 done, 1 refused or unreachable, 2 usage error.",
    )
    parser.add_argument("--url", help="The service, e.g. http://127.0.0.1:8000 (IMGSVC_URL).")
    parser.add_argument("--token", help="An API token (IMGSVC_TOKEN).")
    parser.add_argument(
        "--retries", type=int, default=Retries.attempts - 1, metavar="N",
        help="Times a request is sent again after a 429, a 503 or a lost connection "
        f"(default {Retries.attempts - 1}).",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = commands.add_parser(
        "upload", help="Upload JPEG and PNG files and folders, with tags and metadata.",
        description="Upload the JPEG and PNG files given and in the folders given (other "
        "files are listed as skipped and never sent). A journal records each file done, so "
        "the same command run again after a crash, Ctrl-C or a lost network sends only what "
        "is left; a file whose bytes are already stored gets its tags and metadata applied "
        "to the stored image.",
    )  # fmt: skip
    upload.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    upload.add_argument("-r", "--recursive", action="store_true", help="Also subfolders.")
    upload.add_argument("--tag", action="append", default=[], help="A tag for every file.")
    upload.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE",
        help="A metadata value for every file (a JSON number becomes a number).",
    )  # fmt: skip
    upload.add_argument(
        "--metadata-csv", type=Path, metavar="FILE",
        help="A header row of keys, then a row per file: its name (relative to the folder) "
        "first, then its values. Comma, semicolon or tab. A row's values win over --metadata.",
    )  # fmt: skip
    upload.add_argument(
        "--journal", type=Path, metavar="FILE",
        help=f"Where to record the files done (default: {DEFAULT_NAME} in the first folder, "
        "or in the current folder for files).",
    )  # fmt: skip
    upload.add_argument("--jobs", type=int, default=4, help="Parallel uploads (default 4).")
    upload.set_defaults(run=run_upload)

    ls = commands.add_parser("ls", help="List images, newest first.")
    ls.add_argument("--tag", action="append", default=[], help="Only with this tag.")
    ls.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE",
        help="Only with this value (KEY__gt=, __gte, __lt, __lte, __exists too).",
    )  # fmt: skip
    ls.add_argument("--name", help="Name contains.")
    ls.add_argument("--ordering", help="e.g. name, -created_at, metadata.timepoint")
    ls.add_argument("--limit", type=int, help="At most this many.")
    ls.add_argument("--json", action="store_true", help="JSON lines, one image each.")
    ls.set_defaults(run=run_ls)

    get = commands.add_parser("get", help="An image's metadata, as JSON.")
    get.add_argument("id")
    get.set_defaults(run=run_get)

    download = commands.add_parser("download", help="Download images' files.")
    download.add_argument("ids", nargs="+", metavar="ID")
    which = download.add_mutually_exclusive_group()
    which.add_argument("--rendition", metavar="SPEC", help="e.g. max-256x256, width-800.webp")
    which.add_argument("--original", action="store_true", help="The bytes as first uploaded.")
    download.add_argument("-o", "--output", type=Path, default=Path("."), metavar="DIR")
    download.set_defaults(run=run_download)

    label = commands.add_parser("label", help="Add or remove tags, set or remove metadata.")
    label.add_argument("ids", nargs="+", metavar="ID")
    label.add_argument("--add-tag", action="append", default=[], metavar="TAG")
    label.add_argument("--remove-tag", action="append", default=[], metavar="TAG")
    label.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    label.add_argument("--remove-metadata", action="append", default=[], metavar="KEY")
    label.set_defaults(run=run_label)

    rm = commands.add_parser("rm", help="Move images to the trash.")
    rm.add_argument("ids", nargs="+", metavar="ID")
    rm.set_defaults(run=run_rm)

    restore = commands.add_parser("restore", help="Take an image out of the trash.")
    restore.add_argument("id")
    restore.set_defaults(run=run_restore)

    trash = commands.add_parser("trash", help="List the trash.")
    trash.add_argument("--json", action="store_true", help="JSON lines, one image each.")
    trash.set_defaults(run=run_trash)

    similar = commands.add_parser("similar", help="Stored images that look like this one.")
    similar.add_argument("id")
    similar.add_argument("--max-distance", type=int, default=10)
    similar.add_argument("--limit", type=int, default=20)
    similar.add_argument("--json", action="store_true", help="JSON lines.")
    similar.set_defaults(run=run_similar)

    diff = commands.add_parser("diff", help="Compare two images.")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    diff.add_argument("-o", "--output", type=Path, metavar="PNG", help="Save the diff picture.")
    diff.set_defaults(run=run_diff)

    history = commands.add_parser("history", help="What happened to an image.")
    history.add_argument("id")
    history.add_argument("--json", action="store_true", help="JSON lines.")
    history.set_defaults(run=run_history)

    follow = commands.add_parser("follow", help="The event feed, as JSON lines.")
    follow.add_argument(
        "--cursor-file", type=Path, metavar="F",
        help="Start after the cursor kept in F, and keep the last one there.",
    )  # fmt: skip
    follow.add_argument("--after", type=int, default=None, help="Start after this cursor.")
    follow.add_argument("--until-caught-up", action="store_true", help="Stop when none left.")
    follow.add_argument("--interval", type=float, default=2.0, help="Seconds between polls.")
    follow.set_defaults(run=run_follow)
    return parser


# --- upload -------------------------------------------------------------------------------


def run_upload(client: Client, args) -> int:
    if absent := [str(p) for p in args.paths if not p.exists()]:
        raise UsageError(f"no such file or folder: {', '.join(absent)}")
    if args.jobs < 1:
        raise UsageError("--jobs is at least 1")
    try:
        labels = Labels.read(
            tags=args.tag,
            metadata=parse_options(args.metadata),
            csv=args.metadata_csv,
            roots=args.paths,
        )
    except (CsvError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    planned = plan(args.paths, recursive=args.recursive, labels=labels)
    report = report_for(sys.stderr)
    for path in planned.skipped:
        report.note(f"skipped   {shown(path)}: not a JPEG, PNG, TIFF, WebP or HEIC, not sent")
    for path in planned.unlabelled:
        report.note(f"no row    {shown(path)}: not in {args.metadata_csv}; --tag/--metadata only")
    for row in planned.missing:
        report.note(f"missing   {args.metadata_csv}, line {row.line}: no file {row.name}")
    folders = [p for p in args.paths if p.is_dir()]
    journal_path = args.journal or (folders[0] if folders else Path(".")) / DEFAULT_NAME
    journal = Journal(journal_path.resolve())
    uploader = Uploader(client, labels=labels, journal=journal, report=report)
    try:
        interrupted = uploader.run(planned.images, jobs=args.jobs)
    finally:
        journal.close()
    counts = uploader.counts
    print(
        f"Stored {counts['stored']}, already stored {counts['existing']} (labels applied), "
        f"done before {counts['journal']}, refused {counts['refused']}, failed "
        f"{counts['failed']} of {len(planned.images)} images; skipped {len(planned.skipped)} "
        "other files."
    )
    for outcome in uploader.problems:
        print(f"  {outcome.kind} {shown(outcome.path)}: {outcome.code}: {outcome.detail}")
    if interrupted:
        print("Interrupted: run the same command again to send the rest.", file=sys.stderr)
        return INTERRUPTED
    return FAILED if uploader.problems else OK


# --- the other commands -------------------------------------------------------------------


def _as_json(obj) -> str:
    data = obj.raw if hasattr(obj, "raw") else dataclasses.asdict(obj)
    return json.dumps(data, default=_plain, ensure_ascii=False)


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _line(image: Image) -> str:
    tags = ",".join(image.tags) or "-"
    metadata = " ".join(f"{k}={v}" for k, v in image.metadata.items()) or "-"
    return f"{image.id}  {image.name}  {image.width}x{image.height}  {tags}  {metadata}"


def _metadata_filters(options: list[str]) -> dict:
    try:
        return {key: str(value) for key, value in parse_options(options).items()}
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_ls(client: Client, args) -> int:
    images = client.images(
        tags=args.tag, metadata=_metadata_filters(args.metadata), name=args.name,
        ordering=args.ordering,
    )  # fmt: skip
    for number, image in enumerate(images, start=1):
        print(_as_json(image) if args.json else _line(image), flush=True)
        if args.limit and number >= args.limit:
            break
    return OK


def run_get(client: Client, args) -> int:
    print(_as_json(client.get(args.id)))
    return OK


def run_download(client: Client, args) -> int:
    args.output.mkdir(parents=True, exist_ok=True)
    for image_id in args.ids:
        if args.rendition:
            got = client.rendition(image_id, args.rendition)
        elif args.original:
            got = client.original(image_id)
        else:
            got = client.file(image_id)
        name = Path(got.filename or image_id).name  # never a path the answer chose
        (args.output / name).write_bytes(got.content)
        print(args.output / name)
    return OK


def run_label(client: Client, args) -> int:
    try:
        metadata: dict = dict(parse_options(args.metadata))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    metadata.update(dict.fromkeys(args.remove_metadata))  # null removes (merge patch)
    updated = client.bulk_edit(
        args.ids, add_tags=args.add_tag, remove_tags=args.remove_tag, metadata=metadata
    )
    print(f"Labelled {updated} images.")
    return OK


def run_rm(client: Client, args) -> int:
    for image_id in args.ids:
        client.delete(image_id)
        print(f"trashed {image_id}")
    return OK


def run_restore(client: Client, args) -> int:
    print(_line(client.restore(args.id)))
    return OK


def run_trash(client: Client, args) -> int:
    for image in client.trash():
        print(_as_json(image) if args.json else f"{_line(image)}  purge {image.purge_at}")
    return OK


def run_similar(client: Client, args) -> int:
    found = client.similar(args.id, max_distance=args.max_distance, limit=args.limit)
    for match in found.results:
        print(_as_json(match) if args.json else f"{match.distance:2d}  {_line(match.image)}")
    return OK


def run_diff(client: Client, args) -> int:
    result = client.diff(args.a, args.b)
    print(_as_json(result))
    if args.output:
        args.output.write_bytes(client.diff_picture(args.a, args.b).content)
    return OK


def run_history(client: Client, args) -> int:
    for entry in client.history(args.id):
        who = entry.actor.name or entry.actor.kind
        print(_as_json(entry) if args.json else f"{entry.at.isoformat()}  {entry.action}  {who}")
    return OK


def run_follow(client: Client, args) -> int:
    after = args.after
    if after is None and args.cursor_file and args.cursor_file.exists():
        text = args.cursor_file.read_text().strip()
        if not isinstance(parse_scalar(text), int):
            raise UsageError(f"{args.cursor_file}: not a cursor: {text[:40]!r}")
        after = int(text)
    stream = client.follow(
        after=after or 0, poll_interval=args.interval, until_caught_up=args.until_caught_up
    )
    for event in stream:
        print(_as_json(event), flush=True)
        if args.cursor_file:
            temporary = args.cursor_file.with_name(args.cursor_file.name + ".tmp")
            temporary.write_text(f"{stream.cursor}\n")
            temporary.replace(args.cursor_file)  # never half a cursor
    return OK


if __name__ == "__main__":  # python -m imageservice_client.cli
    sys.exit(main())
