"""Reminders in a window of time."""
