"""Redis names in one place."""

ARQ_QUEUE = "rewards:queue"
APPLY_JOB = "apply_events"
APPLY_JOB_ID = "rewards:apply:{up_to_seq}"
