"""Every write of reminders and delivery goes through a service here."""
