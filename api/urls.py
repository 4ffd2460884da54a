"""The API's version 1 routes, mounted at /api/v1/ by config.urls."""

from django.urls import path

from .views import (
    alerts,
    audit,
    auth,
    clinics,
    history,
    infusions,
    instruments,
    me,
    me_account,
    outcomes,
    patients,
    privacy,
    reminders,
    visits,
)

urlpatterns = [
    path("auth/sign-in/", auth.SignInView.as_view(), name="auth-sign-in"),
    path("auth/sign-in/enrol/", auth.SignInEnrolView.as_view(), name="auth-sign-in-enrol"),
    path("auth/sign-in/verify/", auth.SignInVerifyView.as_view(), name="auth-sign-in-verify"),
    path("auth/enrol/", auth.EnrolView.as_view(), name="auth-enrol"),
    path("auth/sign-out/", auth.SignOutView.as_view(), name="auth-sign-out"),
    path("auth/sign-out-all/", auth.SignOutAllView.as_view(), name="auth-sign-out-all"),
    path("account/", auth.AccountView.as_view(), name="account"),
    path("account/totp/", auth.MyAuthenticatorView.as_view(), name="account-totp"),
    path(
        "account/totp/confirm/",
        auth.MyAuthenticatorConfirmView.as_view(),
        name="account-totp-confirm",
    ),
    path(
        "account/totp/remove/", auth.MyAuthenticatorRemoveView.as_view(), name="account-totp-remove"
    ),
    path(
        "clinics/<uuid:clinic_id>/security-settings/",
        auth.ClinicSecuritySettingsView.as_view(),
        name="clinic-security-settings",
    ),
    path(
        "clinics/<uuid:clinic_id>/staff/<uuid:user_id>/mfa-enrolment-code/",
        auth.StaffMfaEnrolmentCodeView.as_view(),
        name="clinic-staff-mfa-enrolment-code",
    ),
    path("me/", me.MeView.as_view(), name="me"),
    path("me/check-ins/", me.MyCheckInListView.as_view(), name="me-check-ins"),
    path("me/password/", me_account.MyPasswordView.as_view(), name="me-password"),
    path(
        "me/sign-out-others/", me_account.MySignOutOthersView.as_view(), name="me-sign-out-others"
    ),
    path(
        "me/check-ins/<uuid:check_in_id>/",
        me.MyCheckInDetailView.as_view(),
        name="me-check-in-detail",
    ),
    path("clinics/", clinics.ClinicListView.as_view(), name="clinics"),
    path("patients/", patients.PatientListCreateView.as_view(), name="patients"),
    path(
        "patients/<uuid:patient_id>/", patients.PatientDetailView.as_view(), name="patient-detail"
    ),
    path(
        "patients/<uuid:patient_id>/enrolment-codes/",
        patients.PatientEnrolmentCodeCreateView.as_view(),
        name="patient-enrolment-codes",
    ),
    path(
        "patients/<uuid:patient_id>/check-ins/",
        patients.PatientCheckInListCreateView.as_view(),
        name="patient-check-ins",
    ),
    path("me/infusions/", infusions.MyInfusionListView.as_view(), name="me-infusions"),
    path("me/open-check-ins/", reminders.MyOpenCheckInsView.as_view(), name="me-open-check-ins"),
    path("me/schedule/", reminders.MyScheduleView.as_view(), name="me-schedule"),
    path("me/devices/", reminders.MyDeviceListCreateView.as_view(), name="me-devices"),
    path("me/devices/<uuid:device_id>/", reminders.MyDeviceDetailView.as_view(), name="me-device"),
    path(
        "me/reminder-preferences/",
        reminders.MyReminderPreferencesView.as_view(),
        name="me-reminder-preferences",
    ),
    path(
        "patients/<uuid:patient_id>/infusions/",
        infusions.PatientInfusionListCreateView.as_view(),
        name="patient-infusions",
    ),
    path(
        "patients/<uuid:patient_id>/treatment-courses/",
        infusions.PatientCourseListCreateView.as_view(),
        name="patient-courses",
    ),
    path(
        "patients/<uuid:patient_id>/reminder-settings/",
        reminders.PatientReminderSettingsView.as_view(),
        name="patient-reminder-settings",
    ),
    path("infusions/<uuid:infusion_id>/", infusions.InfusionDetailView.as_view(), name="infusion"),
    path(
        "infusions/<uuid:infusion_id>/history/",
        history.InfusionHistoryView.as_view(),
        name="infusion-history",
    ),
    path(
        "infusions/<uuid:infusion_id>/cancel/",
        infusions.InfusionCancelView.as_view(),
        name="infusion-cancel",
    ),
    path("cadence-plans/", reminders.CadencePlanListCreateView.as_view(), name="cadence-plans"),
    path(
        "cadence-plans/preview/",
        reminders.CadencePlanPreviewView.as_view(),
        name="cadence-plans-preview",
    ),
    path(
        "cadence-plans/<uuid:plan_id>/",
        reminders.CadencePlanDetailView.as_view(),
        name="cadence-plan",
    ),
    path(
        "cadence-plans/<uuid:plan_id>/adherence/",
        reminders.CadencePlanAdherenceView.as_view(),
        name="cadence-plan-adherence",
    ),
    path("reminders/", reminders.ReminderListView.as_view(), name="reminders"),
    path(
        "clinics/<uuid:clinic_id>/notification-settings/",
        reminders.ClinicNotificationSettingsView.as_view(),
        name="clinic-notification-settings",
    ),
    path("me/trajectory/", outcomes.MyTrajectoryView.as_view(), name="me-trajectory"),
    path(
        "patients/<uuid:patient_id>/trajectory/",
        outcomes.PatientTrajectoryView.as_view(),
        name="patient-trajectory",
    ),
    path(
        "patients/<uuid:patient_id>/outcomes/",
        outcomes.PatientOutcomesView.as_view(),
        name="patient-outcomes",
    ),
    path(
        "patients/<uuid:patient_id>/charts/trajectory/",
        outcomes.PatientTrajectoryChartView.as_view(),
        name="patient-trajectory-chart",
    ),
    path(
        "patients/<uuid:patient_id>/booster/",
        outcomes.PatientBoosterView.as_view(),
        name="patient-booster",
    ),
    path(
        "patients/<uuid:patient_id>/exports/csv/",
        outcomes.PatientCsvExportView.as_view(),
        name="patient-export-csv",
    ),
    path(
        "patients/<uuid:patient_id>/exports/fhir/",
        outcomes.PatientFhirExportView.as_view(),
        name="patient-export-fhir",
    ),
    path(
        "clinics/<uuid:clinic_id>/durability/",
        outcomes.ClinicDurabilityView.as_view(),
        name="clinic-durability",
    ),
    path(
        "clinics/<uuid:clinic_id>/charts/durability/",
        outcomes.ClinicDurabilityChartView.as_view(),
        name="clinic-durability-chart",
    ),
    path(
        "clinics/<uuid:clinic_id>/exports/csv/",
        outcomes.ClinicCsvExportView.as_view(),
        name="clinic-export-csv",
    ),
    path("audit-events/", audit.AuditEventListView.as_view(), name="audit-events"),
    path("me/consents/", privacy.MyConsentListCreateView.as_view(), name="me-consents"),
    path("me/export/", privacy.MyDataExportView.as_view(), name="me-export"),
    path("me/export/fhir/", privacy.MyFhirExportView.as_view(), name="me-export-fhir"),
    path(
        "patients/<uuid:patient_id>/erase/",
        privacy.PatientEraseView.as_view(),
        name="patient-erase",
    ),
    path("alerts/", alerts.AlertListView.as_view(), name="alerts"),
    path("alerts/<uuid:alert_id>/", alerts.AlertDetailView.as_view(), name="alert"),
    path(
        "alerts/<uuid:alert_id>/acknowledge/",
        alerts.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
    path(
        "alerts/<uuid:alert_id>/resolve/", alerts.AlertResolveView.as_view(), name="alert-resolve"
    ),
    path(
        "alerts/<uuid:alert_id>/follow-up/",
        alerts.AlertFollowUpView.as_view(),
        name="alert-follow-up",
    ),
    path(
        "clinics/<uuid:clinic_id>/safety-settings/",
        alerts.ClinicSafetySettingsView.as_view(),
        name="clinic-safety-settings",
    ),
    path(
        "alerts/<uuid:alert_id>/history/", history.AlertHistoryView.as_view(), name="alert-history"
    ),
    path("instruments/", instruments.InstrumentListView.as_view(), name="instruments"),
    path(
        "instruments/<uuid:instrument_version_id>/",
        instruments.InstrumentDetailView.as_view(),
        name="instrument-detail",
    ),
    # The infusion visit (issue 14).
    path("infusions/<uuid:infusion_id>/visit/", visits.VisitView.as_view(), name="visit"),
    path(
        "infusions/<uuid:infusion_id>/visit/readings/",
        visits.VisitReadingCreateView.as_view(),
        name="visit-readings",
    ),
    path(
        "infusions/<uuid:infusion_id>/visit/adverse-events/",
        visits.VisitAdverseEventCreateView.as_view(),
        name="visit-adverse-events",
    ),
    path(
        "infusions/<uuid:infusion_id>/visit/hold-override/",
        visits.VisitHoldOverrideView.as_view(),
        name="visit-hold-override",
    ),
    path(
        "infusions/<uuid:infusion_id>/visit/discharge/",
        visits.VisitDischargeView.as_view(),
        name="visit-discharge",
    ),
    path(
        "infusions/<uuid:infusion_id>/visit/rems-form/",
        visits.RemsFormView.as_view(),
        name="visit-rems-form",
    ),
    path(
        "infusions/<uuid:infusion_id>/visit/rems-form/pdf/",
        visits.RemsFormPdfView.as_view(),
        name="visit-rems-form-pdf",
    ),
    path(
        "infusions/<uuid:infusion_id>/visit/rems-form/file/",
        visits.RemsFormFileView.as_view(),
        name="visit-rems-form-file",
    ),
    path(
        "clinics/<uuid:clinic_id>/rems-forms/",
        visits.ClinicRemsFormListView.as_view(),
        name="clinic-rems-forms",
    ),
    path(
        "clinics/<uuid:clinic_id>/visit-alerts/",
        visits.ClinicVisitAlertListView.as_view(),
        name="clinic-visit-alerts",
    ),
    path(
        "visit-alerts/<uuid:alert_id>/acknowledge/",
        visits.VisitAlertAcknowledgeView.as_view(),
        name="visit-alert-acknowledge",
    ),
    path(
        "clinics/<uuid:clinic_id>/visit-settings/",
        visits.ClinicVisitSettingsView.as_view(),
        name="clinic-visit-settings",
    ),
]
