"""Every write of the clinical domain goes through a service here."""

from .checkins import checkin_submit
from .instruments import (
    instrument_load_licensed,
    instruments_sync,
)
from .patients import (
    enrolment_code_issue,
    enrolment_code_redeem,
    patient_enrol,
    patient_update,
)

__all__ = [
    "checkin_submit",
    "enrolment_code_issue",
    "enrolment_code_redeem",
    "instrument_load_licensed",
    "instruments_sync",
    "patient_enrol",
    "patient_update",
]
