"""Redis names in one place."""

ARQ_QUEUE = "rewards:queue"
APPLY_JOB = "apply_events"
APPLY_JOB_ID = "rewards:apply:{up_to_seq}"
WEBHOOK_JOB = "deliver_webhooks"
# One queued delivery job at a time; a kick while it is queued is a no-op (it will see the new rows).
WEBHOOK_JOB_ID = "rewards:webhooks:deliver"
