"""Housekeeping tasks for accounts. Tasks take ids or nothing, never health data."""

import logging

from celery import shared_task
from django.utils import timezone
from knox.models import AuthToken

from outcomes.models import EnrolmentCode

logger = logging.getLogger(__name__)


@shared_task(name="api.tokens_purge_expired")
def tokens_purge_expired() -> int:
    """Delete expired device tokens and enrolment codes (they can no longer sign anyone in)."""
    now = timezone.now()
    tokens, _ = AuthToken.objects.filter(expiry__lt=now).delete()
    codes, _ = EnrolmentCode.objects.filter(expires_at__lt=now, used_at__isnull=True).delete()
    logger.info("purged %d expired tokens and %d expired enrolment codes", tokens, codes)
    return tokens + codes
