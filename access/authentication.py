"""``Authorization: Token <key>``, checked against the stored hashes of the keys."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from access.models import ApiToken, hash_key

# How stale `last_used_at` may get: recording every request would make every read a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class TokenUser:
    """Who a request with a valid token is: authenticated, but no Django user, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = token.name

    def __str__(self) -> str:
        return f"token {self.token.name}"


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's token header parsing (keyword ``Token``); the key is looked up by its sha256."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[TokenUser, ApiToken]:
        try:
            token = ApiToken.objects.get(key_hash=hash_key(key))
        except ApiToken.DoesNotExist:
            raise AuthenticationFailed("Invalid token.") from None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return TokenUser(token), token
