"""Request and response shapes. Serializers parse and render; services do the work."""

from django.db import models
from drf_spectacular.utils import (
    OpenApiExample,
    PolymorphicProxySerializer,
    extend_schema_field,
    extend_schema_serializer,
)
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers

from accounts.models import Clinic, ClinicMembership
from api.openapi import ErrorItemSerializer
from outcomes.models import (
    AlertLevel,
    CheckIn,
    Condition,
    InstrumentResponse,
    InstrumentVersion,
    LatestScore,
    Patient,
    PatientStatus,
)
from outcomes.services.safety import safety_notice_for

from .fields import AwareDateTimeField, StrictUUIDField

MAX_TEXT = 200


class AccountKind(models.TextChoices):
    PATIENT = "patient", "Patient"
    STAFF = "staff", "Clinic staff"


# --- accounts -------------------------------------------------------------------------
class SignInSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, style={"input_type": "password"})


class EnrolSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, help_text="The code the clinic gave the patient.")
    password = serializers.CharField(
        max_length=256,
        required=False,
        allow_blank=False,
        write_only=True,
        help_text="Optional: lets the patient sign in later with username and password.",
    )


class TokenSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["signed_in"], default="signed_in", help_text="Signed in: use the token."
    )
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField(allow_null=True)
    username = serializers.CharField()
    kind = serializers.ChoiceField(choices=AccountKind.choices)


class TotpProvisioningSerializer(serializers.Serializer):
    """Shown once: put it into an authenticator app (as a QR code of the URI, or the secret
    typed by hand)."""

    otpauth_uri = serializers.CharField(help_text="otpauth://totp/... for a QR code.")
    secret = serializers.CharField(help_text="The same secret, base32, to type by hand.")
    digits = serializers.IntegerField()
    period_seconds = serializers.IntegerField()


class MfaChallengeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["mfa_required"],
        help_text="The password was right; send `challenge` and an authenticator code to "
        "`/auth/sign-in/verify/`.",
    )
    challenge = serializers.CharField(help_text="Single use, valid until `expires_at`.")
    expires_at = serializers.DateTimeField()


class MfaEnrolmentChallengeSerializer(MfaChallengeSerializer):
    status = serializers.ChoiceField(
        choices=["mfa_enrolment_required"],
        help_text="Your clinic requires an authenticator and you have none: send `challenge` "
        "and the MFA enrolment code a clinic admin gave you to `/auth/sign-in/enrol/`.",
    )


SignInResultSerializer = PolymorphicProxySerializer(
    component_name="SignInResult",
    serializers={
        "signed_in": TokenSerializer,
        "mfa_required": MfaChallengeSerializer,
        "mfa_enrolment_required": MfaEnrolmentChallengeSerializer,
    },
    resource_type_field_name="status",
)


class MfaEnrolSerializer(serializers.Serializer):
    challenge = serializers.CharField(max_length=500)
    enrolment_code = serializers.CharField(
        max_length=32, help_text="The staff MFA enrolment code a clinic admin gave you."
    )


class MfaEnrolmentStartedSerializer(serializers.Serializer):
    challenge = serializers.CharField(
        help_text="The same challenge, renewed: send it with the authenticator's first code "
        "to `/auth/sign-in/verify/`."
    )
    expires_at = serializers.DateTimeField()
    totp = TotpProvisioningSerializer()


class MfaVerifySerializer(serializers.Serializer):
    challenge = serializers.CharField(max_length=500)
    code = serializers.RegexField(
        r"^\s*\d{3}\s?\d{3}\s*$", max_length=12, help_text="The 6-digit authenticator code."
    )


class TotpCodeSerializer(serializers.Serializer):
    code = serializers.RegexField(
        r"^\s*\d{3}\s?\d{3}\s*$", max_length=12, help_text="The 6-digit authenticator code."
    )


class TotpStartSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=256,
        write_only=True,
        style={"input_type": "password"},
        help_text="Your current password, again: a token alone cannot enrol an authenticator.",
    )


class StaffMfaEnrolmentCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Shown once; give it to the staff member in person.")
    expires_at = serializers.DateTimeField()
    user = serializers.UUIDField(source="user_id")
    clinic = serializers.UUIDField(source="clinic_id")


class TotpStatusSerializer(serializers.Serializer):
    enrolled = serializers.BooleanField(help_text="A confirmed authenticator is enrolled.")
    pending = serializers.BooleanField(help_text="An enrolment awaits its first code.")
    required_by_clinic = serializers.BooleanField()
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class ClinicSecuritySettingsSerializer(serializers.Serializer):
    clinic = serializers.UUIDField(source="clinic_id", read_only=True)
    require_staff_mfa = serializers.BooleanField(
        required=False,
        help_text="Staff of this clinic sign in with a password and an authenticator code. "
        "Turning it on signs out staff without an authenticator.",
    )


class ConflictErrorSerializer(serializers.Serializer):
    """409: the request clashes with stored state."""

    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ErrorItemSerializer(many=True)


class ClinicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clinic
        fields = ["id", "name", "slug", "timezone"]


