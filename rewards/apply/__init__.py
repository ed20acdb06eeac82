"""The apply pipeline: the one owner of how stored events become reputation, badges, ranks, boards and perk
decisions. `applier` holds the order of a batch's steps and what the applier keeps between batches, `steps`
the steps themselves, `ingest` the way events come in, `publish` replays and publications.

Domains (ledger, badges, leaderboards, perks, outbox, rulesets) expose steps; this package calls them in
order. Nothing below it imports it (checked by the import contracts in pyproject.toml)."""
