from rest_framework.pagination import PageNumberPagination


class ImagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100
