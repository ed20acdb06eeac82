"""Connectors: a community platform's own APIs, read on a schedule (Khoros's LiQL and Bulk Data) or received as
pushes (Khoros's Firehose), turned into the engine's canonical events."""
