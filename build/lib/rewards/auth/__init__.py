"""API keys for machines (the forum, integrations): hashed at rest, with scopes."""
