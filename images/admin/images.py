"""The admin: images with thumbnails, their current file and original, near-duplicates,
tags and metadata; adding, editing and restoring through the same services as the API."""

from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from access.actors import actor_from_request
from images import selectors, services
from images.admin.deletes import TrashOnDelete
from images.admin.forms import ImageAddForm, ImageChangeForm
from images.admin.history import ServiceHistory
from images.admin.labels import (
    TagFilter,
    main_keys,
    metadata_column,
    metadata_filter,
    tags_column,
)
from images.errors import ImageServiceError
from images.imaging import decode as imaging
from images.imaging import resize
from images.infra import storage, versions
from images.labels import queries as label_queries
from images.models import Image
from images.services import edits as labels
from images.services import renditions

THUMBNAIL_SIZE = 96
PREVIEW_SIZE = 480
NEAR_DUPLICATE_DISTANCE = 10  # phash bits, the API's default
NEAR_DUPLICATES_SHOWN = 12


class FormatFilter(admin.SimpleListFilter):
    """By format, named as the API names them (JPEG, PNG), not by the choices' labels."""

    title = "format"
    parameter_name = "format__exact"

    def lookups(self, request, model_admin):
        return [(value, value) for value in Image.Format.values]

    def queryset(self, request, queryset):
        return queryset.filter(format=self.value()) if self.value() else queryset


