"""The admin's forms: adding an image through the same service as the API, and never a
second copy of bytes already stored unless asked; editing its tags and metadata by the
API's rules."""

import hashlib
import json

from django import forms
from django.db.models import Q

from images import services
from images.errors import ImageServiceError
from images.history import ANONYMOUS, Actor
from images.labels import rules as lab_metadata
from images.models import Image

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

    actor: Actor = ANONYMOUS  # ImageAdmin.get_form sets the request's

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
        description, actor = cleaned.get("description", ""), self.actor
        try:
            if cleaned.get("store_anyway"):
                image = services.image_create(
                    file=upload, name=name, description=description, sha256=digest, actor=actor
                )
            else:
                # A cropped image's original counts too: those bytes are stored as well.
                self.twins = _stored_with(digest)
                if not self.twins:
                    image, created = services.image_get_or_create(
                        file=upload, name=name, description=description, sha256=digest, actor=actor
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


class ImageChangeForm(forms.ModelForm):
    """The change page: tags as comma-separated text, metadata as a JSON object, checked
    by the API's rules (images/labels/rules.py)."""

    tags = forms.CharField(
        required=False,
        help_text="Comma-separated; letters, digits, spaces and -_.:/ only; at most 32.",
        widget=forms.TextInput(attrs={"size": 80}),
    )
    metadata = forms.CharField(
        required=False,
        help_text='A JSON object of keys and values: {"plate": "P-0042", "timepoint": 3}.',
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
    )

    class Meta:
        model = Image
        fields = ["name", "description", "tags", "metadata"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["tags"] = ", ".join(self.instance.tags)
            self.initial["metadata"] = json.dumps(
                self.instance.metadata, indent=2, sort_keys=True, ensure_ascii=False
            )

    def clean_tags(self) -> list[str]:
        text = self.cleaned_data["tags"]
        if not text.strip():
            return []
        return _checked(lambda: lab_metadata.clean_tags(lab_metadata.split_form_tags([text])))

    def clean_metadata(self) -> dict:
        text = self.cleaned_data["metadata"].strip() or "{}"
        return _checked(lambda: lab_metadata.clean_metadata(lab_metadata.parse_json_text(text)))


def _checked(clean):
    try:
        return clean()
    except ImageServiceError as exc:
        raise forms.ValidationError(exc.detail, code=exc.code) from None
