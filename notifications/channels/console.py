"""The embedded default's channel: writes the reminder to the worker's log."""

import logging

from . import Channel, Message

logger = logging.getLogger("afterglow.reminders")


class ConsoleChannel(Channel):
    name = "console"

    def send(self, delivery, message: Message) -> str:
        # Ids and the fixed, health-free text only.
        logger.warning(
            "REMINDER delivery=%s reminder=%s: %s %s",
            delivery.id,
            delivery.reminder_id,
            message.title,
            message.body,
        )
        return f"console-{delivery.id}"
