"""Ruleset versions: every ruleset the engine has applied events under, kept so entries can name theirs."""
