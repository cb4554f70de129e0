from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from images import selectors
from images.infra.storage_check import StorageCheck, UnownedFile


class Command(BaseCommand):
    help = (
        "Find rows whose file or original is missing from storage and files under images/ "
        "that no row names, and metadata keys the rules refuse (`__`). One line per problem "
        "and a summary; exits 1 when problems remain. "
        "With --fix, removes orphan files older than --min-age. Rows are never deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix",
            action="store_true",
            help="Remove orphan files older than --min-age (never a file a row names).",
        )
        parser.add_argument(
            "--min-age",
            type=int,
            default=3600,
            metavar="SECONDS",
            help=(
                "An unowned file younger than this may belong to an upload still in flight: "
                "it is left alone and not counted as a problem (default 3600)."
            ),
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=8,
            help="Files checked at once; each check is a request on object storage (default 8).",
        )

    def handle(self, *, fix: bool, min_age: int, jobs: int, verbosity: int, **options):
        if min_age < 0 or jobs < 1:
            raise CommandError("--min-age must be 0 or more and --jobs 1 or more.")
        grace = timedelta(seconds=min_age)
        check = StorageCheck(jobs=jobs)

        missing = 0
        for found in check.missing_files():
            missing += 1
            self.stdout.write(f"missing {found.field:<8} {found.image_id} {found.name}")

        orphans = removed = young = 0
        for unowned in check.unowned_files():
            modified = unowned.modified.isoformat() if unowned.modified else "unknown"
            if unowned.modified is not None and not unowned.older_than(grace):
                young += 1
                if verbosity >= 2:
                    self.stdout.write(f"young    {unowned.name} modified {modified}, left alone")
                continue
            # A file whose age the storage cannot tell is reported, never removed.
            outcome = "orphan"
            if fix and unowned.modified is not None:
                outcome = self._remove(check, unowned)
                if outcome == "owned":
                    continue  # a row names it now: not an orphan after all
            orphans += 1
            removed += outcome == "removed"
            self.stdout.write(f"{outcome:<8} {unowned.name} modified {modified}")

        keys = 0
        for image_id, key in selectors.metadata_keys_refused():
            keys += 1
            self.stdout.write(f"bad key  {image_id} {key}")

        summary = (
            f"Checked {check.rows} images and {check.files} files: "
            f"{missing} missing, {orphans} orphans ({removed} removed), "
            f"{young} unowned files younger than {min_age}s left alone."
        )
        if keys:
            summary += f" {keys} metadata keys with `__`, which filters cannot name."
        self.stdout.write(summary)
        problems = missing + orphans - removed + keys
        if problems:
            hint = "; --fix removes the orphans" if orphans > removed and not fix else ""
            raise CommandError(f"{problems} problems found{hint}.", returncode=1)

    def _remove(self, check: StorageCheck, orphan: UnownedFile) -> str:
        try:
            return "removed" if check.remove(orphan) else "owned"
        except Exception as exc:  # one failed delete must not stop the check
            self.stderr.write(f"could not remove {orphan.name}: {exc}")
            return "orphan"
