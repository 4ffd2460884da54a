from rest_framework.pagination import CursorPagination, LimitOffsetPagination


class TimeSeriesCursorPagination(CursorPagination):
    """Newest first; stable under inserts (docs/house/API.md: cursor pagination for time series)."""

    ordering = ("-answered_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ListPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500
