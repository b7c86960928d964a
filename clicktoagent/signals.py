"""Signals for the host project. The app never uses them for its own logic."""

from django.dispatch import Signal

# Sent once an attempt reaches placed, failed or unknown, after the outcome is committed.
# Keyword argument: ``attempt`` (the CallAttempt).
call_attempt_finished = Signal()
