"""Every write of the clinical domain goes through a service here."""

from .checkins import checkin_submit
from .instruments import (
    definition_for,
    instrument_load_licensed,
    instruments_sync,
)
from .patients import (
    enrolment_code_issue,
    enrolment_code_redeem,
    membership_grant,
    patient_enrol,
    patient_update,
)

__all__ = [
    "checkin_submit",
    "definition_for",
    "enrolment_code_issue",
    "enrolment_code_redeem",
    "instrument_load_licensed",
    "instruments_sync",
    "membership_grant",
    "patient_enrol",
    "patient_update",
]
