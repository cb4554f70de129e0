"""Versioned URLs: every stored byte sequence the API links has a URL that names its version,
which browsers and CDNs may keep for a year and never ask again.

The version is the first VERSION_LENGTH hex digits of a sha256, in the query parameter
``v``: of the current file (``/file?v=``), of the original (``/original?v=``), of a
revision's file (``/revisions/N/file?v=``), and for a rendition of the current file it was
made from (``/renditions/SPEC?v=``: a rendition is a function of its source, spec and format,
so its URL is known before it is made, and a list of images needs no rendition lookup).

- A URL whose ``v`` names the bytes the unversioned URL would answer with now answers as
  that one does, with ``Cache-Control: public, max-age=31536000, immutable`` (``private``
  instead of ``public`` when IMAGES_AUTH=token: a shared cache must not hand an image to
  a client without a token).
- Any other ``v`` (a crop made a new current file, a revision was dropped, a version never
  issued) is a 404 ``version_gone``, with ``no-cache``: a restore can make an old version
  current again, so the 404 is not kept either. Not a redirect to the current version: a
  client that holds a version's URL holds its sha256 too, and should get those bytes or
  none; it reads the image's metadata again for the new links.
- Without ``v``, the URL answers as it always has: the current bytes, ETag, 304,
  ``Cache-Control: no-cache``.

Versions are prefixes of a sha256: 64 bits tell one image's versions apart. A CDN must key
its cache on the query string (most do by default; CloudFront needs ``v`` in its cache
policy).
"""

from django.conf import settings

from images.errors import VersionGone

PARAMETER = "v"
VERSION_LENGTH = 16
IMMUTABLE_SECONDS = 365 * 24 * 3600
UNVERSIONED_CACHE_CONTROL = "no-cache"


def of(sha256: str) -> str:
    """The version of the bytes with this sha256, as URLs name it."""
    return sha256[:VERSION_LENGTH]


def asked(query) -> str | None:
    """The version a request's query (``request.GET``) names; None: an unversioned URL."""
    return query.get(PARAMETER)


def check(version: str | None, *, sha256: str) -> bool:
    """Whether the request is for a version (False: the unversioned URL). ``VersionGone``
    when it names a version other than the bytes it would be answered with."""
    if version is None:
        return False
    if version != of(sha256):
        raise VersionGone()
    return True


def cache_control(*, versioned: bool, private: bool = False) -> str:
    """``private``: for one user's eyes whatever IMAGES_AUTH says (the admin's session)."""
    if not versioned:
        return UNVERSIONED_CACHE_CONTROL
    scope = "private" if private or settings.IMAGES_AUTH == "token" else "public"
    return f"{scope}, max-age={IMMUTABLE_SECONDS}, immutable"


def link(url: str, sha256: str) -> str:
    """``url`` (without a query) naming the version of the bytes with this sha256."""
    return f"{url}?{PARAMETER}={of(sha256)}"
