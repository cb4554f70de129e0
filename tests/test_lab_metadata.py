"""The rules of tags and metadata, JSON Merge Patch, and the query parameters that find,
order and count by them (images/labels/rules.py): pure functions, no database."""

import pytest

from images.errors import InvalidFilter, InvalidMetadata, InvalidTags
from images.labels import rules
from images.labels.rules import Condition, Filters, Ordering


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("plate", "plate"),
        ("  re-imaged  ", "re-imaged"),
        ("P-0042/B7:t.3_x", "P-0042/B7:t.3_x"),
        ("two  spaces inside", "two  spaces inside"),
        ("µm", "µm"),
        ("Zellkultur Ä", "Zellkultur Ä"),
        ("٣", "٣"),  # a digit of another script
        ("x" * 64, "x" * 64),
        ("\tpadded\n", "padded"),
    ],
)
def test_a_valid_tag_is_stored_trimmed(given, stored):
    assert rules.clean_tag(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "x" * 65,
        "a,b",
        "tab\tinside",
        "new\nline",
        "hash#tag",
        "nul\x00",
        "emoji 🙂",
        "quote'",
        "½",  # a number, not a digit
        3,
        None,
        ["a"],
    ],
)
def test_an_invalid_tag_is_refused_as_invalid_tags(given):
    with pytest.raises(InvalidTags) as refused:
        rules.clean_tag(given)

    assert refused.value.code == "invalid_tags"


def test_tags_collapse_repeats_keep_their_first_order_and_compare_exactly():
    assert rules.clean_tags(["b", "a", " b", "A", "a "]) == ["b", "a", "A"]


def test_an_image_has_at_most_32_tags_after_repeats_collapse():
    assert len(rules.clean_tags([f"t{i}" for i in range(32)] + ["t0"])) == 32
    with pytest.raises(InvalidTags, match="at most 32"):
        rules.clean_tags([f"t{i}" for i in range(33)])


@pytest.mark.parametrize("given", ["a,b", {"a": 1}, None, 3])
def test_tags_must_be_a_list(given):
    with pytest.raises(InvalidTags):
        rules.clean_tags(given)


def test_form_tags_are_split_at_commas_in_every_value():
    assert rules.split_form_tags(["a,b", "c", " d , e"]) == ["a", "b", "c", " d ", " e"]


@pytest.mark.parametrize("key", ["plate", "a", "7", "A.b:c-d_e", "well_row", "x" * 64])
def test_a_valid_key_is_kept(key):
    assert rules.check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "_a", ".a", "-a", "a b", "a/b", "a=b", "é", "x" * 65, 3, None, "a__b", "a___"]
)
def test_an_invalid_key_is_refused_as_invalid_metadata(key):
    with pytest.raises(InvalidMetadata) as refused:
        rules.check_key(key)

    assert refused.value.code == "invalid_metadata"


@pytest.mark.parametrize(
    "value",
    ["", "B7", "x" * 1024, "ü" * 1024, 0, 3, -2.5, -0.0, 1e308, 2**63, True, False],
)
def test_a_valid_value_is_kept_as_it_is(value):
    kept = rules.clean_value("k", value)

    assert kept == value
    assert type(kept) is type(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "null"),
        ({"nested": 1}, "an object"),
        (["a"], "a list"),
        ("x" * 1025, "1024 characters"),
        ("nul\x00", "NUL"),
        ("\ud800", "surrogates"),
        (float("inf"), "finite"),
        (float("nan"), "finite"),
        (10**400, "finite"),
    ],
)
def test_an_invalid_value_is_refused_as_invalid_metadata(value, reason):
    with pytest.raises(InvalidMetadata, match=reason):
        rules.clean_value("k", value)


def test_metadata_is_an_object_of_at_most_64_keys():
    assert rules.clean_metadata({f"k{i}": i for i in range(64)}) == {f"k{i}": i for i in range(64)}
    with pytest.raises(InvalidMetadata, match="at most 64"):
        rules.clean_metadata({f"k{i}": i for i in range(65)})
    for not_an_object in (["a"], "text", None, 3):
        with pytest.raises(InvalidMetadata, match="JSON object"):
            rules.clean_metadata(not_an_object)


