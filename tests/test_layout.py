"""docs/design/layout.md, the map of the code, matches the code: every room it names is
there with the modules it names, and every package of the app is on it."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
MAP = ROOT / "docs" / "design" / "layout.md"


def rooms() -> dict[str, str]:
    """Each room's path (the first `code` of a line starting "- ") and its text."""
    entries = re.split(r"^- ", MAP.read_text(), flags=re.MULTILINE)[1:]
    return {re.match(r"`([^`]+)`", entry).group(1): entry for entry in entries}


def test_every_room_on_the_map_is_there_with_the_modules_it_names():
    for room, text in rooms().items():
        folder = ROOT / room.removesuffix(" (top level)")
        assert folder.is_dir(), room
        described = text.split("`", 2)[2]  # after the room's own path
        for name in re.findall(r"`([\w/]+\.py|\w+/)`", described):
            assert list(folder.rglob(name.rstrip("/"))), (room, name)


def test_every_package_of_the_app_is_on_the_map():
    named = set(rooms())
    packages = {
        f"images/{path.parent.relative_to(ROOT / 'images')}/"
        for path in (ROOT / "images").glob("*/__init__.py")
        if path.parent.name != "migrations"
    }

    assert packages - {"images/management/"} <= named
    assert "images/management/commands/" in named
    assert len(list((ROOT / "images").glob("*.py"))) <= 12  # the top level stays small
