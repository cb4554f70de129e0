"""Webhooks in the admin: made through the service (the secret shown once), a private
address refused, each one's state and last deliveries shown."""

import ipaddress

import pytest
from django.contrib.auth.models import User

from images.infra import fetch
from images.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)

FORM = {
    "url": "https://hooks.lab.example/images",
    "actions": '["created"]',
    "tags": "[]",
    "metadata": "{}",
    "active": "on",
    "deliveries-TOTAL_FORMS": "0",
    "deliveries-INITIAL_FORMS": "0",
}


@pytest.fixture
def staff(client, monkeypatch):
    user = User.objects.create_superuser("admin", "admin@example.test", "pw")
    client.force_login(user)
    # hooks.lab.example resolves to a public address (the tests have no DNS); an IP is itself.
    real_resolve = fetch.resolve

    def resolve(host: str, port: int):
        if host == "hooks.lab.example":
            return [ipaddress.ip_address("93.184.215.14")]
        return real_resolve(host, port)

    monkeypatch.setattr(fetch, "resolve", resolve)
    return client


def test_a_webhook_made_in_the_admin_shows_its_secret_once(staff):
    response = staff.post("/admin/images/webhook/add/", FORM, follow=True)

    webhook = Webhook.objects.get()
    assert webhook.secret.startswith("whsec_")
    assert webhook.actions == ["created"]
    assert webhook.secret in response.content.decode()
    page = staff.get(f"/admin/images/webhook/{webhook.pk}/change/").content.decode()
    assert webhook.secret not in page


def test_a_private_address_is_refused_by_the_admin_form(staff):
    response = staff.post("/admin/images/webhook/add/", {**FORM, "url": "http://10.0.0.5/"})
    assert response.status_code == 200
    assert "non-public address" in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_change_page_shows_the_state_and_last_deliveries(staff):
    staff.post("/admin/images/webhook/add/", FORM)
    webhook = Webhook.objects.get()
    Webhook.objects.filter(pk=webhook.pk).update(active=False, paused_reason="Gone for good")
    WebhookDelivery.objects.create(
        webhook=webhook, cursor=7, attempt=3, outcome="retrying", response_code=503
    )
    listing = staff.get("/admin/images/webhook/").content.decode()
    assert "Gone for good" in listing
    page = staff.get(f"/admin/images/webhook/{webhook.pk}/change/").content.decode()
    assert "503" in page
    assert "last 20 deliveries" in page.lower()
