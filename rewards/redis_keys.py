"""Redis names in one place."""

ARQ_QUEUE = "rewards:queue"
APPLY_JOB = "apply_events"
APPLY_JOB_ID = "rewards:apply:{up_to_seq}"
WEBHOOK_JOB = "deliver_webhooks"
# Bumped after every API key revocation commits: API processes honour the keys they verified only under the
# value they read before verifying them (rewards.auth.service.authenticate).
KEY_REVOCATIONS = "rewards:apikeys:revocations"
# One queued delivery job at a time; a kick while it is queued is a no-op (it will see the new rows).
WEBHOOK_JOB_ID = "rewards:webhooks:deliver"
