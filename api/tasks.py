"""Housekeeping tasks for accounts. Tasks take ids or nothing, never health data."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken

from outcomes.models import EnrolmentCode

logger = logging.getLogger(__name__)


@shared_task(name="api.tokens_purge_expired")
def tokens_purge_expired() -> int:
    """Delete expired device tokens and enrolment codes (they can no longer sign anyone in),
    expired MFA challenges and staff MFA enrolment codes, and brute-force records past their
    cool-off (they lock nobody any more, and hold an address and a user agent)."""
    from axes.models import AccessAttempt

    from .mfa import mfa_expired_purge

    now = timezone.now()
    tokens, _ = AuthToken.objects.filter(expiry__lt=now).delete()
    codes, _ = EnrolmentCode.objects.filter(expires_at__lt=now, used_at__isnull=True).delete()
    challenges, staff_codes = mfa_expired_purge(now=now)
    attempts, _ = AccessAttempt.objects.filter(
        attempt_time__lt=now - settings.AXES_COOLOFF_TIME
    ).delete()
    logger.info(
        "purged %d expired tokens, %d enrolment codes, %d MFA challenges, "
        "%d staff MFA enrolment codes, %d sign-in failure records",
        tokens,
        codes,
        challenges,
        staff_codes,
        attempts,
    )
    return tokens + codes + challenges + staff_codes + attempts
