"""The pure rules core: rulesets as typed data, and `evaluate(ruleset, event, state) -> decisions`.

Nothing in this package touches a database, a clock or Redis.
"""
