"""Badges: the catalogue, who holds what, progress to the next tier, manual grants and revocations."""
