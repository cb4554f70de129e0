import hashlib
import secrets

from django.db import models

PREFIX_LENGTH = 8


def hash_key(key: str) -> str:
    """What the database keeps of a key: its sha256. A key has 256 random bits, so a plain
    hash is as good as a slow one, and a leaked table gives no usable token."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A key that lets a machine or a person use the API when ``IMAGES_AUTH=token``.

    Only the key's hash and its first characters are stored: the key itself is shown once,
    when the token is created, and can never be read back. Revoking deletes the row.
    """

    name = models.CharField(
        max_length=100, unique=True, help_text="Who or what uses it: a machine, a person."
    )
    read_only = models.BooleanField(
        default=False, help_text="Read-only tokens may read images but not change them."
    )
    prefix = models.CharField(
        max_length=PREFIX_LENGTH, editable=False, help_text="The key's first characters."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.name

    def set_new_key(self) -> str:
        """Give the token a new random key; return it (the only time it is seen)."""
        key = secrets.token_urlsafe(32)
        self.prefix = key[:PREFIX_LENGTH]
        self.key_hash = hash_key(key)
        return key