class MembershipSerializer(serializers.ModelSerializer):
    clinic = ClinicSerializer()

    class Meta:
        model = ClinicMembership
        fields = ["clinic", "role"]


class AccountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    kind = serializers.ChoiceField(choices=AccountKind.choices)
    patient_id = serializers.UUIDField(allow_null=True)
    memberships = MembershipSerializer(many=True)
    pager_phone = serializers.CharField(
        allow_null=True,
        help_text=(
            'Staff: the number (E.164) a high-risk safety alert pages by SMS, "" if none; '
            "null for a patient."
        ),
    )


class AccountUpdateSerializer(serializers.Serializer):
    # Bounded here; its form (E.164) is checked by the service, with the SMS channel's rule.
    pager_phone = serializers.CharField(
        max_length=32,
        allow_blank=True,
        required=False,
        help_text='Staff only: E.164, e.g. "+15551234567"; "" removes it.',
    )


# --- instruments ----------------------------------------------------------------------
class InstrumentVersionSerializer(serializers.ModelSerializer):
    licensed_for_clinic = serializers.UUIDField(source="clinic_id", allow_null=True)

    class Meta:
        model = InstrumentVersion
        fields = ["id", "code", "version", "title", "licensed_for_clinic", "definition"]


# --- check-ins ------------------------------------------------------------------------
class ResponseInputSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32)
    version = serializers.CharField(max_length=32)
    answers = serializers.JSONField(
        help_text="Item linkId -> the chosen option's value (an integer)."
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A mood and pain check-in",
            value={
                "id": "8b1d3f0e-2c55-4f7e-9d1a-6c1f2a9e4b11",
                "answered_at": "2026-11-23T15:04:05Z",
                "responses": [
                    {"instrument": "MOOD", "version": "1", "answers": {"item1": 6}},
                    {"instrument": "PAIN-NRS", "version": "1", "answers": {"item1": 3}},
                ],
            },
            request_only=True,
        )
    ]
)
class CheckInSubmitSerializer(serializers.Serializer):
    id = StrictUUIDField(
        help_text="The phone's own UUID for this submission; a retry sends the same id."
    )
    answered_at = AwareDateTimeField(
        help_text="When the patient answered, with its offset; not before the patient's "
        "enrolment, nor in the future."
    )
    responses = ResponseInputSerializer(many=True, allow_empty=False, max_length=12)


class InstrumentResponseSerializer(serializers.ModelSerializer):
    instrument = serializers.CharField(source="instrument_code")
    version = serializers.CharField(source="instrument_version.version")
    instrument_version_id = serializers.UUIDField()

    class Meta:
        model = InstrumentResponse
        fields = [
            "instrument",
            "version",
            "instrument_version_id",
            "answers",
            "total",
            "band",
            "subscales",
            "flags",
        ]


class CheckInSerializer(serializers.ModelSerializer):
    responses = InstrumentResponseSerializer(many=True)

    class Meta:
        model = CheckIn
        fields = ["id", "answered_at", "received_at", "source", "responses"]
        extra_kwargs = {
            "source": {
                "read_only": True,
                "help_text": "app: the patient's phone; clinic: the clinic's tablet at a visit.",
            }
        }


class StaffCheckInSerializer(CheckInSerializer):
    """A check-in as the clinic sees it: also who handed the tablet over."""

    captured_by = serializers.CharField(
        source="captured_by.username",
        read_only=True,
        allow_null=True,
        help_text="The staff member who handed the clinic's tablet to the patient; null "
        "for the patient's own phone.",
    )

    class Meta(CheckInSerializer.Meta):
        fields = [*CheckInSerializer.Meta.fields, "captured_by"]


class CheckInFilterSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, required=False)
    answered_after = AwareDateTimeField(required=False)
    answered_before = AwareDateTimeField(required=False)

    def validate(self, attrs):
        after, before = attrs.get("answered_after"), attrs.get("answered_before")
        if after and before and after >= before:
            raise serializers.ValidationError(
                {"answered_before": "answered_before must be later than answered_after."}
            )
        return attrs


# --- patients -------------------------------------------------------------------------
class LatestScoreSerializer(serializers.ModelSerializer):
    instrument = serializers.CharField(source="instrument_code")

    class Meta:
        model = LatestScore
        fields = ["instrument", "total", "band", "answered_at"]


class PatientSerializer(serializers.ModelSerializer):
    access = serializers.SerializerMethodField(
        help_text="clinical: with scores and conditions; administrative: the record only."
    )
    clinic = serializers.UUIDField(source="clinic_id")
    conditions = serializers.SerializerMethodField()
    care_team = serializers.SerializerMethodField()
    latest_scores = LatestScoreSerializer(many=True)

    class Meta:
        model = Patient
        fields = [
            "access",
            "id",
            "clinic",
            "display_name",
            "clinic_reference",
            "date_of_birth",
            "timezone",
            "conditions",
            "care_team",
            "status",
            "created_at",
            "latest_scores",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["clinical"]))
    def get_access(self, obj) -> str:
        return "clinical"

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=Condition.choices))
    )
    def get_conditions(self, obj) -> list[str]:
        return [c.condition for c in obj.conditions.all()]

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_care_team(self, obj) -> list[str]:
        return [str(u.id) for u in obj.care_team.all()]


