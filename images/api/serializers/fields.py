"""The fields the API's serializers share: links to other views, tags, metadata, and
integers whose every problem is reported under one error code."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from images.errors import ImageServiceError, InvalidMetadata, InvalidTags
from images.infra import versions
from images.labels import rules as lab_metadata


@extend_schema_field(OpenApiTypes.STR)
class Link(serializers.Field):
    """The absolute URL (a path without a request) of ``view_name`` for the object; ``ids``
    maps each URL argument to the object's attribute that fills it (a uuid: it needs no
    escaping, which the fast rendering relies on); ``fixed`` gives arguments that are the
    same for every object. ``version``: the object's attribute holding the sha256 of the
    bytes the URL answers with, which the URL then names (images/infra/versions.py)."""

    def __init__(
        self,
        view_name: str,
        ids: dict[str, str],
        fixed: dict[str, str] | None = None,
        *,
        version: str | None = None,
        **kwargs,
    ) -> None:
        self.view_name, self.ids, self.fixed = view_name, ids, fixed or {}
        self.version = version
        kwargs.setdefault("read_only", True)
        super().__init__(source="*", **kwargs)

    def to_representation(self, obj) -> str:
        kwargs = {arg: str(getattr(obj, attr)) for arg, attr in self.ids.items()}
        path = reverse(self.view_name, kwargs={**self.fixed, **kwargs})
        request = self.context.get("request")
        url = request.build_absolute_uri(path) if request else path
        return versions.link(url, getattr(obj, self.version)) if self.version else url


def refused(exc: ImageServiceError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.detail, code=exc.code)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": lab_metadata.MAX_TAG_LENGTH},
        "maxItems": lab_metadata.MAX_TAGS,
        "description": (
            "Tags: 1-64 letters, digits, spaces and -_.:/ each, trimmed, repeats collapse, "
            "compared exactly; at most 32. A form repeats the field, and each value may "
            "also be comma-separated."
        ),
    }
)
class TagsField(serializers.Field):
    """A list of tags (``invalid_tags``). In a form, the field repeated and each value
    comma-separated; in JSON, a list of strings."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):
            if self.field_name not in dictionary:
                return empty
            return lab_metadata.split_form_tags(dictionary.getlist(self.field_name))
        return dictionary.get(self.field_name, empty)

    def run_validation(self, data=empty):
        if data is None:  # not "no tags": a client that sends null meant something else
            raise refused(InvalidTags("tags must be a list, not null."))
        return super().run_validation(data)

    def to_internal_value(self, data) -> list[str]:
        try:
            return lab_metadata.clean_tags(data)
        except ImageServiceError as exc:
            raise refused(exc) from None

    def to_representation(self, value) -> list[str]:
        return value


class _FormText(str):
    """A form field's text, to be read as JSON (a JSON body's strings are not)."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "maxLength": lab_metadata.MAX_TEXT_LENGTH},
                {"type": "number"},
                {"type": "boolean"},
            ]
        },
        "maxProperties": lab_metadata.MAX_KEYS,
        "description": (
            "Key-value metadata: keys of 1-64 characters [A-Za-z0-9][A-Za-z0-9_.:-]*, never "
            "two underscores in a row (`__` starts a filter's operator), values a string (at "
            "most 1024 characters), a finite number or a boolean; at most 64 keys. In a form, "
            "a JSON object as text."
        ),
    }
)
class MetadataField(serializers.Field):
    """A flat metadata object (``invalid_metadata``), or with ``patch`` a JSON Merge
    Patch of one (a key set to null is removed). In a form, the object as JSON text."""

    def __init__(self, *, patch: bool = False, **kwargs) -> None:
        self.patch = patch
        super().__init__(**kwargs)

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and isinstance(value, str):
            return _FormText(value)
        return value

    def run_validation(self, data=empty):
        if data is None:
            raise refused(InvalidMetadata("metadata must be an object, not null."))
        return super().run_validation(data)

    def to_internal_value(self, data) -> dict:
        try:
            if isinstance(data, _FormText):
                data = lab_metadata.parse_json_text(data)
            if self.patch:
                return lab_metadata.check_patch(data)
            return lab_metadata.clean_metadata(data)
        except ImageServiceError as exc:
            raise refused(exc) from None

    def to_representation(self, value) -> dict:
        # In key order: PostgreSQL's jsonb keeps keys in an order of its own.
        return dict(sorted(value.items()))


class CodedIntegerField(serializers.IntegerField):
    """An integer any problem with which (not a number, too small, too large) is reported
    under one error ``code``: ``invalid_crop`` for a crop, ``invalid_cursor`` for a cursor."""

    def __init__(self, *, code: str, **kwargs) -> None:
        self.error_code = code
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            messages = [str(message) for message in exc.detail]
            raise serializers.ValidationError(messages, code=self.error_code) from exc
