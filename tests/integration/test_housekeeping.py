"""The nightly purges: what can no longer sign anyone in or enrol anyone goes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outcomes.models import EnrolmentCode
from outcomes.services import enrolment_code_issue
from outcomes.tasks import enrolment_codes_purge_expired
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_expired_unused_enrolment_codes_are_purged_and_the_rest_kept():
    patient = PatientFactory()
    expired, _ = enrolment_code_issue(patient=patient)
    live, _ = enrolment_code_issue(patient=PatientFactory())
    used, _ = enrolment_code_issue(patient=PatientFactory())
    past = timezone.now() - timedelta(minutes=1)
    EnrolmentCode.objects.filter(pk=expired.pk).update(expires_at=past)
    EnrolmentCode.objects.filter(pk=used.pk).update(expires_at=past, used_at=past)
    assert enrolment_codes_purge_expired() == 1
    assert set(EnrolmentCode.objects.values_list("pk", flat=True)) == {live.pk, used.pk}
