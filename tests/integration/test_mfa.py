"""Staff sign in with a second factor (TOTP) when they have an authenticator or their clinic
requires one: a password alone never yields a token then, nor a secret: a first
authenticator takes a clinic admin's single-use enrolment code. Patients are never asked.
The Django admin takes an OTP code too."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.errors import ConflictError
from accounts.models import AuditEvent, ClinicSecuritySettings, MfaChallenge, StaffMfaEnrolmentCode
from accounts.services.memberships import membership_grant
from accounts.services.mfa import totp_device_confirm
from accounts.tasks import tokens_purge_expired
from tests.factories import (
    PASSWORD,
    ClinicSecuritySettingsFactory,
    TOTPDeviceFactory,
    UserFactory,
)
from tests.helpers import client_for

pytestmark = pytest.mark.django_db
SIGN_IN = "/api/v1/auth/sign-in/"
VERIFY = "/api/v1/auth/sign-in/verify/"
ENROL = "/api/v1/auth/sign-in/enrol/"
MY_TOTP = "/api/v1/account/totp/"


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # Sign-in throttle counters live in the local-memory cache; each test starts with none.
    cache.clear()


@pytest.fixture(autouse=True)
def no_otp_delay(settings):
    # django-otp makes each failed code wait 1, 2, 4... s before the next try; its own
    # tests cover that. Here a wrong code may be followed at once by the right one.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 1) % 1_000_000:06d}"


def device_for(user, confirmed=True) -> TOTPDevice:
    return TOTPDeviceFactory(user=user, confirmed=confirmed)


def require_mfa(clinic) -> None:
    ClinicSecuritySettingsFactory(clinic=clinic, require_staff_mfa=True)


def issue_code(personas, user) -> str:
    """A staff MFA enrolment code for `user`, issued by clinic X's admin (who needs an
    authenticator of their own)."""
    if not TOTPDevice.objects.filter(user=personas.admin_x, confirmed=True).exists():
        device_for(personas.admin_x)
    url = f"/api/v1/clinics/{personas.clinic_x.id}/staff/{user.id}/mfa-enrolment-code/"
    resp = personas.client("admin_x").post(url)
    assert resp.status_code == 201, resp.json()
    return resp.json()["code"]


def enrol(challenge: str, enrolment_code: str, **extra):
    return APIClient().post(
        ENROL, {"challenge": challenge, "enrolment_code": enrolment_code}, format="json", **extra
    )


def sign_in(user, password=PASSWORD, **extra):
    return APIClient().post(
        SIGN_IN, {"username": user.username, "password": password}, format="json", **extra
    )


def verify(challenge: str, code: str, **extra):
    return APIClient().post(VERIFY, {"challenge": challenge, "code": code}, format="json", **extra)


def test_staff_without_mfa_gets_a_token_as_before(personas):
    body = sign_in(personas.clinician_x).json()
    assert body["status"] == "signed_in"
    assert body["token"]


def test_password_alone_gets_neither_a_secret_nor_a_token_where_the_clinic_requires_mfa(
    personas,
):
    require_mfa(personas.clinic_x)
    resp = sign_in(personas.clinician_x)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "mfa_enrolment_required"
    # No token, no secret, no device: a stolen password cannot choose the second factor.
    assert set(body) == {"status", "challenge", "expires_at"}
    assert not AuthToken.objects.filter(user=personas.clinician_x).exists()
    assert not TOTPDevice.objects.filter(user=personas.clinician_x).exists()
    # Nor can the challenge be completed, or enrolled, without a clinic admin's code.
    early = verify(body["challenge"], "123456")
    assert early.status_code == 400
    assert early.json()["errors"][0]["code"] == "mfa_enrolment_code_required"
    guessed = enrol(body["challenge"], "AAAA-BBBB-CCCC")
    assert guessed.status_code == 400
    assert guessed.json()["errors"] == [
        {
            "code": "invalid_enrolment_code",
            "detail": "This MFA enrolment code is not valid (wrong, expired or already used).",
            "attr": "enrolment_code",
        }
    ]
    assert not TOTPDevice.objects.filter(user=personas.clinician_x).exists()
    assert not AuthToken.objects.filter(user=personas.clinician_x).exists()


def test_first_enrolment_takes_a_clinic_admins_code_then_signs_in(personas):
    require_mfa(personas.clinic_x)
    code = issue_code(personas, personas.clinician_x)
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    started = enrol(challenge, code.lower().replace("-", " "))  # as typed from a message
    assert started.status_code == 200, started.json()
    body = started.json()
    assert set(body) == {"challenge", "expires_at", "totp"}
    assert body["totp"]["otpauth_uri"].startswith("otpauth://totp/Afterglow%3A")
    assert body["totp"]["digits"] == 6
    assert body["totp"]["secret"] in body["totp"]["otpauth_uri"]
    device = TOTPDevice.objects.get(user=personas.clinician_x)
    assert not device.confirmed
    assert MfaChallenge.objects.get(user=personas.clinician_x).device == device
    assert not AuthToken.objects.filter(user=personas.clinician_x).exists()

    signed = verify(body["challenge"], code_for(device))
    assert signed.status_code == 200, signed.json()
    assert signed.json()["status"] == "signed_in"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {signed.json()['token']}")
    assert client.get("/api/v1/account/totp/").json()["enrolled"] is True
    device.refresh_from_db()
    assert device.confirmed
    # The challenge was spent.
    again = verify(body["challenge"], code_for(device))
    assert again.status_code == 400
    assert again.json()["errors"][0]["code"] == "invalid_challenge"
    # Next time: an ordinary code challenge; the enrolment path is closed.
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        nxt = sign_in(personas.clinician_x).json()
        assert nxt["status"] == "mfa_required"
        assert enrol(nxt["challenge"], code).json()["errors"][0]["code"] == "invalid_challenge"
        assert verify(nxt["challenge"], code_for(device)).status_code == 200


def test_an_enrolment_code_is_single_use(personas):
    require_mfa(personas.clinic_x)
    code = issue_code(personas, personas.clinician_x)
    first = sign_in(personas.clinician_x).json()["challenge"]
    assert enrol(first, code).status_code == 200
    second = sign_in(personas.clinician_x).json()["challenge"]
    reused = enrol(second, code)
    assert reused.status_code == 400
    assert reused.json()["errors"][0]["code"] == "invalid_enrolment_code"
    # An enrolment challenge takes one code: it is bound to its authenticator.
    assert enrol(first, issue_code(personas, personas.clinician_x)).json()["errors"][0]["code"] == (
        "invalid_challenge"
    )


def test_a_password_sign_in_leaves_a_pending_enrolment_alone(personas):
    require_mfa(personas.clinic_x)
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    renewed = enrol(challenge, issue_code(personas, personas.clinician_x)).json()["challenge"]
    device = TOTPDevice.objects.get(user=personas.clinician_x)
    # Someone else with the password signs in meanwhile, repeatedly.
    for _ in range(3):
        assert sign_in(personas.clinician_x).json()["status"] == "mfa_enrolment_required"
    assert TOTPDevice.objects.filter(pk=device.pk, confirmed=False).exists()
    assert verify(renewed, code_for(device)).status_code == 200


def test_wrong_enrolment_codes_count_toward_the_lockout(personas, settings):
    require_mfa(personas.clinic_x)
    code = issue_code(personas, personas.clinician_x)
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    statuses = [
        enrol(challenge, f"WRNG-CODE-{n:04d}").status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = enrol(challenge, code)
    assert locked.status_code == 429
    assert locked.json()["errors"][0]["code"] == "locked_out"
    assert not TOTPDevice.objects.filter(user=personas.clinician_x).exists()
    # The code was not spent by the refused attempt.
    assert StaffMfaEnrolmentCode.objects.get(user=personas.clinician_x).used_at is None


def test_an_enrolment_code_expires(personas, settings):
    require_mfa(personas.clinic_x)
    code = issue_code(personas, personas.clinician_x)
    later = timezone.now() + timedelta(hours=settings.AFTERGLOW_STAFF_MFA_CODE_TTL_HOURS, seconds=1)
    with time_machine.travel(later):
        challenge = sign_in(personas.clinician_x).json()["challenge"]
        expired = enrol(challenge, code)
    assert expired.status_code == 400
    assert expired.json()["errors"][0]["code"] == "invalid_enrolment_code"


def test_a_new_enrolment_code_revokes_the_earlier_one_and_is_kept_as_a_digest(personas):
    require_mfa(personas.clinic_x)
    first = issue_code(personas, personas.clinician_x)
    second = issue_code(personas, personas.clinician_x)
    rows = StaffMfaEnrolmentCode.objects.filter(user=personas.clinician_x)
    assert rows.count() == 2
    assert rows.filter(revoked_at__isnull=True).count() == 1
    stored = set(rows.values_list("code_digest", flat=True))
    assert first not in stored and second not in stored
    assert hashlib.sha256(second.replace("-", "").encode()).hexdigest() in stored
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    assert enrol(challenge, first).json()["errors"][0]["code"] == "invalid_enrolment_code"
    assert enrol(challenge, second).status_code == 200


def test_only_an_admin_of_the_staff_members_clinic_issues_enrolment_codes(personas):
    device_for(personas.admin_x)
    admin = personas.client("admin_x")
    url = "/api/v1/clinics/{}/staff/{}/mfa-enrolment-code/"
    x, y = personas.clinic_x.id, personas.clinic_y.id
    # Another clinic's staff, another clinic, a patient: not found.
    assert admin.post(url.format(x, personas.clinician_y.id)).status_code == 404
    assert admin.post(url.format(y, personas.clinician_y.id)).status_code == 404
    assert admin.post(url.format(x, personas.patient_a.user.id)).status_code == 404
    # Not an admin: forbidden.
    clinician = personas.client("clinician_x")
    assert clinician.post(url.format(x, personas.scheduler_x.id)).status_code == 403
    # Someone with an authenticator needs no code.
    device_for(personas.scheduler_x)
    enrolled = admin.post(url.format(x, personas.scheduler_x.id))
    assert enrolled.status_code == 409
    assert enrolled.json()["errors"][0]["code"] == "mfa_already_enrolled"

    issued = admin.post(url.format(x, personas.clinician_x.id))
    assert issued.status_code == 201
    assert issued.json()["user"] == str(personas.clinician_x.id)
    assert issued.json()["clinic"] == str(x)
    event = AuditEvent.objects.get(view="clinic-staff-mfa-enrolment-code", action="create")
    assert event.actor_id == personas.admin_x.id
    assert event.clinic_id == x
    assert event.action == "create"


def test_an_admin_without_an_authenticator_cannot_issue_enrolment_codes(personas):
    url = f"/api/v1/clinics/{personas.clinic_x.id}/staff/{personas.clinician_x.id}/"
    resp = personas.client("admin_x").post(url + "mfa-enrolment-code/")
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "mfa_enrolment_required"
    assert not StaffMfaEnrolmentCode.objects.exists()


def test_enrolling_at_sign_in_revokes_tokens_issued_on_a_password_alone(personas):
    old = personas.client("clinician_x")  # a token from before any second factor
    require_mfa(personas.clinic_x)  # set directly: nobody was signed out
    assert old.get("/api/v1/account/").status_code == 200
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    renewed = enrol(challenge, issue_code(personas, personas.clinician_x)).json()["challenge"]
    device = TOTPDevice.objects.get(user=personas.clinician_x)
    signed = verify(renewed, code_for(device)).json()
    assert old.get("/api/v1/account/").status_code == 401
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {signed['token']}")
    assert fresh.get("/api/v1/account/").status_code == 200
    assert AuthToken.objects.filter(user=personas.clinician_x).count() == 1


def test_staff_with_an_authenticator_must_present_a_code_even_if_not_required(personas):
    device = device_for(personas.scheduler_x)
    body = sign_in(personas.scheduler_x).json()
    assert body["status"] == "mfa_required"
    assert set(body) == {"status", "challenge", "expires_at"}
    assert not AuthToken.objects.filter(user=personas.scheduler_x).exists()
    assert verify(body["challenge"], code_for(device)).status_code == 200


def test_wrong_code_is_refused_and_counts_toward_lockout(personas):
    device = device_for(personas.clinician_x)
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    resp = verify(challenge, wrong_code(device))
    assert resp.status_code == 400
    assert resp.json()["errors"] == [
        {
            "code": "invalid_code",
            "detail": "This code is not valid (wrong, expired or already used).",
            "attr": "code",
        }
    ]
    assert not AuthToken.objects.filter(user=personas.clinician_x).exists()
    attempt = AccessAttempt.objects.get(username=personas.clinician_x.username)
    assert attempt.failures_since_start == 1
    # The challenge survives a typo; the right code still signs in.
    assert verify(challenge, code_for(device)).status_code == 200


def test_repeated_wrong_codes_lock_the_account_out_from_that_address(personas, settings):
    device = device_for(personas.clinician_x)
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    statuses = [
        verify(challenge, wrong_code(device)).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = verify(challenge, code_for(device))
    assert locked.status_code == 429
    assert locked.json()["errors"][0]["code"] == "locked_out"
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert sign_in(personas.clinician_x).status_code == 429  # the password step too


def test_a_used_code_cannot_be_replayed(personas):
    device = device_for(personas.clinician_x)
    code = code_for(device)
    first = sign_in(personas.clinician_x).json()["challenge"]
    assert verify(first, code).status_code == 200
    second = sign_in(personas.clinician_x).json()["challenge"]
    replay = verify(second, code)
    assert replay.status_code == 400
    assert replay.json()["errors"][0]["code"] == "invalid_code"
    assert AuthToken.objects.filter(user=personas.clinician_x).count() == 1


def test_a_challenge_expires_and_cannot_be_forged(personas, settings):
    device = device_for(personas.clinician_x)
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    forged = verify(challenge[:-2] + "xx", code_for(device))
    assert forged.json()["errors"][0]["code"] == "invalid_challenge"
    later = timezone.now() + timedelta(seconds=settings.AFTERGLOW_MFA_CHALLENGE_TTL_SECONDS + 1)
    with time_machine.travel(later):
        expired = verify(challenge, code_for(device))
    assert expired.status_code == 400
    assert expired.json()["errors"][0]["code"] == "invalid_challenge"


def test_patients_are_not_subject_to_staff_mfa(personas):
    require_mfa(personas.clinic_x)
    user = personas.patient_a.user
    user.set_password("a-long-synthetic-passphrase")
    user.save()
    body = sign_in(user, password="a-long-synthetic-passphrase").json()
    assert body["status"] == "signed_in"
    assert body["kind"] == "patient"
    assert personas.client("patient_a").get("/api/v1/account/totp/").status_code == 403


def test_mfa_applies_only_to_staff_of_the_requiring_clinic(personas):
    require_mfa(personas.clinic_y)
    assert sign_in(personas.clinician_x).json()["status"] == "signed_in"
    assert sign_in(personas.clinician_y).json()["status"] == "mfa_enrolment_required"


def test_staff_enrol_confirm_and_remove_their_authenticator(personas):
    client = personas.client("clinician_x")
    assert client.get("/api/v1/account/totp/").json() == {
        "enrolled": False,
        "pending": False,
        "required_by_clinic": False,
        "created_at": None,
        "last_used_at": None,
    }
    started = client.post(MY_TOTP, {"password": PASSWORD})
    assert started.status_code == 201
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    device = TOTPDevice.objects.get(user=personas.clinician_x)
    assert client.get("/api/v1/account/totp/").json()["pending"] is True
    # Not yet confirmed: sign-in still takes the password alone.
    assert sign_in(personas.clinician_x).json()["status"] == "signed_in"

    bad = client.post("/api/v1/account/totp/confirm/", {"code": wrong_code(device)})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "code"
    ok = client.post("/api/v1/account/totp/confirm/", {"code": code_for(device)})
    assert ok.status_code == 200
    assert ok.json()["enrolled"] is True
    assert sign_in(personas.clinician_x).json()["status"] == "mfa_required"
    again = client.post(MY_TOTP, {"password": PASSWORD})
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "mfa_already_enrolled"

    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        refused = client.post("/api/v1/account/totp/remove/", {"code": wrong_code(device)})
        assert refused.status_code == 400
        assert TOTPDevice.objects.filter(user=personas.clinician_x).exists()
        removed = client.post("/api/v1/account/totp/remove/", {"code": code_for(device)})
        assert removed.status_code == 204
    assert not TOTPDevice.objects.filter(user=personas.clinician_x).exists()
    assert sign_in(personas.clinician_x).json()["status"] == "signed_in"


def test_a_new_enrolment_replaces_an_unconfirmed_secret(personas):
    client = personas.client("clinician_x")
    first = client.post(MY_TOTP, {"password": PASSWORD}).json()["secret"]
    second = client.post(MY_TOTP, {"password": PASSWORD}).json()["secret"]
    assert first != second
    assert TOTPDevice.objects.filter(user=personas.clinician_x).count() == 1


def test_clinic_admin_requires_mfa_and_unprotected_staff_are_signed_out(personas):
    admin = personas.client("admin_x")
    url = f"/api/v1/clinics/{personas.clinic_x.id}/security-settings/"
    assert admin.get(url).json() == {
        "clinic": str(personas.clinic_x.id),
        "require_staff_mfa": False,
    }
    # Not without their own authenticator: they would lock themselves out.
    refused = admin.patch(url, {"require_staff_mfa": True}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "mfa_enrolment_required"

    device_for(personas.admin_x)
    protected = UserFactory()
    device_for(protected)
    personas.clinic_x.memberships.create(user=protected, role="clinician")
    clinician = personas.client("clinician_x")
    protected_client = personas.client("clinician_y")  # another clinic: untouched
    protected_x = client_for(protected)
    resp = admin.patch(url, {"require_staff_mfa": True}, format="json")
    assert resp.status_code == 200
    assert resp.json()["require_staff_mfa"] is True
    assert clinician.get("/api/v1/account/").status_code == 401
    assert protected_x.get("/api/v1/account/").status_code == 200
    assert protected_client.get("/api/v1/account/").status_code == 200
    assert admin.get("/api/v1/account/").status_code == 200
    row = ClinicSecuritySettings.objects.get(clinic=personas.clinic_x)
    assert row.history.first().history_user == personas.admin_x


def test_only_the_clinics_admins_see_its_security_settings(personas):
    url = f"/api/v1/clinics/{personas.clinic_y.id}/security-settings/"
    assert personas.client("admin_x").get(url).status_code == 404
    assert personas.client("clinician_x").get(url).status_code == 403


def test_expired_challenges_are_cleared_at_the_next_sign_in(personas):
    device_for(personas.clinician_x)
    sign_in(personas.clinician_x)
    MfaChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    sign_in(personas.clinician_x)
    assert MfaChallenge.objects.count() == 1


def test_starting_an_enrolment_when_signed_in_takes_the_current_password(personas, settings):
    client = personas.client("clinician_x")
    missing = client.post(MY_TOTP)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["attr"] == "password"
    wrong = client.post(MY_TOTP, {"password": "not-the-password"})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["code"] == "invalid_password"
    assert not TOTPDevice.objects.filter(user=personas.clinician_x).exists()
    # A wrong password here counts like one at sign-in.
    attempt = AccessAttempt.objects.get(username=personas.clinician_x.username)
    assert attempt.failures_since_start == 1
    for _ in range(settings.AXES_FAILURE_LIMIT - 2):
        client.post(MY_TOTP, {"password": "not-the-password"})
    locked = client.post(MY_TOTP, {"password": "not-the-password"})
    assert locked.status_code == 429
    assert client.post(MY_TOTP, {"password": PASSWORD}).status_code == 429
    assert not TOTPDevice.objects.filter(user=personas.clinician_x).exists()


def test_confirming_signs_out_the_other_devices_but_not_this_one(personas):
    other_device = personas.client("clinician_x")
    client = personas.client("clinician_x")
    client.post(MY_TOTP, {"password": PASSWORD})
    device = TOTPDevice.objects.get(user=personas.clinician_x)
    assert client.post(f"{MY_TOTP}confirm/", {"code": code_for(device)}).status_code == 200
    assert other_device.get("/api/v1/account/").status_code == 401
    assert client.get("/api/v1/account/").status_code == 200
    assert AuthToken.objects.filter(user=personas.clinician_x).count() == 1


def test_confirming_is_refused_when_an_authenticator_was_confirmed_meanwhile(personas):
    client = personas.client("clinician_x")
    client.post(MY_TOTP, {"password": PASSWORD})
    pending = TOTPDevice.objects.get(user=personas.clinician_x)
    # The race's other winner: a second enrolment confirmed first.
    winner = device_for(personas.clinician_x)
    resp = client.post(f"{MY_TOTP}confirm/", {"code": code_for(pending)})
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "mfa_already_enrolled"
    confirmed = TOTPDevice.objects.filter(user=personas.clinician_x, confirmed=True)
    assert list(confirmed) == [winner]


def test_two_pending_enrolments_yield_one_authenticator(personas):
    """A signed-in enrolment and a sign-in enrolment in flight at once: the first confirmed
    wins and the other's secret stops working."""
    require_mfa(personas.clinic_y)  # clinician X is not bound by it
    client = personas.client("clinician_x")
    client.post(MY_TOTP, {"password": PASSWORD})
    first = TOTPDevice.objects.get(user=personas.clinician_x)
    membership_grant(user=personas.clinician_x, clinic=personas.clinic_y, role="clinician")
    challenge = sign_in(personas.clinician_x).json()["challenge"]
    issued_by_y = personas.clinician_y  # an admin of clinic Y, with an authenticator
    personas.clinic_y.memberships.create(user=issued_by_y, role="clinic_admin")
    device_for(issued_by_y)
    code = (
        client_for(issued_by_y)
        .post(
            f"/api/v1/clinics/{personas.clinic_y.id}/staff/{personas.clinician_x.id}/"
            "mfa-enrolment-code/"
        )
        .json()["code"]
    )
    renewed = enrol(challenge, code).json()["challenge"]
    second = TOTPDevice.objects.exclude(pk=first.pk).get(user=personas.clinician_x)
    first_code = code_for(first)
    assert verify(renewed, code_for(second)).status_code == 200
    # Its token went when clinician X joined clinic Y; the service refuses as well.
    assert client.post(f"{MY_TOTP}confirm/", {"code": first_code}).status_code == 401
    with pytest.raises(ConflictError):
        totp_device_confirm(user=personas.clinician_x, code=first_code)
    assert list(TOTPDevice.objects.filter(user=personas.clinician_x)) == [second]


