"""The clock of Ci sono: APScheduler triggers sweeps over reminder rows in storage.

Reminders, deadlines and scheduled broadcasts arrive with issue 7; the package exists
now so that the import-linter contracts cover it from the start.
"""
