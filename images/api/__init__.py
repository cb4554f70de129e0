"""HTTP: the API's viewsets (views/), serializers, OpenAPI declarations (schema.py), router
(urls.py), parsers, pagination and exception handler."""
