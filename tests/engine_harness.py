"""Run events through the pure core with everything in one in-memory state (no database)."""

from datetime import datetime
from pathlib import Path
from typing import Any

from rewards import PROJECT_ROOT
from rewards.engine.evaluate import Decisions, apply_event
from rewards.engine.loader import load_ruleset_file
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput, LedgerEntry, WorkingState

DEFAULT_RULES: Path = PROJECT_ROOT / "rules" / "default.yaml"


class Community:
    def __init__(self, ruleset: Ruleset | None = None) -> None:
        self.ruleset = ruleset or load_ruleset_file(DEFAULT_RULES)
        self.state = WorkingState()
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
            self.last = apply_event(self.ruleset, event, self.state)
            written.extend(self.last[1])
        return written

    def rep(self, user: str) -> int:
        return self.state.reputation(user)

    def ledger_sum(self, user: str) -> int:
        return sum(entry.points for entry in self.state.entries if entry.user_id == user)
