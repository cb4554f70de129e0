"""Who a request is, as the images' history records it (images/history.py)."""

from access.models import ApiToken
from access.throttling import client_address
from images.history import Actor
from images.models import ImageEvent


def actor_from_request(request) -> Actor:
    """The token's name, a logged-in user's name (an admin session, in the API or the
    admin), or anonymous; with the client's address as the rate limits see it. Works for
    DRF's requests and Django's."""
    address = client_address(request)
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return Actor(ImageEvent.ActorKind.TOKEN, auth.name, address)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor(ImageEvent.ActorKind.USER, user.get_username(), address)
    return Actor(ImageEvent.ActorKind.ANONYMOUS, None, address)
