"""The admin's forms: adding images, one file or several, with their tags and metadata,
through the same service as the API, and never a second copy of bytes already stored
unless asked; editing an image's tags and metadata by the API's rules."""

import hashlib

from django import forms
from django.db.models import Q

from images import incoming, services
from images.admin.widgets import MetadataField
from images.errors import ImageServiceError
from images.history import ANONYMOUS, Actor
from images.labels import rules as lab_metadata
from images.models import Image

TWINS_SHOWN = 5


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One file or several, each checked as a FileField checks one: a list of them."""

    widget = MultipleFileInput

    def clean(self, data, initial=None) -> list:
        files = [file for file in (data if isinstance(data, list | tuple) else [data]) if file]
        if not files:
            return [super().clean(None, initial)]  # "This field is required."
        return [super(MultipleFileField, self).clean(file, initial) for file in files]


class ImageAddForm(forms.ModelForm):
    upload = MultipleFileField(
        label="Image files",
        help_text="One JPEG, PNG, TIFF, WebP or HEIC image, or several at once: each becomes "
        "an image with the tags and metadata below.",
    )
    name = forms.CharField(
        max_length=255,
        required=False,
        help_text="Defaults to the file's name; leave it empty when adding several files.",
    )
    tags = forms.CharField(
        required=False,
        help_text="Comma-separated; letters, digits, spaces and -_.:/ only; at most 32.",
        widget=forms.TextInput(attrs={"size": 80, "placeholder": "P-0042, brightfield"}),
    )
    metadata = MetadataField(required=False, help_text="Keys and values, e.g. plate P-0042.")
    store_anyway = forms.BooleanField(
        required=False,
        label="Store anyway",
        help_text="Store a second copy even if these exact bytes are already stored.",
    )

    class Meta:
        model = Image
        fields = ["upload", "name", "description", "tags", "metadata"]

    actor: Actor = ANONYMOUS  # ImageAdmin.get_form sets the request's

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The stored images with the same bytes as an upload, shown by the add page
        # (images/templates/admin/images/image/change_form.html).
        self.twins: list[Image] = []
        self.added: list[Image] = []  # what was stored, in the order of the files

    def clean_tags(self) -> list[str]:
        return clean_tags_text(self.cleaned_data["tags"])

    def clean(self):
        cleaned = super().clean()
        uploads = cleaned.get("upload")
        if not uploads or self.errors:
            return cleaned
        if len(uploads) > 1 and cleaned.get("name"):
            self.add_error(
                "name", "Leave the name empty with several files: each is named after its file."
            )
            return cleaned
        digests = [_sha256(upload) for upload in uploads]
        if not self._checked_before_storing(uploads, digests, cleaned.get("store_anyway")):
            return cleaned
        for upload, digest in zip(uploads, digests, strict=True):
            try:
                image = self._store(upload, digest, cleaned)
            except ImageServiceError as exc:
                self._refuse(upload, exc.detail, exc.code, uploads)
                return cleaned
            if image is None:  # stored by someone else in the meantime
                self._refuse(upload, ALREADY_STORED, "already_stored", uploads)
                return cleaned
            self.added.append(image)
        self.instance = self.added[0]
        self.instance.added_with = self.added  # ImageAdmin.response_add names them all
        # What the model form copies onto the instance must be what was stored.
        cleaned["name"] = self.instance.name
        cleaned["description"] = self.instance.description
        return cleaned

    def _checked_before_storing(self, uploads: list, digests: list[str], anyway: bool) -> bool:
        """Nothing is stored unless every file may be: no bytes already stored (unless
        asked), no file twice, and with several files, each one an accepted image within the
        limits (decoded here once more: a refusal must come before the first is stored)."""
        if len(set(digests)) < len(digests):
            self.add_error("upload", "The same file is there twice; choose each once.")
            return False
        if not anyway:
            self.twins = _stored_with(digests)  # a cropped image's original counts too
            if self.twins:
                self.add_error(
                    "upload", forms.ValidationError(ALREADY_STORED, code="already_stored")
                )
                return False
        if len(uploads) > 1:
            for upload in uploads:
                try:
                    incoming.check_size(upload.size)
                    incoming.analyze(upload)
                except ImageServiceError as exc:
                    self.add_error(
                        "upload",
                        forms.ValidationError(f"{upload.name}: {exc.detail}", code=exc.code),
                    )
                    return False
                finally:
                    upload.seek(0)
        return True

    def _store(self, upload, digest: str, cleaned: dict) -> Image | None:
        name = cleaned.get("name") or services.image_default_name(upload.name or "")
        fields = {
            "file": upload,
            "name": name,
            "description": cleaned.get("description", ""),
            "tags": cleaned.get("tags") or [],
            "metadata": cleaned.get("metadata") or {},
            "sha256": digest,
            "actor": self.actor,
        }
        image = services.image_create(**fields, dedupe=not cleaned.get("store_anyway"))
        if image.deduplicated:
            image.holds_as = "current file"
            self.twins = [image]
            return None
        return image

    def _refuse(self, upload, detail: str, code: str, uploads: list) -> None:
        """A file refused while storing (an outage, a race): the ones before it stay
        stored, each a whole image, and the error names them."""
        if len(uploads) > 1:
            stored = ", ".join(image.name for image in self.added) or "none"
            detail = f"{upload.name}: {detail} The files before it were stored: {stored}."
        self.add_error("upload", forms.ValidationError(detail, code=code))

    def save(self, commit=True):
        self.save_m2m = lambda: None
        return self.instance  # already stored by the service


ALREADY_STORED = (
    "These exact bytes are already stored, so nothing was stored. "
    "To store a second copy, choose the file again and tick “Store anyway”."
)


def _sha256(upload) -> str:
    hasher = hashlib.sha256()
    for chunk in upload.chunks():
        hasher.update(chunk)
    upload.seek(0)
    return hasher.hexdigest()


def _stored_with(digests: list[str]) -> list[Image]:
    """The images holding any of these bytes, each marked with where: ``holds_as`` is
    "current file" or "original" (cropped since)."""
    twins = Image.objects.filter(Q(sha256__in=digests) | Q(original_sha256__in=digests))
    twins = list(twins.order_by("created_at", "id")[:TWINS_SHOWN])
    for twin in twins:
        twin.holds_as = "current file" if twin.sha256 in digests else "original"
    return twins


class ImageChangeForm(forms.ModelForm):
    """The change page: tags as comma-separated text, metadata as rows of keys and values
    or as a JSON object (images/admin/widgets.py), checked by the API's rules
    (images/labels/rules.py)."""

    tags = forms.CharField(
        required=False,
        help_text="Comma-separated; letters, digits, spaces and -_.:/ only; at most 32.",
        widget=forms.TextInput(attrs={"size": 80}),
    )
    metadata = MetadataField(
        required=False, help_text="Clear a row's key and value to remove that key."
    )

    class Meta:
        model = Image
        fields = ["name", "description", "tags", "metadata"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["tags"] = ", ".join(self.instance.tags)
            self.initial["metadata"] = self.instance.metadata

    def clean_tags(self) -> list[str]:
        return clean_tags_text(self.cleaned_data["tags"])


def clean_tags_text(text: str) -> list[str]:
    """Comma-separated tags, by the API's rules."""
    if not text.strip():
        return []
    try:
        return lab_metadata.clean_tags(lab_metadata.split_form_tags([text]))
    except ImageServiceError as exc:
        raise forms.ValidationError(exc.detail, code=exc.code) from None
