"""Perks: beta access, workshops, briefings, roles. Eligibility, seats, waitlists, offers, codes, expiry."""
