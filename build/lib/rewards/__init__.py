"""The rewards engine for expert communities: forum events in, reputation, badges, ranks and perks out."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
