"""The Django admin: images (list, add, change, history) and the trash."""

from images.admin import images, trash  # noqa: F401  registers the ModelAdmins
