"""The one error shape (drf-standardized-errors), fed by the domain's own errors."""

from typing import Any

from django.http import JsonResponse
from drf_standardized_errors.handler import ExceptionHandler as StandardizedExceptionHandler
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail

from accounts.errors import ConflictError, DomainValidationError, NotFoundError

from .parsers import too_large_detail


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the stored state."
    default_code = "conflict"


def to_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, DomainValidationError):
        # Flat dotted keys become the error's `attr` ("responses.0.answers.item9").
        return exceptions.ValidationError(
            {
                attr: [ErrorDetail(detail, code=code) for code, detail in items]
                for attr, items in exc.errors.items()
            }
        )
    if isinstance(exc, ConflictError):
        return Conflict(detail=exc.detail, code=exc.code)
    if isinstance(exc, NotFoundError):
        return exceptions.NotFound()
    return exc


# Errors listed in one answer, then one more saying how many were left out: a 1 MB body of
# unknown keys once answered 5.9 MB of errors in 2.3 s. Fifty name every field of any real
# form and every item of the longest instrument twice over.
MAX_ERRORS = 50


def capped(errors: list[dict]) -> list[dict]:
    if len(errors) <= MAX_ERRORS:
        return errors
    hidden = len(errors) - MAX_ERRORS
    more = {
        "code": "too_many_errors",
        "detail": f"{hidden} more error{'s' if hidden > 1 else ''} not shown.",
        "attr": None,
    }
    return [*errors[:MAX_ERRORS], more]


class ExceptionHandler(StandardizedExceptionHandler):
    """drf-standardized-errors' handler, taught the domain's own exceptions; it lists at
    most MAX_ERRORS errors."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        return super().convert_known_exceptions(to_api_exception(exc))

    def format_exception(self, exc: exceptions.APIException) -> Any:
        data = super().format_exception(exc)
        if isinstance(data, dict) and isinstance(data.get("errors"), list):
            data["errors"] = capped(data["errors"])
        return data


def _error(status: int, type_: str, code: str, detail: str) -> JsonResponse:
    body = {"type": type_, "errors": [{"code": code, "detail": detail, "attr": None}]}
    return JsonResponse(body, status=status)


def bad_request(request, exception=None) -> JsonResponse:
    """Django's own 400s (a Host header this API does not serve, another suspicious
    request) in the API's one error shape, not an HTML page."""
    return _error(400, "client_error", "bad_request", "Bad request.")


def not_found(request, exception=None) -> JsonResponse:
    """Django's own 404s (a path that matches no route, e.g. a malformed id) in the API's
    one error shape, not an HTML page."""
    return _error(404, "client_error", "not_found", "Not found.")


def request_too_large(limit: int) -> JsonResponse:
    """A body over AFTERGLOW_MAX_BODY_BYTES (api/limits.py), refused before it is read."""
    return _error(413, "client_error", "request_too_large", too_large_detail(limit))


def length_required() -> JsonResponse:
    """A body sent without a Content-Length (api/limits.py)."""
    return _error(
        411,
        "client_error",
        "length_required",
        "Send the request body with a Content-Length header: a body of unknown length is not read.",
    )


def server_error(request) -> JsonResponse:
    return _error(500, "server_error", "error", "A server error occurred.")
