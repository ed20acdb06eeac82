"""Renewal of ranks held for a rolling window: the schedule that stores the checks (see `rewards.engine.renewal`)."""
