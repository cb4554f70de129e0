"""Tags and key-value metadata of an image: the rules their values follow, JSON Merge Patch,
and the query parameters that find, order and count images by them.

Pure functions, no ORM and no HTTP: the serializers, the services, the admin and
``import_images`` all validate through here, so every way in applies the same rules.
"""

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from images.errors import InvalidFilter, InvalidMetadata, InvalidTags

MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_KEYS = 64
MAX_KEY_LENGTH = 64
MAX_TEXT_LENGTH = 1024
# A filter names at most this many conditions: each one is a subquery.
MAX_CONDITIONS = 64
TAG_PUNCTUATION = frozenset(" -_.:/")
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# What a filter value must look like to be compared as a number too: a decimal number,
# not Python's float() syntax (which also takes "1_000", "nan" and "infinity").
NUMBER_PATTERN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# A value typed as text becomes a number only when it is one as JSON spells it: "007" (a
# plate's label, say) stays a string.
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")

Value = str | int | float | bool
Operator = Literal["eq", "gt", "gte", "lt", "lte", "exists"]
COMPARISONS: tuple[Operator, ...] = ("gt", "gte", "lt", "lte")
OPERATORS: tuple[Operator, ...] = (*COMPARISONS, "exists")
# Between a key and an operator in a filter's name: no key may hold it, so a filter's name
# reads one way only.
OPERATOR_SEPARATOR = "__"
METADATA_PREFIX = "metadata."


# --- Tags -----------------------------------------------------------------------------


def clean_tag(value: object, error: type[Exception] = InvalidTags) -> str:
    """One tag, trimmed: 1-64 letters, digits, spaces and ``-_.:/``."""
    if not isinstance(value, str):
        raise error(f"A tag must be a string, not {_json_type(value)}.")
    tag = value.strip()
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise error(f"A tag has 1 to {MAX_TAG_LENGTH} characters: {_shown(value)}.")
    bad = sorted({c for c in tag if not (c.isalpha() or c.isdecimal() or c in TAG_PUNCTUATION)})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise error(
            f"A tag may hold letters, digits, spaces and -_.:/ only; {_shown(tag)} has {shown}."
        )
    return tag


def clean_tags(values: object) -> list[str]:
    """A list of tags: each cleaned, repeats collapsed (first one kept), at most 32."""
    if not isinstance(values, list | tuple):
        raise InvalidTags(f"tags must be a list of strings, not {_json_type(values)}.")
    tags = list(dict.fromkeys(clean_tag(value) for value in values))
    check_tag_count(tags)
    return tags