def test_metadata_on_create_has_no_nulls():
    with pytest.raises(InvalidMetadata, match="null"):
        rules.clean_metadata({"plate": None})


MERGE_PATCH_CASES = [
    # RFC 7396's rules on a flat object: set, replace, remove, leave the rest.
    ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ({"a": 1, "b": 2}, {"a": "x"}, {"a": "x", "b": 2}),
    ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ({"a": 1}, {"missing": None}, {"a": 1}),
    ({"a": 1}, {}, {"a": 1}),
    ({}, {"a": True, "b": None}, {"a": True}),
    ({"a": 1}, {"a": 1.0}, {"a": 1.0}),
]


@pytest.mark.parametrize(("metadata", "patch", "merged"), MERGE_PATCH_CASES)
def test_merge_patch_sets_removes_and_keeps_keys(metadata, patch, merged):
    assert rules.merge_patch(metadata, rules.check_patch(patch)) == merged


def test_merge_patch_leaves_its_input_unchanged():
    metadata = {"a": 1}
    rules.merge_patch(metadata, {"a": None, "b": 2})

    assert metadata == {"a": 1}


@pytest.mark.parametrize(
    "patch", [["a"], "text", None, {"a": {"nested": 1}}, {"a": [1]}, {"bad key": 1}]
)
def test_a_patch_that_is_not_a_flat_object_is_refused(patch):
    with pytest.raises(InvalidMetadata):
        rules.check_patch(patch)


def test_a_patch_may_remove_a_key_with_two_underscores_but_not_set_one():
    assert rules.check_patch({"a__b": None}) == {"a__b": None}
    with pytest.raises(InvalidMetadata, match="two underscores in a row"):
        rules.check_patch({"a__b": 1})
    with pytest.raises(InvalidMetadata):
        rules.check_patch({"bad key": None})


def test_a_patch_may_not_grow_the_metadata_past_64_keys():
    metadata = {f"k{i}": i for i in range(64)}

    assert len(rules.merge_patch(metadata, {"k0": None, "new": 1})) == 64
    with pytest.raises(InvalidMetadata, match="at most 64"):
        rules.merge_patch(metadata, {"new": 1})


@pytest.mark.parametrize(
    ("text", "parsed"),
    [('{"a": 1}', {"a": 1}), ("[]", []), ('"x"', "x"), ("{}", {})],
)
def test_json_text_is_parsed(text, parsed):
    assert rules.parse_json_text(text) == parsed


@pytest.mark.parametrize("text", ["{", "", "{'a': 1}", '{"a": NaN}', '{"a": Infinity}', "x"])
def test_text_that_is_not_strict_json_is_refused(text):
    with pytest.raises(InvalidMetadata, match="not valid JSON"):
        rules.parse_json_text(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ("0", 0),
        ("007", "007"),
        ("+3", "+3"),
        ("3.", "3."),
        ("1_000", "1_000"),
        ("nan", "nan"),
        ("1e999", "1e999"),
        ("true", "true"),
        ("B7", "B7"),
        ("", ""),
        (" 3", " 3"),
    ],
)
def test_a_typed_value_becomes_a_number_only_when_it_is_a_json_number(text, value):
    parsed = rules.parse_scalar(text)

    assert parsed == value
    assert type(parsed) is type(value)


def params(query: str) -> list[tuple[str, list[str]]]:
    from urllib.parse import parse_qs

    return list(parse_qs(query, keep_blank_values=True).items())


