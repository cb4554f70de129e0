"""images/history.py: every write service records one event, with its actor and what changed,
in the transaction of the change."""

import io

import pytest
from django.db import transaction

from images import selectors, services
from images.history import Actor, command_actor, event_record
from images.models import EventCounter, Image, ImageEvent
from images.services import edits as labels
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

SCANNER = Actor("token", "scanner-1", "10.0.0.7")


def stored(size=(64, 48), **fields) -> Image:
    return services.image_create(
        file=io.BytesIO(image_bytes("PNG", size)), name="plate", actor=SCANNER, **fields
    )


def events(image: Image) -> list[tuple[str, dict]]:
    return [(e.action, e.changes) for e in selectors.image_history(image_id=image.pk)][::-1]


def test_a_create_records_created_with_the_new_images_fields_and_the_actor():
    image = stored(tags=["plate"], metadata={"well": "B7"})

    event = ImageEvent.objects.get()
    assert (event.image_id, event.action) == (image.pk, "created")
    assert (event.actor_kind, event.actor_name, event.actor_address) == (
        "token",
        "scanner-1",
        "10.0.0.7",
    )
    assert event.changes == {
        "name": "plate",
        "description": "",
        "tags": ["plate"],
        "metadata": {"well": "B7"},
        "format": "PNG",
        "width": 64,
        "height": 48,
        "sha256": image.sha256,
        "source_url": None,
    }


def test_a_deduplicated_upload_that_finds_its_twin_records_nothing():
    image = stored()

    twin = services.image_create(
        file=io.BytesIO(image_bytes("PNG", (64, 48))), name="again", dedupe=True, actor=SCANNER
    )

    assert (twin.pk, twin.deduplicated) == (image.pk, True)
    assert ImageEvent.objects.count() == 1


def test_crop_restore_and_delete_record_their_actions_and_sizes():
    image = stored()

    services.image_crop(image_id=image.pk, width=20, height=10, left=4, top=2, actor=SCANNER)
    services.image_restore(image_id=image.pk, actor=SCANNER)
    services.image_restore(image_id=image.pk, actor=SCANNER)  # already the original: no change
    history = events(image)
    services.image_delete(image_id=image.pk, actor=SCANNER)

    assert history[1:] == [
        (
            "cropped",
            {
                "crop": {"left": 4, "top": 2, "width": 20, "height": 10},
                "width": [64, 20],
                "height": [48, 10],
            },
        ),
        ("restored", {"revision": 1, "width": [20, 64], "height": [10, 48]}),
    ]
    deleted = ImageEvent.objects.order_by("cursor").last()
    assert (deleted.image_id, deleted.action, deleted.changes) == (image.pk, "deleted", {})


def test_a_centre_crop_records_the_box_it_cut():
    image = stored((64, 48))

    services.image_crop(image_id=image.pk, width=20, height=10, actor=SCANNER)

    assert events(image)[-1][1]["crop"] == {"left": 22, "top": 19, "width": 20, "height": 10}


@pytest.mark.parametrize(
    ("edit", "changes"),
    [
        (
            lambda pk: services.image_rename(image_id=pk, name="plate 7"),
            {"name": ["plate", "plate 7"]},
        ),
        (
            lambda pk: services.image_describe(image_id=pk, description="re-imaged"),
            {"description": ["", "re-imaged"]},
        ),
        (
            lambda pk: labels.image_retag(image_id=pk, tags=["plate", "E12"]),
            {"tags": [["plate"], ["plate", "E12"]]},
        ),
        (
            lambda pk: labels.image_annotate(image_id=pk, metadata={"well": None, "tp": 3}),
            {"metadata": [{"well": "B7"}, {"tp": 3}]},
        ),
        (
            lambda pk: labels.image_edit(
                image_id=pk, name="p", description="d", tags=[], metadata={"well": "C1"}
            ),
            {
                "name": ["plate", "p"],
                "description": ["", "d"],
                "tags": [["plate"], []],
                "metadata": [{"well": "B7"}, {"well": "C1"}],
            },
        ),
        (
            lambda pk: labels.image_bulk_edit(
                image_ids=[pk], add_tags=["x"], remove_tags=["plate"], metadata={"well": None}
            ),
            {"tags": [["plate"], ["x"]], "metadata": [{"well": "B7"}, {}]},
        ),
    ],
)
def test_an_edit_records_updated_with_old_and_new_of_each_changed_field(edit, changes):
    image = stored(tags=["plate"], metadata={"well": "B7"})

    edit(image.pk)

    assert events(image)[1:] == [("updated", changes)]


