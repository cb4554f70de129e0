"""The Django admin: images (list, add, change, history), the trash and the webhooks."""

from images.admin import images, trash, webhooks  # noqa: F401  registers the ModelAdmins
