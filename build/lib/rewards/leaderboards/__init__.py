"""Leaderboards: board scores per period kept with each applied batch, served from Redis or the database."""
