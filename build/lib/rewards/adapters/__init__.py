"""Adapters: forums that speak their own webhook dialect, turned into the engine's canonical events."""
