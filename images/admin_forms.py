"""The admin's form for adding an image: through the same service as the API, and never a
second copy of bytes already stored unless asked."""

import hashlib

from django import forms
from django.db.models import Q

from . import services
from .errors import ImageServiceError
from .models import Image

TWINS_SHOWN = 5


class ImageAddForm(forms.ModelForm):
    upload = forms.FileField(label="Image file", help_text="A JPEG or PNG image.")
    name = forms.CharField(max_length=255, required=False, help_text="Defaults to the file name.")
    store_anyway = forms.BooleanField(
        required=False,
        label="Store anyway",
        help_text="Store a second copy even if these exact bytes are already stored.",
    )

    class Meta:
        model = Image
        fields = ["upload", "name", "description"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The stored images with the same bytes as the upload, shown by the add page
        # (images/templates/admin/images/image/change_form.html).
        self.twins: list[Image] = []

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is None or self.errors:
            return cleaned
        digest = _sha256(upload)
        name = cleaned.get("name") or services.image_default_name(upload.name or "")
        description = cleaned.get("description", "")
        try:
            if cleaned.get("store_anyway"):
                image = services.image_create(
                    file=upload, name=name, description=description, sha256=digest
                )
            else:
                # A cropped image's original counts too: those bytes are stored as well.
                self.twins = _stored_with(digest)
                if not self.twins:
                    image, created = services.image_get_or_create(
                        file=upload, name=name, description=description, sha256=digest
                    )
                    if not created:  # stored by someone else in the meantime
                        image.holds_as = "current file"
                        self.twins = [image]
        except ImageServiceError as exc:
            self.add_error("upload", forms.ValidationError(exc.detail, code=exc.code))
            return cleaned
        if self.twins:
            self.add_error(
                "upload",
                forms.ValidationError(
                    "These exact bytes are already stored, so nothing was stored. "
                    "To store a second copy, choose the file again and tick “Store anyway”.",
                    code="already_stored",
                ),
            )
            return cleaned
        self.instance = image
        # What the model form copies onto the instance must be what was stored.
        cleaned["name"] = image.name
        cleaned["description"] = image.description
        return cleaned

    def save(self, commit=True):
        self.save_m2m = lambda: None
        return self.instance  # already stored by the service


def _sha256(upload) -> str:
    hasher = hashlib.sha256()
    for chunk in upload.chunks():
        hasher.update(chunk)
    upload.seek(0)
    return hasher.hexdigest()


def _stored_with(sha256: str) -> list[Image]:
    """The images holding these bytes, each marked with where: ``holds_as`` is "current
    file" or "original" (cropped since)."""
    twins = Image.objects.filter(Q(sha256=sha256) | Q(original_sha256=sha256))
    twins = list(twins.order_by("created_at", "id")[:TWINS_SHOWN])
    for twin in twins:
        twin.holds_as = "current file" if twin.sha256 == sha256 else "original"
    return twins
