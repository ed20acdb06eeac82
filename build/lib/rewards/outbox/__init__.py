"""Notifications out: an outbox written in the caller's transaction, delivered as signed webhooks."""
