"""The admin login refuses an address after repeated failures (django-axes, settings.py)."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/admin/login/?next=/admin/"
ATTACKER, COLLEAGUE = "198.51.100.7", "198.51.100.8"


@pytest.fixture
def admin_user(settings):
    # A quick hash: each login checks a password, and these tests try dozens.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_superuser("admin", password="right horse battery staple")


def log_in(client, password: str, address: str, **headers):
    return client.post(
        LOGIN,
        {"username": "admin", "password": password},
        REMOTE_ADDR=address,
        **headers,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_an_address_is_refused_after_the_failure_limit_even_with_the_right_password(
    client, admin_user, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong", ATTACKER).status_code == 200  # the form, with its error

    assert log_in(client, "wrong", ATTACKER).status_code == 429
    assert log_in(client, "right horse battery staple", ATTACKER).status_code == 429
    assert logged_in(log_in(client, "right horse battery staple", COLLEAGUE))


def test_the_lockout_ends_after_the_cool_off(client, admin_user, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong", ATTACKER)
    assert log_in(client, "right horse battery staple", ATTACKER).status_code == 429

    time.sleep(2.5)  # the cool-off passes without another try (each try starts it again)

    assert logged_in(log_in(client, "right horse battery staple", ATTACKER))


def test_behind_a_proxy_each_forwarded_address_is_counted_on_its_own(client, admin_user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.1"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong", proxy, HTTP_X_FORWARDED_FOR=ATTACKER)

    locked = log_in(client, "right horse battery staple", proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert locked.status_code == 429
    assert logged_in(
        log_in(client, "right horse battery staple", proxy, HTTP_X_FORWARDED_FOR=COLLEAGUE)
    )


def test_without_proxies_a_forwarded_for_header_does_not_escape_the_lockout(
    client, admin_user, settings
):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong", ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}")

    spoofed = log_in(
        client, "right horse battery staple", ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.99"
    )
    assert spoofed.status_code == 429


def test_a_good_login_forgets_earlier_failures(client, admin_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong", ATTACKER)
    assert logged_in(log_in(client, "right horse battery staple", ATTACKER))
    client.logout()

    assert log_in(client, "wrong", ATTACKER).status_code == 200  # counting from one again
