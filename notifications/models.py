"""Reminders and delivery (the reminder engine lands here)."""
