"""A client of the image service's public API: ``Client`` and the ``imgsvc`` command."""

from .client import OPERATIONS, Client, EventStream, label_filters
from .errors import (
    BadRequest,
    ImageRefused,
    ImageServiceError,
    NotAuthorized,
    NotFound,
    RateLimited,
    Unavailable,
    Unreachable,
)
from .models import (
    Diff,
    Download,
    Event,
    EventPage,
    Facet,
    HistoryEntry,
    Image,
    Match,
    Page,
    Revision,
    Similar,
    TrashedImage,
    Upload,
)
from .retries import Retries

__all__ = [
    "OPERATIONS",
    "BadRequest",
    "Client",
    "Diff",
    "Download",
    "Event",
    "EventPage",
    "EventStream",
    "Facet",
    "HistoryEntry",
    "Image",
    "ImageRefused",
    "ImageServiceError",
    "Match",
    "NotAuthorized",
    "NotFound",
    "Page",
    "RateLimited",
    "Retries",
    "Revision",
    "Similar",
    "TrashedImage",
    "Unavailable",
    "Unreachable",
    "Upload",
    "label_filters",
]
