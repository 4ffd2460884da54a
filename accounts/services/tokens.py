"""Sign-in for staff and for the phone: per-device knox tokens, revocable, expiring."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings


@transaction.atomic
def device_token_issue(*, user) -> tuple[AuthToken, str]:
    """A new token for one device. At the per-user limit the oldest token is revoked, so a
    patient who replaces a phone is never locked out."""
    now = timezone.now()
    AuthToken.objects.filter(user=user, expiry__lt=now).delete()
    limit = settings.REST_KNOX.get("TOKEN_LIMIT_PER_USER")
    if limit:
        live = AuthToken.objects.filter(user=user).order_by("-created")
        stale = list(live.values_list("digest", flat=True)[limit - 1 :])
        if stale:
            AuthToken.objects.filter(digest__in=stale).delete()
    return AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)


def device_token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(digest=token.digest).delete()


def device_tokens_revoke_all(*, user) -> int:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
