"""Contributions the forum cannot see, reported by experts and approved or denied by managers."""
