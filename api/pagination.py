from datetime import UTC

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination


def _instant(position: str) -> bool:
    """True for a position the database can compare answered_at with: an ISO instant with
    its offset, within the years a UTC timestamp can hold."""
    try:
        parsed = parse_datetime(position)
        if parsed is None or parsed.tzinfo is None:
            return False
        parsed.astimezone(UTC)  # overflows before year 1 or after 9999 in UTC
    except (ValueError, OverflowError):
        return False
    return True


class TimeSeriesCursorPagination(CursorPagination):
    """Newest first; stable under inserts (docs/house/API.md: cursor pagination for time series).

    A cursor the client altered is bad input on `cursor` (400): DRF answered 404 for one
    it could not decode, and handed any position it could decode to the database, where a
    position that is no instant was a 500."""

    ordering = ("-answered_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def _invalid(self) -> ValidationError:
        return ValidationError(
            {self.cursor_query_param: [ErrorDetail(self.invalid_cursor_message, code="invalid")]}
        )

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid() from None
        # The position is the first ordering field's value: answered_at, an instant.
        if cursor is not None and cursor.position is not None and not _instant(cursor.position):
            raise self._invalid()
        return cursor


class ListPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500
