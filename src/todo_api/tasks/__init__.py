"""Tasks: their routes, validation, storage, lists and pages, recurrence and idempotency."""