@admin.register(Image)
class ImageAdmin(ServiceHistory, TrashOnDelete, admin.ModelAdmin):
    list_display = ["thumbnail", "name", "format_name", "dimensions", "size", tags_column]
    list_display_links = ["thumbnail", "name"]
    list_filter = [FormatFilter, TagFilter]  # and one per main metadata key
    search_fields = ["name", "=sha256", "=phash"]
    search_help_text = (
        "A name, a sha256 or phash, a tag, a metadata value, or KEY=VALUE for one key's value."
    )
    list_per_page = 50
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["preview", "name", "description"]}),
        ("Tags and metadata", {"fields": ["tags", "metadata"]}),
        (
            "Current file",
            {"fields": ["current_file", "format_name", "dimensions", "size", "sha256", "phash"]},
        ),
        ("Original", {"fields": ["original_file", "original_preview", "original_sha256"]}),
        ("Similar images", {"fields": ["near_duplicates"]}),
        ("Record", {"fields": ["id", "source_url", "created_at", "updated_at"]}),
        ("History", {"fields": ["history_summary"]}),
    ]
    readonly_fields = [
        field
        for _, options in fieldsets
        for field in options["fields"]
        if field not in ImageChangeForm.Meta.fields
    ]
    add_fieldsets = [
        (None, {"fields": ["upload", "name", "description"]}),
        ("Tags and metadata, for every file", {"fields": ["tags", "metadata"]}),
        (None, {"fields": ["store_anyway"]}),
    ]

    def get_list_display(self, request):
        """The columns, with one for each of the metadata keys most images have."""
        columns = [metadata_column(key) for key in self._main_keys(request)]
        return [*self.list_display, *columns, "created_at"]

    def get_list_filter(self, request):
        return [*self.list_filter, *(metadata_filter(key) for key in self._main_keys(request))]

    def _main_keys(self, request) -> list[str]:
        if not hasattr(request, "images_main_keys"):  # once per request: columns, filters
            request.images_main_keys = main_keys()
        return request.images_main_keys

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ImageAddForm if obj is None else ImageChangeForm
        form = super().get_form(request, obj, change, **kwargs)  # a new class per request
        form.actor = actor_from_request(request)  # who the add form's upload is recorded as
        return form

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:  # the admin runs this in a transaction: all of it is saved, or none
            # The form holds the whole object; as a merge patch, the keys it dropped are null.
            stored = Image.objects.get(pk=obj.pk).metadata
            patch = {key: None for key in stored if key not in obj.metadata} | obj.metadata
            labels.image_edit(
                image_id=obj.pk,
                name=obj.name,
                description=obj.description,
                tags=obj.tags,
                metadata=patch,
                actor=actor_from_request(request),
            )

    def response_add(self, request, obj, post_url_continue=None):
        """Several files added: the list, saying which; one: as the admin does."""
        added = getattr(obj, "added_with", [obj])
        if len(added) == 1:
            return super().response_add(request, obj, post_url_continue)
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:images_image_change", args=[image.pk]), image.name)
                for image in added
            ),
        )
        self.message_user(request, format_html("{} images added: {}.", len(added), links))
        return HttpResponseRedirect(reverse("admin:images_image_changelist"))

    def get_search_results(self, request, queryset, search_term):
        """Also the images with the term as a tag or a metadata value (``KEY=VALUE``: as
        that key's value), found through the index."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            found |= queryset.filter(label_queries.labelled_with(term))
        return found, duplicates

    def get_urls(self):
        # cacheable: else admin_view adds never_cache's headers to the thumbnails' own.
        thumbnail = self.admin_site.admin_view(self.thumbnail_view, cacheable=True)
        restore = self.admin_site.admin_view(require_POST(self.restore_view))
        return [
            path("<uuid:image_id>/thumbnail/<int:size>/", thumbnail, name="images_thumbnail"),
            path(
                "<uuid:image_id>/original/thumbnail/<int:size>/",
                thumbnail,
                {"original": True},
                name="images_original_thumbnail",
            ),
            path("<uuid:image_id>/restore/", restore, name="images_restore"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        image = self.get_object(request, object_id)
        context = {
            "cropped": image is not None and _cropped(image),
            "restore_url": image and reverse("admin:images_restore", args=[image.pk]),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def restore_view(self, request, image_id):
        """Make the original current again, as POST /api/v1/images/{id}/restore does."""
        image = get_object_or_404(Image, pk=image_id)
        if not self.has_change_permission(request, image):
            raise Http404  # as the admin answers for objects a user may not change
        try:
            image = services.image_restore(image_id=image.pk, actor=actor_from_request(request))
        except Image.DoesNotExist as exc:
            raise Http404 from exc
        except (ImageServiceError, *storage.ERRORS) as exc:
            messages.error(request, f"The original could not be restored: {exc}")
        else:
            messages.success(
                request,
                f"The original of “{image.name}” is the current image again "
                f"({image.format}, {image.width} x {image.height}).",
            )
        return HttpResponseRedirect(reverse("admin:images_image_change", args=[image_id]))

    def thumbnail_view(self, request, image_id, size, original=False):
        """A preview: of the current file, its rendition max-{size}x{size} (made on the first
        view, then served as stored); of the original (renditions are of the current file
        only), decoded on demand. Cached by the browser by the sha256 (the tag's ``?v=``)."""
        size = max(1, min(size, PREVIEW_SIZE))
        if original:
            return self._original_preview(request, image_id, size)
        spec = resize.parse_spec(f"max-{size}x{size}", max_size=PREVIEW_SIZE)
        version = versions.asked(request.GET)
        try:
            stored = selectors.rendition_stored(image_id=image_id, spec=spec, format=None)
            served = renditions.image_rendition(
                image_id=image_id, spec=spec, format=None, stored=stored, version=version
            )
            response = served.response(request, stem=f"{image_id}-{spec.name}")
        except Image.DoesNotExist as exc:
            raise Http404 from exc
        except (ImageServiceError, *storage.ERRORS):
            # The page shows no preview: an image changed since the page was made (another
            # version), or a fault images_check tells.
            return HttpResponse(status=404)
        if response.status_code in (200, 304):
            # The tag's version is that of the file the rendition is made from: a reload of
            # the page asks for none of its thumbnails again (this browser only: a session).
            versioned = version is not None
            response["Cache-Control"] = versions.cache_control(versioned=versioned, private=True)
        return response

    def _original_preview(self, request, image_id, size: int) -> HttpResponse:
        image = get_object_or_404(Image, pk=image_id)
        try:
            # The original never changes: the tag's version is kept for good.
            versioned = versions.check(versions.asked(request.GET), sha256=image.original_sha256)
            with storage.open_file(image.original.name) as file:
                body, content_type = imaging.thumbnail(
                    file, size=size, max_pixels=settings.IMAGES_MAX_PIXELS
                )
        except (ImageServiceError, *storage.ERRORS):
            return HttpResponse(status=404)  # the page shows no preview; images_check tells why
        response = HttpResponse(body, content_type=content_type)
        response["Cache-Control"] = versions.cache_control(versioned=versioned, private=True)
        return response

    def _thumbnail_tag(self, image: Image, size: int, *, original: bool = False) -> str:
        view = "admin:images_original_thumbnail" if original else "admin:images_thumbnail"
        url = reverse(view, args=[image.pk, size])
        return format_html(
            '<img src="{}?v={}" alt="" style="max-width:{}px;max-height:{}px" loading="lazy">',
            url,
            (image.original_sha256 if original else image.sha256)[:16],
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

    @admin.display(description="Format", ordering="format")
    def format_name(self, image: Image) -> str:
        return image.format  # as the API writes it: "JPEG", not the choice's label "Jpeg"

    @admin.display(description="Size", ordering="file_size")
    def size(self, image: Image) -> str:
        return filesizeformat(image.file_size)

    @admin.display(description="Current file")
    def current_file(self, image: Image) -> str:
        """A link named as what it is, with what it opens."""
        return format_html(
            '<a href="{}" class="file-link">The current file</a> ({}, {} x {}, {}){}',
            reverse("image-file", args=[image.pk]),
            image.format,
            image.width,
            image.height,
            filesizeformat(image.file_size),
            ": cropped from the original below" if _cropped(image) else ": the original",
        )

    @admin.display(description="Original")
    def original_file(self, image: Image) -> str:
        """The bytes as first received: a link, what they are, and whether that is still
        the current image."""
        if _cropped(image):
            width, height = _original_dimensions(image)
            shape = f"{width} x {height}" if width else "dimensions unknown (unreadable)"
            state = "cropped since; “Restore original” (top right) makes it current again"
        else:
            shape, state = f"{image.width} x {image.height}", "the current file is the original"
        return format_html(
            '<a href="{}" class="file-link">The original</a> ({}, {}, {}), the bytes as first '
            "received: {}",
            reverse("image-original", args=[image.pk]),
            image.original_format,
            shape,
            filesizeformat(image.original_file_size),
            state,
        )

    @admin.display(description="Original preview")
    def original_preview(self, image: Image) -> str:
        if not _cropped(image):
            return "The same as the current file."
        return self._thumbnail_tag(image, PREVIEW_SIZE, original=True)


def _cropped(image: Image) -> bool:
    return image.file.name != image.original.name


def _original_dimensions(image: Image) -> tuple[int | None, int | None]:
    """Read from the original's header: the row keeps only the current file's."""
    try:
        with storage.open_file(image.original.name) as file:
            return imaging.dimensions(file)
    except (ImageServiceError, *storage.ERRORS):
        return None, None  # the page says so; images_check tells why