def test_joining_a_clinic_that_requires_mfa_signs_out_a_user_without_an_authenticator(personas):
    require_mfa(personas.clinic_y)
    unprotected = personas.client("clinician_x")
    protected_user = personas.scheduler_x
    device_for(protected_user)
    protected = personas.client("scheduler_x")
    membership_grant(user=personas.clinician_x, clinic=personas.clinic_y, role="clinician")
    membership_grant(user=protected_user, clinic=personas.clinic_y, role="scheduler")
    assert unprotected.get("/api/v1/account/").status_code == 401
    assert protected.get("/api/v1/account/").status_code == 200
    assert sign_in(personas.clinician_x).json()["status"] == "mfa_enrolment_required"
    # A clinic that does not require MFA signs nobody out.
    again = personas.client("clinician_y")
    membership_grant(user=personas.clinician_y, clinic=personas.clinic_x, role="clinician")
    assert again.get("/api/v1/account/").status_code == 200


def test_mfa_is_decided_by_staff_membership_not_by_a_patient_record(personas):
    require_mfa(personas.clinic_x)
    user = personas.patient_a.user
    user.set_password("a-long-synthetic-passphrase")
    user.save()
    assert sign_in(user, password="a-long-synthetic-passphrase").json()["status"] == "signed_in"
    # The same account also works at the clinic: staff rules apply.
    membership_grant(user=user, clinic=personas.clinic_x, role="clinician")
    body = sign_in(user, password="a-long-synthetic-passphrase").json()
    assert body["status"] == "mfa_enrolment_required"
    assert "token" not in body


