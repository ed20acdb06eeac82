"""Run events through the pure core with everything in one in-memory state (no database)."""

from datetime import datetime
from pathlib import Path
from typing import Any

from rewards import PROJECT_ROOT
from rewards.engine.evaluate import Decisions, apply_event
from rewards.engine.loader import load_ruleset_file
from rewards.engine.marks import Marker
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput, LedgerEntry, Notice, WorkingState

DEFAULT_RULES: Path = PROJECT_ROOT / "rules" / "default.yaml"


class Community:
    def __init__(self, ruleset: Ruleset | None = None) -> None:
        self.ruleset = ruleset or load_ruleset_file(DEFAULT_RULES)
        self.state = WorkingState()
        # Rank changes are noticed event by event, as the apply step does (perks need the database: not here).
        self.marker = Marker(self.ruleset, perks=False)
        self.seq = 0
        self.last: tuple[Decisions, list[LedgerEntry]] | None = None

    def send(self, *events: dict[str, Any]) -> list[LedgerEntry]:
        written: list[LedgerEntry] = []
        for raw in events:
            self.seq += 1
            event = EventInput(
                seq=self.seq,
                source=raw["source"],
                id=raw["id"],
                type=raw["type"],
                time=datetime.fromisoformat(raw["time"]),
                data=raw["data"],
            )
            self.marker.note(self.state, list(self.state.users), event.time)
            self.last = apply_event(self.ruleset, event, self.state)
            self.marker.after_event(self.state, event)
            written.extend(self.last[1])
        return written

    def rank_changes(self) -> list[Notice]:
        """The rank.changed notices since the state last forgot its changes (`state.committed()`)."""
        return [notice for notice in self.state.notices if notice.topic == "rank.changed"]

    def rep(self, user: str) -> int:
        return self.state.reputation(user)

    def ledger_sum(self, user: str) -> int:
        return sum(entry.points for entry in self.state.entries if entry.user_id == user)
