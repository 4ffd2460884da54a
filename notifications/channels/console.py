"""The embedded default's channel: writes the reminder to the worker's log."""

import logging

from . import Channel, Message, Target

logger = logging.getLogger("afterglow.reminders")


class ConsoleChannel(Channel):
    name = "console"
    targets = frozenset({Target.PATIENT, Target.STAFF_USER})

    def send(self, delivery, message: Message) -> str:
        # Ids and the fixed, health-free text only.
        if delivery.reminder_id:
            who = f"REMINDER delivery={delivery.id} reminder={delivery.reminder_id}"
        else:
            who = f"CARE-TEAM NOTICE delivery={delivery.id} to={delivery.staff_user_id}"
        logger.warning("%s: %s %s", who, message.title, message.body)
        return f"console-{delivery.id}"
