from django.core.management.base import BaseCommand

from images.services import trash


class Command(BaseCommand):
    help = (
        "Purge the trashed images whose purge_at has passed: their rows, revisions and "
        "renditions, then their files. One line per image purged and a summary. Safe to run "
        "while the service runs, and again: what is purged is gone, what was restored stays. "
        "Run it daily (deploy/imageservice-purge.timer)."
    )

    def handle(self, *, verbosity: int, **options):
        purged = trash.images_purge_due()
        if verbosity >= 1:
            for image in purged:
                self.stdout.write(
                    f"purged {image.image_id} {image.name!r} (in the trash since "
                    f"{image.deleted_at.isoformat()}, due {image.purge_at.isoformat()})"
                )
        self.stdout.write(f"{len(purged)} images purged")
