"""The audit touch for list pages: a list of health data is a read of every patient on the
page it returns (and only of those). Single objects are audited by their access_*
selector."""

from accounts.audit import audit_touch


class AuditPageMixin:
    # For ListAPIViews with pagination: marks the patients of the returned page. (A comment,
    # not a docstring: drf-spectacular would take a docstring as the operation's text.)

    audit_patient_attr = "patient_id"

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)  # type: ignore[misc]
        rows = queryset if page is None else page
        audit_touch(patient_ids=[getattr(row, self.audit_patient_attr) for row in rows])
        return page
