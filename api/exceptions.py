"""The one error shape (drf-standardized-errors), fed by the domain's own errors."""

from drf_standardized_errors.handler import exception_handler as standardized_handler
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail

from outcomes.errors import ConflictError, DomainValidationError, NotFoundError


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


def exception_handler(exc, context):
    return standardized_handler(to_api_exception(exc), context)
