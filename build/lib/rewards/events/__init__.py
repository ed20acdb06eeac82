"""Forum events: intake, the durable event log, and applying it in order."""
