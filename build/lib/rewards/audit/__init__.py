"""The audit log: every action a manager takes through the admin API or the console."""
