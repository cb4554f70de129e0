"""Rendering image metadata fast: the fields' renderers are planned once per serializer
class, and what depends on the request once per serializer."""

import functools
from collections.abc import Callable

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from rest_framework import serializers

from images.api.serializers.fields import Link
from images.infra import versions

_DATETIME = serializers.DateTimeField()


# Renders exactly what DRF's generic to_representation does (a test compares the two, field
# by field and in order), from fields built once per class instead of once per serializer:
# building them costs more than the database query of a lookup. What depends on the request
# (absolute URLs, the time zone) is looked up once per serializer, which a list shares among
# its rows. The fields must not depend on the request otherwise: no nested serializers.
# (A comment, not a docstring: drf-spectacular would make it every schema's description.)
class RenderedFast:
    def to_representation(self, instance) -> dict:
        renderers = self.__dict__.get("_renderers")
        if renderers is None:
            renderers = self.__dict__["_renderers"] = _renderers(self)
        return {name: render(instance) for name, render in renderers}


def _renderers(serializer) -> list[tuple[str, Callable[[object], object]]]:
    """Each field's name and what renders it, for this serializer's request."""
    prefix, urlconf = get_script_prefix(), get_urlconf()
    request = serializer.context.get("request")
    in_zone = _datetime_field(_DATETIME.default_timezone()).to_representation
    renderers = []
    for name, render in _plan(type(serializer)):
        if isinstance(render, Link):
            ids, fixed = tuple(render.ids), tuple(render.fixed.items())
            path = _path_template(
                render.view_name, ids, fixed, prefix, urlconf, settings.ROOT_URLCONF
            )
            url = request.build_absolute_uri(path) if request else path
            render = _link(url, render.ids, render.version)
        elif isinstance(render, serializers.DateTimeField):
            render = _value(render.source, in_zone)
        renderers.append((name, render))
    return renderers


@functools.cache
def _plan(serializer_class) -> tuple[tuple[str, object], ...]:
    """Each field's name and its renderer; a link or a datetime field itself, as what
    renders those depends on the request."""
    plan = []
    for name, field in serializer_class().fields.items():
        if isinstance(field, serializers.BaseSerializer) or "." in (field.source or ""):
            raise TypeError(f"{serializer_class.__name__}.{name} cannot be rendered fast.")
        if isinstance(field, Link | serializers.DateTimeField):
            plan.append((name, field))
        else:
            plan.append((name, _value(field.source, field.to_representation)))
    return tuple(plan)


def _value(source: str, to_representation: Callable) -> Callable[[object], object]:
    def render(instance):
        value = getattr(instance, source)
        return None if value is None else to_representation(value)

    return render


def _link(url: str, ids: dict[str, str], version: str | None) -> Callable[[object], str]:
    slots = [(f"{arg}-slot", attr) for arg, attr in ids.items()]
    query = f"?{versions.PARAMETER}="

    def render(instance) -> str:
        filled = url
        for slot, attr in slots:
            filled = filled.replace(slot, str(getattr(instance, attr)), 1)
        if version:
            filled += query + versions.of(getattr(instance, version))
        return filled

    return render


@functools.lru_cache(maxsize=64)
def _datetime_field(zone) -> serializers.DateTimeField:
    """DRF's datetime field rendering in ``zone`` (made once per zone: a field costs more
    to make than to use)."""
    return serializers.DateTimeField(default_timezone=zone)


@functools.lru_cache(maxsize=64)
def _path_template(
    view_name: str,
    ids: tuple[str, ...],
    fixed: tuple[tuple[str, str], ...],
    script_prefix: str,
    urlconf,
    root_urlconf,
) -> str:
    """The view's path with ``<id>-slot`` where each id goes, reversed once per view,
    script prefix and URLconf."""
    return reverse(view_name, kwargs={**dict(fixed), **{name: f"{name}-slot" for name in ids}})
