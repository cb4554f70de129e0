"""Metadata in the admin's forms as rows of key, type and value, with the whole object as
JSON in a box beside them for those who would rather type it.

Without a script, the rows are the value, unless the JSON box was edited: the page keeps a
copy of the JSON it showed, and a box that differs from it wins. With the script
(images/static/images/admin/metadata-rows.js) rows can be added and removed, and the box
and its copy follow every change of the rows, so either way the value is what was edited.
"""

import json

from django import forms

from images.errors import ImageServiceError
from images.labels import rules as lab_metadata

TYPES = ["text", "number", "yes/no"]
BLANK_ROWS = 2  # rows for new keys, without the script too
YES, NO = ("yes", "true"), ("no", "false")

Row = tuple[str, str, str]  # key, type, value as typed


def rows_of(metadata: dict) -> list[Row]:
    return [(key, _type_of(value), _text_of(value)) for key, value in sorted(metadata.items())]


def _type_of(value) -> str:
    if isinstance(value, bool):
        return "yes/no"
    return "number" if isinstance(value, int | float) else "text"


def _text_of(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def json_text(metadata: dict) -> str:
    return json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False)


def _same_text(a: str, b: str) -> bool:
    """Equal as typed: browsers send a textarea's line breaks as CRLF."""

    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n")]

    return lines(a) == lines(b)


class MetadataWidget(forms.Widget):
    template_name = "admin/images/widgets/metadata.html"

    class Media:
        js = ["images/admin/metadata-rows.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        box, box_used = "", False
        if isinstance(value, dict):
            rows, box = rows_of(value), json_text(value)
        elif isinstance(value, str):  # the JSON box, sent back with an error
            rows, box, box_used = self._rows_of_text(value), value, True
        else:
            rows = list(value or [])
        rows = [row for row in rows if row[0] or row[2]]
        context["widget"].update(
            rows=[*rows, *[("", "text", "")] * BLANK_ROWS],
            types=TYPES,
            json=box,
            # A box that failed shows what was typed in it, and a copy that differs, so
            # that it still wins when sent again as it is.
            shown="" if box_used else box,
            open=box_used,
        )
        return context

    @staticmethod
    def _rows_of_text(text: str) -> list[Row]:
        try:
            parsed = json.loads(text)
        except ValueError:
            return []
        return rows_of(parsed) if isinstance(parsed, dict) else []

    def value_from_datadict(self, data, files, name):
        """The JSON box's text, or the rows: the box when it was edited, or sent alone
        (a script posting the form, as the API would take it)."""
        box = data.get(name)
        if f"{name}-key" not in data:
            return box
        if box is not None and not _same_text(box, data.get(f"{name}-shown", "")):
            return box
        return list(
            zip(
                data.getlist(f"{name}-key"),
                data.getlist(f"{name}-type"),
                data.getlist(f"{name}-value"),
                strict=False,
            )
        )

    def value_omitted_from_data(self, data, files, name):
        return name not in data and f"{name}-key" not in data


class MetadataField(forms.Field):
    """A metadata object, by the API's rules (images/labels/rules.py), typed as rows or as
    JSON (see the module)."""

    widget = MetadataWidget

    def to_python(self, value) -> dict:
        try:
            if value is None or (isinstance(value, str) and not value.strip()):
                return {}
            if isinstance(value, str):
                return lab_metadata.clean_metadata(lab_metadata.parse_json_text(value))
            return lab_metadata.clean_metadata(metadata_of_rows(value))
        except ImageServiceError as exc:
            raise forms.ValidationError(exc.detail, code=exc.code) from None

    def prepare_value(self, value):
        return value


def metadata_of_rows(rows: list[Row]) -> dict:
    """The object the rows make; a row with no key and no value is skipped."""
    metadata: dict = {}
    for key, kind, text in rows:
        key, text = key.strip(), text.strip()
        if not key and not text:
            continue
        if not key:
            raise forms.ValidationError(f"The value “{text}” has no key.", code="invalid_metadata")
        if key in metadata:
            raise forms.ValidationError(f"The key “{key}” is there twice.", code="invalid_metadata")
        metadata[key] = _typed(key, kind, text)
    return metadata


def _typed(key: str, kind: str, text: str):
    if kind == "number":
        number = lab_metadata.parse_scalar(text)
        if isinstance(number, str):
            raise forms.ValidationError(
                f"{key}: “{text}” is not a number (1, 2.5, -3e2).", code="invalid_metadata"
            )
        return number
    if kind == "yes/no":
        if text.lower() not in (*YES, *NO):
            raise forms.ValidationError(f"{key}: yes or no, not “{text}”.", code="invalid_metadata")
        return text.lower() in YES
    return text
