"""HTTP: the API's views, serializers, URLs, parsers, pagination and exception handler."""
