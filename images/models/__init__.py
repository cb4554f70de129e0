"""The tables, one module per concern; every model is named here, where Django finds them.

`images.py`: an image, its revisions and renditions; `labels.py`: the tag and metadata
index rows and facet counts; `feeds.py`: the events of the history and change feed, and
the counters that order them; `worker.py`: the background worker's cursors and webhooks.
"""

from images.models.feeds import EventCounter, ImageEvent, RevisionCounter
from images.models.images import (
    AnyImageManager,
    Image,
    ImageRevision,
    LiveImageManager,
    Rendition,
    TrashedImage,
    TrashedImageManager,
    image_not_found,
    revision_not_found,
)
from images.models.labels import (
    TEXT_PREFIX,
    CodePointCharField,
    FacetCount,
    ImageMetadataValue,
    ImageTag,
)
from images.models.worker import Webhook, WebhookDelivery, WorkerCursor

__all__ = [
    "TEXT_PREFIX",
    "AnyImageManager",
    "CodePointCharField",
    "EventCounter",
    "FacetCount",
    "Image",
    "ImageEvent",
    "ImageMetadataValue",
    "ImageRevision",
    "ImageTag",
    "LiveImageManager",
    "Rendition",
    "RevisionCounter",
    "TrashedImage",
    "TrashedImageManager",
    "Webhook",
    "WebhookDelivery",
    "WorkerCursor",
    "image_not_found",
    "revision_not_found",
]
