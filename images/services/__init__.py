"""The writes, one module per concern; the ones views and commands call are named here.

`images.py`: create, crop, rename, describe, restore; `edits.py`: names, descriptions, tags
and metadata; `trash.py`: delete, undelete, purge; `revisions.py`: every version's file,
bounded; `renditions.py`: renditions made on first request, stored and reused.
"""

from images.services.images import (
    image_create,
    image_crop,
    image_default_name,
    image_describe,
    image_rename,
    image_restore,
)
from images.services.trash import image_delete, image_purge, image_undelete, images_purge_due

__all__ = [
    "image_create",
    "image_crop",
    "image_default_name",
    "image_delete",
    "image_describe",
    "image_purge",
    "image_rename",
    "image_restore",
    "image_undelete",
    "images_purge_due",
]