def test_expired_challenges_and_enrolment_codes_are_purged_nightly(personas, settings):
    require_mfa(personas.clinic_x)
    issue_code(personas, personas.clinician_x)
    sign_in(personas.clinician_x)
    used = issue_code(personas, personas.scheduler_x)
    enrol(sign_in(personas.scheduler_x).json()["challenge"], used)
    fresh_challenge = sign_in(personas.clinician_x)
    later = timezone.now() + timedelta(hours=settings.AFTERGLOW_STAFF_MFA_CODE_TTL_HOURS, seconds=1)
    with time_machine.travel(later):
        live = sign_in(personas.admin_x)  # issued after the jump: still live
        tokens_purge_expired()
    assert list(MfaChallenge.objects.values_list("user", flat=True)) == [personas.admin_x.id]
    assert fresh_challenge.status_code == live.status_code == 200
    # The used code stays (who enrolled on whose word); the unused, expired one is gone.
    assert list(StaffMfaEnrolmentCode.objects.values_list("user", flat=True)) == [
        personas.scheduler_x.id
    ]


# --- the Django admin ------------------------------------------------------------------------
def _admin_login(user, **otp):
    client = Client()
    resp = client.post("/admin/login/", {"username": user.username, "password": PASSWORD, **otp})
    return client, resp


