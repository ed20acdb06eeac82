"""The reputation ledger: append-only entries, and the awards and cap buckets they are derived with."""
