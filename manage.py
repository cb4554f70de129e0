#!/usr/bin/env python
"""Django's command line for the service: `make manage ARGS="images_token list"`, or this file.

Any Python may run it: when Django is not importable it starts again under the repo's
.venv (`make run` makes it). With neither SECRET_KEY nor DATABASE_URL set it is working on
`make run`'s own data (data/db.sqlite3), so it takes that quickstart's key, data/secret_key,
which `make run` made; a deployment sets DATABASE_URL and SECRET_KEY and gets no default.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent
VENV = REPO / ".venv"
QUICKSTART_KEY = REPO / "data" / "secret_key"


def with_django() -> None:
    """Start again under .venv's Python when this one has no Django."""
    try:
        import django  # noqa: F401
    except ModuleNotFoundError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
            os.execv(python, [str(python), *sys.argv])
        sys.exit("Django is not installed here: `make run` makes .venv, then use `make manage`.")


def with_secret_key() -> None:
    """The quickstart's key for the quickstart's database; otherwise SECRET_KEY is required."""
    if os.environ.get("SECRET_KEY"):
        return
    if "DATABASE_URL" not in os.environ and QUICKSTART_KEY.exists():
        os.environ["SECRET_KEY"] = QUICKSTART_KEY.read_text().strip()
        return
    sys.exit(
        "SECRET_KEY is not set. On `make run`'s data, `make run` or `make manage` makes it "
        "(data/secret_key); a deployment sets SECRET_KEY in its environment."
    )


def main() -> None:
    with_django()
    with_secret_key()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imageservice.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