FILTER_CASES = [
    ("", Filters()),
    ("name=x&page=2&__gt=1&metadatax=1", Filters()),
    ("tag=a&tag=b&tag=a", Filters(tags=("a", "b"))),
    ("tag=+a+", Filters(tags=("a",))),
    ("metadata.well=B7", Filters(conditions=(Condition("well", "eq", text="B7"),))),
    ("metadata.well=", Filters(conditions=(Condition("well", "eq", text=""),))),
    (
        "metadata.timepoint=3",
        Filters(conditions=(Condition("timepoint", "eq", text="3", number=3.0),)),
    ),
    (
        "metadata.t=-1.5e2",
        Filters(conditions=(Condition("t", "eq", text="-1.5e2", number=-150.0),)),
    ),
    (
        "metadata.ok=true",
        Filters(conditions=(Condition("ok", "eq", text="true", boolean=True),)),
    ),
    ("metadata.ok=True", Filters(conditions=(Condition("ok", "eq", text="True"),))),
    ("metadata.x=nan", Filters(conditions=(Condition("x", "eq", text="nan"),))),
    ("metadata.c__gt=1", Filters(conditions=(Condition("c", "gt", number=1.0),))),
    ("metadata.c__gte=1.5", Filters(conditions=(Condition("c", "gte", number=1.5),))),
    ("metadata.c__lt=-3", Filters(conditions=(Condition("c", "lt", number=-3.0),))),
    ("metadata.c__lte=1e3", Filters(conditions=(Condition("c", "lte", number=1000.0),))),
    ("metadata.c__exists=true", Filters(conditions=(Condition("c", "exists", boolean=True),))),
    ("metadata.c__exists=false", Filters(conditions=(Condition("c", "exists", boolean=False),))),
    # No key holds "__", but one may end in "_": the last "__" starts the operator.
    ("metadata.a___gt=1", Filters(conditions=(Condition("a_", "gt", number=1.0),))),
    (
        "metadata.c__gte=1&metadata.c__lt=2",
        Filters(conditions=(Condition("c", "gte", number=1.0), Condition("c", "lt", number=2.0))),
    ),
]


@pytest.mark.parametrize(("query", "filters"), FILTER_CASES)
def test_query_parameters_become_filters(query, filters):
    assert rules.parse_filters(params(query)) == filters


@pytest.mark.parametrize(
    "query",
    [
        "tag=",
        "tag=a,b",
        "tag=" + "x" * 65,
        "metadata.=1",
        "metadata._x=1",
        "metadata.a b=1",
        "metadata.c__gt=",
        "metadata.c__gt=abc",
        "metadata.c__lt=nan",
        "metadata.c__lte=1e999",
        "metadata.c__gte=1_000",
        "metadata.c__exists=yes",
        "metadata.c__exists=",
        "metadata.c__exists=True",
        "metadata.c=" + "x" * 1025,
        "metadata.c=%00",
        "metadata.__gt=1",
        "metadata.c__foo=1",
        "metadata.a__b=1",
        "metadata.a__b__gt=1",
        "metadata.c__=1",
        "&".join(f"tag=t{i}" for i in range(65)),
    ],
)
def test_a_malformed_filter_is_refused_as_invalid_filter(query):
    with pytest.raises(InvalidFilter) as refused:
        rules.parse_filters(params(query))

    assert refused.value.code == "invalid_filter"


@pytest.mark.parametrize(
    ("value", "ordering"),
    [
        (None, Ordering("created_at", descending=True)),
        ("", Ordering("created_at", descending=True)),
        ("created_at", Ordering("created_at", descending=False)),
        ("-created_at", Ordering("created_at", descending=True)),
        ("name", Ordering("name", descending=False)),
        ("-name", Ordering("name", descending=True)),
        ("metadata.timepoint", Ordering("metadata", descending=False, key="timepoint")),
        ("-metadata.t.x", Ordering("metadata", descending=True, key="t.x")),
    ],
)
def test_ordering_is_parsed(value, ordering):
    assert rules.parse_ordering(value) == ordering


@pytest.mark.parametrize(
    "value", ["id", "-", "--name", "name,created_at", "metadata.", "metadata.a b", "Name", "phash"]
)
def test_a_malformed_ordering_is_refused_as_invalid_filter(value):
    with pytest.raises(InvalidFilter):
        rules.parse_ordering(value)


def test_facet_fields_are_tags_or_a_metadata_key():
    assert rules.parse_facet_field("tags") is None
    assert rules.parse_facet_field("metadata.plate") == "plate"
    for bad in ("tag", "metadata.", "metadata.a b", "name", ""):
        with pytest.raises(InvalidFilter):
            rules.parse_facet_field(bad)