def test_the_django_admin_takes_a_password_and_an_otp_code(db):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client, resp = _admin_login(operator)
    assert resp.status_code == 200  # the form again, asking for a code
    assert client.get("/admin/").status_code == 302

    out = StringIO()
    call_command("addstatictoken", operator.username, stdout=out)
    static = StaticDevice.objects.get(user=operator)
    client, resp = _admin_login(
        operator, otp_device=static.persistent_id, otp_token=out.getvalue().strip()
    )
    assert resp.status_code == 302
    assert client.get("/admin/").status_code == 200
    # A static code is good once.
    _, again = _admin_login(
        operator, otp_device=static.persistent_id, otp_token=out.getvalue().strip()
    )
    assert again.status_code == 200

    device = device_for(operator)
    client, resp = _admin_login(
        operator, otp_device=device.persistent_id, otp_token=code_for(device)
    )
    assert resp.status_code == 302
    # The secret is not shown again, nor its QR code.
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403


def test_a_clinics_security_settings_cannot_be_deleted_in_the_admin(personas):
    operator = UserFactory(is_staff=True, is_superuser=True)
    device = device_for(operator)
    client, _ = _admin_login(operator, otp_device=device.persistent_id, otp_token=code_for(device))
    require_mfa(personas.clinic_x)
    row = ClinicSecuritySettings.objects.get(clinic=personas.clinic_x)
    assert client.get("/admin/accounts/clinicsecuritysettings/").status_code == 200
    resp = client.post(f"/admin/accounts/clinicsecuritysettings/{row.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 403
    assert ClinicSecuritySettings.objects.filter(pk=row.pk, require_staff_mfa=True).exists()
