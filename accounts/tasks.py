"""Housekeeping tasks for accounts. Tasks take ids or nothing, never health data."""

import logging

from axes.models import AccessAttempt
from celery import shared_task
from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken

from accounts.services.mfa import mfa_expired_purge

logger = logging.getLogger(__name__)


@shared_task(name="accounts.tokens_purge_expired")
def tokens_purge_expired() -> int:
    """Delete expired device tokens (they can no longer sign anyone in), expired MFA
    challenges and staff MFA enrolment codes, and brute-force records past their
    cool-off (they lock nobody any more, and hold an address and a user agent)."""
    now = timezone.now()
    tokens, _ = AuthToken.objects.filter(expiry__lt=now).delete()
    challenges, staff_codes = mfa_expired_purge(now=now)
    attempts, _ = AccessAttempt.objects.filter(
        attempt_time__lt=now - settings.AXES_COOLOFF_TIME
    ).delete()
    logger.info(
        "purged %d expired tokens, %d MFA challenges, "
        "%d staff MFA enrolment codes, %d sign-in failure records",
        tokens,
        challenges,
        staff_codes,
        attempts,
    )
    return tokens + challenges + staff_codes + attempts
