"""/api/v1/webhooks, and their delivery by the worker (images/worker/delivery.py) run in
this process against a real receiver on 127.0.0.1."""

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from access.models import ApiToken
from images.models import ImageEvent, Webhook
from images.worker import delivery, eager, loop
from tests.factories import image_bytes
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True  # the receiver is on 127.0.0.1
    settings.IMAGES_EAGER_RENDITIONS = []
    settings.IMAGES_WEBHOOK_TIMEOUT = 2.0
    with Receiver() as receiver:
        yield receiver


def subscribe(api, receiver: Receiver, **fields) -> dict:
    response = api.post("/api/v1/webhooks", {"url": receiver.url, **fields}, format="json")
    assert response.status_code == 201, response.content
    receiver.secret = response.json()["secret"]
    return response.json()


def work() -> None:
    loop.run_until_idle(eager.eager_specs())


def new_image(upload, **fields) -> str:
    response = upload(image_bytes("PNG", (40, 30)), "plate.png", **fields)
    assert response.status_code == 201
    return response.json()["id"]


def test_create_answers_the_secret_once_and_the_rest_without_it(api, receiver):
    created = subscribe(api, receiver, tags=["P-1"], metadata={"well": "B7"})
    assert set(created) == {
        "id", "url", "actions", "tags", "metadata", "active", "paused_reason", "created_at",
        "secret",
    }  # fmt: skip
    assert created["actions"] == list(ImageEvent.Action.values)
    assert created["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(created["secret"].removeprefix("whsec_"))) <= 64
    shown = api.get(f"/api/v1/webhooks/{created['id']}").json()
    assert "secret" not in shown
    assert shown == {key: value for key, value in created.items() if key != "secret"}
    assert api.get("/api/v1/webhooks").json()["results"] == [shown]
    changed = api.patch(
        f"/api/v1/webhooks/{created['id']}", {"actions": ["created"]}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["actions"] == ["created"]
    assert api.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert api.get(f"/api/v1/webhooks/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.org/hook"}, "invalid_url"),
        ({"url": "not a url"}, "invalid"),
        ({"url": "http://127.0.0.1:9/hook"}, "url_not_allowed"),
        ({"url": "http://10.1.2.3/hook"}, "url_not_allowed"),
        ({"url": "http://[::1]/hook"}, "url_not_allowed"),
        ({"url": "https://example.org/hook", "actions": ["exploded"]}, "invalid_choice"),
        ({"url": "https://example.org/hook", "actions": []}, "empty"),
        ({"url": "https://example.org/hook", "tags": "P-1"}, "invalid_tags"),
    ],
)
def test_a_refused_webhook_is_400_and_stores_nothing(api, body, code):
    response = api.post("/api/v1/webhooks", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Webhook.objects.exists()


def test_a_host_outside_the_allowed_hosts_is_refused(api, settings):
    settings.IMAGES_ALLOW_PRIVATE_URLS = True
    settings.IMAGES_URL_ALLOWED_HOSTS = ["hooks.lab.example"]
    response = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "url_not_allowed"


def test_each_event_is_posted_signed_in_order_with_its_image(api, upload, receiver):
    subscribe(api, receiver)
    image_id = new_image(upload, tags=["P-1"])
    api.patch(f"/api/v1/images/{image_id}", {"name": "renamed"}, format="json")
    api.delete(f"/api/v1/images/{image_id}")

    work()

    got = receiver.delivered()
    assert [r["body"]["type"] for r in got] == ["image.created", "image.updated", "image.deleted"]
    assert all(r["verified"] for r in got)
    cursors = list(ImageEvent.objects.order_by("cursor").values_list("cursor", flat=True))
    assert [r["id"] for r in got] == [str(c) for c in cursors]
    first = got[0]["body"]
    assert first["data"]["cursor"] == cursors[0]
    assert first["data"]["image_id"] == image_id
    assert first["data"]["image"]["tags"] == ["P-1"]
    assert first["data"]["actor"]["kind"] == "anonymous"
    assert got[1]["body"]["data"]["changes"]["name"][1] == "renamed"
    assert got[2]["body"]["data"]["image"]["deleted_at"] is not None


def test_a_tampered_body_fails_the_spec_check(api, upload, receiver):
    subscribe(api, receiver)
    new_image(upload)
    work()
    [got] = receiver.delivered()
    webhook = Webhook.objects.get()
    from images.services.webhooks import sign

    body = b'{"type":"image.created"}'
    headers = {"webhook-id": got["id"], "webhook-timestamp": str(int(time.time()))}
    headers["webhook-signature"] = sign(
        secret=webhook.secret, message_id=got["id"], timestamp=int(headers["webhook-timestamp"]),
        body=body,
    )  # fmt: skip
    Verifier(webhook.secret).verify(body, headers)  # our signature of it passes
    with pytest.raises(Exception, match="No matching signature"):
        Verifier(webhook.secret).verify(body + b" ", headers)


def test_filters_by_action_tags_and_metadata(api, upload, receiver):
    subscribe(api, receiver, actions=["created"], tags=["P-1"], metadata={"well": "B7"})
    wanted = new_image(upload, tags=["P-1", "dapi"], metadata='{"well": "B7"}')
    new_image(upload, tags=["P-1"], metadata='{"well": "B8"}')
    new_image(upload, tags=["P-2"], metadata='{"well": "B7"}')
    api.patch(f"/api/v1/images/{wanted}", {"name": "renamed"}, format="json")

    work()

    assert [r["body"]["data"]["image_id"] for r in receiver.delivered()] == [wanted]
    assert Webhook.objects.get().cursor == ImageEvent.objects.count()  # the rest passed over


def test_a_paused_webhook_gets_nothing_until_resumed_then_everything(api, upload, receiver):
    webhook = subscribe(api, receiver, active=False)
    new_image(upload)
    new_image(upload)
    work()
    assert receiver.received == []

    resumed = api.patch(f"/api/v1/webhooks/{webhook['id']}", {"active": True}, format="json")
    assert resumed.json()["active"] is True
    work()

    assert [r["body"]["type"] for r in receiver.delivered()] == ["image.created"] * 2


def test_500s_are_retried_after_a_backoff_then_delivered_in_order(api, upload, receiver, settings):
    settings.IMAGES_WEBHOOK_RETRY_BASE = 0.05
    webhook = subscribe(api, receiver)
    for _ in range(3):
        new_image(upload)
    receiver.fail_with = 500
    work()
    state = Webhook.objects.get()
    assert (state.attempts, state.active, state.retry_at is not None) == (1, True, True)
    deadline = time.monotonic() + 5
    while receiver.refused < 4:
        assert time.monotonic() < deadline
        work()
    receiver.fail_with = None
    receiver.wait_for(lambda: len(receiver.delivered()) == 3 or work())

    assert [r["id"] for r in receiver.received[:4]] == ["1"] * 4  # the first, again and again
    assert [r["id"] for r in receiver.delivered()] == ["1", "2", "3"]
    attempts = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()["results"]
    assert attempts[0]["status"] == "delivered"
    assert attempts[-1] == {
        **attempts[-1], "event": 1, "attempt": 1, "status": "retrying", "response_code": 500,
    }  # fmt: skip


def test_after_the_retry_period_the_webhook_is_paused_with_the_reason(
    api, upload, receiver, settings
):
    settings.IMAGES_WEBHOOK_RETRY_BASE = 0.01
    settings.IMAGES_WEBHOOK_RETRY_HOURS = 0.2 / 3600
    webhook = subscribe(api, receiver)
    new_image(upload)
    receiver.fail_with = 503
    deadline = time.monotonic() + 5
    while Webhook.objects.get().active:
        assert time.monotonic() < deadline
        work()
    paused = api.get(f"/api/v1/webhooks/{webhook['id']}").json()
    assert paused["active"] is False
    assert "Event 1 failed for" in paused["paused_reason"]
    assert "503" in paused["paused_reason"]


def test_a_private_address_is_refused_at_delivery_and_pauses(api, upload, receiver, settings):
    webhook = subscribe(api, receiver)  # allowed when it was made
    settings.IMAGES_ALLOW_PRIVATE_URLS = False
    new_image(upload)

    work()

    assert receiver.received == []
    paused = api.get(f"/api/v1/webhooks/{webhook['id']}").json()
    assert paused["active"] is False
    assert "non-public address" in paused["paused_reason"]
    [attempt] = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()["results"]
    assert (attempt["status"], attempt["response_code"]) == ("refused", None)


def test_redeliver_sends_again_from_a_cursor_with_the_same_ids(api, upload, receiver):
    webhook = subscribe(api, receiver)
    for _ in range(3):
        new_image(upload)
    work()
    response = api.post(f"/api/v1/webhooks/{webhook['id']}/redeliver", {"after": 1}, format="json")
    assert response.status_code == 202
    work()
    assert [r["id"] for r in receiver.delivered()] == ["1", "2", "3", "2", "3"]


def test_a_receivers_4xx_is_recorded_and_not_retried(api, upload, receiver):
    webhook = subscribe(api, receiver)
    receiver.fail_with = 400
    new_image(upload)
    work()
    assert len(receiver.received) == 1
    [attempt] = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()["results"]
    assert (attempt["status"], attempt["response_code"]) == ("rejected", 400)
    assert Webhook.objects.get().active


def test_the_backlog_and_outcomes_are_in_the_metrics(api, upload, receiver, client):
    subscribe(api, receiver)
    new_image(upload)
    new_image(upload)
    text = client.get("/metrics").content.decode()
    assert "imageservice_webhook_backlog_events" in text
    assert delivery.backlog()[Webhook.objects.get()] == 2
    work()
    text = client.get("/metrics").content.decode()
    assert 'imageservice_webhook_deliveries_total{outcome="delivered"' in text


@pytest.mark.parametrize("read_only", [True, False])
def test_token_mode_needs_a_full_token_even_to_read(api, settings, read_only):
    settings.IMAGES_AUTH = "token"
    assert api.get("/api/v1/webhooks").status_code == 401
    token = ApiToken(name="pipeline", read_only=read_only)
    key = token.set_new_key()
    token.save()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/webhooks").status_code == (403 if read_only else 200)


def test_unknown_webhook_is_404(api):
    for method, path in [
        ("get", "/api/v1/webhooks/6f1c2a4e-8b0d-4a57-9c3e-2d5b7f9a1c08"),
        ("get", "/api/v1/webhooks/6f1c2a4e-8b0d-4a57-9c3e-2d5b7f9a1c08/deliveries"),
        ("delete", "/api/v1/webhooks/6f1c2a4e-8b0d-4a57-9c3e-2d5b7f9a1c08"),
        ("get", "/api/v1/webhooks/not-a-uuid"),
    ]:
        response = getattr(api, method)(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
