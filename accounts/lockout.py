"""Brute-force lockout (django-axes) for a token API.

Axes watches `authenticate(request=...)` and the auth signals: a wrong password, and a
wrong second factor (accounts/services/mfa.py sends `user_login_failed` for it), count against the
username *from that address*; `AXES_FAILURE_LIMIT` failures within `AXES_COOLOFF_TIME` lock
that pair until the cool-off has passed (attempts during a lockout do not extend it:
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off), and a full sign-in resets the count.
Axes keeps its flags on Django's HttpRequest (DRF's Request wraps it), so these helpers take
the DRF request and hand axes the wrapped one.

"That address" is the client's as DRF's throttles see it (`client_ip_address`), one setting
for both: `TRUSTED_PROXY_COUNT` (REST_FRAMEWORK["NUM_PROXIES"]). 0, the default, is a direct
connection: REMOTE_ADDR only, and X-Forwarded-For is ignored, so a client cannot mint a new
address per request. Behind N trusted proxies it is the Nth address from the right of
X-Forwarded-For, the one the outermost trusted proxy saw.
"""

import ipaddress

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.http import JsonResponse
from rest_framework import exceptions, status


class LockedOut(exceptions.Throttled):
    """429 with Retry-After, in the API's one error shape (code `locked_out`)."""

    default_detail = "Too many failed sign-in attempts from this address."
    default_code = "locked_out"

    def __init__(self):
        super().__init__(wait=cooloff_seconds(), code=self.default_code)
        self.detail = exceptions.ErrorDetail(
            f"{self.default_detail} Try again in {cooloff_seconds()} seconds.",
            code=self.default_code,
        )


def client_ip_address(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client address exactly as the sign-in throttle sees it
    (DRF's BaseThrottle.get_ident, which honours NUM_PROXIES)."""
    from rest_framework.throttling import BaseThrottle

    django_request = _django_request(request)
    ident = BaseThrottle().get_ident(django_request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        # Not an address (a malformed forwarded header): axes stores an inet column.
        return django_request.META.get("REMOTE_ADDR") or None


def cooloff_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _django_request(request):
    return getattr(request, "_request", request)


def lockout_check(*, request, username: str) -> None:
    """Refuse at once if this username is locked out from this address."""
    from axes.handlers.proxy import AxesProxyHandler

    if not AxesProxyHandler.is_allowed(_django_request(request), {"username": username}):
        raise LockedOut


def lockout_is_locked(*, request) -> bool:
    """Whether axes locked this request's username and address (while authenticating or
    recording a failure)."""
    return bool(getattr(_django_request(request), "axes_locked_out", False))


def lockout_record_failure(*, request, username: str) -> None:
    """A failed factor other than the password (the TOTP code) counts like a wrong password."""
    user_login_failed.send(
        sender=__name__, credentials={"username": username}, request=_django_request(request)
    )


def lockout_record_success(*, request, user) -> None:
    """A full sign-in: resets the failure count (AXES_RESET_ON_SUCCESS) and stamps
    last_login, as django.contrib.auth.login would for a session."""
    user_logged_in.send(sender=user.__class__, request=_django_request(request), user=user)


def lockout_response(request, original_response=None, credentials=None) -> JsonResponse:
    """AXES_LOCKOUT_CALLABLE: what axes' middleware answers for a locked-out request (the
    Django admin's login form as well as the API), instead of its HTML page."""
    if original_response is not None and original_response.status_code == 429:
        return original_response  # the API view already answered in the error shape
    exc = LockedOut()
    body = {
        "type": "client_error",
        "errors": [{"code": "locked_out", "detail": str(exc.detail), "attr": None}],
    }
    response = JsonResponse(body, status=status.HTTP_429_TOO_MANY_REQUESTS)
    response["Retry-After"] = str(cooloff_seconds())
    return response
