"""Create, list and revoke API tokens from the command line.

manage.py images_token create NAME [--read-only]   prints the key, once
manage.py images_token list
manage.py images_token revoke NAME
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from access.models import ApiToken


class Command(BaseCommand):
    help = "Create, list and revoke the tokens of the images API (IMAGES_AUTH=token)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make a token and print its key, once.")
        create.add_argument("name", help="Who or what uses it.")
        create.add_argument(
            "--read-only", action="store_true", help="May read images, not change them."
        )
        actions.add_parser("list", help="List the tokens (never their keys).")
        revoke = actions.add_parser("revoke", help="Delete a token: its key stops working.")
        revoke.add_argument("name")

    def handle(self, *args, action: str, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_create(self, *, name: str, read_only: bool, **options) -> None:
        token = ApiToken(name=name, read_only=read_only)
        key = token.set_new_key()
        try:
            token.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        token.save()
        self.stderr.write(
            f"Created {'read-only' if read_only else 'full'} token {name!r}. Its key follows; "
            "it is shown this once only:"
        )
        self.stdout.write(key)

    def handle_list(self, **options) -> None:
        tokens = ApiToken.objects.all()
        if not tokens:
            self.stderr.write(
                'No tokens yet. Make one with: make manage ARGS="images_token create NAME"'
            )
        for token in tokens:
            used = token.last_used_at and token.last_used_at.isoformat(timespec="minutes")
            mode = "read-only" if token.read_only else "full"
            self.stdout.write(
                f"{token.name}\t{mode}\t{token.prefix}…\tcreated "
                f"{token.created_at.isoformat(timespec='minutes')}\tlast used {used or 'never'}"
            )

    def handle_revoke(self, *, name: str, **options) -> None:
        deleted, _ = ApiToken.objects.filter(name=name).delete()
        if not deleted:
            raise CommandError(f"No token named {name!r}.")
        self.stdout.write(f"Revoked token {name!r}.")