@pytest.mark.parametrize(
    "edit",
    [
        lambda pk: services.image_rename(image_id=pk, name="plate"),
        lambda pk: labels.image_retag(image_id=pk, tags=["plate"]),
        lambda pk: labels.image_annotate(image_id=pk, metadata={"well": "B7"}),
        lambda pk: labels.image_annotate(image_id=pk, metadata={"absent": None}),
        lambda pk: labels.image_bulk_edit(image_ids=[pk], add_tags=["plate"]),
    ],
)
def test_an_edit_that_changes_nothing_records_nothing(edit):
    image = stored(tags=["plate"], metadata={"well": "B7"})

    edit(image.pk)

    assert [action for action, _ in events(image)] == ["created"]


@pytest.mark.parametrize(("old", "new"), [(True, 1), (1, True), (1, 1.5), ("1", 1)])
def test_a_metadata_value_of_another_json_type_is_a_change(old, new):
    image = stored(metadata={"qc": old})

    labels.image_annotate(image_id=image.pk, metadata={"qc": new})

    assert events(image)[1:] == [("updated", {"metadata": [{"qc": old}, {"qc": new}]})]


def test_a_bulk_edit_records_one_event_per_image_it_changed_with_consecutive_cursors():
    a, b = stored(), stored((50, 40))
    labels.image_retag(image_id=b.pk, tags=["done"])
    before = ImageEvent.objects.count()

    labels.image_bulk_edit(image_ids=[a.pk, b.pk], add_tags=["done"], actor=SCANNER)

    new = list(ImageEvent.objects.order_by("cursor")[before:])
    assert [(e.image_id, e.action, e.changes) for e in new] == [
        (a.pk, "updated", {"tags": [[], ["done"]]})
    ]


def test_a_rolled_back_write_leaves_no_event_and_its_cursor_is_given_again():
    image = stored()
    last = ImageEvent.objects.get().cursor

    def rename_then_fail():
        with transaction.atomic():
            services.image_rename(image_id=image.pk, name="never")
            raise RuntimeError("the request failed after the rename")

    with pytest.raises(RuntimeError):
        rename_then_fail()
    with pytest.raises(Image.DoesNotExist):  # an unknown id: the whole bulk edit is refused
        labels.image_bulk_edit(image_ids=[image.pk, Image().pk], add_tags=["x"])
    services.image_rename(image_id=image.pk, name="kept")

    assert [(e.cursor, e.action) for e in ImageEvent.objects.order_by("cursor")] == [
        (last, "created"),
        (last + 1, "updated"),
    ]


def test_a_service_called_without_an_actor_is_recorded_as_anonymous():
    image = services.image_create(file=io.BytesIO(image_bytes("PNG")), name="plate")

    event = ImageEvent.objects.get(image_id=image.pk)
    assert (event.actor_kind, event.actor_name, event.actor_address) == ("anonymous", None, None)


@pytest.mark.django_db(transaction=True)  # else the test itself runs inside a transaction
def test_an_event_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the writing transaction"):
        event_record(image_id=Image().pk, action="updated", actor=command_actor("x"))


def test_cursors_count_on_from_the_highest_stored_when_the_counter_row_is_gone():
    image = stored()
    services.image_rename(image_id=image.pk, name="two")
    EventCounter.objects.all().delete()

    services.image_rename(image_id=image.pk, name="three")

    cursors = list(ImageEvent.objects.order_by("cursor").values_list("cursor", flat=True))
    assert cursors == [cursors[0], cursors[0] + 1, cursors[0] + 2]
    assert EventCounter.objects.get().value == cursors[-1]


def test_a_deleted_images_events_stay_for_the_feed():
    image = stored()
    services.image_delete(image_id=image.pk)

    feed = selectors.event_feed(after=0)

    assert [(e.image_id, e.action) for e in feed.results] == [
        (image.pk, "created"),
        (image.pk, "deleted"),
    ]
    with pytest.raises(Image.DoesNotExist):
        selectors.image_history(image_id=image.pk)
