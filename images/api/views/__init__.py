"""The API's viewsets and views: images.py (an image and everything under it), trash.py
(the trash) and events.py (the change feed). Their OpenAPI declarations are in
images/api/schema.py, their URLs are the router's (images/api/urls.py)."""
