"""The rewards engine for expert communities: forum events in, reputation, badges, ranks and perks out."""

from pathlib import Path

# The checkout (tests, bench); what the service itself reads is found through rewards.resources, which also
# knows the copies an installed wheel carries.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
