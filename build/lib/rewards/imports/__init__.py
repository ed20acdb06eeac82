"""Importers: a community's history from elsewhere, turned into the engine's canonical events."""