class PatientRecordSerializer(serializers.ModelSerializer):
    """A patient as a clinic admin sees them: administration, no scores or diagnoses."""

    access = serializers.SerializerMethodField()
    clinic = serializers.UUIDField(source="clinic_id")

    @extend_schema_field(serializers.ChoiceField(choices=["administrative"]))
    def get_access(self, obj) -> str:
        return "administrative"

    class Meta:
        model = Patient
        fields = [
            "access",
            "id",
            "clinic",
            "display_name",
            "clinic_reference",
            "date_of_birth",
            "timezone",
            "status",
            "created_at",
        ]


# A clinician sees scores and conditions; a clinic admin the administrative record only.
PatientAnySerializer = PolymorphicProxySerializer(
    component_name="PatientAny",
    serializers={"clinical": PatientSerializer, "administrative": PatientRecordSerializer},
    resource_type_field_name="access",
)


class PatientSelfSerializer(serializers.ModelSerializer):
    clinic = ClinicSerializer()

    class Meta:
        model = Patient
        fields = ["id", "display_name", "timezone", "clinic"]


class PatientCreateSerializer(serializers.Serializer):
    clinic = serializers.UUIDField()
    display_name = serializers.CharField(max_length=MAX_TEXT)
    clinic_reference = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True
    )
    date_of_birth = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Age is derived from it."
    )
    timezone = serializers.CharField(max_length=64, help_text="IANA zone, e.g. America/New_York.")
    conditions = serializers.ListField(
        child=serializers.ChoiceField(choices=Condition.choices),
        required=False,
        default=list,
        max_length=len(Condition.choices),
    )
    care_team = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=50,
        help_text="Ids of clinicians of the same clinic.",
    )


class PatientUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=MAX_TEXT, required=False)
    date_of_birth = serializers.DateField(required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    conditions = serializers.ListField(
        child=serializers.ChoiceField(choices=Condition.choices),
        required=False,
        max_length=len(Condition.choices),
    )
    care_team = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=50)
    status = serializers.ChoiceField(choices=PatientStatus.choices, required=False)


class EnrolmentCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Shown once; give it to the patient.")
    expires_at = serializers.DateTimeField()


class PatientEnrolledSerializer(serializers.Serializer):
    patient = serializers.SerializerMethodField()

    @extend_schema_field(PatientAnySerializer)
    def get_patient(self, obj) -> dict:
        return obj["patient"]

    enrolment = EnrolmentCodeSerializer()


class PatientFilterSerializer(serializers.Serializer):
    clinic = serializers.UUIDField(required=False)


class CrisisResourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    contact = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True)


class SafetyNoticeSerializer(serializers.Serializer):
    """Present when the submission raised a safety alert."""

    message = serializers.CharField(
        help_text="For a high level, tells the patient to get help now (the crisis "
        "resources); else that the clinic may not see the answers right away."
    )
    crisis_resources = CrisisResourceSerializer(many=True)
    alerts = serializers.IntegerField()
    level = serializers.ChoiceField(
        choices=AlertLevel.choices, help_text="The highest level among the alerts raised."
    )


class _SafetyNoticeMixin(serializers.Serializer):
    safety = serializers.SerializerMethodField()

    @extend_schema_field(SafetyNoticeSerializer(allow_null=True))
    def get_safety(self, obj) -> dict | None:
        notice = safety_notice_for(obj)
        return SafetyNoticeSerializer(notice).data if notice else None


class CheckInSubmittedSerializer(_SafetyNoticeMixin, CheckInSerializer):
    class Meta(CheckInSerializer.Meta):
        fields = [*CheckInSerializer.Meta.fields, "safety"]


class CheckInCapturedClinicalSerializer(CheckInSubmittedSerializer):
    """A tablet check-in as a clinician of the patient's clinic gets it back: the phone's
    response (answers and scores)."""

    access = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["clinical"]))
    def get_access(self, obj) -> str:
        return "clinical"

    class Meta(CheckInSubmittedSerializer.Meta):
        fields = ["access", *CheckInSubmittedSerializer.Meta.fields]


class CheckInReceiptSerializer(_SafetyNoticeMixin, serializers.ModelSerializer):
    """A tablet check-in as a clinic admin gets it back: a receipt and the patient's safety
    notice, no answers or scores (an admin cannot read the patient's check-ins either)."""

    access = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["administrative"]))
    def get_access(self, obj) -> str:
        return "administrative"

    class Meta:
        model = CheckIn
        fields = ["access", "id", "answered_at", "received_at", "source", "safety"]
        extra_kwargs = CheckInSerializer.Meta.extra_kwargs


# A clinician capturing on the tablet sees the scores; a clinic admin a receipt only.
CheckInCapturedSerializer = PolymorphicProxySerializer(
    component_name="CheckInCaptured",
    serializers={
        "clinical": CheckInCapturedClinicalSerializer,
        "administrative": CheckInReceiptSerializer,
    },
    resource_type_field_name="access",
)
