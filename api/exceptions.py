"""The one error shape (drf-standardized-errors), fed by the domain's own errors."""

from django.http import JsonResponse
from drf_standardized_errors.handler import ExceptionHandler as StandardizedExceptionHandler
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail

from accounts.errors import ConflictError, DomainValidationError, NotFoundError


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


class ExceptionHandler(StandardizedExceptionHandler):
    """drf-standardized-errors' handler, taught the domain's own exceptions."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        return super().convert_known_exceptions(to_api_exception(exc))


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


def server_error(request) -> JsonResponse:
    return _error(500, "server_error", "error", "A server error occurred.")
