from django import forms
from django.contrib import admin
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import renditions, resize, selectors, services, storage
from .errors import ImageServiceError
from .models import Image

THUMBNAIL_SIZE = 96
PREVIEW_SIZE = 480
NEAR_DUPLICATE_DISTANCE = 10  # phash bits, the API's default
NEAR_DUPLICATES_SHOWN = 12


class ImageAddForm(forms.ModelForm):
    """Adding an image in the admin goes through the same service as the API."""

    upload = forms.FileField(label="Image file", help_text="A JPEG or PNG image.")
    name = forms.CharField(max_length=255, required=False, help_text="Defaults to the file name.")

    class Meta:
        model = Image
        fields = ["upload", "name", "description"]

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is not None and not self.errors:
            try:
                self.instance = services.image_create(
                    file=upload,
                    name=cleaned.get("name") or services.image_default_name(upload.name or ""),
                    description=cleaned.get("description", ""),
                )
            except ImageServiceError as exc:
                self.add_error("upload", forms.ValidationError(exc.detail, code=exc.code))
            else:  # what the model form copies onto the instance must be what was stored
                cleaned["name"] = self.instance.name
                cleaned["description"] = self.instance.description
        return cleaned

    def save(self, commit=True):
        self.save_m2m = lambda: None
        return self.instance  # already stored by the service


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "name",
        "format",
        "dimensions",
        "file_size",
        "phash",
        "created_at",
    ]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["format"]
    search_fields = ["name", "=sha256", "=phash"]
    list_per_page = 50
    date_hierarchy = "created_at"
    fields = [
        "preview",
        "name",
        "description",
        "id",
        "format",
        "dimensions",
        "file_size",
        "sha256",
        "phash",
        "near_duplicates",
        "source_url",
        "original_format",
        "original_file_size",
        "original_sha256",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [f for f in fields if f not in ("name", "description")]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ImageAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["upload", "name", "description"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            services.image_rename(image_id=obj.pk, name=obj.name)
            services.image_describe(image_id=obj.pk, description=obj.description)

    def delete_model(self, request, obj):
        services.image_delete(image_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for image_id in queryset.values_list("pk", flat=True):
            services.image_delete(image_id=image_id)

    def get_urls(self):
        thumbnail = self.admin_site.admin_view(self.thumbnail_view)
        return [
            path("<uuid:image_id>/thumbnail/<int:size>/", thumbnail, name="images_thumbnail"),
            *super().get_urls(),
        ]

    def thumbnail_view(self, request, image_id, size):
        """A preview of the current file: its rendition max-{size}x{size}, made on the first
        view and served as stored after that; cached by the browser by the image's sha256
        (the tag's ``?v=``)."""
        size = max(1, min(size, PREVIEW_SIZE))
        spec = resize.parse_spec(f"max-{size}x{size}", max_size=PREVIEW_SIZE)
        try:
            stored = selectors.rendition_stored(image_id=image_id, spec=spec, format=None)
            served = renditions.image_rendition(
                image_id=image_id, spec=spec, format=None, stored=stored
            )
        except Image.DoesNotExist as exc:
            raise Http404 from exc
        except (ImageServiceError, *storage.ERRORS):
            return HttpResponse(status=404)  # the page shows no preview; images_check tells why
        response = served.response(request, stem=f"{image_id}-{spec.name}")
        if response.status_code == 200:
            response["Cache-Control"] = "private, max-age=86400"
        return response

    def _thumbnail_tag(self, image: Image, size: int) -> str:
        url = reverse("admin:images_thumbnail", args=[image.pk, size])
        return format_html(
            '<img src="{}?v={}" alt="" style="max-width:{}px;max-height:{}px" loading="lazy">',
            url,
            image.sha256[:16],
            size,
            size,
        )

    @admin.display(description="")
    def thumbnail(self, image: Image) -> str:
        return self._thumbnail_tag(image, THUMBNAIL_SIZE)

    @admin.display(description="Preview")
    def preview(self, image: Image) -> str:
        return self._thumbnail_tag(image, PREVIEW_SIZE)

    @admin.display(description="Near-duplicates")
    def near_duplicates(self, image: Image) -> str:
        """The nearest stored images by phash, with thumbnails, distances and a diff link."""
        matches = selectors.image_similar(
            image_id=image.pk, max_distance=NEAR_DUPLICATE_DISTANCE, limit=NEAR_DUPLICATES_SHOWN
        )
        if not matches.count:
            return f"None within {NEAR_DUPLICATE_DISTANCE} bits."
        rows = format_html_join(
            "",
            '<li style="list-style:none;display:inline-block;margin:0 12px 12px 0;'
            'vertical-align:top;text-align:center">'
            '<a href="{}">{}<br>{}</a><br>distance {} · <a href="{}">diff</a></li>',
            (
                (
                    reverse("admin:images_image_change", args=[match.image.pk]),
                    self._thumbnail_tag(match.image, THUMBNAIL_SIZE),
                    match.image.name,
                    match.distance,
                    reverse("image-diff-image", args=[image.pk, match.image.pk]),
                )
                for match in matches.results
            ),
        )
        shown = len(matches.results)
        summary = f"{matches.count} within {NEAR_DUPLICATE_DISTANCE} bits" + (
            f", the nearest {shown} shown" if matches.count > shown else ""
        )
        return format_html('<p>{}:</p><ul style="padding:0;margin:0">{}</ul>', summary, rows)

    @admin.display(description="Dimensions")
    def dimensions(self, image: Image) -> str:
        return f"{image.width} x {image.height}"
