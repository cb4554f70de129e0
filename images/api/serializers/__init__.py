"""What the API reads and writes: images.py (an image and its edits), queries.py (filters,
facets, similar images, search, diff), history.py (an image's history and the change feed),
fields.py (the fields they share) and rendering.py (an image's metadata rendered fast)."""