def check_tag_count(tags: list[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidTags(f"An image has at most {MAX_TAGS} tags, not {len(tags)}.")


def split_form_tags(values: Iterable[str]) -> list[str]:
    """Tags as a form sends them: the field repeated, each value also comma-separated."""
    return [part for value in values for part in value.split(",")]


# --- Metadata -------------------------------------------------------------------------


def check_key(key: object, error: type[Exception] = InvalidMetadata) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise error(
            f"A metadata key has 1 to {MAX_KEY_LENGTH} characters, a letter or digit first, "
            f"then letters, digits and _.:- ; not {_shown(key)}."
        )
    if OPERATOR_SEPARATOR in key:
        raise error(
            f"A metadata key may not hold two underscores in a row: in a filter, `__` "
            f"separates the key from an operator (metadata.KEY__gt); not {_shown(key)}."
        )
    return key


def key_is_allowed(key: str) -> bool:
    """Whether a key (a stored one, say) follows the rules ``check_key`` applies."""
    return bool(KEY_PATTERN.fullmatch(key)) and OPERATOR_SEPARATOR not in key


def clean_value(key: str, value: object) -> Value:
    """A metadata value: a string (at most 1024 characters), a finite number or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            finite = math.isfinite(float(value))
        except OverflowError:  # an integer too large for a double
            finite = False
        if not finite:
            raise InvalidMetadata(f"{key}: a number must be finite and fit in a double.")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            raise InvalidMetadata(f"{key}: a string has at most {MAX_TEXT_LENGTH} characters.")
        if "\x00" in value or not _encodable(value):
            raise InvalidMetadata(f"{key}: a string may not hold NUL or unpaired surrogates.")
        return value
    raise InvalidMetadata(
        f"{key}: a value is a string, a number or a boolean, not {_json_type(value)}."
    )


def clean_metadata(value: object) -> dict[str, Value]:
    """A whole metadata object, as given on create: no nulls, at most 64 keys."""
    if not isinstance(value, dict):
        raise InvalidMetadata(f"metadata must be a JSON object, not {_json_type(value)}.")
    cleaned = {check_key(key): clean_value(key, item) for key, item in value.items()}
    check_key_count(cleaned)
    return cleaned


def check_key_count(metadata: dict) -> None:
    if len(metadata) > MAX_KEYS:
        raise InvalidMetadata(
            f"An image has at most {MAX_KEYS} metadata keys, not {len(metadata)}."
        )


def check_patch(patch: object) -> dict[str, Value | None]:
    """A JSON Merge Patch (RFC 7396) of a flat object: each key set to a value or null.
    A key stored before ``__`` was refused may still be removed (set to null)."""
    if not isinstance(patch, dict):
        raise InvalidMetadata(f"A metadata patch is a JSON object, not {_json_type(patch)}.")
    checked: dict[str, Value | None] = {}
    for key, value in patch.items():
        if value is None:
            checked[_removable_key(key)] = None
        else:
            checked[check_key(key)] = clean_value(key, value)
    return checked


def _removable_key(key: object) -> str:
    """A key a patch may remove: any the rules take, or took before (one with ``__``)."""
    if isinstance(key, str) and KEY_PATTERN.fullmatch(key):
        return key
    return check_key(key)


def merge_patch(metadata: dict[str, Value], patch: dict[str, Value | None]) -> dict[str, Value]:
    """RFC 7396 on a flat object: a key set to null is removed, the others are set, keys
    the patch does not name stay. ``patch`` has passed ``check_patch``."""
    merged = dict(metadata)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    check_key_count(merged)
    return merged


def parse_json_text(text: str, error: type[Exception] = InvalidMetadata) -> object:
    """JSON sent as text (a form field, a command-line option): strict, no NaN or Infinity."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise error(f"metadata is not valid JSON: {exc}") from None


def parse_scalar(text: str) -> Value:
    """A value typed as text (``--metadata KEY=VALUE``, a CSV cell): a JSON number becomes
    that number; anything else, "007" and "true" included, stays the string it is."""
    if JSON_NUMBER.fullmatch(text):
        number = json.loads(text)
        if math.isfinite(number):
            return number
    return text


# --- Finding, ordering and counting by them --------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One metadata condition of a query: ``key`` compared by ``operator``.

    For equality, the value is matched as a string (``text``), and also as a number
    (``number``) when it reads as one, and as a boolean (``boolean``) when it is
    ``true``/``false``. Comparisons use ``number``; ``exists`` uses ``boolean``.
    """

    key: str
    operator: Operator
    text: str | None = None
    number: float | None = None
    boolean: bool | None = None


@dataclass(frozen=True)
class Filters:
    tags: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tags or self.conditions)


@dataclass(frozen=True)
class Ordering:
    """``field`` is ``created_at``, ``name`` or ``metadata`` (then ``key`` names the key)."""

    field: Literal["created_at", "name", "metadata"]
    descending: bool
    key: str | None = None


NO_FILTERS = Filters()
DEFAULT_ORDERING = Ordering("created_at", descending=True)
ORDERING_CHOICES = ("created_at", "-created_at", "name", "-name", "metadata.KEY", "-metadata.KEY")


def parse_filters(params: Iterable[tuple[str, list[str]]]) -> Filters:
    """The ``tag`` and ``metadata.*`` parameters of a query (``QueryDict.lists()``).

    ``tag`` may repeat (every tag must be present); so may each ``metadata.`` parameter
    (every condition must hold). Other parameters are not this function's business.
    """
    tags: list[str] = []
    conditions: list[Condition] = []
    for name, values in params:
        if name == "tag":
            tags += [clean_tag(value, InvalidFilter) for value in values]
        elif name.startswith(METADATA_PREFIX):
            conditions += [_condition(name.removeprefix(METADATA_PREFIX), v) for v in values]
    if len(tags) + len(conditions) > MAX_CONDITIONS:
        raise InvalidFilter(f"A query has at most {MAX_CONDITIONS} tag and metadata conditions.")
    return Filters(tuple(dict.fromkeys(tags)), tuple(dict.fromkeys(conditions)))


def _condition(name: str, raw: str) -> Condition:
    # The last `__`: a key may end in one underscore ("a_", filtered as metadata.a___gt).
    key, separator, operator = name.rpartition(OPERATOR_SEPARATOR)
    if not separator:
        key, operator = name, "eq"
    elif operator not in OPERATORS:
        raise InvalidFilter(
            f"Unknown operator {_shown(operator)} in {_shown(METADATA_PREFIX + name)}: after "
            f"`__` comes one of {', '.join(OPERATORS)} (metadata.KEY__OP), and no key "
            "holds `__`."
        )
    check_key(key, InvalidFilter)
    if operator == "exists":
        if raw not in ("true", "false"):
            raise InvalidFilter(f"metadata.{key}__exists is true or false, not {_shown(raw)}.")
        return Condition(key, "exists", boolean=raw == "true")
    number = _number(raw)
    if operator != "eq":
        if number is None:
            raise InvalidFilter(f"metadata.{key}__{operator} needs a number, not {_shown(raw)}.")
        return Condition(key, operator, number=number)
    if len(raw) > MAX_TEXT_LENGTH or "\x00" in raw or not _encodable(raw):
        raise InvalidFilter(f"metadata.{key}: no stored value can be {_shown(raw)}.")
    boolean = raw == "true" if raw in ("true", "false") else None
    return Condition(key, "eq", text=raw, number=number, boolean=boolean)


def _number(raw: str) -> float | None:
    if not NUMBER_PATTERN.fullmatch(raw):
        return None
    number = float(raw)
    return number if math.isfinite(number) else None


def parse_ordering(value: str | None) -> Ordering:
    if value is None or value == "":
        return DEFAULT_ORDERING
    descending = value.startswith("-")
    name = value.removeprefix("-")
    if name in ("created_at", "name"):
        return Ordering(name, descending)
    if name.startswith(METADATA_PREFIX):
        key = check_key(name.removeprefix(METADATA_PREFIX), InvalidFilter)
        return Ordering("metadata", descending, key)
    raise InvalidFilter(f"ordering is one of {', '.join(ORDERING_CHOICES)}; not {_shown(value)}.")


def parse_facet_field(value: str) -> str | None:
    """``tags`` (None), or ``metadata.KEY`` (the key)."""
    if value == "tags":
        return None
    if value.startswith(METADATA_PREFIX):
        return check_key(value.removeprefix(METADATA_PREFIX), InvalidFilter)
    raise InvalidFilter(f"field is tags or metadata.KEY, not {_shown(value)}.")


# --- Small helpers --------------------------------------------------------------------


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate, which JSON can spell
        return False
    return True


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
